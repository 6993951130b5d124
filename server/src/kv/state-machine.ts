/**
 * KvStateMachine: the replicated MVCC store over one storage engine.
 *
 * Write path: apply(index, command) is the only way the store changes. Calls queue in index
 * order; the queue drains in groups: every command queued when a group starts (up to
 * maxGroupCommands) is executed in order (ApplyGroup), and the group's changes plus the new
 * store state (applied index, revision, compact revision) go to the engine as ONE WriteBatch
 * with sync: true. After a crash the applied index and the data therefore agree, and a restart
 * replays only the log entries after appliedIndex(). While a group's fsync runs the next group
 * queues up, so concurrent applies share fsyncs. Results resolve, and watchers hear of the
 * events, only once the group is durable.
 *
 * Invariants:
 *   - `state` is the durable state: what the last written batch recorded.
 *   - The watch hub has published every event at or below state.revision, and nothing above.
 *   - A storage failure stops the state machine for good (pending and later applies reject with
 *     StateMachineClosedError carrying the cause); reads of the durable data continue. The
 *     in-memory lease table may then be ahead of the disk: reopen to recover.
 *
 * Reads (range, watch replay) take an engine snapshot and read the state record through it, so
 * the revision they report always matches the data they saw.
 */
import type { Engine } from "../storage/index.js";
import { ApplyGroup, type MemberTable } from "./apply-group.js";
import { Compactor } from "./compactor.js";
import { CorruptRecordError, InvalidArgumentError, StateMachineClosedError } from "./errors.js";
import { LeaseTable, remainingSeconds } from "./lease-table.js";
import { keyIdOf } from "./pending-writes.js";
import { checkRangeRequest, readRevision, runRange } from "./range-query.js";
import {
  ATTACHMENT_SPACE,
  COMPACTED_KEY,
  LEASE_SPACE,
  MEMBER_SPACE,
  STATE_KEY,
  type StoreState,
  decodeCompactedRecord,
  decodeLeaseRecord,
  decodeMemberRecord,
  decodeStateRecord,
  leaseIdOfKey,
  memberIdOfKey,
  userKeyOfAttachment,
} from "./store-layout.js";
import { EngineView } from "./store-view.js";
import type { ApplyResult, LeaseInfo, LeaseTimeToLive, MemberRecord, RangeRequest, ReadResult, WatchRequest } from "./types.js";
import { WatchHub, type WatchSubscription } from "./watch-hub.js";

export interface KvStateMachineOptions {
  /** Wall or monotonic milliseconds for lease deadlines (default Date.now); never read by apply's decisions. */
  clock?: () => number;
  /** Events a live watcher may hold undelivered from earlier groups before it is canceled (default 4096). */
  watchBufferEvents?: number;
  /** Events a watch replay step aims to read before yielding them (default 512). */
  watchReplayEvents?: number;
  /** Most commands applied in one engine write (default 1024). */
  maxGroupCommands?: number;
  /** Hears once of the storage failure that stopped the state machine. */
  onFailure?: (err: Error) => void;
  /**
   * fsync each applied group (default true). A Raft member passes false: its log is the
   * write-ahead log, synced before entries are applied, and the applied index lands atomically
   * with each group, so a restart replays the log from appliedIndex() + 1.
   */
  syncApplies?: boolean;
}

export interface KvStats {
  appliedIndex: number;
  revision: number;
  compactRevision: number;
  /** Revision below which old versions are physically removed. */
  physicallyCompactedRevision: number;
  /** Engine writes made by apply, and the commands they carried. */
  applyGroups: number;
  appliedCommands: number;
  largestGroup: number;
  watchers: number;
  leases: number;
}

interface QueuedApply {
  index: number;
  command: Uint8Array;
  resolve: (result: ApplyResult) => void;
  reject: (err: Error) => void;
}

