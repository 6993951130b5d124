/**
 * Crash test of a follower's snapshot install (KvReplica.installSnapshot): "install is atomic; a
 * crash during install is recoverable". A child process (snapshot-install-crash-child.js) holds
 * an OLD store and a staged snapshot of a NEW store (different keys, values, revisions and
 * applied index) and installs it; it is SIGKILLed part way, and the parent reopens the directory
 * with KvReplica.open and checks that it holds exactly the OLD or exactly the NEW store (every
 * key, value, revision and the applied index), opens without error, and keeps no *.install,
 * *.old or *.unpacking directory.
 *
 * Crash points: a traced run lists every file operation of the install (unpacking, closing the
 * engine, the renames, reopening, adopting the staged file); the child then crashes before each
 * one in turn, and after the last. A SIGKILL keeps every completed system call (the page cache
 * survives a process crash), and every operation that changes the disk is traced, so "after
 * operation n" is the same disk as "before operation n + 1": the before-points cover them all.
 * The state must switch from OLD to NEW exactly once, at the rename of <kv> to <kv>.old, the
 * point from which the header of kv-replica.ts promises to finish the install. Then a few kills
 * at seeded random times during the install, on the real code without hooks.
 *
 * Power loss (unsynced data lost) is not modelled here; the fsyncs are the storage tests' concern.
 * The directories live on tmpfs where there is one: a process crash does not depend on fsync's
 * speed, and some fifty children must stay fast.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { KvReplica } from "../../src/cluster/kv-replica.js";
import { type ChildRun, runChildScript } from "../child-run.js";
import { seededRandom } from "../raft/core-harness.js";
import { buildFixture, dumpStore, replicaOptions, type CrashWhen, type Fixture } from "./snapshot-install-crash-child.js";

const CHILD_SCRIPT = fileURLToPath(new URL("./snapshot-install-crash-child.js", import.meta.url));
const CHILD_DEADLINE_MS = 15_000;
const RANDOM_KILLS = 10;
const RANDOM_SEED = 0x5eed1;
/** Leftovers of an install that recovery must clear. */
const INSTALL_SUFFIXES = [".install", ".old", ".unpacking"];

/** Runs the child to its end; `onArmed` hears when the install starts (to time a kill from there). */
function runChild(dir: string, index: number, args: string[], onArmed: (kill: () => void) => void = () => {}): Promise<ChildRun> {
  return runChildScript(CHILD_SCRIPT, [dir, String(index), ...args], CHILD_DEADLINE_MS, (line, kill) => {
    if (line === "armed") onArmed(kill);
  });
}

type StoreState = "OLD" | "NEW";

function firstDifference(got: string[], want: string[]): string {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) return `line ${i}: got ${got[i] ?? "(none)"}, want ${want[i] ?? "(none)"}`;
  }
  return "none";
}

/** Reopens `dir` as a member would after the crash and names the store it holds; fails on anything else. */
async function recoveredState(dir: string, fixture: Fixture, where: string): Promise<StoreState> {
  const options = await replicaOptions(dir);
  let replica: KvReplica;
  try {
    replica = await KvReplica.open(options);
  } catch (err) {
    assert.fail(`${where}: KvReplica.open failed after the crash: ${(err as Error).stack}`);
  }
  let dump: string[];
  try {
    dump = await dumpStore(replica);
  } finally {
    await replica.close();
  }
  const leftovers = fs.readdirSync(dir).filter((name) => INSTALL_SUFFIXES.some((suffix) => name.endsWith(suffix)));
  assert.deepEqual(leftovers, [], `${where}: recovery left install directories behind`);

  let state: StoreState;
  if (JSON.stringify(dump) === JSON.stringify(fixture.oldDump)) state = "OLD";
  else if (JSON.stringify(dump) === JSON.stringify(fixture.newDump)) state = "NEW";
  else {
    assert.fail(
      `${where}: the store is neither the OLD nor the NEW one (${dump[0]}).\n  vs OLD: ${firstDifference(dump, fixture.oldDump)}\n  vs NEW: ${firstDifference(dump, fixture.newDump)}`,
    );
  }
  // The staged snapshot is never lost: still staged, or adopted as this member's own, and adopted only once installed.
  const snapshots = fs.readdirSync(path.join(dir, "snapshots"));
  const staged = snapshots.filter((name) => name.startsWith("incoming-"));
  const adopted = snapshots.filter((name) => name.startsWith("snap-"));
  assert.equal(staged.length + adopted.length, 1, `${where}: exactly one copy of the snapshot file (got ${snapshots.join(", ")})`);
  if (adopted.length === 1) assert.equal(state, "NEW", `${where}: the staged file was adopted but the OLD store is back`);
  return state;
}

