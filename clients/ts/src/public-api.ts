/**
 * Everything both entries export besides createClient: the client's types, the transaction
 * builders, the errors, and Connect's Code and ConnectError (every call rejects with one).
 */
export { Code, ConnectError } from "@connectrpc/connect";
export type { Transport } from "@connectrpc/connect";
export type { Client } from "./client.js";
export type { Bytes, RangeSelector } from "./bytes.js";
export { prefixEnd } from "./bytes.js";
export type { ClientOptions, CallOptions, RetryOptions, Protocol } from "./options.js";
export { DEFAULT_RETRY, DEFAULT_TIMEOUT_MS } from "./options.js";
export { KeyValue, type ResponseHeader } from "./key-value.js";
export type { PutOptions, GetOptions, RangeOptions, DeleteOptions, SortOrderName, SortTargetName } from "./kv-requests.js";
export type { PutResult, GetResult, RangeResult, DeleteResult, CompactResult } from "./kv-results.js";
export { cmp, op, Comparison, CompareTarget, Op, TxnBuilder, type AnyOp, type OpResults, type TxnResult, type TxnSpec } from "./txn.js";
export type { Watcher, WatchOptions, WatchBatch, WatchEvent, WatchFilterName } from "./watch.js";
export type { LeaseClient, LeaseGrant, LeaseTimeToLive, LeaseStatus } from "./lease.js";
export type { LeaseKeepAlive, LeaseRenewal } from "./lease-keepalive.js";
export type { Member } from "./cluster.js";
export type { MemberStatus, SnapshotStream } from "./maintenance.js";
export { LEADER_METADATA_KEY, NOT_APPLIED_METADATA_KEY } from "./retry-policy.js";
export {
  SisyphusClientError,
  ClientClosedError,
  WatchCompactedError,
  WatchCanceledError,
  UnsafeIntegerError,
  LeaseExpiredError,
  SnapshotIntegrityError,
  InvalidArgumentError,
} from "./errors.js";