interface AppliedWaiter {
  index: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Leases listed by expiredLeases() per call at most, unless asked otherwise. */
const EXPIRED_LEASES_LIMIT = 1000;

export class KvStateMachine {
  private state: StoreState;
  private readonly queue: QueuedApply[] = [];
  private lastQueuedIndex: number;
  private draining: Promise<void> | undefined;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private appliedWaiters: AppliedWaiter[] = [];
  private readonly counters = { groups: 0, commands: 0, largestGroup: 0 };
  private readonly clock: () => number;
  private readonly maxGroupCommands: number;
  private readonly compactor: Compactor;
  private readonly hub: WatchHub;

  private constructor(
    private readonly engine: Engine,
    private readonly options: KvStateMachineOptions,
    state: StoreState,
    private readonly leaseTable: LeaseTable,
    compactedRevision: number,
    private readonly memberTable: MemberTable,
  ) {
    this.state = state;
    this.lastQueuedIndex = state.appliedIndex;
    this.clock = options.clock ?? Date.now;
    this.maxGroupCommands = positive(options.maxGroupCommands ?? 1024, "maxGroupCommands");
    this.hub = new WatchHub(engine, state.revision, state.compactRevision, {
      bufferEvents: positive(options.watchBufferEvents ?? 4096, "watchBufferEvents"),
      replayEvents: positive(options.watchReplayEvents ?? 512, "watchReplayEvents"),
    });
    this.compactor = new Compactor(engine, compactedRevision, state.compactRevision, (err) => this.fail(err));
  }

  /**
   * Loads the store from an open engine (which the caller keeps and closes after close()):
   * the state record, the leases with their keys (each lease gets its full TTL from now), and
   * resumes a physical compaction that a restart interrupted.
   */
  static async open(engine: Engine, options: KvStateMachineOptions = {}): Promise<KvStateMachine> {
    const state = decodeStateRecord(engine.getSync(STATE_KEY));
    const leases = new LeaseTable(options.clock ?? Date.now);
    for await (const [engineKey, record] of engine.iterate({ gte: LEASE_SPACE.start, lt: LEASE_SPACE.end })) {
      const { ttlSeconds, grantedAtRevision } = decodeLeaseRecord(record, engineKey);
      leases.grant(leaseIdOfKey(engineKey), ttlSeconds, grantedAtRevision);
    }
    for await (const [engineKey] of engine.iterate({ gte: ATTACHMENT_SPACE.start, lt: ATTACHMENT_SPACE.end })) {
      const id = leaseIdOfKey(engineKey);
      if (!leases.has(id)) throw new CorruptRecordError(`key attached to lease ${id}, which does not exist`, engineKey);
      const key = userKeyOfAttachment(engineKey);
      leases.attach(id, keyIdOf(key), key);
    }
    const compacted = decodeCompactedRecord(engine.getSync(COMPACTED_KEY));
    const members: MemberTable = new Map();
    for (const m of await KvStateMachine.readMembers(engine)) members.set(m.id, m);
    return new KvStateMachine(engine, options, state, leases, compacted, members);
  }

  /** The member records in an engine holding a store (e.g. a checkpoint), by ascending ID. */
  static async readMembers(engine: Engine): Promise<MemberRecord[]> {
    const out: MemberRecord[] = [];
    for await (const [engineKey, record] of engine.iterate({ gte: MEMBER_SPACE.start, lt: MEMBER_SPACE.end })) {
      out.push({ id: memberIdOfKey(engineKey), ...decodeMemberRecord(record, engineKey) });
    }
    return out;
  }

  /** The applied index and revisions recorded in an engine holding a store (e.g. a checkpoint), without opening the store. */
  static readState(engine: Engine): { appliedIndex: number; revision: number; compactRevision: number } {
    const { appliedIndex, revision, compactRevision } = decodeStateRecord(engine.getSync(STATE_KEY));
    return { appliedIndex, revision, compactRevision };
  }

  // ---------------------------------------------------------------- writes

