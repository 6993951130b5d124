/**
 * The model of revisions the KV property tests check the store against (mvcc-model.test.ts for
 * writes, reads and compaction; watch-model.test.ts for watches), and the generators of random
 * commands they share. The model keeps a list of every version ever written, in the order the
 * store numbers them ((revision, sub-revision) order), and derives every answer from it.
 */
import fc from "fast-check";
import {
  type Command,
  type Compare,
  CompareOperator,
  type RangeRequest,
  type RequestOp,
  SortOrder,
  SortTarget,
  type TxnRequest,
} from "../../src/kv/index.js";
import type { EngineOptions } from "../../src/storage/index.js";
import { b } from "./kv-harness.js";

// ------------------------------------------------------------------ the model

export interface Version {
  key: string;
  rev: number;
  deleted: boolean;
  value: string;
  lease: bigint;
  create: number;
  version: number;
}

/** A model-level rejection, named like the store's error class. */
export class Reject extends Error {}

export interface Interval {
  start: string;
  end: string | undefined;
}

export function interval(key: string, rangeEnd: string | undefined): Interval {
  if (rangeEnd === undefined || rangeEnd === "") return { start: key, end: key + "\0" };
  if (rangeEnd === "\0") return { start: key, end: undefined };
  if (rangeEnd <= key) throw new Reject("InvalidArgumentError");
  return { start: key, end: rangeEnd };
}

export const inside = (i: Interval, k: string): boolean => k >= i.start && (i.end === undefined || k < i.end);
export const str = (u: Uint8Array | undefined): string => (u === undefined ? "" : Buffer.from(u).toString("latin1"));

export class Model {
  history: Version[] = [];
  revision = 1;
  compactRevision = 0;
  leases = new Set<bigint>();

  stateAt(rev: number, pending: Version[] = []): Map<string, Version> {
    const state = new Map<string, Version>();
    for (const v of [...this.history, ...pending]) {
      if (v.rev > rev) continue;
      if (v.deleted) state.delete(v.key);
      else state.set(v.key, v);
    }
    return state;
  }

  apply(command: Command, index: number): unknown {
    const pending: Version[] = [];
    const rev = this.revision + 1;
    const grants: bigint[] = [];
    const revokes: bigint[] = [];
    try {
      this.check(command);
      let result: unknown;
      switch (command.type) {
        case "put":
          result = { type: "put", result: this.put(command.request, pending, rev) };
          break;
        case "deleteRange":
          result = { type: "deleteRange", result: this.deleteRange(command.request, pending, rev) };
          break;
        case "txn":
          result = { type: "txn", result: this.txn(command.request, pending, rev) };
          break;
        case "compact":
          if (command.revision <= this.compactRevision) throw new Reject("CompactedError");
          if (command.revision > this.revision) throw new Reject("FutureRevisionError");
          this.compactRevision = command.revision;
          result = { type: "compact" };
          break;
        case "leaseGrant":
          if (this.leases.has(command.id)) throw new Reject("LeaseExistsError");
          grants.push(command.id);
          result = { type: "leaseGrant", id: command.id, ttlSeconds: command.ttlSeconds };
          break;
        case "leaseRevoke":
          if (!this.leases.has(command.id)) throw new Reject("LeaseNotFoundError");
          this.expire(command.id, pending, rev);
          revokes.push(command.id);
          result = { type: "leaseRevoke" };
          break;
        case "leaseExpire": {
          const expired: bigint[] = [];
          for (const id of new Set(command.ids)) {
            if (!this.leases.has(id)) continue;
            this.expire(id, pending, rev);
            revokes.push(id);
            expired.push(id);
          }
          result = { type: "leaseExpire", expired };
          break;
        }
      }
      if (pending.length > 0) {
        this.history.push(...pending);
        this.revision = rev;
      }
      for (const id of grants) this.leases.add(id);
      for (const id of revokes) this.leases.delete(id);
      return { status: "applied", index, revision: this.revision, result };
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      return { status: "rejected", index, revision: this.revision, error: err.message };
    }
  }

  /** Structural checks the generator can violate. */
  private check(command: Command): void {
    if (command.type === "compact" && command.revision <= 0) throw new Reject("InvalidArgumentError");
    if (command.type === "txn") {
      this.checkBranch(command.request.success);
      this.checkBranch(command.request.failure);
    }
  }

