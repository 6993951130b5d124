/**
 * The member that snapshot-install-crash.test.ts kills while it installs a snapshot. <dir> is
 * made by buildFixture (below): <dir>/kv holds the OLD store and <dir>/snapshots holds the staged
 * archive of the NEW store at <index>. The child opens a KvReplica on <dir>, then installs:
 *
 *   node snapshot-install-crash-child.js <dir> <index> trace               list the install's file operations
 *   node snapshot-install-crash-child.js <dir> <index> crash <n> <when>    SIGKILL itself before / after operation n
 *   node snapshot-install-crash-child.js <dir> <index> run                 install (the parent kills at a random time)
 *
 * "File operations" are the calls that change what is on disk, counted from the start of
 * installSnapshot: on node:fs/promises (rename, rm, mkdir, open, unlink), on its FileHandles
 * (write, sync, datasync), and on node:fs, callback style (fsync, fdatasync, as syncDirAsync uses)
 * and synchronous (the engine's: renameSync, unlinkSync, rmSync, mkdirSync, linkSync,
 * writeFileSync, writeSync, writevSync, truncateSync, fsyncSync, fdatasyncSync, copyFileSync).
 * kv-replica and the archive code call the default export of node:fs/promises, and the storage
 * engine calls node:fs through a namespace import, so both are patched in place at run time
 * (syncBuiltinESMExports carries the node:fs patches to namespace imports).
 *
 * Protocol on stdout (one line each; writes to a pipe are synchronous, so a line written before a
 * kill reaches the parent): "armed" when the install starts; in trace mode "op <n> <name> <path>"
 * per operation; "installed <ms>" when installSnapshot resolved. The engine runs flush and
 * compaction inline (backgroundWorker: false), so every operation happens on this thread.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { KvReplica, type KvReplicaOptions } from "../../src/cluster/kv-replica.js";
import { SnapshotFiles } from "../../src/cluster/snapshot-files.js";
import { encodeCommand, type Command } from "../../src/kv/index.js";
import { createLogger } from "../../src/observability/index.js";

export type CrashWhen = "before" | "after";

const PROMISE_OPS = ["rename", "rm", "mkdir", "open", "unlink"];
const HANDLE_OPS = ["write", "sync", "datasync"];
const CALLBACK_OPS = ["fsync", "fdatasync"];
const SYNC_OPS = [
  "renameSync",
  "unlinkSync",
  "rmSync",
  "mkdirSync",
  "linkSync",
  "writeFileSync",
  "writeSync",
  "writevSync",
  "truncateSync",
  "fsyncSync",
  "fdatasyncSync",
  "copyFileSync",
];

/** The options a member would use, minus what the install does not touch. */
export async function replicaOptions(dir: string): Promise<KvReplicaOptions> {
  return {
    kvDir: path.join(dir, "kv"),
    engine: { backgroundWorker: false },
    store: { syncApplies: false },
    snapshots: await SnapshotFiles.open(path.join(dir, "snapshots")),
    logger: createLogger({ level: "silent", name: "snapshot-install-crash" }),
  };
}

function put(key: string, value: string): Command {
  return { type: "put", request: { key: Buffer.from(key), value: Buffer.from(value) } };
}

/** The OLD store's history: keys shared with NEW (other values) and keys only OLD has. */
function oldCommands(): Command[] {
  const out: Command[] = [];
  for (let i = 0; i < 40; i++) out.push(put(`shared/${i}`, `old-value-${i}`));
  for (let i = 0; i < 20; i++) out.push(put(`only-old/${i}`, `old-${i}`));
  return out;
}

/** The NEW store's history: longer (a higher applied index), overwrites, a deletion, keys only NEW has. */
function newCommands(): Command[] {
  const out: Command[] = [];
  const filler = "n".repeat(200);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 40; i++) out.push(put(`shared/${i}`, `new-value-${i}-round-${round}`));
  }
  out.push({ type: "deleteRange", request: { key: Buffer.from("shared/3"), rangeEnd: Buffer.from("shared/4") } });
  for (let i = 0; i < 400; i++) out.push(put(`only-new/${i}`, `${filler}-${i}`));
  return out;
}

async function applyAll(replica: KvReplica, commands: Command[]): Promise<void> {
  for (let i = 0; i < commands.length; i++) await replica.apply(i + 1, encodeCommand(commands[i]));
}

/** Everything a reader can see of a store, as one comparable string per key plus the applied index and revision. */
export async function dumpStore(replica: KvReplica): Promise<string[]> {
  const all = await replica.store.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
  const lines = all.kvs.map(
    (kv) => `${Buffer.from(kv.key).toString()}=${Buffer.from(kv.value).toString()} create=${kv.createRevision} mod=${kv.modRevision} version=${kv.version}`,
  );
  return [`appliedIndex=${replica.store.appliedIndex()} revision=${all.revision}`, ...lines];
}

