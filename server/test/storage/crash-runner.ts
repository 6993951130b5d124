/**
 * Crash-recovery harness. Each cycle starts crash-writer.js on the same directory, SIGKILLs it at
 * a random moment (a random 50-800 ms into writing, right after a flush or a compaction
 * finished, or during startup and recovery), reopens the directory and checks it against the
 * writer's journal:
 *  - every acknowledged write is present: a key holds the effect of its last acknowledged write,
 *    or of the one write to it still in flight at the kill;
 *  - a batch is all-or-nothing: every key that can tell agrees on whether it was applied;
 *  - nothing that was never written appears, and keys not written in the cycle keep their values;
 *  - point reads agree with the scan.
 * The checked state is the baseline of the next cycle, so recovery after recovery is tested.
 *
 *   node dist/server/test/storage/crash-runner.js [--cycles N] [--seed S] [--dir D]
 *
 * The WriterChild class is shared with the other storage tests that need an engine in a child
 * process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Engine } from "../../src/storage/index.js";
import { crashValue, createRng, randomInt, type Intent } from "./crash-writer.js";

const WRITER_SCRIPT = fileURLToPath(new URL("./crash-writer.js", import.meta.url));

/** Children still running; killed by pid when this process exits, however it exits. */
const liveChildren = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
});

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A crash-writer.js child process with line-oriented access to its stdout. */
export class WriterChild {
  readonly process: ChildProcess;
  /** Settles once the process exited and its output was read to the end. */
  readonly exited: Promise<ChildExit>;
  readonly lines: string[] = [];
  private stdoutTail = "";
  private stderrText = "";
  private exit: ChildExit | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly startedAt = Date.now();
  /** Milliseconds from spawn to the first "ready" line, if one arrived. */
  readyAfterMs: number | undefined;

