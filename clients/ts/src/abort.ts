/** Small helpers for timers and promises that stop when an AbortSignal fires. */
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The longest delay setTimeout honours (2^31 - 1 ms, about 24.8 days); a longer one fires after
 * 1 ms instead, so every delay is clamped to it.
 */
export const TIMER_DELAY_MAX_MS = 2 ** 31 - 1;

/** `ms` clamped to what setTimeout can wait. */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), TIMER_DELAY_MAX_MS);
}

/** Resolves after `ms` (at most TIMER_DELAY_MAX_MS), or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, timerDelay(ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The ConnectError for a call its caller aborted: the reason itself when it is one, else CANCELED. */
export function canceledError(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  return new ConnectError("the call was canceled", Code.Canceled, undefined, undefined, reason);
}

/**
 * A promise that rejects with the signal's reason when it aborts and otherwise never settles;
 * for Promise.race, so that a wait ends on abort even if what it waits for ignores the signal.
 * It is marked handled, so an abort nobody races against is not an unhandled rejection.
 */
export function whenAborted(signal: AbortSignal): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => undefined);
  return aborted;
}