function scratchRoot(): string {
  try {
    fs.accessSync("/dev/shm", fs.constants.W_OK);
    return "/dev/shm";
  } catch {
    return os.tmpdir();
  }
}

describe("snapshot install survives a crash at any point", () => {
  let root = "";
  let template = "";
  let fixture: Fixture;
  let runs = 0;
  let failed = false;

  /** A fresh copy of the fixture (OLD store, NEW snapshot staged) for one child. */
  function freshRunDir(): string {
    const dir = path.join(root, `run-${++runs}`);
    fs.cpSync(template, dir, { recursive: true });
    return dir;
  }

  before(async () => {
    root = fs.mkdtempSync(path.join(scratchRoot(), "sisyphus-install-crash-"));
    template = path.join(root, "template");
    fixture = await buildFixture(template, path.join(root, "source"));
    assert.notDeepEqual(fixture.oldDump[0], fixture.newDump[0], "OLD and NEW differ in applied index");
  });

  after(() => {
    if (failed) process.stderr.write(`snapshot-install-crash: directories kept in ${root}\n`);
    else fs.rmSync(root, { recursive: true, force: true });
  });

  it("at every file operation of the install: OLD before <kv> is moved aside, NEW after, never a mix", async (t) => {
    try {
      const traceDir = freshRunDir();
      const trace = await runChild(traceDir, fixture.index, ["trace"]);
      assert.equal(trace.code, 0, `the traced install failed: ${trace.stderr}`);
      const ops = trace.lines.filter((line) => line.startsWith("op "));
      assert.ok(ops.length >= 20, `the install made ${ops.length} traced operations: ${ops.join("; ")}`);
      assert.equal(await recoveredState(traceDir, fixture, "uncrashed install"), "NEW");
      const pivot = ops.findIndex((line) => / rename kv$/.test(line)) + 1;
      assert.ok(pivot > 0, `the install renames kv aside: ${ops.join("; ")}`);

      const points: { n: number; when: CrashWhen }[] = ops.map((_, i) => ({ n: i + 1, when: "before" }));
      points.push({ n: ops.length, when: "after" });
      for (const { n, when } of points) {
        const where = `crash ${when} ${ops[n - 1]} (of ${ops.length})`;
        const dir = freshRunDir();
        const child = await runChild(dir, fixture.index, ["crash", String(n), when]);
        assert.equal(child.signal, "SIGKILL", `${where}: the child was not killed (code ${child.code}); stderr: ${child.stderr}`);
        const state = await recoveredState(dir, fixture, where);
        const expected: StoreState = n > pivot || (n === pivot && when === "after") ? "NEW" : "OLD";
        assert.equal(state, expected, `${where}: the install switches from OLD to NEW at operation ${pivot} (${ops[pivot - 1]})`);
        fs.rmSync(dir, { recursive: true, force: true });
      }
      t.diagnostic(`${points.length} crash points, switch to NEW after operation ${pivot}: ${ops[pivot - 1]}`);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it(`at ${RANDOM_KILLS} random times during the install (seed ${RANDOM_SEED})`, async (t) => {
    const random = seededRandom(RANDOM_SEED);
    const seen: Record<StoreState, number> = { OLD: 0, NEW: 0 };
    try {
      // The window to aim at: how long one install takes on this machine now.
      const timingDir = freshRunDir();
      const timing = await runChild(timingDir, fixture.index, ["run"]);
      const installed = timing.lines.find((line) => line.startsWith("installed "));
      assert.ok(installed !== undefined && timing.code === 0, `the timing install failed: ${timing.stderr}`);
      const installMs = Number(installed.split(" ")[1]);
      for (let cycle = 1; cycle <= RANDOM_KILLS; cycle++) {
        const delayMs = Math.round(random() * installMs * 1.2 * 10) / 10;
        const where = `kill ${cycle} at ${delayMs} ms of a ${installMs} ms install (seed ${RANDOM_SEED})`;
        const dir = freshRunDir();
        let timer: NodeJS.Timeout | undefined;
        const child = await runChild(dir, fixture.index, ["run"], (kill) => (timer = setTimeout(kill, delayMs)));
        clearTimeout(timer);
        assert.ok(child.signal === "SIGKILL" || child.code === 0, `${where}: the child failed by itself (code ${child.code}); stderr: ${child.stderr}`);
        seen[await recoveredState(dir, fixture, where)]++;
        fs.rmSync(dir, { recursive: true, force: true });
      }
      t.diagnostic(`recovered OLD ${seen.OLD} times, NEW ${seen.NEW} times (install ${installMs} ms)`);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