export interface Fixture {
  /** The staged snapshot's index (the NEW store's applied index). */
  index: number;
  oldDump: string[];
  newDump: string[];
}

/** Builds <target>/kv with the OLD store and stages the NEW store's snapshot in <target>/snapshots; <scratch> holds the NEW store's own directory. */
export async function buildFixture(target: string, scratch: string): Promise<Fixture> {
  const sourceOptions = await replicaOptions(scratch);
  const source = await KvReplica.open(sourceOptions);
  let index: number;
  let newDump: string[];
  try {
    await applyAll(source, newCommands());
    newDump = await dumpStore(source);
    index = await source.createSnapshot();
  } finally {
    await source.close();
  }
  const targetOptions = await replicaOptions(target);
  const replica = await KvReplica.open(targetOptions);
  let oldDump: string[];
  try {
    await applyAll(replica, oldCommands());
    oldDump = await dumpStore(replica);
  } finally {
    await replica.close();
  }
  await targetOptions.snapshots.stage(index, sourceOptions.snapshots.read(index));
  return { index, oldDump, newDump };
}

interface Plan {
  /** The fixture directory; traced paths are relative to it. */
  dir: string;
  mode: "trace" | "crash" | "run";
  crashAt: number;
  when: CrashWhen;
}

let armed = false;
let operations = 0;

function kill(): never {
  process.kill(process.pid, "SIGKILL");
  throw new Error("SIGKILL did not stop the process");
}

/** Counts one operation; true if the plan crashes right after it. */
function onOperation(plan: Plan, name: string, target: unknown): boolean {
  if (!armed) return false;
  operations++;
  if (plan.mode === "trace") process.stdout.write(`op ${operations} ${name} ${typeof target === "string" ? path.relative(plan.dir, target) : "-"}\n`);
  if (plan.mode !== "crash" || operations !== plan.crashAt) return false;
  if (plan.when === "before") kill();
  return true;
}

type Callable = (this: unknown, ...args: unknown[]) => unknown;

function patch(owner: object, names: readonly string[], style: "promise" | "callback" | "sync", plan: Plan): void {
  const methods = owner as Record<string, Callable>;
  for (const name of names) {
    const original = methods[name];
    if (typeof original !== "function") throw new Error(`no ${name} to patch`);
    methods[name] = function (this: unknown, ...args: unknown[]): unknown {
      const crashAfter = onOperation(plan, name, args[0]);
      if (!crashAfter) return original.apply(this, args);
      if (style === "promise") return (original.apply(this, args) as Promise<unknown>).then(kill);
      if (style === "sync") {
        original.apply(this, args);
        return kill();
      }
      // Callback style: the operation is done when its callback runs; die instead of calling it.
      return original.apply(this, [...args.slice(0, -1), kill]);
    };
  }
}

async function main(dir: string, index: number, plan: Plan): Promise<void> {
  const replica = await KvReplica.open(await replicaOptions(dir));
  // A FileHandle's methods live on its prototype: borrow one handle to reach it.
  const probe = await fs.open(path.join(dir, "kv", "CURRENT"), "r");
  const handlePrototype = Object.getPrototypeOf(probe) as object;
  await probe.close();
  patch(fs, PROMISE_OPS, "promise", plan);
  patch(handlePrototype, HANDLE_OPS, "promise", plan);
  patch(fsSync, CALLBACK_OPS, "callback", plan);
  patch(fsSync, SYNC_OPS, "sync", plan);
  syncBuiltinESMExports();
  process.stdout.write("armed\n");
  const started = performance.now();
  armed = true;
  await replica.installSnapshot({ index, term: 1, conf: { voters: [1n], learners: [] } });
  armed = false;
  process.stdout.write(`installed ${(performance.now() - started).toFixed(1)}\n`);
  await replica.close();
}

function parsePlan(dir: string, args: string[]): Plan {
  const [mode, crashAt, when] = args;
  if (mode === "trace" || mode === "run") return { dir, mode, crashAt: 0, when: "before" };
  if (mode === "crash" && (when === "before" || when === "after") && Number(crashAt) >= 1) return { dir, mode, crashAt: Number(crashAt), when };
  throw new Error(`usage: <dir> <index> trace | run | crash <n> before|after (got ${args.join(" ")})`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, index, ...rest] = process.argv.slice(2);
  main(dir, Number(index), parsePlan(dir, rest)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