  /**
   * Applies the log entry `index` holding an encoded command. Calls must come in increasing
   * index order (gaps are allowed: entries that are not KV commands); an index at or below one
   * already applied or queued is skipped. Resolves once the entry is durable, with the command's
   * result or its rejection; rejects only when the state machine cannot apply at all (closed,
   * or stopped by a storage failure).
   */
  apply(index: number, command: Uint8Array): Promise<ApplyResult> {
    if (this.closing !== undefined) return Promise.reject(new StateMachineClosedError("the state machine is closed"));
    if (this.failure !== undefined) return Promise.reject(this.stoppedError());
    if (!Number.isSafeInteger(index) || index <= 0) {
      return Promise.reject(new InvalidArgumentError(`must be a positive integer, got ${index}`, "index"));
    }
    if (!(command instanceof Uint8Array)) return Promise.reject(new InvalidArgumentError("must be bytes", "command"));
    if (index <= this.lastQueuedIndex) {
      return Promise.resolve({ status: "skipped", index, revision: this.state.revision });
    }
    this.lastQueuedIndex = index;
    return new Promise((resolve, reject) => {
      this.queue.push({ index, command, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /** The index of the last log entry whose effects are durable. */
  appliedIndex(): number {
    return this.state.appliedIndex;
  }

  /** The store's current (durable) revision. */
  revision(): number {
    return this.state.revision;
  }

  /** The oldest readable revision (0 if never compacted). */
  compactRevision(): number {
    return this.state.compactRevision;
  }

  /** The cluster's members as applied here, by ascending ID. */
  members(): MemberRecord[] {
    return [...this.memberTable.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Gives every lease a full TTL from now (a new Raft leader does this rather than expire all at once). */
  renewAllLeases(nowMs: number = this.clock()): void {
    for (const lease of this.leaseTable.all()) this.leaseTable.keepAlive(lease.id, nowMs);
  }

  /** Resolves once appliedIndex() >= index (for ReadIndex-style linearizable reads). */
  waitForApplied(index: number): Promise<void> {
    if (this.state.appliedIndex >= index) return Promise.resolve();
    if (this.closing !== undefined || this.failure !== undefined) return Promise.reject(this.stoppedError());
    return new Promise((resolve, reject) => this.appliedWaiters.push({ index, resolve, reject }));
  }

  /** Resolves once the versions compaction to `revision` discards are physically removed. */
  waitForCompaction(revision: number): Promise<void> {
    return this.compactor.waitFor(revision);
  }

  private async drain(): Promise<void> {
    // Started by the first apply of a burst: let the rest of the burst (calls made in the same
    // turn, e.g. a Raft driver handing over committed entries) join the first group.
    await Promise.resolve();
    try {
      while (this.queue.length > 0 && this.failure === undefined) {
        await this.applyGroup(this.queue.splice(0, this.maxGroupCommands));
      }
    } finally {
      this.draining = undefined;
    }
  }

  private async applyGroup(group: QueuedApply[]): Promise<void> {
    const exec = new ApplyGroup(new EngineView(this.engine, this.state.revision), this.leaseTable, this.state, this.memberTable);
    const results: ApplyResult[] = [];
    try {
      for (const item of group) results.push(await exec.execute(item.index, item.command));
      await this.engine.write(exec.toBatch(), { sync: this.options.syncApplies ?? true });
    } catch (err) {
      this.fail(err as Error);
      for (const item of group) item.reject(this.stoppedError());
      return;
    }
    this.state = { ...exec.storeState };
    this.counters.groups++;
    this.counters.commands += group.length;
    this.counters.largestGroup = Math.max(this.counters.largestGroup, group.length);
    this.hub.publish(exec.pending.log, this.state.revision, this.state.compactRevision);
    if (exec.compactTo > 0) this.compactor.request(exec.compactTo);
    group.forEach((item, i) => item.resolve(results[i]!));
    this.settleAppliedWaiters();
  }

  private fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    for (const item of this.queue.splice(0)) item.reject(this.stoppedError());
    this.settleAppliedWaiters();
    this.hub.close(`the state machine stopped: ${err.message}`);
    this.options.onFailure?.(err);
  }

  private stoppedError(): StateMachineClosedError {
    if (this.failure !== undefined) {
      return new StateMachineClosedError(`the state machine stopped after a storage failure: ${this.failure.message}`, {
        cause: this.failure,
      });
    }
    return new StateMachineClosedError("the state machine is closed");
  }

  private settleAppliedWaiters(): void {
    const still: AppliedWaiter[] = [];
    const stopped = this.failure !== undefined || this.closing !== undefined;
    for (const w of this.appliedWaiters) {
      if (this.state.appliedIndex >= w.index) w.resolve();
      else if (stopped) w.reject(this.stoppedError());
      else still.push(w);
    }
    this.appliedWaiters = still;
  }

  // ---------------------------------------------------------------- reads

  /** A range read at the current or a past revision, from one consistent engine snapshot. */
  async range(req: RangeRequest): Promise<ReadResult> {
    this.checkOpen();
    const interval = checkRangeRequest(req, "");
    const snapshot = this.engine.snapshot();
    try {
      const state = decodeStateRecord(this.engine.getSync(STATE_KEY, { snapshot }));
      const revision = readRevision(req.revision, state.revision, state.compactRevision);
      const result = await runRange(new EngineView(this.engine, state.revision, snapshot), req, interval, revision);
      return { ...result, revision: state.revision };
    } finally {
      snapshot.release();
    }
  }

  /** Watches a key range from a start revision: history first, then live events (watch-hub.ts). */
  watch(req: WatchRequest): WatchSubscription {
    this.checkOpen();
    return this.hub.watch(req);
  }

  // ---------------------------------------------------------------- leases (local, not replicated)

  /** Leases whose deadline has passed, earliest first: the caller proposes a leaseExpire command for them. */
  expiredLeases(nowMs: number = this.clock(), limit = EXPIRED_LEASES_LIMIT): bigint[] {
    return this.leaseTable.expired(nowMs, limit);
  }

  /** Restarts the lease's TTL; returns the TTL in seconds, 0 if the lease does not exist. */
  keepAlive(id: bigint, nowMs: number = this.clock()): number {
    return this.leaseTable.keepAlive(id, nowMs);
  }

  /** The lease's remaining and granted TTL and, when asked, its keys; undefined if it does not exist. */
  timeToLive(id: bigint, options: { keys?: boolean } = {}, nowMs: number = this.clock()): LeaseTimeToLive | undefined {
    const lease = this.leaseTable.get(id);
    if (lease === undefined) return undefined;
    const info: LeaseTimeToLive = { id, ttlSeconds: remainingSeconds(lease, nowMs), grantedTtlSeconds: lease.ttlSeconds };
    if (options.keys === true) info.keys = this.leaseTable.sortedKeys(id);
    return info;
  }

  /** Every lease, by ascending ID. */
  leases(nowMs: number = this.clock()): LeaseInfo[] {
    return this.leaseTable.all().map((l) => ({ id: l.id, ttlSeconds: remainingSeconds(l, nowMs), grantedTtlSeconds: l.ttlSeconds }));
  }

  stats(): KvStats {
    return {
      appliedIndex: this.state.appliedIndex,
      revision: this.state.revision,
      compactRevision: this.state.compactRevision,
      physicallyCompactedRevision: this.compactor.compactedRevision,
      applyGroups: this.counters.groups,
      appliedCommands: this.counters.commands,
      largestGroup: this.counters.largestGroup,
      watchers: this.hub.size,
      leases: this.leaseTable.size,
    };
  }

  /**
   * Finishes the applies already queued, stops background compaction after its current batch
   * (it resumes at the next open), and ends every watcher. The engine stays open.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
    await this.compactor.stop();
    this.hub.close("the state machine closed");
    this.settleAppliedWaiters();
  }

  private checkOpen(): void {
    if (this.closing !== undefined) throw new StateMachineClosedError("the state machine is closed");
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`must be a positive integer, got ${value}`, name);
  return value;
}
