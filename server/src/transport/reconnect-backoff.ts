/**
 * How long to wait before reconnecting to a peer: exponential from minMs, capped at maxMs, with
 * "equal jitter" (a uniformly random point in the upper half of the step), so members that lost
 * a peer at the same moment do not all knock on its door at once, yet never retry sooner than
 * half the step.
 */
export interface BackoffLimits {
  readonly minMs: number;
  readonly maxMs: number;
}

/** The delay before reconnect attempt `attempt` (0 for the first retry after a failure); `random` returns [0, 1). */
export function reconnectDelayMs(attempt: number, limits: BackoffLimits, random: () => number): number {
  // 2^31 already exceeds any sensible cap; bounding the exponent keeps the arithmetic exact.
  const stepMs = Math.min(limits.maxMs, limits.minMs * 2 ** Math.min(attempt, 31));
  return stepMs / 2 + random() * (stepMs / 2);
}
