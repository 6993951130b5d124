/**
 * Runs one call: its deadline, its cancellation, and its retries.
 *
 * The deadline (the call's timeoutMs, else the client's) covers every attempt and every backoff:
 * when it passes, the call rejects with DEADLINE_EXCEEDED at once, whatever the attempt in
 * progress is doing (the attempt is aborted, and the wait for it is raced against the deadline,
 * so a transport that ignores its signal cannot make the call hang). Aborting the caller's
 * signal rejects with CANCELED; closing the client rejects with ClientClosedError.
 *
 * Between attempts the call waits an exponential backoff with jitter and moves to the next
 * endpoint. Which failures are retried is retry-policy.ts's decision; there are at most
 * retry.maxAttempts attempts.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { canceledError, sleep, timerDelay, whenAborted } from "./abort.js";
import type { Endpoint, EndpointPool } from "./endpoint-pool.js";
import { ClientClosedError } from "./errors.js";
import type { CallOptions, RetryOptions } from "./options.js";
import { backoffMs, isRetryable, type CallSafety } from "./retry-policy.js";

/** What one attempt gets: a signal that aborts when the call ends, and the time left (for the server's deadline). */
export interface AttemptContext {
  signal: AbortSignal;
  /** Milliseconds until the call's deadline, or undefined without one. */
  timeoutMs: number | undefined;
}

export type Attempt<T> = (endpoint: Endpoint, context: AttemptContext) => Promise<T>;

export class CallRunner {
  /** The controllers of the calls in progress, so close() can end them. */
  private readonly active = new Set<AbortController>();
  private closed = false;

  constructor(
    private readonly pool: EndpointPool,
    private readonly retry: RetryOptions,
    private readonly defaultTimeoutMs: number,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Throws ClientClosedError once the client is closed. */
  assertOpen(): void {
    if (this.closed) throw new ClientClosedError();
  }

  async run<T>(safety: CallSafety, options: CallOptions | undefined, attempt: Attempt<T>): Promise<T> {
    this.assertOpen();
    const timeoutMs = options?.timeoutMs ?? this.defaultTimeoutMs;
    const userSignal = options?.signal;
    if (userSignal?.aborted === true) throw canceledError(userSignal.reason);

    const controller = new AbortController();
    const deadlineAt = timeoutMs > 0 && Number.isFinite(timeoutMs) ? Date.now() + timeoutMs : undefined;
    const timer =
      deadlineAt === undefined
        ? undefined
        : setTimeout(() => controller.abort(new ConnectError(`the call's deadline of ${timeoutMs} ms passed`, Code.DeadlineExceeded)), timerDelay(timeoutMs));
    const onUserAbort = (): void => controller.abort(canceledError(userSignal?.reason));
    userSignal?.addEventListener("abort", onUserAbort, { once: true });
    this.active.add(controller);
    const aborted = whenAborted(controller.signal);
    try {
      for (let attemptNumber = 1; ; attemptNumber++) {
        const endpoint = this.pool.current();
        try {
          const remainingMs = deadlineAt === undefined ? undefined : Math.max(1, deadlineAt - Date.now());
          return await Promise.race([attempt(endpoint, { signal: controller.signal, timeoutMs: remainingMs }), aborted]);
        } catch (err) {
          if (controller.signal.aborted) throw controller.signal.reason;
          const error = ConnectError.from(err);
          if (attemptNumber >= this.retry.maxAttempts || !isRetryable(error, safety)) throw error;
          this.pool.markFailed(endpoint);
          await sleep(backoffMs(attemptNumber, this.retry), controller.signal);
        }
      }
    } finally {
      clearTimeout(timer);
      userSignal?.removeEventListener("abort", onUserAbort);
      this.active.delete(controller);
    }
  }

  /**
   * Ties a long-lived operation (a stream) to the client: close() aborts `controller` with
   * ClientClosedError. Returns the function that unties it when the operation ends.
   */
  track(controller: AbortController): () => void {
    this.assertOpen();
    this.active.add(controller);
    return () => this.active.delete(controller);
  }

  /** Ends every call in progress with ClientClosedError; later calls fail with it at once. */
  close(): void {
    this.closed = true;
    for (const controller of this.active) controller.abort(new ClientClosedError());
    this.active.clear();
  }
}
