/**
 * Conversions between the generated protobuf messages (int64 as bigint) and the KV layer's
 * types (revisions and counts as safe integers, lease IDs as bigint). Converting a request
 * checks what only the wire can get wrong (an int64 beyond 2^53); the KV layer checks the rest
 * (empty key, range order, signs, enum values) with the field named in the message.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  Compare as PbCompare,
  DeleteRangeRequest as PbDeleteRangeRequest,
  PutRequest as PbPutRequest,
  RangeRequest as PbRangeRequest,
  RequestOp as PbRequestOp,
  ResponseOpSchema,
  TxnRequest as PbTxnRequest,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import type { EventSchema, EventType as PbEventType, KeyValueSchema, ResponseHeaderSchema } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import type { WatchCreateRequest as PbWatchCreateRequest } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import {
  InvalidArgumentError,
  type Compare,
  type CompareOperator,
  type CompareTarget,
  type DeleteRangeRequest,
  type KeyValue,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type ResponseOp,
  type SortOrder,
  type SortTarget,
  type TxnRequest,
  type WatchEvent,
  type WatchFilter,
  type WatchRequest,
} from "../kv/index.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** An int64 field as a number; beyond 2^53 (which no revision, count or TTL reaches) is invalid. */
export function int64ToNumber(value: bigint, field: string): number {
  if (value > MAX_SAFE || value < -MAX_SAFE) throw new InvalidArgumentError(`${value} is out of range`, field);
  return Number(value);
}

/**
 * A compare target's number. Every int64 is valid here (etcd takes any); revisions and versions
 * never pass 2^53, so a value beyond the safe range compares exactly as the nearest safe one.
 */
function comparedNumber(value: bigint): number {
  if (value > MAX_SAFE) return Number.MAX_SAFE_INTEGER;
  if (value < -MAX_SAFE) return -Number.MAX_SAFE_INTEGER;
  return Number(value);
}

export function rangeFromProto(m: PbRangeRequest, field = ""): RangeRequest {
  return {
    key: m.key,
    rangeEnd: m.rangeEnd,
    limit: int64ToNumber(m.limit, `${field}limit`),
    revision: int64ToNumber(m.revision, `${field}revision`),
    // The generated and the KV enums share their numbers; unknown numbers are rejected by the KV layer.
    sortOrder: m.sortOrder as number as SortOrder,
    sortTarget: m.sortTarget as number as SortTarget,
    keysOnly: m.keysOnly,
    countOnly: m.countOnly,
    minModRevision: int64ToNumber(m.minModRevision, `${field}min_mod_revision`),
    maxModRevision: int64ToNumber(m.maxModRevision, `${field}max_mod_revision`),
    minCreateRevision: int64ToNumber(m.minCreateRevision, `${field}min_create_revision`),
    maxCreateRevision: int64ToNumber(m.maxCreateRevision, `${field}max_create_revision`),
  };
}

export function putFromProto(m: PbPutRequest): PutRequest {
  return { key: m.key, value: m.value, lease: m.lease, prevKv: m.prevKv, ignoreValue: m.ignoreValue, ignoreLease: m.ignoreLease };
}

export function deleteRangeFromProto(m: PbDeleteRangeRequest): DeleteRangeRequest {
  return { key: m.key, rangeEnd: m.rangeEnd, prevKv: m.prevKv };
}

function compareFromProto(m: PbCompare): Compare {
  let target: CompareTarget;
  switch (m.target.case) {
    case "value":
      target = { case: "value", value: m.target.value };
      break;
    case "lease":
      target = { case: "lease", value: m.target.value };
      break;
    case "version":
    case "createRevision":
    case "modRevision":
      target = { case: m.target.case, value: comparedNumber(m.target.value) };
      break;
    default:
      target = { case: undefined };
  }
  return { key: m.key, rangeEnd: m.rangeEnd, operator: m.operator as number as CompareOperator, target };
}

function requestOpFromProto(m: PbRequestOp, field: string): RequestOp {
  switch (m.request.case) {
    case "range":
      return { case: "range", value: rangeFromProto(m.request.value, `${field}range.`) };
    case "put":
      return { case: "put", value: putFromProto(m.request.value) };
    case "deleteRange":
      return { case: "deleteRange", value: deleteRangeFromProto(m.request.value) };
    case "txn":
      return { case: "txn", value: txnFromProto(m.request.value, `${field}txn.`) };
    default:
      throw new InvalidArgumentError("an operation must be set", field.slice(0, -1));
  }
}

export function txnFromProto(m: PbTxnRequest, field = ""): TxnRequest {
  return {
    compare: m.compare.map((c) => compareFromProto(c)),
    success: m.success.map((op, i) => requestOpFromProto(op, `${field}success[${i}].`)),
    failure: m.failure.map((op, i) => requestOpFromProto(op, `${field}failure[${i}].`)),
  };
}

export function watchFromProto(m: PbWatchCreateRequest): WatchRequest {
  return {
    key: m.key,
    rangeEnd: m.rangeEnd,
    startRevision: int64ToNumber(m.startRevision, "start_revision"),
    prevKv: m.prevKv,
    filters: m.filters.map((f) => f as number as WatchFilter),
  };
}

export type KeyValueInit = MessageInitShape<typeof KeyValueSchema>;

export function keyValueToProto(kv: KeyValue): KeyValueInit {
  return {
    key: kv.key,
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    value: kv.value,
    lease: kv.lease,
  };
}

export function responseOpToProto(op: ResponseOp, header: MessageInitShape<typeof ResponseHeaderSchema>): MessageInitShape<typeof ResponseOpSchema> {
  switch (op.case) {
    case "range":
      return {
        response: {
          case: "range",
          value: { header, kvs: op.value.kvs.map(keyValueToProto), more: op.value.more, count: BigInt(op.value.count) },
        },
      };
    case "put":
      return {
        response: {
          case: "put",
          value: { header, prevKv: op.value.prevKv === undefined ? undefined : keyValueToProto(op.value.prevKv) },
        },
      };
    case "deleteRange":
      return {
        response: {
          case: "deleteRange",
          value: { header, deleted: BigInt(op.value.deleted), prevKvs: op.value.prevKvs.map(keyValueToProto) },
        },
      };
    case "txn":
      return {
        response: {
          case: "txn",
          value: { header, succeeded: op.value.succeeded, responses: op.value.responses.map((r) => responseOpToProto(r, header)) },
        },
      };
  }
}

export function eventToProto(e: WatchEvent): MessageInitShape<typeof EventSchema> {
  return { type: e.type as number as PbEventType, kv: keyValueToProto(e.kv), prevKv: e.prevKv === undefined ? undefined : keyValueToProto(e.prevKv) };
}
