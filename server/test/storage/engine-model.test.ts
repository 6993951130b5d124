/**
 * Property tests of the Engine against a model: a Map from hex keys to values (hex strings of
 * equal-width digits sort in the same order as the bytes they encode). Random sequences of
 * puts, deletes, batches, concurrent puts, gets, range scans (bounds, reverse, limit), scans that
 * race with writes, snapshots (frozen copies of the model) and reopens run with tiny memtables,
 * files and blocks, so flushes and compactions happen all the time. Runs once with flush and
 * compaction in the worker thread and once inline.
 *
 * Reproduce a failure with the command printed in the failure message:
 *   SISYPHUS_SEED=<seed> SISYPHUS_PATH=<path> node --test --test-name-pattern="<name>" \
 *     dist/server/test/storage/engine-model.test.js
 * SISYPHUS_RUNS=<n> changes the number of runs; SISYPHUS_VERBOSE=1 lists every failure seen
 * while shrinking.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Engine, WriteBatch } from "../../src/storage/index.js";
import type { EngineOptions, IterateOptions, Snapshot } from "../../src/storage/index.js";

interface ValueSpec {
  seed: number;
  length: number;
}
type WriteOp = { kind: "put"; key: Uint8Array; value: ValueSpec } | { kind: "delete"; key: Uint8Array };
interface Bound {
  key: Uint8Array;
  inclusive: boolean;
}
interface Range {
  lower: Bound | null;
  upper: Bound | null;
  reverse: boolean;
  limit: number | null;
}
type Op =
  | (WriteOp & { sync: boolean })
  | { kind: "batch"; ops: WriteOp[]; sync: boolean }
  | { kind: "parallel-puts"; puts: { key: Uint8Array; value: ValueSpec; sync: boolean }[] }
  | { kind: "get"; key: Uint8Array; snapshot: number | null }
  | { kind: "iterate"; range: Range; snapshot: number | null }
  | { kind: "iterate-while-writing"; range: Range; readFirst: number; writes: WriteOp[] }
  | { kind: "snapshot" }
  | { kind: "release"; snapshot: number }
  | { kind: "reopen" };

type Model = Map<string, Buffer>;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex");

/** The bytes of a generated value: a deterministic function of its spec. */
function valueBytes(spec: ValueSpec): Buffer {
  const out = Buffer.allocUnsafe(spec.length);
  let x = spec.seed | 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function describeValue(value: Uint8Array | undefined): string {
  if (value === undefined) return "absent";
  const h = hex(value);
  return `${value.length} bytes ${h.length > 16 ? `${h.slice(0, 16)}…` : h}`;
}

function describeRange(range: Range): string {
  const parts: string[] = [];
  if (range.lower) parts.push(`${range.lower.inclusive ? "gte" : "gt"} ${hex(range.lower.key)}`);
  if (range.upper) parts.push(`${range.upper.inclusive ? "lte" : "lt"} ${hex(range.upper.key)}`);
  if (range.reverse) parts.push("reverse");
  if (range.limit !== null) parts.push(`limit ${range.limit}`);
  return parts.join(" ") || "all";
}

function describeWrite(op: WriteOp): string {
  return op.kind === "put" ? `put ${hex(op.key)}=<${op.value.length} bytes, seed ${op.value.seed}>` : `delete ${hex(op.key)}`;
}

function describeOp(op: Op): string {
  const via = (snapshot: number | null) => (snapshot === null ? "" : ` via snapshot #${snapshot}`);
  switch (op.kind) {
    case "put":
    case "delete":
      return `${describeWrite(op)}${op.sync ? " sync" : ""}`;
    case "batch":
      return `batch[${op.ops.map(describeWrite).join(", ")}]${op.sync ? " sync" : ""}`;
    case "parallel-puts":
      return `parallel[${op.puts.map((p) => describeWrite({ kind: "put", ...p })).join(", ")}]`;
    case "get":
      return `get ${hex(op.key)}${via(op.snapshot)}`;
    case "iterate":
      return `iterate ${describeRange(op.range)}${via(op.snapshot)}`;
    case "iterate-while-writing":
      return `iterate ${describeRange(op.range)}, after ${op.readFirst} entries [${op.writes.map(describeWrite).join(", ")}]`;
    case "snapshot":
      return "snapshot";
    case "release":
      return `release snapshot #${op.snapshot}`;
    case "reopen":
      return "reopen";
  }
}

// Mostly 1-3 bytes over a 4-letter alphabet (84 keys, so overwrites and deletes hit, and many
// keys are prefixes of others), sometimes any 1-20 bytes.
const keyArb = fc.oneof(
  { weight: 9, arbitrary: fc.array(fc.constantFrom(0x00, 0x01, 0x61, 0xff), { minLength: 1, maxLength: 3 }).map((a) => Uint8Array.from(a)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 20 }) },
);
const valueArb: fc.Arbitrary<ValueSpec> = fc.record({
  seed: fc.integer(),
  length: fc.oneof({ weight: 9, arbitrary: fc.nat(300) }, { weight: 1, arbitrary: fc.integer({ min: 301, max: 6000 }) }),
});
const writeArb: fc.Arbitrary<WriteOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("put" as const), key: keyArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: keyArb }) },
);
const boundArb: fc.Arbitrary<Bound | null> = fc.option(fc.record({ key: keyArb, inclusive: fc.boolean() }), { freq: 3 });
const rangeArb: fc.Arbitrary<Range> = fc.record({
  lower: boundArb,
  upper: boundArb,
  reverse: fc.boolean(),
  limit: fc.option(fc.integer({ min: -1, max: 20 }), { freq: 2 }),
});
const snapshotRefArb = fc.option(fc.nat(), { freq: 2 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 30, arbitrary: fc.record({ kind: fc.constant("put" as const), key: keyArb, value: valueArb, sync: fc.boolean() }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: keyArb, sync: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("batch" as const), ops: fc.array(writeArb, { minLength: 0, maxLength: 12 }), sync: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("parallel-puts" as const),
      puts: fc.uniqueArray(fc.record({ key: keyArb, value: valueArb, sync: fc.boolean() }), {
        minLength: 2,
        maxLength: 8,
        selector: (p) => hex(p.key),
      }),
    }),
  },
  { weight: 15, arbitrary: fc.record({ kind: fc.constant("get" as const), key: keyArb, snapshot: snapshotRefArb }) },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant("iterate" as const), range: rangeArb, snapshot: snapshotRefArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("iterate-while-writing" as const),
      range: rangeArb,
      readFirst: fc.integer({ min: 1, max: 5 }),
      writes: fc.array(writeArb, { minLength: 1, maxLength: 30 }),
    }),
  },
  { weight: 4, arbitrary: fc.constant({ kind: "snapshot" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("release" as const), snapshot: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: "reopen" as const }) },
).map((op) => Object.assign(op, { [fc.toStringMethod]: () => describeOp(op) }));

