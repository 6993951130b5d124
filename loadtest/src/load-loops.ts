/**
 * The two ways of generating load, each recording into a Recorder until a deadline or a
 * request count is reached, then waiting for the requests still in flight:
 *
 * - closed loop: `clients` concurrent clients, each sending its next request when the last is
 *   answered. Latency runs from the actual send. Throughput is whatever the system gives back;
 *   a stall slows the clients down instead of showing up as latency (coordinated omission).
 * - open loop: requests are due at a constant rate whatever happens (OpenLoopSchedule) and
 *   latency runs from each request's intended send time, so stalls of the server or of the
 *   generator itself show up in full. At most `maxOutstanding` requests are in flight; a request
 *   due when that many are outstanding is not sent and counts as a DROPPED error.
 */
import type { Clock } from "./clock.js";
import { DROPPED, errorCodeName } from "./error-codes.js";
import type { OpenLoopSchedule } from "./open-loop-schedule.js";
import type { Recorder } from "./recorder.js";

export interface LoopLimits {
  /** No request is started at or after this moment. */
  endMs: number;
  /** No more than this many requests are started (Infinity for no cap). */
  maxRequests: number;
}

export interface LoopOutcome {
  /** Requests started (dropped ones excluded). */
  sent: number;
}

export async function runClosedLoop(params: {
  clock: Clock;
  recorder: Recorder;
  clients: number;
  limits: LoopLimits;
  /** Performs request `index` for client `client`. */
  issue: (client: number, index: number) => Promise<void>;
}): Promise<LoopOutcome> {
  const { clock, recorder, limits, issue } = params;
  let next = 0;
  await Promise.all(
    Array.from({ length: params.clients }, async (_, client) => {
      while (next < limits.maxRequests && clock.now() < limits.endMs) {
        const index = next++;
        const sentMs = clock.now();
        try {
          await issue(client, index);
          const doneMs = clock.now();
          recorder.recordSuccess(doneMs - sentMs, doneMs);
        } catch (err) {
          recorder.recordError(errorCodeName(err), clock.now());
        }
      }
    }),
  );
  return { sent: next };
}

export async function runOpenLoop(params: {
  clock: Clock;
  recorder: Recorder;
  schedule: OpenLoopSchedule;
  maxOutstanding: number;
  limits: LoopLimits;
  /** Performs request `index`. */
  issue: (index: number) => Promise<void>;
}): Promise<LoopOutcome> {
  const { clock, recorder, schedule, limits, issue } = params;
  const inFlight = new Set<Promise<void>>();
  let next = 0;
  let sent = 0;
  // Bounded: each pass either sends the due requests or sleeps until the next is due, and the
  // loop ends at endMs or after maxRequests.
  while (next < limits.maxRequests) {
    const nowMs = clock.now();
    if (nowMs >= limits.endMs) break;
    const due = Math.min(schedule.dueCount(nowMs), limits.maxRequests);
    while (next < due) {
      const index = next++;
      const intendedMs = schedule.intendedTimeMs(index);
      if (inFlight.size >= params.maxOutstanding) {
        recorder.recordError(DROPPED, nowMs);
        continue;
      }
      sent++;
      const request: Promise<void> = issue(index).then(
        () => {
          const doneMs = clock.now();
          recorder.recordSuccess(doneMs - intendedMs, doneMs);
        },
        (err: unknown) => recorder.recordError(errorCodeName(err), clock.now()),
      );
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    await clock.sleepUntil(schedule.intendedTimeMs(next));
  }
  await Promise.all(inFlight);
  return { sent };
}
