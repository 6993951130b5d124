/**
 * Memtable micro-benchmark: the cost of the arena's bump-pointer append, of a skip-list insert
 * (which includes that append), and of the JavaScript baseline that yields the same sorted
 * order: Map.set of every key followed by one sort of the keys. Keys are random 16-byte
 * strings of bytes, values 100 random bytes (views at a 100-byte stride of one pool, so half
 * of them start 8-byte aligned), all generated before any timed loop. The Map uses each key as
 * a 16-character latin1 string (one char per byte, so the default string sort is the bytewise
 * order, and the string is as short as the key: the cheapest fair form) and maps it to the
 * value's view, as a Map-based memtable would.
 *
 * The headline figures time the memtable on buffers whose pages were touched beforehand: on a
 * fresh buffer every 4 KiB page costs a page fault on first write (2-10 us on this VM), which
 * is the kernel's cost of handing out memory, not the data structure's. `firstTouch` reports
 * the same loops on fresh buffers. During each timed loop a PerformanceObserver counts
 * garbage-collector events.
 *
 * Standalone: node --expose-gc dist/server/bench/memtable-bench.js [n]
 */
import { PerformanceObserver, performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { setImmediate as nextTurn } from "node:timers/promises";
import { Memtable, MemtableArena } from "../src/storage/memtable.js";
import { ValueKind } from "../src/storage/internal-key.js";

export interface MemtableBenchResult {
  n: number;
  arenaAppendNsPerOp: number;
  skiplistInsertNsPerOp: number;
  mapSetSortNsPerKey: number;
  gcEvents: { arenaAppend: number; skiplistInsert: number; mapSetSort: number };
  /** The same two loops on freshly allocated buffers: each first touch of a page is a page fault. */
  firstTouch: { arenaAppendNsPerOp: number; skiplistInsertNsPerOp: number };
}

const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const WARMUP_OPS = 100_000;
/** Arena bytes per entry: 16-byte entry header + key + value, 8-byte aligned. */
const ENTRY_BYTES = 136;
const PAGE_BYTES = 4096;

/** Deterministic random bytes (xorshift32), so every run times the same keys. */
function randomBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed | 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** n views of `length` bytes each over one pool. */
function views(pool: Buffer, n: number, length: number): Uint8Array[] {
  const out = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) out[i] = pool.subarray(i * length, (i + 1) * length);
  return out;
}

function latin1Strings(pool: Buffer, n: number, length: number): string[] {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = pool.toString("latin1", i * length, (i + 1) * length);
  return out;
}

/** Writes one byte per page so that the timed loop does not pay for first-touch page faults. */
function touchPages(buffer: SharedArrayBuffer): void {
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i += PAGE_BYTES) bytes[i] = 0;
}

function appendAll(arena: MemtableArena, keys: Uint8Array[], values: Uint8Array[]): void {
  for (let i = 0; i < keys.length; i++) {
    if (arena.append(keys[i], values[i], 0, i) < 0) throw new Error("benchmark arena too small");
  }
}

function insertAll(memtable: Memtable, keys: Uint8Array[], values: Uint8Array[]): void {
  for (let i = 0; i < keys.length; i++) memtable.add(i + 1, ValueKind.Put, keys[i], values[i]);
}

function mapSetSort(keyStrings: string[], values: Uint8Array[]): string[] {
  const map = new Map<string, Uint8Array>();
  for (let i = 0; i < keyStrings.length; i++) map.set(keyStrings[i], values[i]);
  return Array.from(map.keys()).sort();
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Runs `body` once and returns [elapsed ns, GC events that started while it ran]. */
async function timed(body: () => void): Promise<[number, number]> {
  gc?.();
  await nextTurn();
  const gcStarts: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcStarts.push(entry.startTime);
  });
  observer.observe({ entryTypes: ["gc"] });
  const start = performance.now();
  body();
  const end = performance.now();
  // GC entries are delivered from an immediate queued by the GC callback.
  await nextTurn();
  await nextTurn();
  for (const entry of observer.takeRecords()) gcStarts.push(entry.startTime);
  observer.disconnect();
  const events = gcStarts.filter((t) => t >= start && t <= end).length;
  return [(end - start) * 1e6, events];
}

