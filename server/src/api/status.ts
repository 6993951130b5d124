/**
 * The one mapping from errors to RPC status codes (DESIGN.md "Error codes"). Every handler
 * passes what it caught through toConnectError, so a given failure has the same code and
 * message on every protocol, on unary calls and on Pipeline streams.
 *
 *   kv InvalidArgumentError (+ KeyTooLarge, DuplicateKey, MalformedCommand) -> INVALID_ARGUMENT
 *   kv CompactedError, FutureRevisionError, LeaseTtlTooLargeError          -> OUT_OF_RANGE
 *   kv KeyNotFoundError, LeaseNotFoundError                                -> NOT_FOUND
 *   kv LeaseExistsError                                                    -> ALREADY_EXISTS
 *   kv RequestTooLargeError, TooManyOperationsError                        -> RESOURCE_EXHAUSTED
 *   kv StateMachineClosedError, storage ClosedError                        -> UNAVAILABLE
 *   raft RaftUnavailableError (no leader, leadership moving, shutting down) -> UNAVAILABLE (+ not-applied
 *        metadata when the write certainly did not happen; sisyphus-leader names the leader when known)
 *   raft MembershipChangeError                                             -> FAILED_PRECONDITION
 *   kv CorruptRecordError, storage CorruptionError                         -> DATA_LOSS
 *   storage InvalidArgumentError (a value over the engine's limit)         -> INVALID_ARGUMENT
 *   storage IOError, LockedError, anything unexpected                      -> INTERNAL (message kept generic, logged)
 *   a ConnectError (raised by Connect itself or by our handlers)           -> unchanged
 *   an aborted call (client went away or deadline)                         -> CANCELED / DEADLINE_EXCEEDED as Connect reports
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  CompactedError,
  CorruptRecordError,
  FutureRevisionError,
  InvalidArgumentError,
  KeyNotFoundError,
  LeaseExistsError,
  LeaseNotFoundError,
  LeaseTtlTooLargeError,
  RequestTooLargeError,
  StateMachineClosedError,
  TooManyOperationsError,
} from "../kv/index.js";
import { MembershipChangeError, RaftUnavailableError } from "../raft/index.js";
import {
  ClosedError as StorageClosedError,
  CorruptionError as StorageCorruptionError,
  InvalidArgumentError as StorageInvalidArgumentError,
} from "../storage/index.js";

/** Error metadata key set on UNAVAILABLE errors whose write was certainly not applied (safe to retry). */
export const NOT_APPLIED_METADATA_KEY = "sisyphus-not-applied";

/** Error metadata key naming the leader's member ID (decimal) when this member knows it. */
export const LEADER_METADATA_KEY = "sisyphus-leader";

/** The Connect error a handler reports for `err`. `internal` tells the caller to log it as a server fault. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof InvalidArgumentError) return new ConnectError(err.message, Code.InvalidArgument, undefined, undefined, err);
  if (err instanceof CompactedError) {
    return new ConnectError(err.message, Code.OutOfRange, { "sisyphus-compact-revision": String(err.compactRevision) }, undefined, err);
  }
  if (err instanceof FutureRevisionError || err instanceof LeaseTtlTooLargeError) {
    return new ConnectError(err.message, Code.OutOfRange, undefined, undefined, err);
  }
  if (err instanceof KeyNotFoundError || err instanceof LeaseNotFoundError) return new ConnectError(err.message, Code.NotFound, undefined, undefined, err);
  if (err instanceof LeaseExistsError) return new ConnectError(err.message, Code.AlreadyExists, undefined, undefined, err);
  if (err instanceof RequestTooLargeError || err instanceof TooManyOperationsError) {
    return new ConnectError(err.message, Code.ResourceExhausted, undefined, undefined, err);
  }
  if (err instanceof RaftUnavailableError) {
    const metadata: Record<string, string> = {};
    if (err.notApplied) metadata[NOT_APPLIED_METADATA_KEY] = "1";
    if (err.leaderId !== 0n) metadata[LEADER_METADATA_KEY] = err.leaderId.toString();
    return new ConnectError(err.message, Code.Unavailable, metadata, undefined, err);
  }
  if (err instanceof MembershipChangeError) return new ConnectError(err.message, Code.FailedPrecondition, undefined, undefined, err);
  if (err instanceof StateMachineClosedError || err instanceof StorageClosedError) {
    return new ConnectError("the member is shutting down", Code.Unavailable, undefined, undefined, err);
  }
  if (err instanceof CorruptRecordError || err instanceof StorageCorruptionError) {
    return new ConnectError(`stored data is damaged: ${err.message}`, Code.DataLoss, undefined, undefined, err);
  }
  if (err instanceof StorageInvalidArgumentError) return new ConnectError(err.message, Code.InvalidArgument, undefined, undefined, err);
  return new ConnectError("internal error (see the server log)", Code.Internal, undefined, undefined, err);
}

/** For promise chains: `.catch(rethrowAsConnectError)` reports any failure with its mapped code. */
export function rethrowAsConnectError(err: unknown): never {
  throw toConnectError(err);
}

/** Server faults are logged at error level; client mistakes and expected conditions at warn. */
export function isServerFault(code: Code): boolean {
  return code === Code.Internal || code === Code.DataLoss || code === Code.Unknown;
}

/** The lower-case name of a code for labels and logs ("ok" for success). */
export function codeName(code: Code | undefined): string {
  if (code === undefined) return "ok";
  return Code[code].replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`));
}
