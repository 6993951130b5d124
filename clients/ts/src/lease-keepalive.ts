/**
 * A lease kept alive in the background: renewed at once, then every ttl/3 (the TTL of the last
 * renewal), until close(). A renewal that fails is retried with backoff (on the next endpoint)
 * as long as the lease can still be alive; the keep-alive ends with LeaseExpiredError when the
 * server says the lease is gone (ttl 0) or when no renewal got through before the last known TTL
 * ran out, and with the error itself for failures that retrying cannot fix.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { sleep, timerDelay, whenAborted } from "./abort.js";
import { AsyncQueue } from "./async-queue.js";
import { LeaseExpiredError } from "./errors.js";
import { toSafeNumber } from "./integers.js";
import type { LeaseRenewer } from "./lease-renewer.js";
import type { RetryOptions } from "./options.js";
import { backoffMs, isRetryable } from "./retry-policy.js";

/** Renewals kept for a consumer that does not read them; older ones are dropped. */
export const QUEUED_RENEWALS_MAX = 16;

/** One successful renewal. */
export interface LeaseRenewal {
  id: bigint;
  /** The lease's TTL from the renewal on, in seconds. */
  ttl: number;
}

/**
 * The handle of a lease kept alive. Iterate it for the renewals (optional), await `done` for the
 * end, call close() to stop renewing (the lease then expires after its TTL unless revoked).
 */
export class LeaseKeepAlive implements AsyncIterable<LeaseRenewal> {
  /** Resolves after close(); rejects with LeaseExpiredError (or the failure) when the keep-alive ends by itself. */
  readonly done: Promise<void>;
  private resolveDone: () => void = () => undefined;
  private rejectDone: (err: unknown) => void = () => undefined;
  private readonly renewals = new AsyncQueue<LeaseRenewal>(() => this.close());
  private readonly controller = new AbortController();
  /** When the lease expires unless renewed (ms since the epoch); undefined before the first renewal. */
  private expiresAtMs: number | undefined;
  private lastTtlSeconds: number | undefined;

  constructor(
    readonly id: bigint,
    private readonly renewer: LeaseRenewer,
    private readonly retry: RetryOptions,
    /** The time limit of one renewal attempt. */
    private readonly attemptTimeoutMs: number,
    private readonly onEnd: (keepAlive: LeaseKeepAlive) => void,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
    void this.run();
  }

  /** The TTL of the last renewal in seconds; undefined before the first. */
  get lastTtl(): number | undefined {
    return this.lastTtlSeconds;
  }

  /** Stops renewing; the iteration ends and `done` resolves. */
  close(): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(new ConnectError("the keep-alive was closed", Code.Canceled));
    this.renewals.end();
    this.resolveDone();
    this.onEnd(this);
  }

  /** Ends the keep-alive with an error for its consumers. */
  fail(error: ConnectError): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(error);
    this.renewals.fail(error);
    this.rejectDone(error);
    this.onEnd(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<LeaseRenewal> {
    return this.renewals[Symbol.asyncIterator]();
  }

  private async run(): Promise<void> {
    const stopped = this.controller.signal;
    let failures = 0;
    while (!stopped.aborted) {
      const leftMs = this.expiresAtMs === undefined ? Infinity : this.expiresAtMs - Date.now();
      if (leftMs <= 0) {
        this.fail(new LeaseExpiredError(this.id, "no renewal got through before its TTL ran out"));
        return;
      }
      let ttl: bigint;
      try {
        ttl = await this.renewOnce(Math.min(this.attemptTimeoutMs, leftMs));
      } catch (err) {
        if (stopped.aborted) return;
        const error = ConnectError.from(err);
        failures++;
        const retryable = isRetryable(error, "read") || error.code === Code.DeadlineExceeded;
        // Before the first renewal the lease's TTL is unknown: bound the attempts instead.
        if (!retryable || (this.expiresAtMs === undefined && failures >= this.retry.maxAttempts)) {
          this.fail(error);
          return;
        }
        if (!(await this.pause(backoffMs(failures, this.retry)))) return;
        continue;
      }
      failures = 0;
      if (ttl <= 0n) {
        this.fail(new LeaseExpiredError(this.id, "the server no longer has it (keep-alive answered ttl 0)"));
        return;
      }
      const ttlSeconds = toSafeNumber(ttl, "keep_alive.ttl");
      this.lastTtlSeconds = ttlSeconds;
      this.expiresAtMs = Date.now() + ttlSeconds * 1000;
      this.renewals.push({ id: this.id, ttl: ttlSeconds });
      if (this.renewals.length > QUEUED_RENEWALS_MAX) this.renewals.dropOldest();
      if (!(await this.pause((ttlSeconds * 1000) / 3))) return;
    }
  }

  /** One renewal with a time limit. */
  private async renewOnce(timeoutMs: number): Promise<bigint> {
    const attempt = new AbortController();
    const stop = (): void => attempt.abort(this.controller.signal.reason);
    this.controller.signal.addEventListener("abort", stop, { once: true });
    const timer = setTimeout(
      () => attempt.abort(new ConnectError(`lease renewal took more than ${Math.round(timeoutMs)} ms`, Code.DeadlineExceeded)),
      timerDelay(timeoutMs),
    );
    try {
      return await Promise.race([this.renewer.renew(this.id, attempt.signal), whenAborted(attempt.signal)]);
    } finally {
      clearTimeout(timer);
      this.controller.signal.removeEventListener("abort", stop);
    }
  }

  /** Waits `ms` (or until the lease would expire, if sooner); false when the keep-alive stopped meanwhile. */
  private async pause(ms: number): Promise<boolean> {
    const leftMs = this.expiresAtMs === undefined ? ms : Math.max(0, this.expiresAtMs - Date.now());
    try {
      await sleep(Math.min(ms, leftMs), this.controller.signal);
      return true;
    } catch {
      return false;
    }
  }
}