  /** No two ops of a branch write one key (nested txns count both their branches). */
  private checkBranch(ops: RequestOp[]): { puts: string[]; dels: Interval[] } {
    const sets = ops.map((op) => {
      switch (op.case) {
        case "put":
          return { puts: [str(op.value.key)], dels: [] as Interval[] };
        case "deleteRange":
          return { puts: [], dels: [interval(str(op.value.key), str(op.value.rangeEnd))] };
        case "txn": {
          const s = this.checkBranch(op.value.success);
          const f = this.checkBranch(op.value.failure);
          return { puts: [...s.puts, ...f.puts], dels: [...s.dels, ...f.dels] };
        }
        default:
          return { puts: [], dels: [] };
      }
    });
    for (let i = 0; i < sets.length; i++) {
      for (let j = i + 1; j < sets.length; j++) {
        const [x, y] = [sets[i]!, sets[j]!];
        const clash =
          x.puts.some((k) => y.puts.includes(k) || y.dels.some((d) => inside(d, k))) || y.puts.some((k) => x.dels.some((d) => inside(d, k)));
        if (clash) throw new Reject("DuplicateKeyError");
      }
    }
    return { puts: sets.flatMap((s) => s.puts), dels: sets.flatMap((s) => s.dels) };
  }

  private current(pending: Version[]): Map<string, Version> {
    return this.stateAt(Infinity, pending);
  }

  private put(req: Command & { type: "put" } extends { request: infer R } ? R : never, pending: Version[], rev: number): unknown {
    const key = str(req.key);
    const cur = this.current(pending).get(key);
    if (cur === undefined && (req.ignoreValue === true || req.ignoreLease === true)) throw new Reject("KeyNotFoundError");
    const lease = req.ignoreLease === true ? cur!.lease : (req.lease ?? 0n);
    if (lease !== 0n && !this.leases.has(lease)) throw new Reject("LeaseNotFoundError");
    const value = req.ignoreValue === true ? cur!.value : str(req.value);
    const out = req.prevKv === true && cur !== undefined ? { prevKv: kv(cur) } : {};
    pending.push({ key, rev, deleted: false, value, lease, create: cur?.create ?? rev, version: (cur?.version ?? 0) + 1 });
    return out;
  }

  private deleteRange(req: { key: Uint8Array; rangeEnd?: Uint8Array; prevKv?: boolean }, pending: Version[], rev: number): unknown {
    const i = interval(str(req.key), str(req.rangeEnd));
    const victims = [...this.current(pending).values()].filter((v) => inside(i, v.key)).sort(byKey);
    for (const v of victims) pending.push(tombstone(v.key, rev));
    return { deleted: victims.length, prevKvs: req.prevKv === true ? victims.map(kv) : [] };
  }

  private expire(id: bigint, pending: Version[], rev: number): void {
    const keys = [...this.current(pending).values()].filter((v) => v.lease === id).sort(byKey);
    for (const v of keys) pending.push(tombstone(v.key, rev));
  }

  private txn(req: TxnRequest, pending: Version[], rev: number): unknown {
    const succeeded = req.compare.every((c) => this.compare(c, pending));
    const responses = (succeeded ? req.success : req.failure).map((op) => {
      switch (op.case) {
        case "range": {
          const current = pending.length > 0 ? rev : this.revision;
          return { case: "range", value: this.range(op.value, pending, current) };
        }
        case "put":
          return { case: "put", value: this.put(op.value, pending, rev) };
        case "deleteRange":
          return { case: "deleteRange", value: this.deleteRange(op.value, pending, rev) };
        case "txn":
          return { case: "txn", value: this.txn(op.value, pending, rev) };
      }
    });
    return { succeeded, responses };
  }

  private compare(c: Compare, pending: Version[]): boolean {
    const i = interval(str(c.key), str(c.rangeEnd));
    const entries = [...this.current(pending).values()].filter((v) => inside(i, v.key));
    if (entries.length === 0) return c.target.case !== "value" && compareOne(c, undefined);
    return entries.every((v) => compareOne(c, v));
  }

