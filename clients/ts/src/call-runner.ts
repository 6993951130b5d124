/**
 * Runs one call: its deadline, its cancellation, and its retries.
 *
 * The deadline (the call's timeoutMs, else the client's) covers every attempt and every backoff:
 * when it passes, the call rejects with DEADLINE_EXCEEDED at once, whatever the attempt in
 * progress is doing (the attempt is aborted, and the wait for it is raced against the deadline,
 * so a transport that ignores its signal cannot make the call hang). Aborting the caller's
 * signal rejects with CANCELED; closing the client rejects with ClientClosedError.
 *
 * Where each attempt goes: a read to the pool's current endpoint; a write to the endpoint of the
 * member believed to lead, else the current one (endpoint-pool.ts). While the pool is finding
 * out which endpoint the leader is (one probe round trip, after the first answer that named a
 * leader not yet matched to an endpoint), a write waits for that first, within its deadline.
 * Every answer's header, and every failure's leader metadata, is handed to the pool, so the
 * next attempt and the next call go where the latest answer says the leader is.
 *
 * Between attempts the call waits an exponential backoff with jitter and moves to the next
 * endpoint (or the new leader's, for a write whose failure named one). Which failures are
 * retried is retry-policy.ts's decision, the same for every endpoint; there are at most
 * retry.maxAttempts attempts.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { canceledError, sleep, timerDelay, whenAborted } from "./abort.js";
import type { Endpoint, EndpointPool } from "./endpoint-pool.js";
import type { ResponseHeader as ResponseHeaderMessage } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import { ClientClosedError } from "./errors.js";
import type { CallOptions, RetryOptions } from "./options.js";
import { backoffMs, isRetryable, type CallSafety } from "./retry-policy.js";

/** What one attempt gets: a signal that aborts when the call ends, and the time left (for the server's deadline). */
export interface AttemptContext {
  signal: AbortSignal;
  /** Milliseconds until the call's deadline, or undefined without one. */
  timeoutMs: number | undefined;
}

/** What every response message of the API has: the header saying who answered and who leads. */
export interface WithHeader {
  header?: ResponseHeaderMessage;
}

export type Attempt<T extends WithHeader> = (endpoint: Endpoint, context: AttemptContext) => Promise<T>;

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

  async run<T extends WithHeader>(safety: CallSafety, options: CallOptions | undefined, attempt: Attempt<T>): Promise<T> {
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
        if (safety === "write") {
          const lookup = this.pool.leaderLookup;
          if (lookup !== undefined) await Promise.race([lookup, aborted]);
        }
        const endpoint = safety === "write" ? this.pool.forWrite() : this.pool.current();
        let response: T;
        try {
          const remainingMs = deadlineAt === undefined ? undefined : Math.max(1, deadlineAt - Date.now());
          response = await Promise.race([attempt(endpoint, { signal: controller.signal, timeoutMs: remainingMs }), aborted]);
        } catch (err) {
          if (controller.signal.aborted) throw controller.signal.reason;
          const error = ConnectError.from(err);
          this.pool.observeFailure(endpoint, error);
          if (attemptNumber >= this.retry.maxAttempts || !isRetryable(error, safety)) throw error;
          this.pool.markFailed(endpoint);
          await sleep(backoffMs(attemptNumber, this.retry), controller.signal);
          continue;
        }
        this.pool.observe(endpoint, response.header);
        return response;
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
