/**
 * The driver of one member's consensus core: it gives the pure RaftCore a clock (tick every
 * tickMs), a disk (RaftLogStore), a network (RaftMessenger) and a state machine (RaftApplier),
 * and turns the core's answers into promises for the API layer.
 *
 * The Ready loop (one at a time, started with setImmediate so every proposal made in the same
 * I/O phase joins one Ready and thus one append per follower and one fsync):
 *   1. install a received snapshot, then persist hard state and entries (one synced save);
 *   2. send the messages (a leader whose term and vote are durable sends them before step 1,
 *      so its fsync and its followers' run at the same time: Ready.sendBeforePersist);
 *   3. hand committed entries to the state machine in order (not awaited: the state machine
 *      queues them and groups its engine writes; the log is its write-ahead log);
 *   4. answer read states once the state machine has applied their index; advance().
 * While a save's fsync runs, steps and proposals accumulate for the next Ready (group commit).
 *
 * Proposal outcome: a proposal accepted at (index, term) succeeds when the entry applied at
 * index has that term; if another term's entry is applied there, it certainly failed
 * (RaftUnavailableError, notApplied). A follower forwards proposals to the leader, which answers
 * with (index, term) at once, and waits for its own apply of that index: the caller then reads
 * its own write on this member.
 *
 * Reads: readBarrier() asks the core for a ReadIndex point and resolves once applied >= it.
 * When leadership changes, pending reads are asked again of the new leader; a read fails
 * (UNAVAILABLE) only when no leader confirms it within readTimeoutMs.
 */
import { applyConfChange, decodeConfChange, encodeConfChange } from "./conf-change.js";
import { MembershipChangeError, RaftError, RaftUnavailableError } from "./errors.js";
import type { RaftCore } from "./raft-core.js";
import { NO_NODE, type ConfChange, type ConfState, type Entry, type EntryType, type HardState, type InitialState, type Message, type NodeId, type ProposeResult, type Ready, type SnapshotMeta, type SoftState } from "./types.js";

/** The durable log (DurableLog implements it). */
export interface RaftLogStore {
  save(update: { hardState?: HardState; snapshot?: SnapshotMeta; entries: readonly Entry[] }): Promise<void>;
  compact(snapshot: SnapshotMeta): Promise<void>;
}

/** The network (the transport implements it). */
export interface RaftMessenger {
  send(messages: readonly Message[]): void;
  /** Asks the leader to propose `data` (an encoded ConfChange for "confChange"); resolves with the leader's answer. */
  forward(leader: NodeId, data: Uint8Array, signal?: AbortSignal, type?: EntryType): Promise<ProposeResult>;
}

/** The replicated state machine. */
export interface RaftApplier<R> {
  /** Applies a committed normal entry; calls come in index order; resolves once applied. */
  apply(index: number, data: Uint8Array): Promise<R>;
  /** Records a committed membership change (`conf` is the membership after it). */
  applyConfChange(index: number, change: ConfChange, conf: ConfState): Promise<void>;
  /** Replaces the whole state with the staged snapshot for `meta` (received from the leader). */
  installSnapshot(meta: SnapshotMeta): Promise<void>;
  /** Makes a durable snapshot of the applied state; resolves with the index it holds. */
  createSnapshot(): Promise<number>;
}

export interface RaftNodeOptions {
  tickMs: number;
  /** Entries applied since the last snapshot before a new one is taken and the log compacted. */
  snapshotEntries: number;
  /** How long a read waits for its ReadIndex point before failing with UNAVAILABLE. */
  readTimeoutMs: number;
}

export interface RaftNodeEvents {
  onSoftState?(state: SoftState, previous: SoftState): void;
  onFatal?(err: Error): void;
  /** After each Ready: counts for metrics. */
  onReady?(stats: { entries: number; messages: number; committed: number; saveMs: number }): void;
}

interface ProposalWaiter {
  term: number;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
}

interface ReadWaiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Most ticks one timer firing catches up on. A stall longer than this (a paused process) is not
 * replayed in full: on resuming, a member first hears from the others before its clock decides.
 */
