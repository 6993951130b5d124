/**
 * Executes the commands of one apply group against the store as of the group's start plus the
 * versions the group's earlier commands made (PendingWrites), and turns the outcome into one
 * engine WriteBatch carrying every change and the new store state (applied index, revision,
 * compact revision).
 *
 * Determinism: the outcome depends only on the stored state and the commands. No clock or
 * randomness is read (a lease ID left to the store comes from the log index); a command that
 * fails a check is rejected with its typed error, the same on every member, and its partial
 * writes are undone. Any other error (a storage failure, a damaged record) is not a property of
 * the command: it propagates and stops the state machine rather than be recorded as a rejection.
 */
import { MAX_VALUE_BYTES, WriteBatch } from "../storage/index.js";
import { decodeCommand } from "./command-codec.js";
import { checkCommand } from "./command-check.js";
import {
  CompactedError,
  CorruptRecordError,
  FutureRevisionError,
  KeyNotFoundError,
  KvError,
  LeaseExistsError,
  LeaseNotFoundError,
  RequestTooLargeError,
  StateMachineClosedError,
} from "./errors.js";
import { compareBytes, keyInterval } from "./key-range.js";
import type { LeaseTable } from "./lease-table.js";
import { PendingWrites, keyIdOf } from "./pending-writes.js";
import { checkRangeRequest, readRevision, runRange } from "./range-query.js";
import {
  EVENT_DELETE,
  EVENT_PUT,
  type KeyMeta,
  STATE_KEY,
  type StoreState,
  TOMBSTONE_RECORD,
  attachmentKey,
  currentKey,
  encodeCurrentRecord,
  encodeEventRecord,
  encodeLeaseRecord,
  encodeStateRecord,
  encodeVersionRecord,
  eventKey,
  leaseKey,
  encodeMemberRecord,
  memberKey,
  versionKey,
} from "./store-layout.js";
import { type EngineView, type LiveEntry, PendingView } from "./store-view.js";
import {
  type ApplyResult,
  type Command,
  type CommandResult,
  type Compare,
  CompareOperator,
  type DeleteRangeRequest,
  type DeleteRangeResult,
  type KeyValue,
  type MemberRecord,
  type PutRequest,
  type PutResult,
  type RangeRequest,
  type RangeResult,
  type ResponseOp,
  type TxnRequest,
  type TxnResult,
} from "./types.js";

const EMPTY = new Uint8Array(0);
/** Room for a version record's header beside the value, within the engine's value limit. */
const MAX_STORED_VALUE_BYTES = MAX_VALUE_BYTES - 64;

/** The writes of the command being executed: they all carry `revision`, numbered by `sub`. */
class CommandWrites {
  wrote = false;
  sub = 0;
  readonly grants: { id: bigint; ttlSeconds: number }[] = [];
  readonly revokes: bigint[] = [];

  constructor(readonly revision: number) {}

  /** The revision "now" for reads inside the command: its own, once it has written. */
  currentRevision(): number {
    return this.wrote ? this.revision : this.revision - 1;
  }
}

/** The cluster's member records, by ID: loaded at open, changed by member commands. */
export type MemberTable = Map<bigint, MemberRecord>;

interface LeaseWrite {
  id: bigint;
  /** undefined: the lease is gone. */
  record: Uint8Array | undefined;
}

export class ApplyGroup {
  readonly pending = new PendingWrites();
  private readonly view: PendingView;
  private readonly leaseWrites: LeaseWrite[] = [];
  /** Member records changed by this group (undefined: removed), written with its batch. */
  private readonly memberWrites = new Map<bigint, MemberRecord | undefined>();
  private state: StoreState;
  /** The highest revision a Compact command of this group asked for, 0 if none. */
  compactTo = 0;

  constructor(
    engineView: EngineView,
    private readonly leases: LeaseTable,
    state: StoreState,
    private readonly members: MemberTable,
  ) {
    this.view = new PendingView(engineView, this.pending);
    this.state = { ...state };
  }

  /** The state the group's batch records. */
  get storeState(): StoreState {
    return this.state;
  }

