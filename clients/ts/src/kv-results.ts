/** The KV calls' results, converted from the response messages. */
import type { DeleteRangeResponse, PutResponse, RangeResponse } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { toSafeNumber } from "./integers.js";
import { KeyValue, headerFromMessage, optionalKeyValue, type ResponseHeader } from "./key-value.js";

/** The result of a put. */
export interface PutResult {
  /** The revision the put created. */
  revision: number;
  /** The pair before the write, when prevKv was asked for and the key existed. */
  prevKv?: KeyValue;
  header: ResponseHeader;
}

/** The result of a single-key read. */
export interface GetResult {
  /** The key, or undefined when it does not exist (at the revision read). */
  kv?: KeyValue;
  /** The store's current revision when the read was served (also when an earlier one was read). */
  revision: number;
  header: ResponseHeader;
}

/** The result of a range read. */
export interface RangeResult {
  kvs: KeyValue[];
  /** True when more keys matched than `limit` let through. */
  more: boolean;
  /** The number of keys in the range, ignoring limit. */
  count: number;
  /** The store's current revision when the read was served. */
  revision: number;
  header: ResponseHeader;
}

/** The result of a delete. */
export interface DeleteResult {
  /** How many keys were deleted. */
  deleted: number;
  /** The deleted pairs, when prevKv was asked for. */
  prevKvs: KeyValue[];
  /** The revision the delete created (the current one when nothing matched). */
  revision: number;
  header: ResponseHeader;
}

/** The result of a compaction. */
export interface CompactResult {
  /** The store's current revision. */
  revision: number;
  header: ResponseHeader;
}

export function putResult(response: PutResponse): PutResult {
  const header = headerFromMessage(response.header);
  const prevKv = optionalKeyValue(response.prevKv);
  return prevKv === undefined ? { revision: header.revision, header } : { revision: header.revision, prevKv, header };
}

export function rangeResult(response: RangeResponse): RangeResult {
  const header = headerFromMessage(response.header);
  return {
    kvs: response.kvs.map((kv) => KeyValue.fromMessage(kv)),
    more: response.more,
    count: toSafeNumber(response.count, "range.count"),
    revision: header.revision,
    header,
  };
}

export function getResult(response: RangeResponse): GetResult {
  const header = headerFromMessage(response.header);
  const first = response.kvs[0];
  return first === undefined ? { revision: header.revision, header } : { kv: KeyValue.fromMessage(first), revision: header.revision, header };
}

export function deleteResult(response: DeleteRangeResponse): DeleteResult {
  const header = headerFromMessage(response.header);
  return {
    deleted: toSafeNumber(response.deleted, "delete.deleted"),
    prevKvs: response.prevKvs.map((kv) => KeyValue.fromMessage(kv)),
    revision: header.revision,
    header,
  };
}