const MAX_CATCH_UP_TICKS = 50;

/** Messages only a leader sends: a follower's election clock restarts on each. */
const LEADER_TYPES: ReadonlySet<Message["type"]> = new Set<Message["type"]>(["append", "heartbeat", "snapshot"]);

/** Results of recently applied entries, for forwarded proposals whose answer arrives after the apply. */
const RECENT_RESULTS_MAX = 65_536;

export class RaftNode<R> {
  private readonly proposals = new Map<number, ProposalWaiter>();
  private readonly reads = new Map<number, ReadWaiter>();
  /** Reads whose point is known, waiting for applied >= index. */
  private readonly readsAwaitingApply: { index: number; waiter: ReadWaiter }[] = [];
  private readonly recentResults = new Map<number, { term: number; result: R }>();
  private forwardsInFlight = 0;
  private nextReadContext = 1;
  private appliedIndex: number;
  private snapshotIndex: number;
  private confHistory: { index: number; conf: ConfState }[];
  private ticker: NodeJS.Timeout | undefined;
  private loopScheduled = false;
  /** The clock: tick periods since clockStarted that were accounted for (run, owed or dropped). */
  private clockStarted = 0;
  private ticked = 0;
  /** Ticks due and not yet run; some wait for the poll phase (runTicks). */
  private ticksOwed = 0;
  private ticksDeferred = false;
  private loopRunning = false;
  private applyChain: Promise<void> = Promise.resolve();
  private softState: SoftState = { leaderId: NO_NODE, role: "follower" };
  private fatal: Error | undefined;
  private closed = false;
  private snapshotting = false;
  private readonly counters = { proposalsCommitted: 0, proposalsFailed: 0, snapshotsTaken: 0 };

  private readonly core: RaftCore;
  private readonly log: RaftLogStore;
  private readonly messenger: RaftMessenger;
  private readonly applier: RaftApplier<R>;
  private readonly options: RaftNodeOptions;
  private readonly events: RaftNodeEvents;

  constructor(parts: {
    core: RaftCore;
    log: RaftLogStore;
    messenger: RaftMessenger;
    applier: RaftApplier<R>;
    options: RaftNodeOptions;
    events?: RaftNodeEvents;
    /** The state the core was built from, and the state machine's applied index. */
    initial: { appliedIndex: number; state: InitialState };
  }) {
    const { initial } = parts;
    this.core = parts.core;
    this.log = parts.log;
    this.messenger = parts.messenger;
    this.applier = parts.applier;
    this.options = parts.options;
    this.events = parts.events ?? {};
    this.appliedIndex = initial.appliedIndex;
    this.snapshotIndex = initial.state.snapshot.index;
    // Membership by index, for snapshots: from the snapshot point through what the state machine has applied.
    this.confHistory = [{ index: initial.state.snapshot.index, conf: initial.state.snapshot.conf }];
    for (const e of initial.state.entries) {
      if (e.index > initial.appliedIndex || e.type !== "confChange") continue;
      const next = applyConfChange(this.confAt(Infinity), decodeConfChange(e.data));
      if (typeof next !== "string") this.confHistory.push({ index: e.index, conf: next });
    }
  }

  /**
   * Starts the clock. Timers fire late when the event loop is busy, so each firing ticks the core
   * as many times as tickMs periods have passed (at most MAX_CATCH_UP_TICKS): election timeouts
   * and heartbeats then follow the wall clock instead of stretching under load.
   *
   * A tick that would act on silence (an election timeout, a leader's check-quorum) waits for
   * setImmediate, which runs after this turn's poll phase: timers fire before the event loop
   * reads its sockets, so after a stall the peers' heartbeats and acknowledgements are still
   * unread when the catch-up ticks run, and this member would otherwise campaign, or step down,
   * over silence that was only its own lateness in reading (see runTicks).
   */
  start(): void {
    if (this.ticker !== undefined) return;
    this.clockStarted = performance.now();
    this.ticker = setInterval(() => {
      const due = this.periodsElapsed() - this.ticked;
      this.ticked += Math.max(due, 1);
      this.ticksOwed = Math.min(this.ticksOwed + Math.max(due, 1), MAX_CATCH_UP_TICKS);
      if (!this.ticksDeferred) this.runTicks(false);
    }, this.options.tickMs);
    this.schedule();
  }

