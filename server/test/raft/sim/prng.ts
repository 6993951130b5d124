/**
 * The simulation's only source of randomness: the SplitMix construction (Steele, Lea and Flood)
 * in 32 bits: a Weyl sequence (state += golden-ratio constant) passed through MurmurHash3's
 * 32-bit finalizer. Small, fast and well mixed. One seed gives one sequence, on every
 * machine: every decision of a run (network delays, faults, client choices, the cores' election
 * timeouts) is drawn from one Prng, in an order fixed by the run itself, so a seed replays a run
 * exactly. Math.random is never used.
 */
export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    // Fold the high bits in too, so seeds beyond 2^32 do not collide with their low halves.
    this.state = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** An integer in [0, n); n must be a positive integer below 2^32. */
  int(n: number): number {
    if (!(Number.isInteger(n) && n > 0 && n <= 2 ** 32)) throw new RangeError(`int(n) needs 0 < n <= 2^32, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi], both inclusive. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick() from an empty list");
    return items[this.int(items.length)];
  }

  /** A new array with the items in random order (Fisher-Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}
