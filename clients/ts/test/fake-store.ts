/**
 * A small in-memory model of the server's MVCC store for the SDK's tests: keys with
 * create/mod revision and version, one revision per write request, an event history for watch
 * replay, compaction, and leases. Only what the SDK's tests need; no persistence, no expiry by
 * time (tests expire leases explicitly).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  CompareOperator,
  DeleteRangeRequestSchema,
  DeleteRangeResponseSchema,
  PutResponseSchema,
  RangeResponseSchema,
  TxnResponseSchema,
  type Compare,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseOpSchema,
  type TxnRequest,
  type TxnResponse,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { EventSchema, EventType, KeyValueSchema, ResponseHeaderSchema, type Event, type KeyValue, type ResponseHeader } from "../../../gen/sisyphus/kv/v1/types_pb.js";

export const CLUSTER_ID = 0x5151n;
export const MEMBER_ID = 0x1n;

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function hexKey(key: Uint8Array): string {
  return Buffer.from(key).toString("hex");
}

/** Whether `key` is in (key, rangeEnd) as kv.proto defines key ranges. */
export function inRange(first: Uint8Array, rangeEnd: Uint8Array, key: Uint8Array): boolean {
  if (rangeEnd.length === 0) return compareBytes(first, key) === 0;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return compareBytes(key, first) >= 0;
  return compareBytes(key, first) >= 0 && compareBytes(key, rangeEnd) < 0;
}

/** One committed revision's events. */
export interface Revision {
  revision: bigint;
  events: Event[];
}

interface Lease {
  id: bigint;
  grantedTtl: bigint;
  keys: Set<string>;
}

export class FakeStore {
  /** What every header says: the answering member, the leader it names (0n: none, as a single server says) and its term. */
  memberId = MEMBER_ID;
  leaderId = 0n;
  raftTerm = 2n;
  revision = 1n;
  compactRevision = 0n;
  readonly history: Revision[] = [];
  private readonly keys = new Map<string, KeyValue>();
  readonly leases = new Map<bigint, Lease>();
  private nextLeaseId = 100n;
  private readonly listeners = new Set<(revision: Revision) => void>();

  header(revision = this.revision): ResponseHeader {
    return create(ResponseHeaderSchema, { clusterId: CLUSTER_ID, memberId: this.memberId, revision, raftTerm: this.raftTerm, leaderId: this.leaderId });
  }

  /** Calls `listener` with every revision committed from now on. */
  onCommit(listener: (revision: Revision) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  range(req: RangeRequest): RangeResponse {
    const matching = [...this.keys.values()].filter((kv) => inRange(req.key, req.rangeEnd, kv.key)).sort((a, b) => compareBytes(a.key, b.key));
    const limited = req.limit > 0n ? matching.slice(0, Number(req.limit)) : matching;
    const kvs = req.countOnly ? [] : limited.map((kv) => (req.keysOnly ? create(KeyValueSchema, { ...kv, value: new Uint8Array(0) }) : kv));
    return create(RangeResponseSchema, { header: this.header(), kvs, more: limited.length < matching.length, count: BigInt(matching.length) });
  }

  put(req: PutRequest): PutResponse {
    return this.write((rev, events) => this.applyPut(req, rev, events));
  }

  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    return this.write((rev, events) => this.applyDelete(req, rev, events));
  }

  txn(req: TxnRequest): TxnResponse {
    return this.write((rev, events) => this.applyTxn(req, rev, events));
  }

  compact(revision: bigint): void {
    if (revision <= this.compactRevision || revision > this.revision) throw new ConnectError(`cannot compact at ${revision}`, Code.OutOfRange);
    this.compactRevision = revision;
    while (this.history.length > 0 && this.history[0].revision < revision) this.history.shift();
  }

  grant(ttl: bigint, id: bigint): { id: bigint; ttl: bigint } {
    const leaseId = id === 0n ? this.nextLeaseId++ : id;
    if (this.leases.has(leaseId)) throw new ConnectError(`lease ${leaseId} exists`, Code.AlreadyExists);
    this.leases.set(leaseId, { id: leaseId, grantedTtl: ttl, keys: new Set() });
    return { id: leaseId, ttl };
  }

  /** Deletes a lease and its keys (revocation or expiry). */
  revoke(id: bigint): void {
    const lease = this.leases.get(id);
    if (lease === undefined) throw new ConnectError(`lease ${id} not found`, Code.NotFound);
    this.leases.delete(id);
    const keys = [...lease.keys];
    if (keys.length === 0) return;
    this.write((rev, events) => {
      for (const hex of keys) this.applyDelete(create(DeleteRangeRequestSchema, { key: Buffer.from(hex, "hex") }), rev, events);
      return undefined;
    });
  }

  leaseKeys(id: bigint): Uint8Array[] {
    return [...(this.leases.get(id)?.keys ?? [])].sort().map((hex) => new Uint8Array(Buffer.from(hex, "hex")));
  }

