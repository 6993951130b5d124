/**
 * The KV calls' options and how they become request messages. Shared by the client's methods
 * and the Txn operations (op.put, op.range, ...), so a put means the same thing in both.
 */
import { create } from "@bufbuild/protobuf";
import {
  DeleteRangeRequestSchema,
  PutRequestSchema,
  RangeRequestSchema,
  SortOrder,
  SortTarget,
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { resolveRange, toBytes, type Bytes, type RangeSelector } from "./bytes.js";
import { toInt64 } from "./integers.js";

/** Options of a put. */
export interface PutOptions {
  /** Attach the key to this lease (0 or absent: no lease, which detaches it from a previous one). */
  lease?: bigint;
  /** Return the key-value pair as it was before the write. */
  prevKv?: boolean;
  /** Keep the current value, update only the lease (the value given must be empty). */
  ignoreValue?: boolean;
  /** Keep the current lease, update only the value. */
  ignoreLease?: boolean;
}

/** Options of a single-key read. */
export interface GetOptions {
  /** Read the store as of this revision; 0 or absent: the current one. */
  revision?: number;
  /** Answer from the member's local state without confirming with the leader (may be stale). */
  serializable?: boolean;
  /** Return the metadata without the value. */
  keysOnly?: boolean;
}

/** The order of a range's results. */
export type SortOrderName = "none" | "ascend" | "descend";
/** The field a range's results are sorted by. */
export type SortTargetName = "key" | "version" | "createRevision" | "modRevision" | "value";

/** What a range reads: a key and how far the range goes, plus filters. */
export interface RangeOptions extends RangeSelector {
  /** The first key (or the only one, or the prefix). */
  key: Bytes;
  /** At most this many keys; 0 or absent: no limit. */
  limit?: number;
  /** Read the store as of this revision; 0 or absent: the current one. */
  revision?: number;
  /** Return keys and metadata without values. */
  keysOnly?: boolean;
  /** Return only the count. */
  countOnly?: boolean;
  sortOrder?: SortOrderName;
  sortTarget?: SortTargetName;
  /** Answer from the member's local state without confirming with the leader (may be stale). */
  serializable?: boolean;
  /** Only keys whose mod_revision >= this. */
  minModRevision?: number;
  /** Only keys whose mod_revision <= this. */
  maxModRevision?: number;
  /** Only keys whose create_revision >= this. */
  minCreateRevision?: number;
  /** Only keys whose create_revision <= this. */
  maxCreateRevision?: number;
}

/** Which keys a delete removes beyond the first, and whether to return them. */
export interface DeleteOptions extends RangeSelector {
  /** Return the deleted key-value pairs. */
  prevKv?: boolean;
}

const sortOrders: Record<SortOrderName, SortOrder> = {
  none: SortOrder.UNSPECIFIED,
  ascend: SortOrder.ASCEND,
  descend: SortOrder.DESCEND,
};

const sortTargets: Record<SortTargetName, SortTarget> = {
  key: SortTarget.KEY,
  version: SortTarget.VERSION,
  createRevision: SortTarget.CREATE_REVISION,
  modRevision: SortTarget.MOD_REVISION,
  value: SortTarget.VALUE,
};

export function putRequest(key: Bytes, value: Bytes, options: PutOptions = {}): PutRequest {
  return create(PutRequestSchema, {
    key: toBytes(key),
    value: toBytes(value),
    lease: options.lease === undefined ? 0n : toInt64(options.lease, "lease"),
    prevKv: options.prevKv === true,
    ignoreValue: options.ignoreValue === true,
    ignoreLease: options.ignoreLease === true,
  });
}

export function getRequest(key: Bytes, options: GetOptions = {}): RangeRequest {
  return rangeRequest({ key, revision: options.revision, serializable: options.serializable, keysOnly: options.keysOnly });
}

export function rangeRequest(options: RangeOptions): RangeRequest {
  const { key, rangeEnd } = resolveRange(options.key, options);
  return create(RangeRequestSchema, {
    key,
    rangeEnd,
    limit: toInt64(options.limit ?? 0, "limit"),
    revision: toInt64(options.revision ?? 0, "revision"),
    sortOrder: sortOrders[options.sortOrder ?? "none"],
    sortTarget: options.sortTarget === undefined ? SortTarget.UNSPECIFIED : sortTargets[options.sortTarget],
    serializable: options.serializable === true,
    keysOnly: options.keysOnly === true,
    countOnly: options.countOnly === true,
    minModRevision: toInt64(options.minModRevision ?? 0, "minModRevision"),
    maxModRevision: toInt64(options.maxModRevision ?? 0, "maxModRevision"),
    minCreateRevision: toInt64(options.minCreateRevision ?? 0, "minCreateRevision"),
    maxCreateRevision: toInt64(options.maxCreateRevision ?? 0, "maxCreateRevision"),
  });
}

export function deleteRequest(key: Bytes, options: DeleteOptions = {}): DeleteRangeRequest {
  const { key: first, rangeEnd } = resolveRange(key, options);
  return create(DeleteRangeRequestSchema, { key: first, rangeEnd, prevKv: options.prevKv === true });
}
