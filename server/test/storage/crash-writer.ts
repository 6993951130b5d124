/**
 * The child process of the storage crash, corruption and lock tests: it drives a real Engine
 * until the parent SIGKILLs it.
 *
 *   crash-writer.js crash <dir> <journal> <seed> <firstOpId>
 *     Writes forever with sizes small enough that flushes and compactions run all the time:
 *     single puts and deletes and WriteBatches of 2-20 ops, sync and not, 1-8 writes in
 *     flight, plus a reader scanning ranges. Each write is recorded in <journal> with
 *     fs.writeSync, so a record survives SIGKILL once written:
 *       I <intent JSON>\n   before the write is issued
 *       A <opId>\n          after its promise resolved
 *     Intent JSON: { id, sync, mode: "put" | "delete" | "batch", puts: [key, valueBytes][],
 *     dels: key[] }. The value of a put is crashValue(id, key, valueBytes), so a checker knows
 *     which write a stored value came from. Two writes in flight never touch the same key, and
 *     a key's next write is issued only after the previous one was acknowledged, so per key the
 *     journal order is the commit order. Key spaces: "o/NN" (32 keys overwritten again and
 *     again), "b/<id>/<i>" (keys of batch <id>, written once), "u/<id>" (single puts, written
 *     once); written-once keys may later be deleted, once. stdout: "ready" when writing starts,
 *     "flush <n>" and "compaction <n>" when stats() shows another one finished.
 *
 *   crash-writer.js fill <dir> <firstKey> <count> <valueBytes> [<embedFile>]
 *     Puts fillKey(i) = fillValue(i, valueBytes) for i in [firstKey, firstKey + count), one WAL
 *     record each, with a memtable big enough that nothing is flushed, then (with <embedFile>)
 *     puts EMBED_KEY = the bytes of <embedFile>; prints "done" and idles until killed, leaving
 *     the data only in the WAL.
 *
 *   crash-writer.js hold <dir>
 *     Opens the engine, prints "open" and idles until killed. If the open fails it prints
 *     "error <name>: <message>" and exits with code 1.
 */
import { openSync, readFileSync, realpathSync, writeSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Engine, WriteBatch } from "../../src/storage/index.js";
import type { EngineOptions } from "../../src/storage/index.js";

/** A small seeded PRNG (mulberry32): one seed reproduces a whole run. Returns [0, 1). */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [0, n). */
export function randomInt(rng: () => number, n: number): number {
  return Math.floor(rng() * n);
}

export interface Intent {
  id: number;
  sync: boolean;
  mode: "put" | "delete" | "batch";
  puts: [key: string, valueBytes: number][];
  dels: string[];
}

/** The header every crash value starts with; a value is never shorter than it. */
export function crashValueHeader(id: number, key: string): string {
  return `${id}|${key}|`;
}

/** The value written by op `id` under `key`: the header, then letters that depend on the id. */
export function crashValue(id: number, key: string, valueBytes: number): Buffer {
  const out = Buffer.alloc(valueBytes);
  const header = out.write(crashValueHeader(id, key), "latin1");
  for (let j = header; j < valueBytes; j++) out[j] = 97 + ((id + j) % 26);
  return out;
}

export function fillKey(i: number): Buffer {
  return Buffer.from(`fill-${String(i).padStart(6, "0")}`, "latin1");
}

/** The key under which `fill` stores the bytes of its <embedFile>. */
export const EMBED_KEY = Buffer.from("embedded-file", "latin1");

export function fillValue(i: number, valueBytes: number): Buffer {
  const out = Buffer.alloc(valueBytes);
  out.fill(`fill-value-${i}-`, "latin1");
  return out;
}

const OVERWRITE_KEYS = 32;
/** Above this many written-once keys, batches delete more than they add, bounding the database. */
const DELETABLE_KEYS_TARGET = 1500;