  /** Runs a write at the next revision; commits the revision only if it changed something. */
  private write<T>(apply: (revision: bigint, events: Event[]) => T): T {
    const events: Event[] = [];
    const next = this.revision + 1n;
    const result = apply(next, events);
    if (events.length > 0) {
      this.revision = next;
      const committed = { revision: next, events };
      this.history.push(committed);
      for (const listener of this.listeners) listener(committed);
    }
    // Responses built before the commit carry the old revision; fix their headers up.
    if (typeof result === "object" && result !== null && "header" in result) {
      (result as { header: ResponseHeader }).header = this.header();
    }
    return result;
  }

  private applyPut(req: PutRequest, rev: bigint, events: Event[]): PutResponse {
    if (req.key.length === 0) throw new ConnectError("key is empty", Code.InvalidArgument);
    if (req.lease !== 0n && !this.leases.has(req.lease)) throw new ConnectError(`lease ${req.lease} not found`, Code.NotFound);
    const hex = hexKey(req.key);
    const prev = this.keys.get(hex);
    const kv = create(KeyValueSchema, {
      key: req.key,
      value: req.value,
      createRevision: prev?.createRevision ?? rev,
      modRevision: rev,
      version: (prev?.version ?? 0n) + 1n,
      lease: req.lease,
    });
    if (prev !== undefined && prev.lease !== 0n) this.leases.get(prev.lease)?.keys.delete(hex);
    if (req.lease !== 0n) this.leases.get(req.lease)?.keys.add(hex);
    this.keys.set(hex, kv);
    events.push(create(EventSchema, { type: EventType.PUT, kv, prevKv: prev }));
    return create(PutResponseSchema, { header: this.header(rev), prevKv: req.prevKv ? prev : undefined });
  }

  private applyDelete(req: DeleteRangeRequest, rev: bigint, events: Event[]): DeleteRangeResponse {
    const matching = [...this.keys.values()].filter((kv) => inRange(req.key, req.rangeEnd, kv.key)).sort((a, b) => compareBytes(a.key, b.key));
    for (const kv of matching) {
      const hex = hexKey(kv.key);
      this.keys.delete(hex);
      if (kv.lease !== 0n) this.leases.get(kv.lease)?.keys.delete(hex);
      events.push(create(EventSchema, { type: EventType.DELETE, kv: { key: kv.key, modRevision: rev }, prevKv: kv }));
    }
    return create(DeleteRangeResponseSchema, { header: this.header(matching.length > 0 ? rev : this.revision), deleted: BigInt(matching.length), prevKvs: req.prevKv ? matching : [] });
  }

  private applyTxn(req: TxnRequest, rev: bigint, events: Event[]): TxnResponse {
    const succeeded = req.compare.every((c) => this.holds(c));
    const responses: MessageInitShape<typeof ResponseOpSchema>[] = (succeeded ? req.success : req.failure).map((o) => this.applyOp(o, rev, events));
    return create(TxnResponseSchema, { header: this.header(), succeeded, responses });
  }

  private applyOp(o: RequestOp, rev: bigint, events: Event[]): MessageInitShape<typeof ResponseOpSchema> {
    switch (o.request.case) {
      case "range":
        return { response: { case: "range", value: this.range(o.request.value) } };
      case "put":
        return { response: { case: "put", value: this.applyPut(o.request.value, rev, events) } };
      case "deleteRange":
        return { response: { case: "deleteRange", value: this.applyDelete(o.request.value, rev, events) } };
      case "txn":
        return { response: { case: "txn", value: this.applyTxn(o.request.value, rev, events) } };
      default:
        throw new ConnectError("empty RequestOp", Code.InvalidArgument);
    }
  }

  private holds(c: Compare): boolean {
    const kvs =
      c.rangeEnd.length === 0
        ? [this.keys.get(hexKey(c.key))]
        : [...this.keys.values()].filter((kv) => inRange(c.key, c.rangeEnd, kv.key));
    if (kvs.length === 0) return c.target.case !== "value";
    return kvs.every((kv) => {
      let order: number;
      switch (c.target.case) {
        case "value":
          if (kv === undefined) return false;
          order = compareBytes(kv.value, c.target.value);
          break;
        case "version":
        case "createRevision":
        case "modRevision":
        case "lease": {
          const actual = kv === undefined ? 0n : kv[c.target.case];
          order = actual < c.target.value ? -1 : actual > c.target.value ? 1 : 0;
          break;
        }
        default:
          throw new ConnectError("compare without target", Code.InvalidArgument);
      }
      switch (c.operator) {
        case CompareOperator.EQUAL:
          return order === 0;
        case CompareOperator.NOT_EQUAL:
          return order !== 0;
        case CompareOperator.LESS:
          return order < 0;
        case CompareOperator.GREATER:
          return order > 0;
        default:
          throw new ConnectError("compare without operator", Code.InvalidArgument);
      }
    });
  }
}
