/** The zipfian sampler: frequencies follow rank^-s on seeded runs, and a seed fixes the sequence. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRandom } from "../src/seeded-random.js";
import { ZipfianSampler } from "../src/zipfian.js";

const SAMPLES = 100_000;

function frequencies(n: number, s: number, seed: number): number[] {
  const sampler = new ZipfianSampler(n, s);
  const random = new SeededRandom(seed);
  const counts = new Array<number>(n + 1).fill(0);
  for (let i = 0; i < SAMPLES; i++) {
    const k = sampler.sample(random);
    assert.ok(Number.isInteger(k) && k >= 1 && k <= n, `sample ${k} outside [1, ${n}] (s ${s}, seed ${seed})`);
    counts[k]++;
  }
  return counts.map((c) => c / SAMPLES);
}

describe("ZipfianSampler", () => {
  for (const [n, s, seed] of [
    [100, 0.99, 1],
    [100, 0.5, 2],
    [1000, 1.0, 3],
    [50, 1.5, 4],
  ] as const) {
    it(`n ${n}, s ${s}: frequencies follow rank^-s (seed ${seed})`, () => {
      const got = frequencies(n, s, seed);
      let norm = 0;
      for (let k = 1; k <= n; k++) norm += k ** -s;
      const expected = (k: number): number => k ** -s / norm;
      for (let k = 1; k <= 10; k++) {
        const relative = Math.abs(got[k] - expected(k)) / expected(k);
        assert.ok(relative < 0.08, `rank ${k}: frequency ${got[k].toFixed(4)}, expected ${expected(k).toFixed(4)} (n ${n}, s ${s}, seed ${seed})`);
      }
      // The whole tail, in buckets of ranks [2^j, 2^(j+1)) (per-rank counts there are too small to compare).
      let totalVariation = 0;
      for (let low = 1; low <= n; low *= 2) {
        let gotMass = 0;
        let expectedMass = 0;
        for (let k = low; k < Math.min(2 * low, n + 1); k++) {
          gotMass += got[k];
          expectedMass += expected(k);
        }
        totalVariation += Math.abs(gotMass - expectedMass) / 2;
      }
      assert.ok(totalVariation < 0.01, `total variation distance ${totalVariation.toFixed(4)} from Zipf(${n}, ${s}) over power-of-two rank buckets (seed ${seed})`);
    });
  }

  it("gives the same sequence for the same seed and another for another seed", () => {
    const draw = (seed: number): number[] => {
      const sampler = new ZipfianSampler(10_000, 0.99);
      const random = new SeededRandom(seed);
      return Array.from({ length: 1000 }, () => sampler.sample(random));
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
  });

  it("always gives rank 1 when n is 1, and rejects bad parameters", () => {
    const random = new SeededRandom(5);
    const sampler = new ZipfianSampler(1, 0.99);
    for (let i = 0; i < 100; i++) assert.equal(sampler.sample(random), 1);
    assert.throws(() => new ZipfianSampler(0, 0.99), RangeError);
    assert.throws(() => new ZipfianSampler(10, 0), RangeError);
    assert.throws(() => new ZipfianSampler(10, Number.NaN), RangeError);
  });
});