async function runCrashWorkload(dir: string, journalPath: string, seed: number, firstOpId: number): Promise<void> {
  const rng = createRng(seed);
  const pick = <T>(items: readonly T[]): T => items[randomInt(rng, items.length)]!;
  const options: EngineOptions = {
    memtableBytes: pick([16, 32, 64]) * 1024,
    targetFileBytes: pick([8, 16, 32]) * 1024,
    blockSizeBytes: pick([256, 1024, 4096]),
    levelBaseBytes: 64 * 1024,
    l0CompactionTrigger: 2,
    backgroundWorker: rng() < 0.7,
  };
  const journal = openSync(journalPath, "a");
  const engine = await Engine.open(dir, options);

  // Written-once keys that are durable (acknowledged, or recovered from the directory) and not
  // yet picked for deletion. An array with swap-remove so picking is O(1).
  const deletable: string[] = [];
  for (const prefix of ["b/", "u/"]) {
    const end = Buffer.from(prefix, "latin1");
    end[end.length - 1] += 1;
    for await (const [key] of engine.iterate({ gte: Buffer.from(prefix, "latin1"), lt: end })) {
      deletable.push(Buffer.from(key).toString("latin1"));
    }
  }
  const busy = new Set<string>();
  let nextId = firstOpId;

  const takeDeletable = (): string => {
    const i = randomInt(rng, deletable.length);
    const key = deletable[i]!;
    deletable[i] = deletable[deletable.length - 1]!;
    deletable.pop();
    return key;
  };
  const freeOverwriteKeys = (n: number): string[] | undefined => {
    const free: string[] = [];
    for (let k = 0; k < OVERWRITE_KEYS; k++) {
      const key = `o/${String(k).padStart(2, "0")}`;
      if (!busy.has(key)) free.push(key);
    }
    if (free.length < n) return undefined;
    for (let i = 0; i < n; i++) {
      const j = i + randomInt(rng, free.length - i);
      [free[i], free[j]] = [free[j]!, free[i]!];
    }
    return free.slice(0, n);
  };
  const valueBytes = (id: number, key: string): number => {
    const r = rng();
    const wanted = r < 0.8 ? 20 + randomInt(rng, 180) : r < 0.95 ? 200 + randomInt(rng, 1800) : 2000 + randomInt(rng, 18000);
    return Math.max(wanted, Buffer.byteLength(crashValueHeader(id, key), "latin1"));
  };

  const uniqueBatch = (id: number, sync: boolean): Intent => {
    const total = 2 + randomInt(rng, 19);
    let dels = 0;
    if (deletable.length > DELETABLE_KEYS_TARGET) dels = total - 1 - randomInt(rng, Math.min(3, total - 1));
    else if (deletable.length > 0 && rng() < 0.3) dels = 1 + randomInt(rng, Math.min(3, total - 1));
    dels = Math.min(dels, deletable.length);
    const intent: Intent = { id, sync, mode: "batch", puts: [], dels: [] };
    for (let i = 0; i < total - dels; i++) {
      const key = `b/${id}/${i}`;
      intent.puts.push([key, valueBytes(id, key)]);
    }
    for (let i = 0; i < dels; i++) intent.dels.push(takeDeletable());
    return intent;
  };

  const nextIntent = (): Intent => {
    const id = nextId++;
    const sync = rng() < 0.15;
    const r = rng();
    if (r < 0.3) return uniqueBatch(id, sync);
    if (r < 0.5) {
      const key = `u/${id}`;
      return { id, sync, mode: "put", puts: [[key, valueBytes(id, key)]], dels: [] };
    }
    if (r < 0.6 && deletable.length > 0) return { id, sync, mode: "delete", puts: [], dels: [takeDeletable()] };
    if (r < 0.85) {
      const [key] = freeOverwriteKeys(1) ?? [];
      if (key === undefined) return uniqueBatch(id, sync);
      if (rng() < 0.75) return { id, sync, mode: "put", puts: [[key, valueBytes(id, key)]], dels: [] };
      return { id, sync, mode: "delete", puts: [], dels: [key] };
    }
    const keys = freeOverwriteKeys(2 + randomInt(rng, 3));
    if (keys === undefined) return uniqueBatch(id, sync);
    const intent: Intent = { id, sync, mode: "batch", puts: [], dels: [] };
    for (const key of keys) {
      if (rng() < 0.7) intent.puts.push([key, valueBytes(id, key)]);
      else intent.dels.push(key);
    }
    return intent;
  };

  const apply = async (intent: Intent): Promise<void> => {
    const options = { sync: intent.sync };
    const { id } = intent;
    if (intent.mode === "put") {
      const [key, bytes] = intent.puts[0]!;
      await engine.put(Buffer.from(key, "latin1"), crashValue(id, key, bytes), options);
    } else if (intent.mode === "delete") {
      await engine.delete(Buffer.from(intent.dels[0]!, "latin1"), options);
    } else {
      const batch = new WriteBatch();
      for (const [key, bytes] of intent.puts) batch.put(Buffer.from(key, "latin1"), crashValue(id, key, bytes));
      for (const key of intent.dels) batch.delete(Buffer.from(key, "latin1"));
      await engine.write(batch, options);
    }
  };

  const writerLane = async (): Promise<void> => {
    for (;;) {
      const intent = nextIntent();
      for (const [key] of intent.puts) busy.add(key);
      for (const key of intent.dels) busy.add(key);
      writeSync(journal, `I ${JSON.stringify(intent)}\n`);
      await apply(intent);
      writeSync(journal, `A ${intent.id}\n`);
      for (const [key] of intent.puts) {
        busy.delete(key);
        if (!key.startsWith("o/")) deletable.push(key);
      }
      for (const key of intent.dels) busy.delete(key);
    }
  };

  // Keeps iterators (and the table files they pin) alive while compactions replace files.
  const readerLane = async (): Promise<void> => {
    for (;;) {
      const from = pick(["b/", "o/", "u/", "a", "z"]);
      let seen = 0;
      for await (const entry of engine.iterate({ gte: Buffer.from(from, "latin1"), limit: 100 })) {
        if (entry[0].length === 0) throw new Error("iterate yielded an empty key");
        seen++;
      }
      if (seen > 100) throw new Error(`iterate with limit 100 yielded ${seen} entries`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };

  let flushes = engine.stats().flushes.count;
  let compactions = engine.stats().compactions.count;
  setInterval(() => {
    const stats = engine.stats();
    if (stats.flushes.count > flushes) process.stdout.write(`flush ${(flushes = stats.flushes.count)}\n`);
    if (stats.compactions.count > compactions) {
      process.stdout.write(`compaction ${(compactions = stats.compactions.count)}\n`);
    }
  }, 5);

  process.stdout.write("ready\n");
  const lanes = [readerLane()];
  const writers = 1 + randomInt(rng, 8);
  for (let i = 0; i < writers; i++) lanes.push(writerLane());
  await Promise.all(lanes);
}

async function runFill(dir: string, firstKey: number, count: number, valueBytes: number, embedFile?: string): Promise<void> {
  const engine = await Engine.open(dir, { memtableBytes: 16 * 1024 * 1024, backgroundWorker: false });
  for (let i = firstKey; i < firstKey + count; i++) await engine.put(fillKey(i), fillValue(i, valueBytes));
  if (embedFile !== undefined) await engine.put(EMBED_KEY, readFileSync(embedFile));
  process.stdout.write("done\n");
  idleUntilKilled();
}

async function runHold(dir: string): Promise<void> {
  try {
    await Engine.open(dir);
  } catch (err) {
    const e = err as Error;
    process.stdout.write(`error ${e.name}: ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write("open\n");
  idleUntilKilled();
}

function idleUntilKilled(): void {
  setInterval(() => {}, 60_000);
}

function fail(err: unknown): never {
  process.stderr.write(`crash-writer failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

const USAGE = `usage:
  crash-writer.js crash <dir> <journal> <seed> <firstOpId>
  crash-writer.js fill <dir> <firstKey> <count> <valueBytes> [<embedFile>]
  crash-writer.js hold <dir>`;

function isMainModule(): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(realpathSync(script)).href === import.meta.url;
}

function main(argv: string[]): Promise<void> | undefined {
  const [command, dir, ...rest] = argv;
  const numbers = rest.map(Number);
  if (command === "crash" && dir !== undefined && rest.length === 3 && numbers.slice(1).every(Number.isInteger)) {
    return runCrashWorkload(dir, rest[0]!, numbers[1]!, numbers[2]!);
  }
  if (command === "fill" && dir !== undefined && (rest.length === 3 || rest.length === 4) && numbers.slice(0, 3).every(Number.isInteger)) {
    return runFill(dir, numbers[0]!, numbers[1]!, numbers[2]!, rest[3]);
  }
  if (command === "hold" && dir !== undefined && rest.length === 0) return runHold(dir);
  return undefined;
}

// `node --test dist/server/test/` also runs this file, without arguments: then it does nothing.
if (isMainModule() && !(process.argv.length === 2 && process.env.NODE_TEST_CONTEXT !== undefined)) {
  const run = main(process.argv.slice(2));
  if (run === undefined) {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = 2;
  } else {
    run.catch(fail);
  }
}
