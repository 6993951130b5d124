/** The simulation's PRNG: one seed, one sequence; values in range and spread out. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Prng } from "./prng.js";

function draw(seed: number, n: number): number[] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe("Prng", () => {
  it("replays the same sequence for the same seed, a different one for another seed", () => {
    assert.deepEqual(draw(7, 100), draw(7, 100));
    assert.notDeepEqual(draw(7, 100), draw(8, 100));
    assert.notDeepEqual(draw(1, 100), draw(1 + 2 ** 32, 100), "seeds beyond 2^32 must not alias their low half");
  });

  it("pins its first outputs (a changed generator would silently change every seed's run)", () => {
    assert.deepEqual(draw(1, 3), [2527132011, 314344336, 2535364964]);
  });

  it("keeps int, between and next in range, and covers the whole range", () => {
    const rng = new Prng(99);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const f = rng.next();
      assert.ok(f >= 0 && f < 1, `next() gave ${f}`);
      const k = rng.int(10);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 10, `int(10) gave ${k}`);
      counts[k]++;
      const b = rng.between(-2, 2);
      assert.ok(b >= -2 && b <= 2, `between(-2, 2) gave ${b}`);
    }
    // Each bucket expects 1,000; 800..1,200 is over 6 standard deviations wide.
    for (const [bucket, n] of counts.entries()) assert.ok(n > 800 && n < 1200, `bucket ${bucket} got ${n} of 10,000`);
  });

  it("chance(p) holds about p of the time", () => {
    const rng = new Prng(5);
    let hits = 0;
    for (let i = 0; i < 10_000; i++) if (rng.chance(0.1)) hits++;
    assert.ok(hits > 800 && hits < 1200, `chance(0.1) hit ${hits} of 10,000`);
    assert.equal(new Prng(5).chance(0), false);
  });

  it("shuffles into a permutation and picks members", () => {
    const rng = new Prng(3);
    const items = [1, 2, 3, 4, 5, 6, 7, 8];
    const shuffled = rng.shuffled(items);
    assert.deepEqual([...shuffled].sort((a, b) => a - b), items);
    assert.deepEqual(items, [1, 2, 3, 4, 5, 6, 7, 8], "the input is left alone");
    assert.ok(items.includes(rng.pick(items)));
    assert.throws(() => rng.pick([]), RangeError);
    assert.throws(() => rng.int(0), RangeError);
    assert.throws(() => new Prng(0.5), RangeError);
  });
});
