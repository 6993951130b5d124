/**
 * Typed errors of the KV layer. Each class corresponds to one RPC status, which the API layer
 * maps in one place:
 *
 *   InvalidArgumentError (and KeyTooLargeError, DuplicateKeyError, MalformedCommandError) -> INVALID_ARGUMENT
 *   CompactedError, FutureRevisionError, LeaseTtlTooLargeError                            -> OUT_OF_RANGE
 *   KeyNotFoundError, LeaseNotFoundError                                                   -> NOT_FOUND
 *   LeaseExistsError                                                                       -> ALREADY_EXISTS
 *   RequestTooLargeError, TooManyOperationsError                                           -> RESOURCE_EXHAUSTED
 *   StateMachineClosedError                                                                -> UNAVAILABLE
 *   CorruptRecordError                                                                     -> INTERNAL (DATA_LOSS)
 */

/** Base class: every error this layer raises on purpose. */
export class KvError extends Error {
  override name = "KvError";
}

/** A malformed request; `field` names the offending field (e.g. "range_end", "success[2].put.key"). */
export class InvalidArgumentError extends KvError {
  override name = "InvalidArgumentError";
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A key longer than MAX_KEY_BYTES. */
export class KeyTooLargeError extends InvalidArgumentError {
  override name = "KeyTooLargeError";
  constructor(
    field: string,
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`key is ${bytes} bytes, more than the limit of ${limitBytes}`, field);
  }
}

/** Two operations of the branch that runs write the same key. */
export class DuplicateKeyError extends InvalidArgumentError {
  override name = "DuplicateKeyError";
}

/** A command whose bytes do not decode (a bug or version skew in the proposer, never user input). */
export class MalformedCommandError extends InvalidArgumentError {
  override name = "MalformedCommandError";
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`, "command");
  }
}

/** A read or watch at a revision that compaction has discarded. */
export class CompactedError extends KvError {
  override name = "CompactedError";
  constructor(
    readonly requestedRevision: number,
    readonly compactRevision: number,
  ) {
    super(`revision ${requestedRevision} has been compacted; the oldest readable revision is ${compactRevision}`);
  }
}

/** A read at, or compaction to, a revision the store has not reached. */
export class FutureRevisionError extends KvError {
  override name = "FutureRevisionError";
  constructor(
    readonly requestedRevision: number,
    readonly currentRevision: number,
  ) {
    super(`revision ${requestedRevision} is greater than the current revision ${currentRevision}`);
  }
}

/** A put with ignore_value or ignore_lease on a key that does not exist. */
export class KeyNotFoundError extends KvError {
  override name = "KeyNotFoundError";
  constructor(
    readonly key: Uint8Array,
    reason: string,
  ) {
    super(`key ${printable(key)} does not exist (${reason})`);
  }
}

export class LeaseNotFoundError extends KvError {
  override name = "LeaseNotFoundError";
  constructor(readonly leaseId: bigint) {
    super(`lease ${leaseId} does not exist`);
  }
}

export class LeaseExistsError extends KvError {
  override name = "LeaseExistsError";
  constructor(readonly leaseId: bigint) {
    super(`lease ${leaseId} already exists`);
  }
}

export class LeaseTtlTooLargeError extends KvError {
  override name = "LeaseTtlTooLargeError";
  constructor(
    readonly ttlSeconds: number,
    readonly maxTtlSeconds: number,
  ) {
    super(`lease TTL ${ttlSeconds} s is above the maximum of ${maxTtlSeconds} s`);
  }
}

/** An encoded request larger than the configured limit. */
export class RequestTooLargeError extends KvError {
  override name = "RequestTooLargeError";
  constructor(
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`request is ${bytes} bytes, more than the limit of ${limitBytes}`);
  }
}

/** A transaction branch (counting nested transactions) or compare list above the limit. */
export class TooManyOperationsError extends KvError {
  override name = "TooManyOperationsError";
  constructor(
    readonly field: string,
    readonly count: number,
    readonly limit: number,
  ) {
    super(`${field}: ${count} operations, more than the limit of ${limit}`);
  }
}

/** The state machine was closed, or stopped after a storage failure (`cause` says which). */
export class StateMachineClosedError extends KvError {
  override name = "StateMachineClosedError";
}

/** A stored record of this layer that does not decode: the engine returned damaged data. */
export class CorruptRecordError extends KvError {
  override name = "CorruptRecordError";
  constructor(
    message: string,
    readonly engineKey: Uint8Array,
  ) {
    super(`${message} (engine key ${Buffer.from(engineKey).toString("hex")})`);
  }
}

/** Keys in messages: text when printable ASCII, else hex. */
function printable(key: Uint8Array): string {
  const shown = key.subarray(0, 64);
  const ascii = shown.every((b) => b >= 0x20 && b < 0x7f);
  const text = ascii ? JSON.stringify(Buffer.from(shown).toString("latin1")) : `0x${Buffer.from(shown).toString("hex")}`;
  return key.length > shown.length ? `${text}... (${key.length} bytes)` : text;
}
