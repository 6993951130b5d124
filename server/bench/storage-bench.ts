/**
 * npm run bench:storage [-- --num N | --quick] [--reads R] [--only sisyphus|leveldb] [--seed S] [--cache-mb M]
 *
 * Runs SisyphusDB's storage engine and LevelDB (classic-level) side by side in one process, with
 * the same keys, values and random orders, and writes docs/benchmarks/storage.{json,md}.
 *
 * Per system, in order: fillseq, fillrandom_batch100, fillsync_1, fillsync_16 (each on a fresh
 * directory, removed afterwards); fillrandom on a fresh directory that the reads then use, once
 * compactions have settled (readrandom_1, readrandom_64, readrandom_sync where the system has a
 * synchronous get, readmissing, readseq, seekrandom); overwrite on that same database; and,
 * after compactions settle again, its space and write amplification. The systems run one after
 * the other, never concurrently, so one's background compaction cannot slow the other.
 *
 * Both systems run with their default block cache (8 MiB each), and the random reads are run a
 * second time after reopening both with the same larger cache (--cache-mb, 256 by default, large
 * enough to hold this data set), warmed by one untimed pass: *_cacheM rows. LevelDB reads its
 * tables through mmap, so its cache size hardly matters to it; ours reads blocks with pread and
 * verifies every block read from disk, so a miss costs a system call and a checksum.
 */
import os from "node:os";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { ClassicLevel } from "classic-level";
import { Engine, WriteBatch } from "../src/storage/index.js";
import { runMemtableBench } from "./memtable-bench.js";
import {
  DataSet,
  KEY_BYTES,
  VALUE_BYTES,
  permutation,
  randomIndexes,
  timedLoop,
  timedScan,
  type LoopResult,
  type Op,
} from "./workloads.js";
import {
  evaluateTargets,
  writeReports,
  type DelayFigures,
  type StorageReport,
  type SystemName,
  type WorkloadResult,
} from "./bench-report.js";

const BATCH_SIZE = 100;
const SCAN_CHUNK = 1000;
const SETTLE_POLL_MS = 250;
/** Polls in a row with no flush or compaction before a database counts as settled. */
const SETTLE_QUIET_POLLS = 6;
const SETTLE_TIMEOUT_MS = 180_000;

interface Args {
  num: number;
  reads: number;
  only: SystemName | null;
  seed: number;
  readBudgetMs: number;
  cacheMb: number;
}