  private periodsElapsed(): number {
    return Math.floor((performance.now() - this.clockStarted) / this.options.tickMs);
  }

  /**
   * Runs the ticks owed. Before the poll phase a tick that acts on silence is put off to after
   * it. After it, the ticks owed are time that passed before the messages just read: if one of
   * them reset the clock (the put-off tick no longer acts on silence), they are dropped;
   * otherwise the put-off tick runs, and so do the rest up to the next one that would act on
   * silence, which would judge that same time again.
   */
  private runTicks(afterIo: boolean): void {
    if (afterIo && !this.core.nextTickActsOnSilence()) this.ticksOwed = 0;
    let first = true;
    while (this.ticksOwed > 0 && !this.closed) {
      if (this.core.nextTickActsOnSilence()) {
        if (!afterIo) {
          this.ticksDeferred = true;
          setImmediate(() => {
            this.ticksDeferred = false;
            this.runTicks(true);
          });
          break;
        }
        if (!first) {
          this.ticksOwed = 0;
          break;
        }
      }
      this.ticksOwed--;
      this.core.tick();
      first = false;
    }
    this.schedule();
  }

  /** A message from a peer. */
  step(message: Message): void {
    if (this.closed) return;
    this.core.step(message);
    // A leader's message restarts the election clock; time owed from before it was read (a
    // stall) must not be counted again after it.
    if (LEADER_TYPES.has(message.type) && message.term === this.core.currentTerm() && this.ticker !== undefined) {
      this.ticksOwed = 0;
      this.ticked = this.periodsElapsed();
    }
    this.schedule();
  }

  /** Starts an election now (a lone founder does this at start instead of waiting a timeout). */
  campaign(): void {
    this.core.campaign();
    this.schedule();
  }

  // ---------------------------------------------------------------- Proposer

  async propose(data: Uint8Array, signal?: AbortSignal): Promise<R> {
    this.checkOpen();
    const local = this.core.propose(data);
    if (local.ok) {
      this.schedule();
      return this.waitForApply<R>(local.index, local.term, signal);
    }
    if (local.reason !== "notLeader" || local.leaderId === NO_NODE) throw refusalError(local.reason, local.leaderId);
    this.forwardsInFlight++;
    try {
      const remote = await this.messenger.forward(local.leaderId, data, signal);
      if (!remote.ok) throw refusalError(remote.reason, remote.leaderId);
      const recent = this.recentResults.get(remote.index);
      if (recent !== undefined) {
        if (recent.term === remote.term) return recent.result;
        throw new RaftUnavailableError("the write was lost in a leader change; it was not applied", true, this.softState.leaderId);
      }
      if (remote.index <= this.appliedIndex) {
        throw new RaftUnavailableError("the write's outcome is unknown here (applied before its answer arrived, result evicted)", false, this.softState.leaderId);
      }
      return await this.waitForApply<R>(remote.index, remote.term, signal);
    } finally {
      this.forwardsInFlight--;
      if (this.forwardsInFlight === 0) this.recentResults.clear();
    }
  }

  /**
   * The leader side of a follower's Forward: propose without waiting. The follower learns the
   * outcome by applying the entry at (index, term) itself.
   */
  acceptForwarded(data: Uint8Array, type: EntryType = "normal"): ProposeResult {
    if (this.closed || this.fatal !== undefined) return { ok: false, reason: "notLeader", leaderId: NO_NODE };
    const r = type === "confChange" ? this.core.proposeConfChange(decodeConfChange(data)) : this.core.propose(data);
    if (r.ok) this.schedule();
    return r;
  }

