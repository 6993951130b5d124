/**
 * A Zipf sampler over ranks 1..n with P(k) proportional to k^-s, for any exponent s > 0, by
 * rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates
 * from monotone discrete distributions", ACM TOMACS 6(3), 1996; the method Apache Commons RNG
 * uses). Unlike the YCSB / Gray et al. method it is exact (not an approximation), needs no O(n)
 * zeta sum at setup, and works for s >= 1 as well. Each sample takes O(1) expected draws: the
 * acceptance rate is above 0.9 for every s and n, so the loop below is bounded generously.
 */
import type { SeededRandom } from "./seeded-random.js";

/** Rejections this many times in a row would mean a bug, not bad luck (probability < 0.1^64). */
const MAX_ATTEMPTS = 64;

export class ZipfianSampler {
  private readonly hIntegralX1: number;
  private readonly hIntegralN: number;
  private readonly squeeze: number;

  constructor(
    /** The number of ranks, >= 1. */
    readonly n: number,
    /** The exponent s, > 0. */
    readonly exponent: number,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`zipfian: n must be an integer >= 1, got ${n}`);
    if (!(exponent > 0) || !Number.isFinite(exponent)) throw new RangeError(`zipfian: exponent must be > 0, got ${exponent}`);
    this.hIntegralX1 = this.hIntegral(1.5) - 1;
    this.hIntegralN = this.hIntegral(n + 0.5);
    this.squeeze = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
  }

  /** A rank in [1, n]; rank 1 is the most frequent. */
  sample(random: SeededRandom): number {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const u = this.hIntegralN + random.next() * (this.hIntegralX1 - this.hIntegralN);
      const x = this.hIntegralInverse(u);
      const k = Math.min(this.n, Math.max(1, Math.floor(x + 0.5)));
      if (k - x <= this.squeeze || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
    }
    throw new Error(`zipfian: ${MAX_ATTEMPTS} rejections in a row (n ${this.n}, s ${this.exponent})`);
  }

  /** H(x), an antiderivative of h(x) = x^-s: (x^(1-s) - 1) / (1 - s), and log(x) when s = 1. */
  private hIntegral(x: number): number {
    const logX = Math.log(x);
    return expm1OverX((1 - this.exponent) * logX) * logX;
  }

  private h(x: number): number {
    return Math.exp(-this.exponent * Math.log(x));
  }

  private hIntegralInverse(x: number): number {
    const t = Math.max(-1, x * (1 - this.exponent));
    return Math.exp(log1pOverX(t) * x);
  }
}

/** log(1 + x) / x, accurate near 0 (where the direct formula loses all its digits). */
function log1pOverX(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

/** (e^x - 1) / x, accurate near 0. */
function expm1OverX(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}