const opsArb = fc.array(opArb, { minLength: 30, maxLength: 300, size: "max" });

// Tiny sizes so that a few hundred operations flush and compact many times.
const optionsArb: fc.Arbitrary<EngineOptions> = fc.record({
  memtableBytes: fc.integer({ min: 4 * 1024, max: 16 * 1024 }),
  targetFileBytes: fc.integer({ min: 4 * 1024, max: 8 * 1024 }),
  blockSizeBytes: fc.constant(256),
  blockRestartInterval: fc.constantFrom(1, 2, 16),
  bloomBitsPerKey: fc.constantFrom(0, 10),
  blockCacheBytes: fc.constantFrom(2 * 1024, 1024 * 1024),
  levelBaseBytes: fc.constant(32 * 1024),
  l0CompactionTrigger: fc.constant(2),
});

function expectedRange(model: Model, range: Range): [string, Buffer][] {
  const lower = range.lower && hex(range.lower.key);
  const upper = range.upper && hex(range.upper.key);
  let entries = [...model.entries()]
    .filter(([k]) => {
      if (lower !== null && (range.lower!.inclusive ? k < lower : k <= lower)) return false;
      if (upper !== null && (range.upper!.inclusive ? k > upper : k >= upper)) return false;
      return true;
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (range.reverse) entries.reverse();
  if (range.limit !== null && range.limit >= 0) entries = entries.slice(0, range.limit);
  return entries;
}

function iterateOptions(range: Range, snapshot: Snapshot | undefined): IterateOptions {
  const options: IterateOptions = { reverse: range.reverse };
  if (range.lower) options[range.lower.inclusive ? "gte" : "gt"] = range.lower.key;
  if (range.upper) options[range.upper.inclusive ? "lte" : "lt"] = range.upper.key;
  if (range.limit !== null) options.limit = range.limit;
  if (snapshot) options.snapshot = snapshot;
  return options;
}

/** Throws a message naming the first difference between a scan and the model. */
function assertSameEntries(actual: [Uint8Array, Uint8Array][], expected: [string, Buffer][]): void {
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    const a = actual[i];
    const e = expected[i];
    const aText = a === undefined ? "end of scan" : `${hex(a[0])}=${describeValue(a[1])}`;
    const eText = e === undefined ? "end of scan" : `${e[0]}=${describeValue(e[1])}`;
    if (a === undefined || e === undefined || hex(a[0]) !== e[0] || !Buffer.from(a[1]).equals(e[1])) {
      throw new Error(`scan entry ${i}: expected ${eText}, got ${aText} (expected ${expected.length} entries, got ${actual.length})`);
    }
  }
}

const STEP_DEADLINE_MS = 30_000;

/** Rejects if `promise` has not settled within the deadline, so a hang fails (and shrinks). */
async function withinDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${STEP_DEADLINE_MS} ms`)), STEP_DEADLINE_MS);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface Tally {
  runs: number;
  ops: number;
  runsWithDeeperLevels: number;
  compactions: number;
  flushes: number;
}

/** One run of a generated op sequence against a fresh engine directory. */
class ModelRun {
  private engine!: Engine;
  private readonly model: Model = new Map();
  private snapshots: { snapshot: Snapshot; frozen: Model }[] = [];
  private compactions = 0;
  private flushes = 0;

  private constructor(
    private readonly dir: string,
    private readonly options: EngineOptions,
  ) {}

  static async run(options: EngineOptions, ops: Op[], tally: Tally): Promise<void> {
    const run = new ModelRun(await mkdtemp(join(tmpdir(), "sisyphus-model-")), options);
    try {
      run.engine = await withinDeadline(Engine.open(run.dir, options), "Engine.open");
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        try {
          await withinDeadline(run.step(op), "the op");
        } catch (err) {
          throw new Error(`op #${i} (${describeOp(op)}): ${(err as Error).message}`, { cause: err });
        }
      }
      const stats = run.engine.stats();
      tally.runs++;
      tally.ops += ops.length;
      if (stats.levels.some((level) => level.level > 0 && level.files > 0)) tally.runsWithDeeperLevels++;
      tally.compactions += run.compactions + stats.compactions.count;
      tally.flushes += run.flushes + stats.flushes.count;
      await run.reopen();
      await run.checkAll("after the final reopen");
    } finally {
      await withinDeadline(run.engine?.close() ?? Promise.resolve(), "close").catch(() => {});
      await rm(run.dir, { recursive: true, force: true });
    }
  }

  private async step(op: Op): Promise<void> {
    switch (op.kind) {
      case "put":
      case "delete":
        await this.write(op, op.sync);
        return;
      case "batch": {
        const batch = new WriteBatch();
        for (const w of op.ops) {
          if (w.kind === "put") batch.put(w.key, valueBytes(w.value));
          else batch.delete(w.key);
        }
        await this.engine.write(batch, { sync: op.sync });
        for (const w of op.ops) this.applyToModel(w);
        return;
      }
      case "parallel-puts":
        await Promise.all(op.puts.map((p) => this.engine.put(p.key, valueBytes(p.value), { sync: p.sync })));
        for (const p of op.puts) this.applyToModel({ kind: "put", ...p });
        return;
      case "get": {
        const { snapshot, model } = this.readView(op.snapshot);
        const got = await this.engine.get(op.key, snapshot ? { snapshot } : {});
        const want = model.get(hex(op.key));
        if (!(got === undefined ? want === undefined : want !== undefined && Buffer.from(got).equals(want))) {
          throw new Error(`get returned ${describeValue(got)}, expected ${describeValue(want)}`);
        }
        return;
      }
      case "iterate": {
        const { snapshot, model } = this.readView(op.snapshot);
        const expected = expectedRange(model, op.range);
        const actual: [Uint8Array, Uint8Array][] = [];
        for await (const entry of this.engine.iterate(iterateOptions(op.range, snapshot))) actual.push(entry);
        assertSameEntries(actual, expected);
        return;
      }
      case "iterate-while-writing": {
        // The scan sees the database as of the iterate() call, whatever is written meanwhile.
        const expected = expectedRange(this.model, op.range);
        const iterator = this.engine.iterate(iterateOptions(op.range, undefined))[Symbol.asyncIterator]();
        const actual: [Uint8Array, Uint8Array][] = [];
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          actual.push(next.value);
          if (actual.length === op.readFirst) for (const w of op.writes) await this.write(w, false);
        }
        assertSameEntries(actual, expected);
        return;
      }
      case "snapshot":
        this.snapshots.push({ snapshot: this.engine.snapshot(), frozen: new Map(this.model) });
        return;
      case "release": {
        if (this.snapshots.length === 0) return;
        const [released] = this.snapshots.splice(op.snapshot % this.snapshots.length, 1);
        released!.snapshot.release();
        return;
      }
      case "reopen":
        await this.reopen();
        await this.checkAll("after reopen");
        return;
    }
  }

  private async write(op: WriteOp, sync: boolean): Promise<void> {
    if (op.kind === "put") await this.engine.put(op.key, valueBytes(op.value), { sync });
    else await this.engine.delete(op.key, { sync });
    this.applyToModel(op);
  }

  private applyToModel(op: WriteOp | { kind: "put"; key: Uint8Array; value: ValueSpec }): void {
    if (op.kind === "put") this.model.set(hex(op.key), valueBytes(op.value));
    else this.model.delete(hex(op.key));
  }

  /** The snapshot an op refers to (by index among the live ones) and the model it must see. */
  private readView(ref: number | null): { snapshot: Snapshot | undefined; model: Model } {
    if (ref === null || this.snapshots.length === 0) return { snapshot: undefined, model: this.model };
    const { snapshot, frozen } = this.snapshots[ref % this.snapshots.length]!;
    return { snapshot, model: frozen };
  }

  private async reopen(): Promise<void> {
    const stats = this.engine.stats();
    this.compactions += stats.compactions.count;
    this.flushes += stats.flushes.count;
    await this.engine.close();
    this.snapshots = [];
    this.engine = await Engine.open(this.dir, this.options);
  }

  private async checkAll(when: string): Promise<void> {
    const actual: [Uint8Array, Uint8Array][] = [];
    for await (const entry of this.engine.iterate()) actual.push(entry);
    try {
      assertSameEntries(actual, expectedRange(this.model, { lower: null, upper: null, reverse: false, limit: null }));
    } catch (err) {
      throw new Error(`full scan ${when}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** After a failure, shrinking stops trying new candidates after this long (the best so far is reported). */
const SHRINK_BUDGET_MS = 60_000;

async function checkAgainstModel(name: string, backgroundWorker: boolean, numRuns: number): Promise<Tally> {
  const seed = process.env.SISYPHUS_SEED !== undefined ? Number(process.env.SISYPHUS_SEED) : Math.floor(Math.random() * 0x7fffffff);
  const path = process.env.SISYPHUS_PATH;
  const tally: Tally = { runs: 0, ops: 0, runsWithDeeperLevels: 0, compactions: 0, flushes: 0 };
  let failingSince: number | undefined;
  const property = fc.asyncProperty(optionsArb, opsArb, async (options, ops) => {
    if (failingSince !== undefined && Date.now() - failingSince > SHRINK_BUDGET_MS) return;
    try {
      await ModelRun.run({ ...options, backgroundWorker }, ops, tally);
    } catch (err) {
      failingSince ??= Date.now();
      throw err;
    }
  });
  const details = await fc.check(property, {
    seed,
    numRuns: Number(process.env.SISYPHUS_RUNS ?? numRuns),
    verbose: process.env.SISYPHUS_VERBOSE === "1" ? fc.VerbosityLevel.Verbose : fc.VerbosityLevel.None,
    // Replaying a path reruns that one case instead of shrinking it again.
    ...(path !== undefined ? { path, endOnFailure: true } : {}),
  });
  if (details.failed) {
    const cause = details.errorInstance;
    throw new Error(
      `${fc.defaultReportMessage(details)}\n` +
        `error: ${cause instanceof Error ? cause.message : String(cause)}\n` +
        `reproduce: SISYPHUS_SEED=${seed} SISYPHUS_PATH=${details.counterexamplePath} node --test ` +
        `--test-name-pattern="${name}" dist/server/test/storage/engine-model.test.js`,
      { cause },
    );
  }
  return tally;
}

function assertCompactionHappened(tally: Tally): void {
  const context = JSON.stringify(tally);
  assert.ok(tally.flushes > tally.runs, `expected several flushes per run: ${context}`);
  assert.ok(tally.compactions > 0, `no compaction ran in any run: ${context}`);
  // A broken compaction trigger leaves every table in L0.
  assert.ok(tally.runsWithDeeperLevels >= tally.runs / 4, `too few runs ended with tables below L0: ${context}`);
}

describe("engine matches a sorted-map model", { timeout: 300_000 }, () => {
  it("with flush and compaction in the worker thread", async (t) => {
    const tally = await checkAgainstModel("worker thread", true, 40);
    t.diagnostic(JSON.stringify(tally));
    assertCompactionHappened(tally);
  });

  it("with flush and compaction inline", async (t) => {
    const tally = await checkAgainstModel("inline", false, 120);
    t.diagnostic(JSON.stringify(tally));
    assertCompactionHappened(tally);
  });
});