function parseArgs(argv: string[]): Args {
  let num = 1_000_000;
  let reads: number | null = null;
  let only: SystemName | null = null;
  let seed = 0x5eed;
  let cacheMb = 256;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--quick") num = 100_000;
    else if (a === "--num") num = positiveInt(a, value());
    else if (a === "--reads") reads = positiveInt(a, value());
    else if (a === "--seed") seed = positiveInt(a, value());
    else if (a === "--cache-mb") cacheMb = positiveInt(a, value());
    else if (a === "--only") {
      const v = value();
      if (v !== "sisyphus" && v !== "leveldb") throw new Error(`--only takes sisyphus or leveldb, got ${v}`);
      only = v;
    } else throw new Error(`unknown argument ${a}; usage: storage-bench [--num N | --quick] [--reads R] [--only sisyphus|leveldb] [--seed S] [--cache-mb M]`);
  }
  // A read workload stops early (reporting the ops it did) once it has run this long.
  const readBudgetMs = num <= 100_000 ? 15_000 : 60_000;
  return { num, reads: reads ?? num, only, seed, readBudgetMs, cacheMb };
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} takes a positive integer, got ${v}`);
  return n;
}

/** Reads a range scan in chunks; pull returns how many entries it read (0 at the end). */
interface Scanner {
  pull(n: number): Promise<number>;
  close(): Promise<void>;
}

/** Positions at the first key >= target and returns it. */
interface Seeker {
  seek(target: Uint8Array): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}

/** The operations every workload needs, implemented once per system. */
interface Store {
  put(key: Uint8Array, value: Uint8Array, sync: boolean): Promise<void>;
  /** Writes the first `n` keys/values atomically. */
  putBatch(keys: Uint8Array[], values: Uint8Array[], n: number): Promise<void>;
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** A synchronous get, where the system has one. */
  readonly getSync: ((key: Uint8Array) => Uint8Array | undefined) | null;
  scanner(): Scanner;
  seeker(): Seeker;
  /** Resolves once no flush or compaction is pending or running. */
  settle(): Promise<void>;
  /** Bytes written to disk / user bytes since open; undefined if the system cannot tell. */
  writeAmplification(): number | undefined;
  close(): Promise<void>;
}

interface System {
  name: SystemName;
  /** Opens with the system's default block cache, or `cacheBytes` of it. */
  open(dir: string, cacheBytes?: number): Promise<Store>;
  writeAmplificationNote: string;
}

/**
 * Waits until `busy()` is false and `progress()` (the table listing) stops changing: LevelDB
 * does not say whether a compaction is due, so a quiet period stands in for it.
 */
async function settleBy(name: string, busy: () => boolean, progress: () => string): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let last = progress();
  let quiet = 0;
  while (quiet < SETTLE_QUIET_POLLS) {
    if (Date.now() > deadline) {
      console.warn(`  [${name}] compactions still pending after ${SETTLE_TIMEOUT_MS / 1000} s; going on`);
      return;
    }
    await sleep(SETTLE_POLL_MS);
    const now = progress();
    quiet = !busy() && now === last ? quiet + 1 : 0;
    last = now;
  }
}

const sisyphus: System = {
  name: "sisyphus",
  writeAmplificationNote: "ours: stats().writeAmplification = (WAL + flush + compaction bytes) / user bytes.",
  async open(dir, cacheBytes) {
    const engine = await Engine.open(dir, cacheBytes === undefined ? {} : { blockCacheBytes: cacheBytes });
    const batch = new WriteBatch();
    return {
      put: (key, value, sync) => engine.put(key, value, sync ? { sync: true } : undefined),
      putBatch(keys, values, n) {
        batch.clear();
        for (let i = 0; i < n; i++) batch.put(keys[i]!, values[i]!);
        return engine.write(batch);
      },
      get: (key) => engine.get(key),
      getSync: (key) => engine.getSync(key),
      scanner() {
        const it = engine.iterate()[Symbol.asyncIterator]();
        return {
          async pull(n) {
            let read = 0;
            while (read < n) {
              const r = await it.next();
              if (r.done) break;
              if (r.value[0].length + r.value[1].length === 0) throw new Error("empty entry in scan");
              read++;
            }
            return read;
          },
          async close() {
            await it.return?.();
          },
        };
      },
      seeker() {
        return {
          async seek(target) {
            for await (const [key] of engine.iterate({ gte: target, limit: 1 })) return key;
            return undefined;
          },
          async close() {},
        };
      },
      settle: () => engine.waitForIdle(),
      writeAmplification: () => engine.stats().writeAmplification,
      close: () => engine.close(),
    };
  },
};

/** LevelDB's log record header (crc32 + length + type) and WriteBatch header (seq + count). */
const LEVELDB_LOG_HEADER_BYTES = 7;
const LEVELDB_BATCH_HEADER_BYTES = 12;

/** Bytes of one put inside a LevelDB WriteBatch: tag, varint lengths, key, value. */
function leveldbPutBytes(key: Uint8Array, value: Uint8Array): number {
  return 1 + varintBytes(key.length) + key.length + varintBytes(value.length) + value.length;
}

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/**
 * Level rows of `leveldb.stats` ("level files size(MB) time(s) read(MB) write(MB)"); levels
 * with neither files nor compaction history are omitted by LevelDB.
 */
function leveldbLevelStats(db: ClassicLevel<Uint8Array, Uint8Array>): { level: number; files: number; sizeMb: number; writeMb: number }[] {
  const rows = [];
  for (const line of db.getProperty("leveldb.stats").split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$/.exec(line);
    if (m) rows.push({ level: Number(m[1]), files: Number(m[2]), sizeMb: Number(m[3]), writeMb: Number(m[6]) });
  }
  return rows;
}

const leveldb: System = {
  name: "leveldb",
  writeAmplificationNote:
    "LevelDB: (WAL bytes, computed from the log format as 7 + 12 + entry bytes per put, + the Write(MB) column of " +
    "leveldb.stats summed over levels, i.e. flush + compaction output) / user bytes; leveldb.stats rounds to whole MB.",
  async open(dir, cacheBytes) {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: "view",
      valueEncoding: "view",
      ...(cacheBytes === undefined ? {} : { cacheSize: cacheBytes }),
    });
    await db.open();
    const syncWrite = { sync: true };
    const plainWrite = {};
    const ops: { type: "put"; key: Uint8Array; value: Uint8Array }[] = [];
    let walBytes = 0;
    let userBytes = 0;
    const account = (key: Uint8Array, value: Uint8Array): number => {
      userBytes += key.length + value.length;
      return leveldbPutBytes(key, value);
    };
    return {
      put(key, value, sync) {
        walBytes += LEVELDB_LOG_HEADER_BYTES + LEVELDB_BATCH_HEADER_BYTES + account(key, value);
        return db.put(key, value, sync ? syncWrite : plainWrite);
      },
      putBatch(keys, values, n) {
        ops.length = n;
        walBytes += LEVELDB_LOG_HEADER_BYTES + LEVELDB_BATCH_HEADER_BYTES;
        for (let i = 0; i < n; i++) {
          ops[i] = { type: "put", key: keys[i]!, value: values[i]! };
          walBytes += account(keys[i]!, values[i]!);
        }
        return db.batch(ops, plainWrite);
      },
      get: (key) => db.get(key),
      getSync: (key) => db.getSync(key),
      scanner() {
        const it = db.iterator({ highWaterMarkBytes: SCAN_CHUNK * 2 * (KEY_BYTES + VALUE_BYTES) });
        return {
          async pull(n) {
            const entries = await it.nextv(n);
            for (const [k, v] of entries) {
              if (k.length + v.length === 0) throw new Error("empty entry in scan");
            }
            return entries.length;
          },
          close: () => it.close(),
        };
      },
      seeker() {
        // One iterator re-positioned per op, as db_bench's seekrandom does: LevelDB's cheapest seek.
        const it = db.iterator();
        return {
          async seek(target) {
            it.seek(target);
            const entry = await it.next();
            return entry?.[0];
          },
          close: () => it.close(),
        };
      },
      settle: () =>
        settleBy(
          "leveldb",
          () => {
            let target = 10 * 1024 * 1024;
            for (const row of leveldbLevelStats(db)) {
              if (row.level === 0 && row.files >= 4) return true;
              // Sizes are rounded to whole MB, hence the 10% slack before calling a level over target.
              if (row.level > 0 && row.level < 6) {
                target = 10 * 1024 * 1024 * 10 ** (row.level - 1);
                if (row.sizeMb * 1024 * 1024 > target * 1.1) return true;
              }
            }
            return false;
          },
          () => db.getProperty("leveldb.sstables"),
        ),
      writeAmplification() {
        if (userBytes === 0) return undefined;
        const tableMb = leveldbLevelStats(db).reduce((sum, row) => sum + row.writeMb, 0);
        return (walBytes + tableMb * 1024 * 1024) / userBytes;
      },
      close: () => db.close(),
    };
  },
};

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await directoryBytes(path) : (await stat(path)).size;
  }
  return total;
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Wrong read results: counted, and the first few kept to show. */
class Problems {
  count = 0;
  private readonly first: string[] = [];

  push(problem: string): void {
    if (this.count++ < 5) this.first.push(problem);
  }

  summary(): string {
    return this.first.join("; ") + (this.count > this.first.length ? "; ..." : "");
  }
}

interface SystemOutcome {
  results: WorkloadResult[];
  spaceAmplification: number;
  writeAmplification: number | undefined;
  eventLoopDelay: Record<string, DelayFigures>;
}

function delayFigures(h: IntervalHistogram): DelayFigures {
  return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}

/** The worst p99 and max over workloads (separate monitors: node cannot merge their histograms). */
function worstDelay(figures: DelayFigures[]): DelayFigures {
  return {
    p99: Math.max(0, ...figures.map((f) => f.p99)),
    max: Math.max(0, ...figures.map((f) => f.max)),
  };
}

function formatLine(system: SystemName, r: WorkloadResult): string {
  const p = (x: number | null): string => (x === null ? "-" : x.toFixed(1));
  return (
    `  [${system}] ${r.workload.padEnd(20)} ${String(r.ops).padStart(9)} ops ${r.seconds.toFixed(2).padStart(7)} s ` +
    `${Math.round(r.ops_per_sec).toLocaleString("en-US").padStart(11)} ops/s  p50 ${p(r.p50_us)} µs  p99 ${p(r.p99_us)} µs`
  );
}

/** Everything one system runs, on directories under `root`. */
async function runSystem(system: System, root: string, args: Args, ds: DataSet, notes: string[]): Promise<SystemOutcome> {
  const name = system.name;
  const results: WorkloadResult[] = [];
  const eventLoopDelay: Record<string, DelayFigures> = {};
  const fillOrder = permutation(ds.count, args.seed + 1);
  const overwriteOrder = permutation(ds.count, args.seed + 2);
  const readIndexes = randomIndexes(args.reads, ds.count, args.seed + 3);
  const syncOps = Math.min(10_000, Math.max(2_000, Math.floor(ds.count / 100)));
  let dirNumber = 0;
  const freshDir = (): string => join(root, `${name}-${++dirNumber}`);

  const record = (workload: string, loop: LoopResult, ops = loop.ops): void => {
    const r: WorkloadResult = {
      workload,
      system: name,
      ops,
      seconds: loop.seconds,
      ops_per_sec: ops / loop.seconds,
      p50_us: loop.histogram.quantileMicros(0.5),
      p99_us: loop.histogram.quantileMicros(0.99),
    };
    results.push(r);
    console.log(formatLine(name, r));
  };

  /** Times a write workload, watching the event loop while it runs. */
  const timeWrites = async (workload: string, run: () => Promise<LoopResult>): Promise<LoopResult> => {
    collectGarbage();
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const loop = await run();
    delay.disable();
    eventLoopDelay[workload] = delayFigures(delay);
    return loop;
  };

  const keys: Uint8Array[] = new Array<Uint8Array>(BATCH_SIZE);
  const values: Uint8Array[] = new Array<Uint8Array>(BATCH_SIZE);
  const batchOp = (store: Store): Op => (b: number) => {
    const start = b * BATCH_SIZE;
    const n = Math.min(BATCH_SIZE, ds.count - start);
    for (let j = 0; j < n; j++) {
      const k = fillOrder[start + j]!;
      keys[j] = ds.key(k);
      values[j] = ds.value(k, 0);
    }
    return store.putBatch(keys, values, n);
  };

  /** Runs one workload on a fresh database that is removed afterwards. */
  const onFreshStore = async (workload: string, body: (store: Store) => Promise<void>): Promise<void> => {
    const dir = freshDir();
    const store = await system.open(dir);
    console.log(`  [${name}] ${workload} ...`);
    await body(store);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  };

  await onFreshStore("fillseq", async (store) => {
    const loop = await timeWrites("fillseq", () =>
      timedLoop(ds.count, (i) => store.put(ds.key(i), ds.value(i, 0), false)),
    );
    record("fillseq", loop);
  });

  await onFreshStore("fillrandom_batch100", async (store) => {
    const batches = Math.ceil(ds.count / BATCH_SIZE);
    const loop = await timeWrites("fillrandom_batch100", () => timedLoop(batches, batchOp(store), { yieldEvery: 1 }));
    record("fillrandom_batch100", loop, ds.count);
  });

  for (const writers of [1, 16]) {
    const workload = `fillsync_${writers}`;
    await onFreshStore(workload, async (store) => {
      const loop = await timeWrites(workload, () =>
        timedLoop(
          syncOps,
          (i) => {
            const k = fillOrder[i]!;
            return store.put(ds.key(k), ds.value(k, 0), true);
          },
          { concurrency: writers },
        ),
      );
      record(workload, loop);
    });
  }

  const dir = freshDir();
  let store = await system.open(dir);
  console.log(`  [${name}] fillrandom ...`);
  record(
    "fillrandom",
    await timeWrites("fillrandom", () =>
      timedLoop(ds.count, (i) => {
        const k = fillOrder[i]!;
        return store.put(ds.key(k), ds.value(k, 0), false);
      }),
    ),
  );
  console.log(`  [${name}] waiting for compactions to settle ...`);
  await store.settle();

  const problems = new Problems();
  const deadline = (): number => Date.now() + args.readBudgetMs;
  const readOp = (workload: string): Op => async (i) => {
    const k = readIndexes[i]!;
    const v = await store.get(ds.key(k));
    if (v === undefined) problems.push(`${workload}: key #${k} not found`);
    else if ((i & 1023) === 0 && !ds.value(k, 0).equals(v)) problems.push(`${workload}: key #${k} has a wrong value`);
  };
  for (const concurrency of [1, 64]) {
    const workload = `readrandom_${concurrency}`;
    collectGarbage();
    record(workload, await timedLoop(args.reads, readOp(workload), { concurrency, deadline: deadline() }));
  }
  const getSync = store.getSync;
  if (getSync) {
    collectGarbage();
    record(
      "readrandom_sync",
      await timedLoop(
        args.reads,
        (i) => {
          if (getSync(ds.key(readIndexes[i]!)) === undefined) problems.push(`readrandom_sync: key #${readIndexes[i]} not found`);
        },
        { deadline: deadline() },
      ),
    );
  }
  collectGarbage();
  record(
    "readmissing",
    await timedLoop(
      args.reads,
      async (i) => {
        if ((await store.get(ds.missingKey(readIndexes[i]!))) !== undefined) {
          problems.push(`readmissing: missing key #${readIndexes[i]} found`);
        }
      },
      { deadline: deadline() },
    ),
  );

  collectGarbage();
  const scanner = store.scanner();
  const scan = await timedScan(SCAN_CHUNK, (n) => scanner.pull(n));
  await scanner.close();
  if (scan.ops !== ds.count) problems.push(`readseq: scanned ${scan.ops} entries, expected ${ds.count}`);
  record("readseq", scan);

  collectGarbage();
  const seeker = store.seeker();
  record(
    "seekrandom",
    await timedLoop(
      args.reads,
      async (i) => {
        const k = readIndexes[i]!;
        const found = await seeker.seek(ds.key(k));
        if (found === undefined || !ds.key(k).equals(found)) problems.push(`seekrandom: seek to key #${k} landed elsewhere`);
      },
      { deadline: deadline() },
    ),
  );
  await seeker.close();

  // The same random reads with an equal, larger block cache for both systems, warmed first.
  await store.close();
  store = await system.open(dir, args.cacheMb * 1024 * 1024);
  console.log(`  [${name}] random reads with a ${args.cacheMb} MiB block cache ...`);
  await timedLoop(ds.count, async (i) => void (await store.get(ds.key(i))));
  collectGarbage();
  record(`readrandom_1_cache${args.cacheMb}`, await timedLoop(args.reads, readOp("readrandom_1"), { deadline: deadline() }));
  const getSyncBig = store.getSync;
  if (getSyncBig) {
    collectGarbage();
    record(
      `readrandom_sync_cache${args.cacheMb}`,
      await timedLoop(
        args.reads,
        (i) => {
          if (getSyncBig(ds.key(readIndexes[i]!)) === undefined) problems.push(`readrandom_sync: key #${readIndexes[i]} not found`);
        },
        { deadline: deadline() },
      ),
    );
  }
  await store.close();
  store = await system.open(dir);

  console.log(`  [${name}] overwrite ...`);
  record(
    "overwrite",
    await timeWrites("overwrite", () =>
      timedLoop(ds.count, (i) => {
        const k = overwriteOrder[i]!;
        return store.put(ds.key(k), ds.value(k, 1), false);
      }),
    ),
  );
  console.log(`  [${name}] waiting for compactions to settle ...`);
  await store.settle();
  const spaceAmplification = (await directoryBytes(dir)) / ds.liveBytes;
  const writeAmplification = store.writeAmplification();
  console.log(
    `  [${name}] space amplification ${spaceAmplification.toFixed(2)}, write amplification ${writeAmplification?.toFixed(2) ?? "-"}`,
  );
  await store.close();
  await rm(dir, { recursive: true, force: true });

  if (problems.count > 0) {
    const message = `${name}: ${problems.count} wrong read results (${problems.summary()})`;
    console.warn(`  WARNING ${message}`);
    notes.push(message);
  }
  return { results, spaceAmplification, writeAmplification, eventLoopDelay };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const command = ["npm run bench:storage", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" ");
  const started = Date.now();
  console.log(`${command}: ${args.num.toLocaleString("en-US")} entries, ${args.reads.toLocaleString("en-US")} reads, node ${process.version}`);
  if (typeof (globalThis as { gc?: unknown }).gc !== "function") {
    console.warn("run with node --expose-gc so each workload starts from a collected heap");
  }

  const notes: string[] = [
    `Fill, overwrite and readrandom_1/readmissing/seekrandom run one caller that awaits each op; readrandom_64 keeps 64 gets in flight; fillsync_16 runs 16 concurrent sync writers.`,
    `fillrandom_batch100: ops counts entries; p50/p99 are per batch of ${BATCH_SIZE}.`,
    `readseq: p50/p99 are per entry, averaged over chunks of ${SCAN_CHUNK} entries.`,
    `seekrandom: ours creates an iterator per op (iterate({gte, limit: 1})); LevelDB re-seeks one iterator (db_bench style).`,
    `Latency is sampled on 1 op in 4; every caller yields to the event loop every 128 ops (every batch in fillrandom_batch100), for both systems.`,
    `LevelDB runs with classic-level defaults (Snappy on; the random values do not compress).`,
  ];

  console.log("memtable micro-benchmark ...");
  const memtable = await runMemtableBench(args.num).catch((err: Error) => {
    console.warn(`  memtable bench failed: ${err.message}`);
    notes.push(`The memtable micro-benchmark failed: ${err.message}`);
    return null;
  });
  if (memtable) {
    console.log(
      `  arena append ${memtable.arenaAppendNsPerOp.toFixed(1)} ns/op, skiplist insert ${memtable.skiplistInsertNsPerOp.toFixed(1)} ns/key, ` +
        `Map.set+sort ${memtable.mapSetSortNsPerKey.toFixed(1)} ns/key, GC events ${JSON.stringify(memtable.gcEvents)}`,
    );
  }

  const ds = new DataSet(args.num, args.seed);
  const root = await mkdtemp(join(os.tmpdir(), "sisyphus-bench-"));
  const outcomes = new Map<SystemName, SystemOutcome>();
  try {
    for (const system of [sisyphus, leveldb]) {
      if (args.only !== null && args.only !== system.name) continue;
      console.log(`${system.name}:`);
      outcomes.set(system.name, await runSystem(system, root, args, ds, notes));
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  const ours = outcomes.get("sisyphus");
  const theirs = outcomes.get("leveldb");
  const results = [...(ours?.results ?? []), ...(theirs?.results ?? [])];
  const rate = (system: SystemName, workload: string): number | undefined =>
    results.find((r) => r.system === system && r.workload === workload)?.ops_per_sec;
  const ratios: Record<string, number> = {};
  for (const r of results) {
    if (r.system !== "sisyphus") continue;
    const other = rate("leveldb", r.workload);
    if (other !== undefined) ratios[r.workload] = r.ops_per_sec / other;
  }
  const bestOf = (system: SystemName, workloads: string[]): number | undefined => {
    const rates = workloads.map((w) => rate(system, w)).filter((x): x is number => x !== undefined);
    return rates.length === 0 ? undefined : Math.max(...rates);
  };
  // readrandom: our best read path against LevelDB's fastest, over every read row (default and
  // equal larger caches); readrandom_default_cache: the same with both at their default cache.
  const defaultReads = ["readrandom_1", "readrandom_64", "readrandom_sync"];
  const allReads = [...defaultReads, `readrandom_1_cache${args.cacheMb}`, `readrandom_sync_cache${args.cacheMb}`];
  const ratioOfBest = (key: string, ours: string[], theirs: string[]): void => {
    const a = bestOf("sisyphus", ours);
    const b = bestOf("leveldb", theirs);
    if (a !== undefined && b !== undefined) ratios[key] = a / b;
  };
  ratioOfBest("readrandom", allReads, allReads.filter((w) => w !== "readrandom_1" && !w.startsWith("readrandom_1_")));
  ratioOfBest("readrandom_default_cache", defaultReads, ["readrandom_sync", "readrandom_64"]);

  const cpus = os.cpus();
  const report: StorageReport = {
    benchmark: "storage",
    command,
    node: process.version,
    cpus: cpus.length,
    cpu_model: cpus[0]?.model.trim() ?? "unknown",
    memory_bytes: os.totalmem(),
    date: new Date().toISOString(),
    num: args.num,
    results,
    ratios,
    memtable,
    space_amplification: {
      sisyphus: ours?.spaceAmplification,
      leveldb: theirs?.spaceAmplification,
      note: "Bytes of every file in the database directory (tables, WAL, manifest, LOG) after fillrandom + overwrite and compactions settled, over live key + value bytes.",
    },
    write_amplification: {
      sisyphus: ours?.writeAmplification,
      leveldb: theirs?.writeAmplification,
      note: `Over fillrandom + overwrite on one database. ${sisyphus.writeAmplificationNote} ${leveldb.writeAmplificationNote}`,
    },
    event_loop_delay_ms: ours ? { ...worstDelay(Object.values(ours.eventLoopDelay)), workloads: ours.eventLoopDelay } : null,
    notes,
  };
  const { json, md } = await writeReports(report, join(process.cwd(), "docs", "benchmarks"));
  console.log("");
  for (const t of evaluateTargets(report)) {
    console.log(`  ${t.met === null ? "n/a " : t.met ? "MET " : "MISS"}  ${t.name} (${t.detail})`);
  }
  console.log(`wrote ${json} and ${md} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

await main();
