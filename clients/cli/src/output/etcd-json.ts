/**
 * The --write-out=json shapes. They follow etcdctl's, which are Go's encoding/json of etcd's
 * response messages:
 *   - snake_case field names for messages (`create_revision`, `prev_kv`), Go field names for
 *     etcd's client wrappers (`ID`, `TTL`, `Header`, `Events`);
 *   - keys and values base64 encoded; 64-bit numbers and IDs as bare JSON numbers;
 *   - zero-valued fields left out (`lease`, `more`, `count`, `deleted`, an event's `type` for
 *     PUT), as Go's `omitempty` does; the exception is the response header, whose four fields
 *     are always present so that `.header.revision` works in scripts even at 0.
 * The README ("JSON output") lists every shape.
 */
import type {
  DeleteResult,
  KeyValue,
  LeaseGrant,
  LeaseStatus,
  LeaseTimeToLive,
  Member,
  MemberStatus,
  PutResult,
  RangeResult,
  ResponseHeader,
  WatchBatch,
} from "@sisyphusdb/client";
import type { JsonObject, JsonValue } from "./json.js";
import { memberIdHex } from "./text.js";

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** `value` unless it is a zero value (0, 0n, false, empty), as Go's omitempty. */
function nonZero<T extends JsonValue>(value: T): T | undefined {
  if (value === 0 || value === 0n || value === false || value === "") return undefined;
  if (Array.isArray(value) && value.length === 0) return undefined;
  return value;
}

export function headerJson(header: ResponseHeader): JsonObject {
  return { cluster_id: header.clusterId, member_id: header.memberId, revision: header.revision, raft_term: header.raftTerm };
}

export function keyValueJson(kv: KeyValue): JsonObject {
  return {
    key: base64(kv.key),
    create_revision: nonZero(kv.createRevision),
    mod_revision: nonZero(kv.modRevision),
    version: nonZero(kv.version),
    value: nonZero(base64(kv.value)),
    lease: nonZero(kv.lease),
  };
}

export function putJson(result: PutResult): JsonObject {
  return { header: headerJson(result.header), prev_kv: result.prevKv === undefined ? undefined : keyValueJson(result.prevKv) };
}

export function rangeJson(result: RangeResult): JsonObject {
  return { header: headerJson(result.header), kvs: nonZero(result.kvs.map(keyValueJson)), more: nonZero(result.more), count: nonZero(result.count) };
}

export function deleteJson(result: DeleteResult): JsonObject {
  return { header: headerJson(result.header), deleted: nonZero(result.deleted), prev_kvs: nonZero(result.prevKvs.map(keyValueJson)) };
}

/** One txn operation's result as etcdctl nests it: {"Response":{"response_put":{...}}}. */
export type TxnResponseJson = { Response: JsonObject };

export function txnJson(succeeded: boolean, header: ResponseHeader, responses: readonly TxnResponseJson[]): JsonObject {
  return { header: headerJson(header), succeeded: nonZero(succeeded), responses: nonZero(responses) };
}

/** One watch response, as etcdctl prints clientv3.WatchResponse. */
export function watchJson(batch: WatchBatch): JsonObject {
  return {
    Header: headerJson(batch.header),
    Events: batch.events.map((event) => ({
      type: event.type === "delete" ? 1 : undefined,
      kv: keyValueJson(event.kv),
      prev_kv: event.prevKv === undefined ? undefined : keyValueJson(event.prevKv),
    })),
    CompactRevision: 0,
    Canceled: false,
    Created: false,
  };
}

/** etcd's lease responses embed the header's fields at the top level. */
export function leaseGrantJson(grant: LeaseGrant): JsonObject {
  return { ...headerJson(grant.header), ID: grant.id, TTL: grant.ttl };
}

export function leaseRevokeJson(header: ResponseHeader): JsonObject {
  return { header: headerJson(header) };
}

export function leaseKeepAliveJson(id: bigint, ttl: number, header: ResponseHeader | undefined): JsonObject {
  return { ...(header === undefined ? {} : headerJson(header)), ID: id, TTL: ttl };
}

export function leaseTimeToLiveJson(ttl: LeaseTimeToLive, withKeys: boolean): JsonObject {
  return { ...headerJson(ttl.header), id: ttl.id, ttl: ttl.ttl, "granted-ttl": ttl.grantedTtl, keys: withKeys ? ttl.keys.map(base64) : null };
}

export function leaseListJson(leases: readonly LeaseStatus[], header: ResponseHeader): JsonObject {
  return { ...headerJson(header), leases: leases.map((l) => ({ id: l.id, ttl: l.ttl, "granted-ttl": l.grantedTtl })) };
}

/** With --hex, IDs are hex strings (as etcdctl's --hex JSON for members). */
function idJson(id: bigint, hex: boolean): JsonValue {
  return hex ? memberIdHex(id) : id;
}

/** The header of the member commands' JSON: with --hex, cluster_id and member_id are hex strings. */
function memberHeaderJson(header: ResponseHeader, hex: boolean): JsonObject {
  return { ...headerJson(header), cluster_id: idJson(header.clusterId, hex), member_id: idJson(header.memberId, hex) };
}

/** etcd's Member: {"ID", "name"?, "peerURLs"?, "clientURLs"?, "isLearner"?}. */
export function memberJson(member: Member, hex: boolean): JsonObject {
  return {
    ID: idJson(member.id, hex),
    name: nonZero(member.name),
    peerURLs: nonZero(member.peerUrls),
    clientURLs: nonZero(member.clientUrls),
    isLearner: nonZero(member.isLearner),
  };
}

/** member list, member promote and member remove: {"header", "members"}. */
export function memberListJson(members: readonly Member[], header: ResponseHeader, hex: boolean): JsonObject {
  return { header: memberHeaderJson(header, hex), members: members.map((m) => memberJson(m, hex)) };
}

/** member add: {"header", "member", "members"}. */
export function memberAddJson(member: Member, members: readonly Member[], header: ResponseHeader, hex: boolean): JsonObject {
  return { header: memberHeaderJson(header, hex), member: memberJson(member, hex), members: members.map((m) => memberJson(m, hex)) };
}

/** move-leader: {"header"} (the new leader's term in raft_term). */
export function moveLeaderJson(header: ResponseHeader, hex: boolean): JsonObject {
  return { header: memberHeaderJson(header, hex) };
}

/** One `endpoint status` entry: {"Endpoint": url, "Status": {...}} with etcd's StatusResponse field names, plus ours. */
export function endpointStatusJson(endpoint: string, status: MemberStatus): JsonObject {
  return {
    Endpoint: endpoint,
    Status: {
      header: headerJson(status.header),
      version: status.version,
      dbSize: status.dbSizeBytes,
      leader: status.leader,
      raftIndex: status.raftCommittedIndex,
      raftTerm: status.header.raftTerm,
      raftAppliedIndex: status.raftAppliedIndex,
      raftLogSize: status.raftLogSizeBytes,
      isLearner: status.isLearner,
      compactRevision: status.compactRevision,
      errors: status.errors,
    },
  };
}