  /** Applies one log entry; a rejected command leaves no trace but the advanced applied index. */
  async execute(index: number, bytes: Uint8Array): Promise<ApplyResult> {
    const mark = this.pending.mark();
    const writes = new CommandWrites(this.state.revision + 1);
    try {
      const command = decodeCommand(bytes);
      checkCommand(command);
      const result = await this.run(index, command, writes);
      this.commit(mark, writes);
      this.state.appliedIndex = index;
      return { status: "applied", index, revision: this.state.revision, result };
    } catch (err) {
      this.pending.rollback(mark);
      if (!isRejection(err)) throw err;
      this.state.appliedIndex = index;
      return { status: "rejected", index, revision: this.state.revision, error: err };
    }
  }

  /** One batch with every change of the group and the new store state. */
  toBatch(): WriteBatch {
    const batch = new WriteBatch();
    for (const v of this.pending.log) {
      batch.put(
        versionKey(v.key, v.modRevision),
        v.deleted ? TOMBSTONE_RECORD : encodeVersionRecord(v.createRevision, v.version, v.lease, v.value),
      );
      batch.put(eventKey(v.modRevision, v.sub), encodeEventRecord(v.deleted ? EVENT_DELETE : EVENT_PUT, v.key));
      if (v.deleted) batch.delete(currentKey(v.key));
      else batch.put(currentKey(v.key), encodeCurrentRecord(v));
      const before = v.prev?.lease ?? 0n;
      const after = v.deleted ? 0n : v.lease;
      if (before !== after) {
        if (before !== 0n) batch.delete(attachmentKey(before, v.key));
        if (after !== 0n) batch.put(attachmentKey(after, v.key), EMPTY);
      }
    }
    for (const w of this.leaseWrites) {
      if (w.record === undefined) batch.delete(leaseKey(w.id));
      else batch.put(leaseKey(w.id), w.record);
    }
    for (const [id, record] of this.memberWrites) {
      if (record === undefined) batch.delete(memberKey(id));
      else batch.put(memberKey(id), encodeMemberRecord(record));
    }
    batch.put(STATE_KEY, encodeStateRecord(this.state));
    return batch;
  }

  /** Makes a successful command's effects part of the group: revision, lease table, lease records. */
  private commit(mark: number, writes: CommandWrites): void {
    if (writes.wrote) this.state.revision = writes.revision;
    for (let i = mark; i < this.pending.log.length; i++) {
      const v = this.pending.log[i]!;
      const before = v.prev?.lease ?? 0n;
      const after = v.deleted ? 0n : v.lease;
      if (before === after) continue;
      if (before !== 0n) this.leases.detach(before, v.keyId);
      if (after !== 0n) this.leases.attach(after, v.keyId, v.key);
    }
    for (const g of writes.grants) {
      this.leases.grant(g.id, g.ttlSeconds, this.state.revision);
      this.leaseWrites.push({ id: g.id, record: encodeLeaseRecord(g.ttlSeconds, this.state.revision) });
    }
    for (const id of writes.revokes) {
      this.leases.remove(id);
      this.leaseWrites.push({ id, record: undefined });
    }
  }

