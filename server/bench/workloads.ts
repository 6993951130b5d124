/**
 * Building blocks of the storage benchmark: a seeded PRNG, the key/value data set both systems
 * receive byte for byte, a log-bucketed latency histogram, and the timed loops that drive one
 * or many concurrent callers.
 *
 * Keys are 16 ASCII digits (bytewise order = numeric order, as in LevelDB's db_bench). Present
 * keys are the even numbers 0, 2, 4, ...; the odd numbers in between are the missing keys, so a
 * miss falls inside the key range of every table and only a bloom filter (not a range check)
 * can skip a read.
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";

export const KEY_BYTES = 16;
export const VALUE_BYTES = 100;

/** mulberry32: a small, fast, seedable 32-bit generator; the bench only needs reproducibility. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, n) for n < 2^32. */
  below(n: number): number {
    return Math.floor((this.nextU32() / 0x1_0000_0000) * n);
  }
}

/** A Fisher-Yates shuffle of 0 .. n-1. */
export function permutation(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = new Prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** n indexes drawn uniformly (with replacement) from 0 .. range-1. */
export function randomIndexes(n: number, range: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  const rng = new Prng(seed);
  for (let i = 0; i < n; i++) out[i] = rng.below(range);
  return out;
}

/**
 * `count` keys and two generations of values (fill, then overwrite), all held in three flat
 * buffers so that the data set costs no per-entry heap object; key(i) and value(i) return views.
 */
export class DataSet {
  readonly count: number;
  private readonly keys: Buffer;
  private readonly missing: Buffer;
  private readonly values: Buffer;

  constructor(count: number, seed: number) {
    this.count = count;
    this.keys = Buffer.allocUnsafe(count * KEY_BYTES);
    this.missing = Buffer.allocUnsafe(count * KEY_BYTES);
    for (let i = 0; i < count; i++) {
      this.keys.write(String(2 * i).padStart(KEY_BYTES, "0"), i * KEY_BYTES, "latin1");
      this.missing.write(String(2 * i + 1).padStart(KEY_BYTES, "0"), i * KEY_BYTES, "latin1");
    }
    // Two values per key: generation 0 for the fills, generation 1 for overwrite.
    this.values = Buffer.allocUnsafe(2 * count * VALUE_BYTES);
    const rng = new Prng(seed);
    const words = new Uint32Array(this.values.buffer, this.values.byteOffset, this.values.length >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = rng.nextU32();
  }

  key(i: number): Buffer {
    return this.keys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);
  }

  missingKey(i: number): Buffer {
    return this.missing.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);
  }

  value(i: number, generation: 0 | 1): Buffer {
    const start = (generation * this.count + i) * VALUE_BYTES;
    return this.values.subarray(start, start + VALUE_BYTES);
  }

  /** Bytes of keys + values when every key holds one value: the base of space amplification. */
  get liveBytes(): number {
    return this.count * (KEY_BYTES + VALUE_BYTES);
  }
}

const SUB_BUCKET_BITS = 4;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;

/**
 * Durations in nanoseconds, bucketed by power of two with 16 linear sub-buckets each (about 6%
 * resolution), so recording costs a clz and an increment, with no allocation.
 */
export class Histogram {
  private readonly buckets = new Uint32Array(32 * SUB_BUCKETS);
  private total = 0;

  record(ns: number): void {
    const v = ns < 1 ? 1 : ns > 0xffffffff ? 0xffffffff : ns >>> 0;
    const exp = 31 - Math.clz32(v);
    const index =
      exp < SUB_BUCKET_BITS ? v : exp * SUB_BUCKETS + ((v >>> (exp - SUB_BUCKET_BITS)) & (SUB_BUCKETS - 1));
    this.buckets[index]!++;
    this.total++;
  }

  get count(): number {
    return this.total;
  }

  /** The q-quantile (0..1) in microseconds, from the midpoint of its bucket; null if empty. */
  quantileMicros(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return bucketMidpointNs(i) / 1000;
    }
    return null;
  }
}

function bucketMidpointNs(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const exp = Math.floor(index / SUB_BUCKETS);
  const sub = index % SUB_BUCKETS;
  const width = 2 ** (exp - SUB_BUCKET_BITS);
  return 2 ** exp + sub * width + width / 2;
}

/** One operation of a workload; returns a promise for async systems, nothing for sync calls. */
export type Op = (i: number) => Promise<unknown> | void;

export interface LoopResult {
  ops: number;
  seconds: number;
  histogram: Histogram;
}

/** Latency is sampled on one op in 4 (i & SAMPLE_MASK === 0) to keep clock reads off the throughput. */
const SAMPLE_MASK = 3;

export interface LoopOptions {
  /** Callers sharing the counter, each awaiting its op before taking the next (default 1). */
  concurrency?: number;
  /** Stop early (ops < count) once this time (ms since epoch) has passed (default: never). */
  deadline?: number;
  /**
   * Each caller yields to the event loop every `yieldEvery` ops (default 128): a server's
   * requests arrive as separate macrotasks, and without the yield an engine that resolves in
   * microtasks would starve timers, making the event-loop-delay figure measure the harness
   * instead of the engine. Workloads whose op is a whole batch yield after every op.
   */
  yieldEvery?: number;
}

/** Runs op(0) .. op(count-1) and times them. */
export async function timedLoop(count: number, op: Op, options: LoopOptions = {}): Promise<LoopResult> {
  const { concurrency = 1, deadline = Infinity, yieldEvery = 128 } = options;
  const histogram = new Histogram();
  let next = 0;
  let stopped = false;
  const caller = async (): Promise<void> => {
    let sinceYield = 0;
    while (!stopped) {
      const i = next++;
      if (i >= count) return;
      if ((i & SAMPLE_MASK) === 0) {
        const t0 = process.hrtime.bigint();
        const r = op(i);
        if (r !== undefined) await r;
        histogram.record(Number(process.hrtime.bigint() - t0));
      } else {
        const r = op(i);
        if (r !== undefined) await r;
      }
      if (++sinceYield === yieldEvery) {
        sinceYield = 0;
        await yieldToLoop();
        if (Date.now() > deadline) stopped = true;
      }
    }
  };
  const start = process.hrtime.bigint();
  const callers: Promise<void>[] = [];
  for (let c = 0; c < concurrency; c++) callers.push(caller());
  await Promise.all(callers);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { ops: Math.min(next, count), seconds, histogram };
}

/**
 * Drives a scan that reports progress in chunks: `pull` reads up to `chunk` entries and returns
 * how many it read (0 at the end). Latency is per entry, averaged over each chunk.
 */
export async function timedScan(chunk: number, pull: (chunk: number) => Promise<number>): Promise<LoopResult> {
  const histogram = new Histogram();
  let ops = 0;
  const start = process.hrtime.bigint();
  while (true) {
    const t0 = process.hrtime.bigint();
    const n = await pull(chunk);
    if (n === 0) break;
    histogram.record(Number(process.hrtime.bigint() - t0) / n);
    ops += n;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { ops, seconds, histogram };
}
