/**
 * The KV layer's request, result and command types: protobuf-free mirrors of
 * proto/sisyphus/kv/v1 (same field names in camelCase, same enum numbers, oneofs as
 * `{ case, value }`), with revisions, versions and limits as numbers (safe integers) and lease
 * IDs as bigint (they are full 64-bit values). The API layer converts between these and the
 * generated messages; the semantics are those documented in the .proto files.
 */

/** One key as stored at some revision (KeyValue in types.proto). */
export interface KeyValue {
  key: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Uint8Array;
  /** 0n when the key has no lease. */
  lease: bigint;
}

export enum SortOrder {
  Unspecified = 0,
  Ascend = 1,
  Descend = 2,
}

export enum SortTarget {
  Unspecified = 0,
  Key = 1,
  Version = 2,
  CreateRevision = 3,
  ModRevision = 4,
  Value = 5,
}

/** RangeRequest in kv.proto, without `serializable` (a consistency choice made above this layer). */
export interface RangeRequest {
  key: Uint8Array;
  /** Empty or absent: the single key; [0]: every key >= key; else the exclusive end. */
  rangeEnd?: Uint8Array;
  /** 0 or absent: no limit. */
  limit?: number;
  /** 0 or absent: the current revision. */
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** More keys passed the filters than `limit` let through. */
  more: boolean;
  /** Keys in the range at the revision read, ignoring limit and the revision filters. */
  count: number;
}

/** The answer to a range read outside a transaction. */
export interface ReadResult extends RangeResult {
  /** The store's current revision when the read was served (ResponseHeader.revision). */
  revision: number;
}

export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  /** 0n or absent: no lease (detaches the key from a previous one). */
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResult {
  /** The key before the write, when asked for and the key existed. */
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

export interface DeleteRangeResult {
  deleted: number;
  /** The deleted keys in key order, when asked for. */
  prevKvs: KeyValue[];
}

export enum CompareOperator {
  Unspecified = 0,
  Equal = 1,
  NotEqual = 2,
  Less = 3,
  Greater = 4,
}

/** The oneof `target` of Compare. */
export type CompareTarget =
  | { case: "value"; value: Uint8Array }
  | { case: "version"; value: number }
  | { case: "createRevision"; value: number }
  | { case: "modRevision"; value: number }
  | { case: "lease"; value: bigint }
  | { case: undefined; value?: undefined };

export interface Compare {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  operator: CompareOperator;
  target: CompareTarget;
}

/** The oneof `request` of RequestOp. */
export type RequestOp =
  | { case: "range"; value: RangeRequest }
  | { case: "put"; value: PutRequest }
  | { case: "deleteRange"; value: DeleteRangeRequest }
  | { case: "txn"; value: TxnRequest };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export type ResponseOp =
  | { case: "range"; value: RangeResult }
  | { case: "put"; value: PutResult }
  | { case: "deleteRange"; value: DeleteRangeResult }
  | { case: "txn"; value: TxnResult };

export interface TxnResult {
  succeeded: boolean;
  responses: ResponseOp[];
}

/**
 * The replicated unit: one write. Reads outside a transaction are not commands. Encoded by
 * encodeCommand (command-codec.ts) for the Raft log.
 */
export type Command =
  | { type: "put"; request: PutRequest }
  | { type: "deleteRange"; request: DeleteRangeRequest }
  | { type: "txn"; request: TxnRequest }
  /** `physical` is carried for the proposer's benefit (wait for the physical removal); apply ignores it. */
  | { type: "compact"; revision: number; physical?: boolean }
  /** id 0n: apply picks a fresh ID deterministically from the log index. */
  | { type: "leaseGrant"; id: bigint; ttlSeconds: number }
  | { type: "leaseRevoke"; id: bigint }
  /** Expires every listed lease that still exists; chosen by the leader from expiredLeases(). */
  | { type: "leaseExpire"; ids: bigint[] }
  /**
   * Membership (replicated member records). memberAdd/memberRemove are recorded when a Raft
   * membership change is applied; memberAttributes is proposed by a member once it serves, to
   * publish its name and client URLs. None changes the revision.
   */
  | { type: "memberAdd"; id: bigint; name: string; peerUrls: string[]; learner: boolean }
  /**
   * Restarts a lease's TTL on every member (each from its own clock when it applies it). Kept
   * alive through the log so that the leader, which alone decides expiry, hears of keep-alives
   * sent to any member.
   */
  | { type: "leaseKeepAlive"; id: bigint }
  | { type: "memberRemove"; id: bigint }
  | { type: "memberAttributes"; id: bigint; name: string; clientUrls: string[] };

/** One member of the cluster as the store records it. */
export interface MemberRecord {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  learner: boolean;
}

export type CommandResult =
  | { type: "put"; result: PutResult }
  | { type: "deleteRange"; result: DeleteRangeResult }
  | { type: "txn"; result: TxnResult }
  | { type: "compact" }
  | { type: "leaseGrant"; id: bigint; ttlSeconds: number }
  | { type: "leaseRevoke" }
  /** The listed leases that existed and were expired, in the order given. */
  | { type: "leaseExpire"; expired: bigint[] }
  | { type: "member" }
  /** The lease's TTL in seconds; 0 when the lease does not exist (etcd's answer for an expired lease). */
  | { type: "leaseKeepAlive"; ttlSeconds: number };

/**
 * What apply() reports for one log entry. `revision` is the store's revision after the entry
 * (ResponseHeader.revision: the revision the write created, or the current one).
 */
export type ApplyResult =
  | { status: "applied"; index: number; revision: number; result: CommandResult }
  /** The command was rejected at apply time; the applied index still advanced past it. */
  | { status: "rejected"; index: number; revision: number; error: Error }
  /** index <= the last index already applied (or queued): nothing was done. */
  | { status: "skipped"; index: number; revision: number };

export enum EventType {
  Put = 1,
  Delete = 2,
}

export interface WatchEvent {
  type: EventType;
  /** For a delete: the key with modRevision = the delete's revision, every other field zero. */
  kv: KeyValue;
  /** The key before the change, when the watcher asked for it and it existed and is not compacted. */
  prevKv?: KeyValue;
}

export enum WatchFilter {
  Unspecified = 0,
  NoPut = 1,
  NoDelete = 2,
}

export interface WatchRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** Inclusive; 0 or absent: only changes after the current revision. */
  startRevision?: number;
  prevKv?: boolean;
  filters?: WatchFilter[];
}

/** Why a watcher ended without being asked to. */
export interface WatchCancel {
  reason: string;
  /** Set (> 0) when the revisions the watcher needed were compacted away. */
  compactRevision: number;
}

export interface LeaseInfo {
  id: bigint;
  /** Seconds left before expiry (floor, at least 0). */
  ttlSeconds: number;
  grantedTtlSeconds: number;
}

export interface LeaseTimeToLive extends LeaseInfo {
  /** Attached keys in key order, when asked for. */
  keys?: Uint8Array[];
}
