/**
 * The KV layer's public surface: the replicated MVCC state machine (revisions, transactions,
 * compaction, watches, leases) over one storage engine. Other layers import only from here.
 *
 * Shape. A write is a Command, encoded with encodeCommand (command-codec.ts documents the bytes)
 * and, once Raft has committed it, applied with KvStateMachine.apply(index, bytes): the only
 * write path. Apply decodes, checks (checkCommand), executes at the next revision and writes
 * every change plus the applied index in one synced engine batch, grouping the applies that
 * arrive together into one batch. Reads (range) and watches are served from engine snapshots of
 * the durable state. Lease expiry is decided outside apply (expiredLeases) and proposed as a
 * leaseExpire command, so apply stays deterministic.
 *
 * MVCC model (etcd's): one store-wide revision, 1 for an empty store, +1 per command that
 * changes at least one key (a transaction is one revision; its changes are numbered by
 * sub-revision in order). Per key: create_revision, mod_revision, version (1 on creation, +1 per
 * put, reset by a delete). Compact(C) makes revisions below C unreadable at once and removes
 * their versions in the background (keeping each key's newest version <= C unless it is a
 * delete).
 *
 * Storage layout (details and record formats in store-layout.ts):
 *   "k" ordered(key) inv64(rev)  a version (put or tombstone); newest first per key
 *   "c" key                      current metadata of a live key (value lives in its "k" record)
 *   "r" be64(rev) be32(sub)      the event log, for watch replay and compaction
 *   "l" be64(lease)              a lease (TTL, granted-at revision)
 *   "a" be64(lease) key          a key attached to a lease
 *   "p" be64(member)             a member of the cluster (name, peer and client URLs, learner)
 *   "m" state / "m" compacted    applied index + revision + compact revision; compaction progress
 */
export { KvStateMachine } from "./state-machine.js";
export type { KvStateMachineOptions, KvStats } from "./state-machine.js";
export type { WatchSubscription } from "./watch-hub.js";
export type { Proposer } from "./proposer.js";
export { LeaseExpiry } from "./lease-expiry.js";
export type { LeaseExpiryOptions } from "./lease-expiry.js";
export { encodeCommand, decodeCommand, MAX_TXN_DEPTH } from "./command-codec.js";
export { checkCommand, checkCommandLimits, DEFAULT_COMMAND_LIMITS, MAX_LEASE_TTL_SECONDS } from "./command-check.js";
export type { CommandLimits } from "./command-check.js";
export { MAX_KEY_BYTES } from "./key-range.js";
export {
  KvError,
  InvalidArgumentError,
  KeyTooLargeError,
  DuplicateKeyError,
  MalformedCommandError,
  CompactedError,
  FutureRevisionError,
  KeyNotFoundError,
  LeaseNotFoundError,
  LeaseExistsError,
  LeaseTtlTooLargeError,
  RequestTooLargeError,
  TooManyOperationsError,
  StateMachineClosedError,
  CorruptRecordError,
} from "./errors.js";
export { SortOrder, SortTarget, CompareOperator, EventType, WatchFilter } from "./types.js";
export type {
  KeyValue,
  RangeRequest,
  RangeResult,
  ReadResult,
  PutRequest,
  PutResult,
  DeleteRangeRequest,
  DeleteRangeResult,
  Compare,
  CompareTarget,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResult,
  Command,
  CommandResult,
  ApplyResult,
  WatchEvent,
  WatchRequest,
  WatchCancel,
  LeaseInfo,
  LeaseTimeToLive,
  MemberRecord,
} from "./types.js";