  range(req: RangeRequest, pending: Version[] = [], current = this.revision): unknown {
    const i = interval(str(req.key), str(req.rangeEnd));
    const rev = req.revision === undefined || req.revision === 0 ? current : req.revision;
    if (rev > current) throw new Reject("FutureRevisionError");
    if (rev < this.compactRevision) throw new Reject("CompactedError");
    const all = [...this.stateAt(rev, pending).values()].filter((v) => inside(i, v.key)).sort(byKey);
    const count = all.length;
    const matched = all.filter(
      (v) =>
        !(req.minModRevision && v.rev < req.minModRevision) &&
        !(req.maxModRevision && v.rev > req.maxModRevision) &&
        !(req.minCreateRevision && v.create < req.minCreateRevision) &&
        !(req.maxCreateRevision && v.create > req.maxCreateRevision),
    );
    if (req.countOnly === true) return { kvs: [], more: false, count };
    const sign = req.sortOrder === SortOrder.Descend ? -1 : 1;
    const target = req.sortTarget ?? SortTarget.Unspecified;
    const field = (v: Version): number | string =>
      target === SortTarget.Version ? v.version : target === SortTarget.CreateRevision ? v.create : target === SortTarget.ModRevision ? v.rev : target === SortTarget.Value ? v.value : v.key;
    const sorted = matched
      .map((v, n) => ({ v, n }))
      .sort((x, y) => {
        const fx = field(x.v);
        const fy = field(y.v);
        const order = fx < fy ? -1 : fx > fy ? 1 : 0;
        return order !== 0 ? sign * order : x.n - y.n;
      })
      .map((x) => x.v);
    const limit = req.limit ?? 0;
    const kept = limit > 0 ? sorted.slice(0, limit) : sorted;
    return {
      kvs: kept.map((v) => (req.keysOnly === true ? { ...kv(v), value: "" } : kv(v))),
      more: limit > 0 && matched.length > limit,
      count,
    };
  }
}

function tombstone(key: string, rev: number): Version {
  return { key, rev, deleted: true, value: "", lease: 0n, create: 0, version: 0 };
}

export function kv(v: Version): Record<string, unknown> {
  return { key: v.key, createRevision: v.create, modRevision: v.rev, version: v.version, value: v.value, lease: v.lease };
}

function byKey(x: Version, y: Version): number {
  return x.key < y.key ? -1 : x.key > y.key ? 1 : 0;
}

function compareOne(c: Compare, v: Version | undefined): boolean {
  let order: number;
  switch (c.target.case) {
    case "value": {
      const a = Buffer.from(v!.value, "latin1");
      order = Buffer.compare(a, Buffer.from(c.target.value));
      break;
    }
    case "version":
      order = Math.sign((v?.version ?? 0) - c.target.value);
      break;
    case "createRevision":
      order = Math.sign((v?.create ?? 0) - c.target.value);
      break;
    case "modRevision":
      order = Math.sign((v?.rev ?? 0) - c.target.value);
      break;
    case "lease": {
      const l = v?.lease ?? 0n;
      order = l < c.target.value ? -1 : l > c.target.value ? 1 : 0;
      break;
    }
    default:
      return false;
  }
  switch (c.operator) {
    case CompareOperator.Equal:
      return order === 0;
    case CompareOperator.NotEqual:
      return order !== 0;
    case CompareOperator.Less:
      return order < 0;
    default:
      return order > 0;
  }
}

// ------------------------------------------------------------------ generators

/** A small key space with the bytes that stress the key encoding (0x00, 0xff, prefixes). */
export const KEYS = ["a", "ab", "a\0", "a\0b", "b", "b\xff", "c", "\0", "\xff"];
export const keyArb = fc.constantFrom(...KEYS);
export const valueArb = fc.constantFrom("", "x", "y", "xy", "z");
const revArb = fc.nat(30);

export const rangeSpec = fc.oneof(
  keyArb.map((k) => ({ key: k, rangeEnd: "" })),
  keyArb.map((k) => ({ key: k, rangeEnd: "\0" })),
  fc.tuple(keyArb, keyArb).map(([x, y]) => (x === y ? { key: x, rangeEnd: "" } : x < y ? { key: x, rangeEnd: y } : { key: y, rangeEnd: x })),
);