  private async run(index: number, command: Command, writes: CommandWrites): Promise<CommandResult> {
    switch (command.type) {
      case "put":
        return { type: "put", result: this.put(command.request, writes) };
      case "deleteRange":
        return { type: "deleteRange", result: await this.deleteRange(command.request, writes) };
      case "txn":
        return { type: "txn", result: await this.txn(command.request, writes) };
      case "compact": {
        const { revision } = command;
        if (revision <= this.state.compactRevision) throw new CompactedError(revision, this.state.compactRevision);
        if (revision > this.state.revision) throw new FutureRevisionError(revision, this.state.revision);
        this.state.compactRevision = revision;
        this.compactTo = revision;
        return { type: "compact" };
      }
      case "leaseGrant": {
        const id = command.id === 0n ? this.leases.pickId(index) : command.id;
        if (this.leases.has(id)) throw new LeaseExistsError(id);
        writes.grants.push({ id, ttlSeconds: command.ttlSeconds });
        return { type: "leaseGrant", id, ttlSeconds: command.ttlSeconds };
      }
      case "leaseRevoke":
        if (!this.leases.has(command.id)) throw new LeaseNotFoundError(command.id);
        this.deleteLeaseKeys(command.id, writes);
        return { type: "leaseRevoke" };
      case "leaseExpire": {
        const expired: bigint[] = [];
        for (const id of new Set(command.ids)) {
          if (!this.leases.has(id)) continue;
          this.deleteLeaseKeys(id, writes);
          expired.push(id);
        }
        return { type: "leaseExpire", expired };
      }
      case "memberAdd": {
        // Adds, or replaces (a learner promoted): the client URLs it published stay.
        const existing = this.members.get(command.id);
        this.setMember({
          id: command.id,
          name: command.name !== "" ? command.name : (existing?.name ?? ""),
          peerUrls: command.peerUrls,
          clientUrls: existing?.clientUrls ?? [],
          learner: command.learner,
        });
        return { type: "member" };
      }
      case "leaseKeepAlive":
        // Not a revision: only this member's lease clock moves (deadlines are local, never stored).
        return { type: "leaseKeepAlive", ttlSeconds: this.leases.keepAliveNow(command.id) };
      case "memberRemove":
        if (this.members.has(command.id)) {
          this.members.delete(command.id);
          this.memberWrites.set(command.id, undefined);
        }
        return { type: "member" };
      case "memberAttributes": {
        const existing = this.members.get(command.id);
        if (existing !== undefined) this.setMember({ ...existing, name: command.name, clientUrls: command.clientUrls });
        return { type: "member" };
      }
    }
  }

  private setMember(record: MemberRecord): void {
    this.members.set(record.id, record);
    this.memberWrites.set(record.id, record);
  }

  private deleteLeaseKeys(id: bigint, writes: CommandWrites): void {
    for (const key of this.leases.sortedKeys(id)) {
      const current = this.view.current(key);
      if (current === undefined) throw new CorruptRecordError(`lease ${id} names a key that does not exist`, key);
      this.addDelete(key, current, writes);
    }
    writes.revokes.push(id);
  }

  private put(req: PutRequest, writes: CommandWrites): PutResult {
    const { key } = req;
    const current = this.view.current(key);
    if (current === undefined && (req.ignoreValue === true || req.ignoreLease === true)) {
      throw new KeyNotFoundError(key, req.ignoreValue === true ? "ignore_value needs an existing key" : "ignore_lease needs an existing key");
    }
    if (req.value.length > MAX_STORED_VALUE_BYTES) throw new RequestTooLargeError(req.value.length, MAX_STORED_VALUE_BYTES);
    const lease = req.ignoreLease === true ? current!.lease : (req.lease ?? 0n);
    if (lease !== 0n && !this.leases.has(lease)) throw new LeaseNotFoundError(lease);
    const value = req.ignoreValue === true ? this.view.value(key, current!.modRevision) : req.value;
    const prevKv = req.prevKv === true && current !== undefined ? this.keyValue(key, current) : undefined;
    const revision = writes.revision;
    writes.wrote = true;
    this.pending.add({
      key,
      keyId: keyIdOf(key),
      sub: writes.sub++,
      modRevision: revision,
      createRevision: current === undefined ? revision : current.createRevision,
      version: current === undefined ? 1 : current.version + 1,
      lease,
      deleted: false,
      value,
      prev: current,
    });
    return prevKv === undefined ? {} : { prevKv };
  }

  private addDelete(key: Uint8Array, current: KeyMeta, writes: CommandWrites): void {
    writes.wrote = true;
    this.pending.add({
      key,
      keyId: keyIdOf(key),
      sub: writes.sub++,
      modRevision: writes.revision,
      createRevision: 0,
      version: 0,
      lease: 0n,
      deleted: true,
      value: EMPTY,
      prev: current,
    });
  }

