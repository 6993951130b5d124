/**
 * The open loop's arrival schedule: request i is due at startMs + i / rate. Latency is measured
 * from that intended moment, not from when the request actually left: when the generator or
 * the server stalls, the requests that should have been sent during the stall are sent late,
 * and their latencies include the wait, as a real user's would (this is what "coordinated
 * omission" hides in a closed loop, where a stalled client simply stops asking).
 */
export class OpenLoopSchedule {
  private readonly intervalMs: number;

  constructor(
    readonly startMs: number,
    /** Requests per second, > 0. */
    readonly rate: number,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`open loop: rate must be > 0, got ${rate}`);
    this.intervalMs = 1000 / rate;
  }

  /** The moment request `index` (0-based) is due. */
  intendedTimeMs(index: number): number {
    return this.startMs + index * this.intervalMs;
  }

  /** How many requests are due at `nowMs` (requests 0 .. count-1). */
  dueCount(nowMs: number): number {
    if (nowMs < this.startMs) return 0;
    return Math.floor((nowMs - this.startMs) / this.intervalMs) + 1;
  }
}