export async function runMemtableBench(n: number): Promise<MemtableBenchResult> {
  {
    const pool = randomBytes(WARMUP_OPS * (KEY_BYTES + VALUE_BYTES), 0x1234567);
    const keys = views(pool, WARMUP_OPS, KEY_BYTES);
    const values = views(pool.subarray(WARMUP_OPS * KEY_BYTES), WARMUP_OPS, VALUE_BYTES);
    appendAll(MemtableArena.create(WARMUP_OPS * ENTRY_BYTES), keys, values);
    insertAll(Memtable.create(WARMUP_OPS * ENTRY_BYTES), keys, values);
    mapSetSort(latin1Strings(pool, WARMUP_OPS, KEY_BYTES), values);
  }

  const keyPool = randomBytes(n * KEY_BYTES, 0x2545f491);
  const values = views(randomBytes(n * VALUE_BYTES, 0x5bd1e995), n, VALUE_BYTES);
  let keys = views(keyPool, n, KEY_BYTES);

  const freshArena = MemtableArena.create(n * ENTRY_BYTES);
  const [freshArenaNs] = await timed(() => appendAll(freshArena, keys, values));
  const arena = MemtableArena.create(n * ENTRY_BYTES);
  touchPages(arena.bytes.buffer as SharedArrayBuffer);
  const [arenaNs, arenaGc] = await timed(() => appendAll(arena, keys, values));

  const freshMemtable = Memtable.create(n * ENTRY_BYTES);
  const [freshInsertNs] = await timed(() => insertAll(freshMemtable, keys, values));
  const memtable = Memtable.create(n * ENTRY_BYTES);
  touchPages(memtable.shared().arena);
  touchPages(memtable.shared().nodes);
  const [insertNs, insertGc] = await timed(() => insertAll(memtable, keys, values));
  const count = memtable.count();

  // The Map side gets the heap it would have: its key strings and the values, not the views
  // the memtable side needed, which would only make its garbage collections slower.
  keys = [];
  const keyStrings = latin1Strings(keyPool, n, KEY_BYTES);
  let sortedCount = 0;
  const [mapNs, mapGc] = await timed(() => {
    sortedCount = mapSetSort(keyStrings, values).length;
  });
  if (count !== n || sortedCount !== n) {
    throw new Error(`benchmark lost entries: memtable ${count}, map ${sortedCount}, expected ${n}`);
  }
  return {
    n,
    arenaAppendNsPerOp: arenaNs / n,
    skiplistInsertNsPerOp: insertNs / n,
    mapSetSortNsPerKey: mapNs / n,
    gcEvents: { arenaAppend: arenaGc, skiplistInsert: insertGc, mapSetSort: mapGc },
    firstTouch: { arenaAppendNsPerOp: freshArenaNs / n, skiplistInsertNsPerOp: freshInsertNs / n },
  };
}

function printTable(result: MemtableBenchResult): void {
  const rows: [string, string, number][] = [
    ["arena append (16 B key + 100 B value)", result.arenaAppendNsPerOp.toFixed(1), result.gcEvents.arenaAppend],
    ["skip-list insert (incl. arena append)", result.skiplistInsertNsPerOp.toFixed(1), result.gcEvents.skiplistInsert],
    ["Map.set (latin1 string key) + sort", result.mapSetSortNsPerKey.toFixed(1), result.gcEvents.mapSetSort],
    ["arena append, first touch of memory", result.firstTouch.arenaAppendNsPerOp.toFixed(1), NaN],
    ["skip-list insert, first touch of memory", result.firstTouch.skiplistInsertNsPerOp.toFixed(1), NaN],
  ];
  console.log(`memtable micro-benchmark, n = ${result.n}, node ${process.version}`);
  console.log(`${"operation".padEnd(42)}${"ns/op".padStart(10)}${"GC events".padStart(12)}`);
  for (const [name, ns, gcEvents] of rows) {
    console.log(`${name.padEnd(42)}${ns.padStart(10)}${(Number.isNaN(gcEvents) ? "-" : String(gcEvents)).padStart(12)}`);
  }
  console.log(`insert / (Map.set + sort) = ${(result.skiplistInsertNsPerOp / result.mapSetSortNsPerKey).toFixed(2)}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = process.argv[2] === undefined ? 1_000_000 : Number(process.argv[2]);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`n must be a positive integer, got ${process.argv[2]}`);
  printTable(await runMemtableBench(n));
}
