/**
 * The SDK's own errors. Every call of the SDK rejects with a ConnectError: the server's errors
 * arrive as ConnectErrors with the status code the server chose, and the failures the SDK itself
 * detects are subclasses of SisyphusClientError, which is a ConnectError too (with a fitting
 * code), so one `catch (err) { if (err instanceof ConnectError) switch (err.code) ... }` handles
 * both, and `err instanceof WatchCompactedError` picks out a specific one.
 *
 * Connect decides `instanceof ConnectError` by the error's `name` ("ConnectError"), so these keep
 * that name; `instanceof` on the subclasses uses the ordinary prototype chain (see below).
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** The base class of the errors the SDK raises itself (not the server's errors). */
export class SisyphusClientError extends ConnectError {
  constructor(message: string, code: Code, cause?: unknown) {
    super(message, code, undefined, undefined, cause);
  }

  /**
   * ConnectError overrides instanceof to accept any error named "ConnectError"; that static
   * method is inherited, so without this override `anyConnectError instanceof
   * WatchCompactedError` would be true. Subclasses use the ordinary prototype-chain check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** A call on a client after `close()` (or in flight when it was closed). Code CANCELED. */
export class ClientClosedError extends SisyphusClientError {
  constructor() {
    super("the client is closed", Code.Canceled);
  }
}

/**
 * The revision a watch needed was compacted away: its start revision, or (when it resumed after a
 * dropped stream) the revision after the last event it delivered. The events in between are
 * gone; re-read the range and watch again from the revision of that read. Code OUT_OF_RANGE.
 */
export class WatchCompactedError extends SisyphusClientError {
  constructor(
    /** The oldest revision the server still has. */
    readonly compactRevision: number,
    /** The revision the watch asked to start from. */
    readonly startRevision: number,
  ) {
    super(`watch start revision ${startRevision} is compacted; the oldest revision available is ${compactRevision}`, Code.OutOfRange);
  }
}

/** The server canceled a watch for a reason other than compaction (for example an invalid range). Code ABORTED. */
export class WatchCanceledError extends SisyphusClientError {
  constructor(readonly reason: string) {
    super(`the server canceled the watch: ${reason || "no reason given"}`, Code.Aborted);
  }
}

/**
 * A 64-bit integer from the server (a revision, version, count or size) does not fit a
 * JavaScript number exactly (it is above Number.MAX_SAFE_INTEGER). Code OUT_OF_RANGE.
 */
export class UnsafeIntegerError extends SisyphusClientError {
  constructor(
    readonly field: string,
    readonly value: bigint,
  ) {
    super(`${field} = ${value} is above Number.MAX_SAFE_INTEGER and cannot be returned as a number`, Code.OutOfRange);
  }
}

/** A lease kept alive by `lease.keepAlive` is gone: the server answered ttl 0, or no renewal got through before it expired. Code NOT_FOUND. */
export class LeaseExpiredError extends SisyphusClientError {
  constructor(
    readonly leaseId: bigint,
    detail: string,
  ) {
    super(`lease ${leaseId} expired: ${detail}`, Code.NotFound);
  }
}

/** A snapshot stream that does not add up: the SHA-256 digest differs, or the stream ended before its last chunk. Code DATA_LOSS. */
export class SnapshotIntegrityError extends SisyphusClientError {
  constructor(detail: string) {
    super(`snapshot failed its integrity check: ${detail}`, Code.DataLoss);
  }
}

/** An argument the SDK rejects before sending anything (a non-integer revision, a bad option). Code INVALID_ARGUMENT. */
export class InvalidArgumentError extends SisyphusClientError {
  constructor(message: string) {
    super(message, Code.InvalidArgument);
  }
}