  private async deleteRange(req: DeleteRangeRequest, writes: CommandWrites): Promise<DeleteRangeResult> {
    const interval = keyInterval(req.key, req.rangeEnd, "");
    const victims: LiveEntry[] = [];
    for await (const e of this.view.scan(interval, writes.revision)) victims.push(e);
    const prevKvs = req.prevKv === true ? victims.map((e) => this.keyValue(e.key, e)) : [];
    for (const e of victims) this.addDelete(e.key, e, writes);
    return { deleted: victims.length, prevKvs };
  }

  private async txn(req: TxnRequest, writes: CommandWrites): Promise<TxnResult> {
    let succeeded = true;
    for (const c of req.compare) {
      if (!(await this.compare(c, writes))) {
        succeeded = false;
        break;
      }
    }
    const responses: ResponseOp[] = [];
    for (const op of succeeded ? req.success : req.failure) {
      switch (op.case) {
        case "range":
          responses.push({ case: "range", value: await this.range(op.value, writes) });
          break;
        case "put":
          responses.push({ case: "put", value: this.put(op.value, writes) });
          break;
        case "deleteRange":
          responses.push({ case: "deleteRange", value: await this.deleteRange(op.value, writes) });
          break;
        case "txn":
          responses.push({ case: "txn", value: await this.txn(op.value, writes) });
          break;
      }
    }
    return { succeeded, responses };
  }

  private range(req: RangeRequest, writes: CommandWrites): Promise<RangeResult> {
    const interval = checkRangeRequest(req, "");
    const revision = readRevision(req.revision, writes.currentRevision(), this.state.compactRevision);
    return runRange(this.view, req, interval, revision);
  }

  /** etcd's rule: every key of the range must satisfy the compare; an empty range compares a missing key. */
  private async compare(c: Compare, writes: CommandWrites): Promise<boolean> {
    const interval = keyInterval(c.key, c.rangeEnd, "");
    if (interval.single) {
      const current = this.view.current(c.key);
      if (current === undefined) return c.target.case !== "value" && compareMeta(c, ABSENT);
      return this.compareEntry(c, c.key, current);
    }
    let any = false;
    for await (const e of this.view.scan(interval, writes.revision)) {
      any = true;
      if (!this.compareEntry(c, e.key, e)) return false;
    }
    return any || (c.target.case !== "value" && compareMeta(c, ABSENT));
  }

  private compareEntry(c: Compare, key: Uint8Array, meta: KeyMeta): boolean {
    if (c.target.case !== "value") return compareMeta(c, meta);
    return holds(c.operator, compareBytes(this.view.value(key, meta.modRevision), c.target.value));
  }

  private keyValue(key: Uint8Array, meta: KeyMeta): KeyValue {
    const { createRevision, modRevision, version, lease } = meta;
    return { key, createRevision, modRevision, version, value: this.view.value(key, modRevision), lease };
  }
}

const ABSENT: KeyMeta = { createRevision: 0, modRevision: 0, version: 0, lease: 0n };

function compareMeta(c: Compare, meta: KeyMeta): boolean {
  switch (c.target.case) {
    case "version":
      return holds(c.operator, Math.sign(meta.version - c.target.value));
    case "createRevision":
      return holds(c.operator, Math.sign(meta.createRevision - c.target.value));
    case "modRevision":
      return holds(c.operator, Math.sign(meta.modRevision - c.target.value));
    case "lease":
      return holds(c.operator, meta.lease < c.target.value ? -1 : meta.lease > c.target.value ? 1 : 0);
    default:
      return false;
  }
}

function holds(operator: CompareOperator, order: number): boolean {
  switch (operator) {
    case CompareOperator.Equal:
      return order === 0;
    case CompareOperator.NotEqual:
      return order !== 0;
    case CompareOperator.Less:
      return order < 0;
    case CompareOperator.Greater:
      return order > 0;
    default:
      return false;
  }
}

/** A deterministic verdict on the command (recorded as its result), as opposed to a failure of the member. */
function isRejection(err: unknown): err is KvError {
  return err instanceof KvError && !(err instanceof CorruptRecordError) && !(err instanceof StateMachineClosedError);
}