  constructor(args: string[]) {
    this.process = spawn(process.execPath, [WRITER_SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    liveChildren.add(this.process);
    this.process.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (this.stdoutTail + chunk).split("\n");
      this.stdoutTail = parts.pop()!;
      if (this.readyAfterMs === undefined && parts.includes("ready")) this.readyAfterMs = Date.now() - this.startedAt;
      this.lines.push(...parts);
      this.notify();
    });
    this.process.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderrText += chunk;
    });
    this.process.on("exit", () => liveChildren.delete(this.process));
    this.exited = new Promise((resolve) => {
      this.process.on("close", (code, signal) => {
        this.exit = { code, signal };
        this.notify();
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** What the child wrote to stderr (its error, when it failed). */
  get stderr(): string {
    return this.stderrText;
  }

  /**
   * The first stdout line at index >= `from` that satisfies `match`; undefined if none arrived
   * within `timeoutMs`. Rejects if the child exits first.
   */
  waitForLine(match: (line: string) => boolean, timeoutMs: number, from = 0): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      let checked = from;
      const check = (): void => {
        for (; checked < this.lines.length; checked++) {
          if (match(this.lines[checked]!)) return finish(() => resolve(this.lines[checked]));
        }
        if (this.exit !== undefined) finish(() => reject(new Error(`child exited early: ${this.describeExit()}`)));
      };
      const timer = setTimeout(() => finish(() => resolve(undefined)), timeoutMs);
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Waits `ms`; rejects if the child exits meanwhile. */
  async runFor(ms: number): Promise<void> {
    await this.waitForLine(() => false, ms, this.lines.length);
  }

  /** SIGKILLs the child (by pid) unless it already exited; resolves once it is gone. */
  async kill(): Promise<ChildExit> {
    if (this.exit === undefined) this.process.kill("SIGKILL");
    return this.exited;
  }

  describeExit(): string {
    const exit = this.exit === undefined ? "still running" : `code ${this.exit.code}, signal ${this.exit.signal}`;
    return `pid ${this.pid} (${exit}); stdout tail: ${JSON.stringify(this.lines.slice(-5))}; stderr: ${this.stderrText}`;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export type KillPlan = "random" | "after-flush" | "after-compaction" | "startup";

export interface CrashRunOptions {
  /** Directory to work in (the engine lives in <dir>/db, journals beside it). */
  dir: string;
  cycles: number;
  seed: number;
  /** Progress lines; silent if absent. */
  log?: (line: string) => void;
}

export interface CrashRunSummary {
  cycles: number;
  writesIssued: number;
  writesAcked: number;
  /** Writes in flight at a kill that turned out applied / not applied after recovery. */
  inFlightApplied: number;
  inFlightLost: number;
  plans: Record<KillPlan, number>;
  /** Cycles whose kill came right after an observed flush / compaction. */
  killsAfterFlush: number;
  killsAfterCompaction: number;
  /** Cycles in which the child reported at least one finished compaction. */
  cyclesWithCompaction: number;
  maxLiveKeys: number;
}

/** Op ids of cycle c start at c * OP_IDS_PER_CYCLE, so ids never repeat across cycles. */
const OP_IDS_PER_CYCLE = 10_000_000;

export async function runCrashCycles(options: CrashRunOptions): Promise<CrashRunSummary> {
  const { dir, cycles, seed } = options;
  const log = options.log ?? (() => {});
  const rng = createRng(seed);
  const dbDir = join(dir, "db");
  mkdirSync(dbDir, { recursive: true });
  const summary: CrashRunSummary = {
    cycles: 0,
    writesIssued: 0,
    writesAcked: 0,
    inFlightApplied: 0,
    inFlightLost: 0,
    plans: { random: 0, "after-flush": 0, "after-compaction": 0, startup: 0 },
    killsAfterFlush: 0,
    killsAfterCompaction: 0,
    cyclesWithCompaction: 0,
    maxLiveKeys: 0,
  };
  let baseline = new Map<string, Buffer>();
  for (let cycle = 0; cycle < cycles; cycle++) {
    const childSeed = randomInt(rng, 0x7fffffff);
    const r = rng();
    const plan: KillPlan = r < 0.6 ? "random" : r < 0.75 ? "after-flush" : r < 0.9 ? "after-compaction" : "startup";
    const delayMs = plan === "startup" ? randomInt(rng, 150) : 50 + randomInt(rng, 750);
    const journal = join(dir, `journal-${cycle}.log`);
    const context = `cycle ${cycle + 1}/${cycles} of seed ${seed} (kill plan ${plan}, delay ${delayMs} ms, writer seed ${childSeed}, dir ${dir})`;
    const child = new WriterChild(["crash", dbDir, journal, String(childSeed), String(cycle * OP_IDS_PER_CYCLE)]);
    let killNote: string;
    try {
      killNote = await awaitKillMoment(child, plan, delayMs);
      const exit = await child.kill();
      if (exit.signal !== "SIGKILL") throw new Error(`writer exited by itself: ${child.describeExit()}`);
    } catch (err) {
      throw new Error(`${context}: ${(err as Error).message}`, { cause: err });
    } finally {
      await child.kill();
    }
    if (child.lines.some((line) => line.startsWith("compaction "))) summary.cyclesWithCompaction++;
    if (killNote === "after-flush") summary.killsAfterFlush++;
    if (killNote === "after-compaction") summary.killsAfterCompaction++;
    summary.plans[plan]++;

    let check: RecoveryCheck;
    const checkStarted = Date.now();
    try {
      check = await checkRecovery(dbDir, journal, baseline, rng);
    } catch (err) {
      throw new Error(`${context}: reopening after the kill failed: ${(err as Error).message}`, { cause: err });
    }
    if (check.errors.length > 0) {
      throw new Error(
        `${context}: recovery check failed (${check.errors.length} problems; ${check.issued} writes issued, ` +
          `${check.acked} acknowledged):\n  ${check.errors.slice(0, 20).join("\n  ")}\n` +
          `rerun (same choices, kill timing varies): node dist/server/test/storage/crash-runner.js --seed ${seed} --cycles ${cycle + 1}`,
      );
    }
    rmSync(journal, { force: true });
    baseline = check.state;
    summary.cycles++;
    summary.writesIssued += check.issued;
    summary.writesAcked += check.acked;
    summary.inFlightApplied += check.inFlightApplied;
    summary.inFlightLost += check.inFlightLost;
    summary.maxLiveKeys = Math.max(summary.maxLiveKeys, baseline.size);
    log(
      `cycle ${cycle + 1}/${cycles}: ${plan} kill (${killNote}), ${check.issued} writes, ${check.acked} acked, ` +
        `in flight applied/lost ${check.inFlightApplied}/${check.inFlightLost}, ${baseline.size} keys, ` +
        `writer ready after ${child.readyAfterMs ?? "-"} ms, check took ${Date.now() - checkStarted} ms`,
    );
  }
  return summary;
}

/** Lets the writer run until the plan's kill moment; returns what the kill followed. */
async function awaitKillMoment(child: WriterChild, plan: KillPlan, delayMs: number): Promise<string> {
  if (plan === "startup") {
    await child.runFor(delayMs);
    return "during startup";
  }
  const ready = await child.waitForLine((line) => line === "ready", 60_000);
  if (ready === undefined) throw new Error(`writer not ready after 60 s: ${child.describeExit()}`);
  if (plan === "random") {
    await child.runFor(delayMs);
    return `after ${delayMs} ms`;
  }
  const prefix = plan === "after-flush" ? "flush " : "compaction ";
  await child.runFor(20);
  const seen = await child.waitForLine((line) => line.startsWith(prefix), 800, child.lines.length);
  return seen === undefined ? "none seen in 800 ms" : plan;
}

interface RecoveryCheck {
  errors: string[];
  state: Map<string, Buffer>;
  issued: number;
  acked: number;
  inFlightApplied: number;
  inFlightLost: number;
}

/** The writes of one cycle to one key, in commit order; all but the last are acknowledged. */
interface KeyWrite {
  intent: Intent;
  value: Buffer | undefined;
}

function parseJournal(path: string): { intents: Intent[]; acked: Set<number> } {
  // A child killed during startup may not have created its journal yet.
  const lines = existsSync(path) ? readFileSync(path, "latin1").split("\n") : [""];
  lines.pop(); // "" after the last newline, or a record torn by the kill: its write was never issued
  const intents: Intent[] = [];
  const acked = new Set<number>();
  for (const line of lines) {
    if (line.startsWith("I ")) intents.push(JSON.parse(line.slice(2)) as Intent);
    else if (line.startsWith("A ")) acked.add(Number(line.slice(2)));
    else throw new Error(`bad journal line in ${path}: ${JSON.stringify(line)}`);
  }
  return { intents, acked };
}

function describeValue(value: Buffer | undefined): string {
  if (value === undefined) return "absent";
  const text = value.subarray(0, 64).toString("latin1");
  const [id, key] = text.split("|");
  return `value of op ${id} for ${key} (${value.length} bytes)`;
}

function sameValue(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

async function checkRecovery(
  dbDir: string,
  journalPath: string,
  baseline: Map<string, Buffer>,
  rng: () => number,
): Promise<RecoveryCheck> {
  const { intents, acked } = parseJournal(journalPath);
  const errors: string[] = [];
  const history = new Map<string, KeyWrite[]>();
  const record = (key: string, write: KeyWrite): void => {
    const writes = history.get(key);
    if (writes === undefined) history.set(key, [write]);
    else writes.push(write);
  };
  for (const intent of intents) {
    for (const [key, bytes] of intent.puts) record(key, { intent, value: crashValue(intent.id, key, bytes) });
    for (const key of intent.dels) record(key, { intent, value: undefined });
  }

  const engine = await Engine.open(dbDir, {
    memtableBytes: 64 * 1024,
    targetFileBytes: 16 * 1024,
    l0CompactionTrigger: 2,
    levelBaseBytes: 64 * 1024,
    backgroundWorker: rng() < 0.5,
  });
  const state = new Map<string, Buffer>();
  let inFlightApplied = 0;
  let inFlightLost = 0;
  try {
    let previous: string | undefined;
    for await (const [key, value] of engine.iterate()) {
      const k = Buffer.from(key).toString("latin1");
      if (previous !== undefined && Buffer.compare(Buffer.from(previous, "latin1"), Buffer.from(key)) >= 0) {
        errors.push(`scan out of order: ${JSON.stringify(previous)} then ${JSON.stringify(k)}`);
      }
      previous = k;
      state.set(k, Buffer.from(value));
    }

    // Per intent: did its keys show it applied (true) or not (false)? Keys that cannot tell
    // (a delete of an already absent key) do not vote.
    const votes = new Map<number, { applied: string[]; notApplied: string[] }>();
    for (const [key, writes] of history) {
      const last = writes[writes.length - 1]!;
      for (const write of writes.slice(0, -1)) {
        if (!acked.has(write.intent.id)) errors.push(`harness: op ${write.intent.id} on ${key} followed by another write before its ack`);
      }
      const before = writes.length > 1 ? writes[writes.length - 2]!.value : baseline.get(key);
      const actual = state.get(key);
      const isAcked = acked.has(last.intent.id);
      let applied: boolean;
      if (sameValue(actual, last.value)) applied = true;
      else if (!isAcked && sameValue(actual, before)) applied = false;
      else {
        const expected = isAcked
          ? `${describeValue(last.value)} (op ${last.intent.id}, acknowledged)`
          : `${describeValue(last.value)} (op ${last.intent.id}, in flight) or ${describeValue(before)}`;
        errors.push(`key ${key}: found ${describeValue(actual)}${actual && !isCrashValue(key, actual) ? " with corrupt bytes" : ""}, expected ${expected}`);
        continue;
      }
      if (sameValue(last.value, before)) continue;
      let vote = votes.get(last.intent.id);
      if (vote === undefined) votes.set(last.intent.id, (vote = { applied: [], notApplied: [] }));
      (applied ? vote.applied : vote.notApplied).push(key);
    }
    for (const [id, vote] of votes) {
      if (vote.applied.length > 0 && vote.notApplied.length > 0) {
        errors.push(`op ${id} partially applied: applied to [${vote.applied.join(", ")}], not to [${vote.notApplied.join(", ")}]`);
      }
      if (!acked.has(id)) {
        if (vote.notApplied.length === 0) inFlightApplied++;
        else inFlightLost++;
      }
    }
    for (const [key, value] of state) {
      if (history.has(key)) continue;
      const expected = baseline.get(key);
      if (!sameValue(value, expected)) {
        errors.push(`key ${key} not written this cycle: found ${describeValue(value)}, expected ${describeValue(expected)}`);
      }
    }
    for (const [key, value] of baseline) {
      if (!history.has(key) && !state.has(key)) errors.push(`key ${key} not written this cycle disappeared (was ${describeValue(value)})`);
    }

    // Point reads go through memtable, bloom filters and table indexes rather than the scan path.
    const keys = [...history.keys()];
    for (let i = 0; i < Math.min(300, keys.length); i++) {
      const key = keys[randomInt(rng, keys.length)]!;
      const got = await engine.get(Buffer.from(key, "latin1"));
      const scanned = state.get(key);
      if (!sameValue(got === undefined ? undefined : Buffer.from(got), scanned)) {
        errors.push(`get(${key}) returned ${describeValue(got && Buffer.from(got))} but the scan found ${describeValue(scanned)}`);
      }
    }
    if ((await engine.get(Buffer.from("never-written", "latin1"))) !== undefined) errors.push("get(never-written) found a value");
  } finally {
    await engine.close();
  }
  return { errors, state, issued: intents.length, acked: acked.size, inFlightApplied, inFlightLost };
}

function isCrashValue(key: string, value: Buffer): boolean {
  const [id] = value.subarray(0, 32).toString("latin1").split("|");
  return crashValue(Number(id), key, value.length).equals(value);
}

function parseArgs(argv: string[]): { cycles: number; seed: number; dir: string | undefined } {
  let cycles = 200;
  let seed = Math.floor(Math.random() * 0x7fffffff);
  let dir: string | undefined;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--cycles" && value !== undefined && Number.isInteger(Number(value))) cycles = Number(value);
    else if (flag === "--seed" && value !== undefined && Number.isInteger(Number(value))) seed = Number(value);
    else if (flag === "--dir" && value !== undefined) dir = value;
    else throw new Error(`usage: crash-runner.js [--cycles N] [--seed S] [--dir D] (bad argument ${flag})`);
  }
  return { cycles, seed, dir };
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), "sisyphus-crash-"));
  console.log(`crash-runner: seed ${args.seed}, ${args.cycles} cycles, dir ${dir}`);
  const started = Date.now();
  try {
    const summary = await runCrashCycles({ dir, cycles: args.cycles, seed: args.seed, log: (line) => console.log(line) });
    console.log(`crash-runner: passed in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(summary)}`);
    if (args.dir === undefined) rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    console.error(`crash-runner: FAILED (seed ${args.seed}, dir ${dir} kept)\n${(err as Error).message}`);
    process.exitCode = 1;
  }
}

function isMainModule(): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(realpathSync(script)).href === import.meta.url;
}

// `node --test dist/server/test/` also runs this file, without arguments: then it does nothing.
if (isMainModule() && !(process.argv.length === 2 && process.env.NODE_TEST_CONTEXT !== undefined)) await main();
