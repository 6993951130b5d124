/**
 * Time as the load loops see it: a monotonic millisecond clock and a way to wait until a
 * moment. Tests pass a simulated clock to make stalls happen on cue; runs use realClock.
 */
import { setTimeout as sleep } from "node:timers/promises";

export interface Clock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Resolves at or after `atMs` (later when the event loop is busy: the open loop accounts for that). */
  sleepUntil(atMs: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleepUntil: async (atMs) => {
    const waitMs = atMs - performance.now();
    // setTimeout cannot wait less than ~1 ms; a shorter wait yields to I/O once instead.
    if (waitMs >= 1) await sleep(waitMs);
    else await new Promise<void>((resolve) => setImmediate(resolve));
  },
};