export const rangeReq: fc.Arbitrary<RangeRequest> = fc
  .record({
    spec: rangeSpec,
    limit: fc.constantFrom(0, 0, 1, 2, 3),
    revision: fc.oneof(fc.constant(0), revArb),
    keysOnly: fc.boolean(),
    countOnly: fc.constantFrom(false, false, false, true),
    sortOrder: fc.constantFrom(SortOrder.Unspecified, SortOrder.Ascend, SortOrder.Descend),
    sortTarget: fc.constantFrom(SortTarget.Unspecified, SortTarget.Key, SortTarget.Version, SortTarget.CreateRevision, SortTarget.ModRevision, SortTarget.Value),
    filter: fc.option(
      fc.record({ minModRevision: revArb, maxModRevision: revArb, minCreateRevision: revArb, maxCreateRevision: revArb }, { requiredKeys: [] }),
      { freq: 3 },
    ),
  })
  .map(({ spec, filter, ...rest }) => ({ key: b(spec.key), rangeEnd: b(spec.rangeEnd), ...rest, ...(filter ?? {}) }));

const leaseArb = fc.constantFrom(0n, 0n, 0n, 1n, 2n);

const putReq = fc
  .record({ key: keyArb, value: valueArb, lease: leaseArb, prevKv: fc.boolean(), ignore: fc.constantFrom("none", "none", "none", "none", "value", "lease") })
  .map(({ key, value, lease, prevKv, ignore }) => ({
    key: b(key),
    value: ignore === "value" ? b("") : b(value),
    lease: ignore === "lease" ? 0n : lease,
    prevKv,
    ignoreValue: ignore === "value",
    ignoreLease: ignore === "lease",
  }));

export const deleteReq = fc.record({ spec: rangeSpec, prevKv: fc.boolean() }).map(({ spec, prevKv }) => ({ key: b(spec.key), rangeEnd: b(spec.rangeEnd), prevKv }));

const compareArb: fc.Arbitrary<Compare> = fc
  .record({
    spec: rangeSpec,
    operator: fc.constantFrom(CompareOperator.Equal, CompareOperator.NotEqual, CompareOperator.Less, CompareOperator.Greater),
    target: fc.oneof(
      valueArb.map((v) => ({ case: "value" as const, value: b(v) })),
      fc.nat(3).map((v) => ({ case: "version" as const, value: v })),
      revArb.map((v) => ({ case: "createRevision" as const, value: v })),
      revArb.map((v) => ({ case: "modRevision" as const, value: v })),
      leaseArb.map((v) => ({ case: "lease" as const, value: v })),
    ),
  })
  .map(({ spec, operator, target }) => ({ key: b(spec.key), rangeEnd: b(spec.rangeEnd), operator, target }));

const leafOp: fc.Arbitrary<RequestOp> = fc.oneof(
  rangeReq.map((value) => ({ case: "range" as const, value })),
  putReq.map((value) => ({ case: "put" as const, value })),
  putReq.map((value) => ({ case: "put" as const, value })),
  deleteReq.map((value) => ({ case: "deleteRange" as const, value })),
);
const innerTxn: fc.Arbitrary<TxnRequest> = fc.record({
  compare: fc.array(compareArb, { maxLength: 2 }),
  success: fc.array(leafOp, { maxLength: 2 }),
  failure: fc.array(leafOp, { maxLength: 2 }),
});
const txnReq: fc.Arbitrary<TxnRequest> = fc.record({
  compare: fc.array(compareArb, { maxLength: 2 }),
  success: fc.array(fc.oneof({ weight: 5, arbitrary: leafOp }, { weight: 1, arbitrary: innerTxn.map((value) => ({ case: "txn" as const, value })) }), { maxLength: 3 }),
  failure: fc.array(leafOp, { maxLength: 3 }),
});

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: putReq.map((request) => ({ type: "put" as const, request })) },
  { weight: 2, arbitrary: deleteReq.map((request) => ({ type: "deleteRange" as const, request })) },
  { weight: 3, arbitrary: txnReq.map((request) => ({ type: "txn" as const, request })) },
  { weight: 1, arbitrary: revArb.map((revision) => ({ type: "compact" as const, revision })) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("leaseGrant" as const), id: fc.constantFrom(1n, 2n), ttlSeconds: fc.integer({ min: 1, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("leaseRevoke" as const), id: fc.constantFrom(1n, 2n, 3n) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("leaseExpire" as const), ids: fc.array(fc.constantFrom(1n, 2n, 3n), { maxLength: 3 }) }) },
);


/** Tiny engine sizes: memtables flush every few dozen commands and tables compact often. */
export const TINY_ENGINE: EngineOptions = {
  memtableBytes: 4096,
  targetFileBytes: 4096,
  blockSizeBytes: 256,
  l0CompactionTrigger: 2,
  levelBaseBytes: 16 * 1024,
  backgroundWorker: false,
};