  /** A membership change (handed to the leader from a follower). Resolves once it is applied here. */
  async proposeConfChange(change: ConfChange, signal?: AbortSignal): Promise<void> {
    this.checkOpen();
    const local = this.core.proposeConfChange(change);
    if (local.ok) {
      this.schedule();
      await this.waitForApply<void>(local.index, local.term, signal);
      return;
    }
    if (local.reason !== "notLeader" || local.leaderId === NO_NODE) throw refusalError(local.reason, local.leaderId);
    const remote = await this.messenger.forward(local.leaderId, encodeConfChange(change), signal, "confChange");
    if (!remote.ok) throw refusalError(remote.reason, remote.leaderId);
    if (remote.index <= this.appliedIndex) return;
    await this.waitForApply<void>(remote.index, remote.term, signal);
  }

  /** Resolves once this member has applied everything committed before the call (ReadIndex). */
  readBarrier(signal?: AbortSignal): Promise<void> {
    this.checkOpen();
    const context = this.nextReadContext++;
    const r = this.core.readIndex(context);
    if (!r.ok) return Promise.reject(refusalError(r.reason, r.leaderId));
    this.schedule();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(context);
        reject(new RaftUnavailableError(`no leader confirmed the read within ${this.options.readTimeoutMs} ms`, false, this.softState.leaderId));
      }, this.options.readTimeoutMs);
      const waiter: ReadWaiter = { resolve, reject, timer };
      this.reads.set(context, waiter);
      signal?.addEventListener(
        "abort",
        () => {
          if (this.reads.delete(context)) {
            clearTimeout(timer);
            reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
          }
        },
        { once: true },
      );
    });
  }

  term(): number {
    return this.core.currentTerm();
  }

  leaderId(): bigint {
    return this.softState.leaderId;
  }

  isLeader(): boolean {
    return this.softState.role === "leader";
  }

  transferLeadership(to: NodeId): void {
    this.core.transferLeadership(to);
    this.schedule();
  }

  status(): ReturnType<RaftCore["status"]> & { durableApplied: number; snapshotIndex: number } {
    return { ...this.core.status(), durableApplied: this.appliedIndex, snapshotIndex: this.snapshotIndex };
  }

  /** Counters for metrics: proposals this member made that committed or certainly failed, and those waiting. */
  stats(): { proposalsCommitted: number; proposalsFailed: number; proposalsPending: number; snapshotsTaken: number } {
    return { ...this.counters, proposalsPending: this.proposals.size };
  }

  reportUnreachable(id: NodeId): void {
    this.core.reportUnreachable(id);
    this.schedule();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.core.reportSnapshot(id, ok);
    this.schedule();
  }

  /** Stops ticking and refuses new work; outstanding proposals and reads fail as not confirmed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    while (this.loopRunning) await new Promise((r) => setImmediate(r));
    await this.applyChain;
    const closing = new RaftUnavailableError("the member is shutting down", false, NO_NODE);
    for (const w of this.proposals.values()) w.reject(closing);
    this.proposals.clear();
    this.failReads(closing);
  }

  // ---------------------------------------------------------------- the Ready loop

  private schedule(): void {
    if (this.loopScheduled || this.loopRunning || this.closed || this.fatal !== undefined) return;
    this.loopScheduled = true;
    setImmediate(() => {
      this.loopScheduled = false;
      void this.runReadyLoop();
    });
  }

  private async runReadyLoop(): Promise<void> {
    if (this.loopRunning) return;
    this.loopRunning = true;
    try {
      while (!this.closed && this.core.hasReady()) await this.handleReady(this.core.ready());
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.loopRunning = false;
    }
    if (!this.closed && this.fatal === undefined && this.core.hasReady()) this.schedule();
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState !== undefined) this.changeSoftState(rd.softState);
    const started = performance.now();
    if (rd.snapshot !== undefined) {
      // Everything handed to the state machine before must land first; then the state is replaced.
      await this.applyChain;
      await this.applier.installSnapshot(rd.snapshot);
      this.appliedIndex = rd.snapshot.index;
      this.snapshotIndex = rd.snapshot.index;
      this.confHistory = [{ index: rd.snapshot.index, conf: rd.snapshot.conf }];
    }
    // A leader's appends go out while its own fsync runs (Ready.sendBeforePersist): a commit
    // round then costs one fsync plus a round trip, not two fsyncs in a row.
    if (rd.sendBeforePersist && rd.messages.length > 0) this.messenger.send(rd.messages);
    if (rd.hardState !== undefined || rd.snapshot !== undefined || rd.entries.length > 0) {
      await this.log.save({ hardState: rd.hardState, snapshot: rd.snapshot, entries: rd.entries });
    }
    const saveMs = performance.now() - started;
    if (!rd.sendBeforePersist && rd.messages.length > 0) this.messenger.send(rd.messages);
    if (rd.committedEntries.length > 0) this.applyCommitted(rd.committedEntries);
    for (const rs of rd.readStates) this.readPointKnown(rs.context, rs.index);
    this.core.advance(rd);
    this.events.onReady?.({ entries: rd.entries.length, messages: rd.messages.length, committed: rd.committedEntries.length, saveMs });
    this.maybeSnapshot();
  }

  private applyCommitted(entries: readonly Entry[]): void {
    const pending: Promise<unknown>[] = [];
    for (const e of entries) {
      if (e.type === "confChange") {
        const change = decodeConfChange(e.data);
        const conf = this.confAt(Infinity);
        const next = applyConfChange(conf, change);
        const after = typeof next === "string" ? conf : next;
        if (typeof next !== "string") this.confHistory.push({ index: e.index, conf: after });
        pending.push(this.settleProposal(e, this.applier.applyConfChange(e.index, change, after)));
      } else if (e.data.length > 0) {
        pending.push(this.settleProposal(e, this.applier.apply(e.index, e.data)));
      } else {
        const waiter = this.proposals.get(e.index);
        if (waiter !== undefined) {
          this.proposals.delete(e.index);
          waiter.reject(new RaftUnavailableError("the write was lost in a leader change; it was not applied", true, this.softState.leaderId));
        }
      }
    }
    const last = entries[entries.length - 1].index;
    this.applyChain = this.applyChain
      .then(() => Promise.all(pending))
      .then(() => {
        this.appliedIndex = Math.max(this.appliedIndex, last);
        this.settleReadsAwaitingApply();
      })
      .catch((err: unknown) => this.fail(err as Error));
  }

  private settleProposal(e: Entry, applied: Promise<unknown>): Promise<unknown> {
    const waiter = this.proposals.get(e.index);
    if (waiter !== undefined) this.proposals.delete(e.index);
    return applied.then(
      (result) => {
        if (this.forwardsInFlight > 0) {
          this.recentResults.set(e.index, { term: e.term, result: result as R });
          if (this.recentResults.size > RECENT_RESULTS_MAX) this.recentResults.delete(this.recentResults.keys().next().value as number);
        }
        if (waiter === undefined) return;
        if (waiter.term === e.term) {
          this.counters.proposalsCommitted++;
          waiter.resolve(result);
        } else {
          this.counters.proposalsFailed++;
          waiter.reject(new RaftUnavailableError("the write was lost in a leader change; it was not applied", true, this.softState.leaderId));
        }
      },
      (err: unknown) => {
        waiter?.reject(err as Error);
        throw err;
      },
    );
  }

  private waitForApply<T>(index: number, term: number, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.proposals.has(index)) {
        // Two proposals at one index: the older was overwritten, so it certainly failed.
        this.proposals.get(index)!.reject(new RaftUnavailableError("the write was lost in a leader change; it was not applied", true, this.softState.leaderId));
      }
      const waiter: ProposalWaiter = { term, resolve: resolve as (result: unknown) => void, reject };
      this.proposals.set(index, waiter);
      signal?.addEventListener(
        "abort",
        () => {
          if (this.proposals.get(index) === waiter) {
            this.proposals.delete(index);
            reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
          }
        },
        { once: true },
      );
    });
  }

  private readPointKnown(context: number, index: number): void {
    const waiter = this.reads.get(context);
    if (waiter === undefined) return;
    this.reads.delete(context);
    if (this.appliedIndex >= index) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    } else {
      this.readsAwaitingApply.push({ index, waiter });
    }
  }

  private settleReadsAwaitingApply(): void {
    if (this.readsAwaitingApply.length === 0) return;
    let kept = 0;
    for (const r of this.readsAwaitingApply) {
      if (this.appliedIndex >= r.index) {
        clearTimeout(r.waiter.timer);
        r.waiter.resolve();
      } else {
        this.readsAwaitingApply[kept++] = r;
      }
    }
    this.readsAwaitingApply.length = kept;
  }

  private changeSoftState(next: SoftState): void {
    const previous = this.softState;
    this.softState = next;
    if (previous.role === "leader" || next.leaderId !== previous.leaderId) this.reissueReads();
    this.events.onSoftState?.(next, previous);
  }

  /**
   * Reads asked of (or relayed to) a leader that is no longer one would never be confirmed:
   * ask again, of the leader known now (each keeps its deadline). With no leader known they wait
   * for the next change. A late answer from the old leader is still a valid read point: it was
   * confirmed by a quorum after the read began.
   */
  private reissueReads(): void {
    for (const context of this.reads.keys()) this.core.readIndex(context);
  }

  private failReads(err: Error): void {
    for (const w of this.reads.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.reads.clear();
  }

  private confAt(index: number): ConfState {
    let conf = this.confHistory[0].conf;
    for (const h of this.confHistory) if (h.index <= index) conf = h.conf;
    return conf;
  }

  /** Takes a snapshot and compacts the log once enough entries were applied since the last one. */
  private maybeSnapshot(): void {
    if (this.snapshotting || this.appliedIndex - this.snapshotIndex < this.options.snapshotEntries) return;
    this.snapshotting = true;
    void (async () => {
      try {
        await this.applyChain;
        const index = await this.applier.createSnapshot();
        const term = this.core.termAt(index);
        if (term === undefined || index <= this.snapshotIndex) return;
        const meta: SnapshotMeta = { index, term, conf: this.confAt(index) };
        await this.log.compact(meta);
        this.snapshotIndex = index;
        this.counters.snapshotsTaken++;
        this.confHistory = [{ index, conf: meta.conf }, ...this.confHistory.filter((h) => h.index > index)];
        // The core's snapshot point must be the one whose data exists: it is what a lagging follower is sent.
        this.core.compact(meta);
      } catch (err) {
        this.fail(err as Error);
      } finally {
        this.snapshotting = false;
      }
    })();
  }

  private fail(err: Error): void {
    if (this.fatal !== undefined) return;
    this.fatal = err;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    for (const w of this.proposals.values()) w.reject(err);
    this.proposals.clear();
    this.failReads(err);
    this.events.onFatal?.(err);
  }

  private checkOpen(): void {
    if (this.fatal !== undefined) throw new RaftError(`the consensus driver stopped: ${this.fatal.message}`);
    if (this.closed) throw new RaftUnavailableError("the member is shutting down", true, NO_NODE);
  }
}

function refusalError(reason: Exclude<ProposeResult, { ok: true }>["reason"], leaderId: NodeId): RaftError {
  switch (reason) {
    case "notLeader":
      return new RaftUnavailableError("no leader is known right now (an election is under way); retry shortly", true, leaderId);
    case "transferring":
      return new RaftUnavailableError("leadership is being transferred; retry shortly", true, leaderId);
    case "confChangePending":
      return new RaftUnavailableError("another membership change is in progress; retry once it completes", true, leaderId);
    case "invalidConfChange":
      return new MembershipChangeError("the membership change does not apply to the current membership");
    case "tooLarge":
      return new RaftUnavailableError("too many writes are waiting to commit; retry shortly", true, leaderId);
  }
}
