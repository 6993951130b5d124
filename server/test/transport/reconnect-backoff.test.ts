// Reconnect delays: doubling from the minimum, capped at the maximum, never below half the step
// (equal jitter), whatever the random source says.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { reconnectDelayMs } from "../../src/transport/reconnect-backoff.js";

describe("reconnectDelayMs", () => {
  const limits = { minMs: 50, maxMs: 2_000 };

  it("doubles from minMs up to maxMs", () => {
    const midpoints = [0, 1, 2, 3, 4, 5, 6, 10, 1_000].map((attempt) => reconnectDelayMs(attempt, limits, () => 1));
    assert.deepStrictEqual(midpoints, [50, 100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000]);
  });

  it("stays within [step / 2, step] for any attempt and random value", () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const step = Math.min(limits.maxMs, limits.minMs * 2 ** Math.min(attempt, 31));
        const delay = reconnectDelayMs(attempt, limits, () => r);
        assert.ok(delay >= step / 2 && delay <= step, `attempt ${attempt}, random ${r}: ${delay} ms`);
      }),
    );
  });
});
