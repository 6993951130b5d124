/**
 * One simulated Raft node: a RaftCore, the driver around it, its durable "disk" and its in-memory
 * KV state machine. The driver follows the Ready contract: persist (snapshot, then entries, then
 * hard state: the order of one synced log write, so a torn write loses a suffix of it), then
 * send, then apply committed entries and answer reads, then advance; then maybe compact.
 *
 * A crash loses everything but the disk: the core, the state machine, staged snapshots and the
 * bookkeeping of proposals and reads (their clients learn the outcome is unknown). A restart
 * rebuilds the core from the disk and the state machine from the disk's snapshot, and the core
 * hands the committed entries after it out again. A crash "mid-Ready" persists a prefix of the
 * Ready's writes (as if the sync never happened) and sends nothing, except what a leader sent
 * before its save (Ready.sendBeforePersist).
 *
 * Proposal outcome: accepted at (index, term), a proposal succeeded when this node applies that
 * index with that term, and certainly failed when it applies another term's entry there. If this
 * node jumps past the index by installing a snapshot, or crashes, the outcome is unknown.
 */
import {
  applyConfChange,
  decodeConfChange,
  RaftCore,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftConfig,
  type Ready,
  type SnapshotMeta,
} from "../../../src/raft/index.js";
import { InvariantViolation, type InvariantChecker, type PersistedLog } from "./invariants.js";
import { encodeCommand, KvStateMachine, type ApplyOutcome, type KvCommand, type KvSnapshotState } from "./kv-state-machine.js";
import type { Prng } from "./prng.js";
import type { SendFate } from "./sim-network.js";

/** What survives a crash. */
export interface Disk extends PersistedLog {
  hardState: HardState;
  /**
   * The hard state as of the last synced save. A save that moves only the commit index is not
   * synced (DurableLog.save), so a crash may take the disk back to this one.
   */
  syncedHardState: HardState;
  snapshot: SnapshotMeta;
  /** The state machine at snapshot.index (what compaction or an installed snapshot left). */
  snapshotState: KvSnapshotState;
  entries: Entry[];
}

export type ProposalOutcome = { readonly kind: "applied"; readonly swapped: boolean } | { readonly kind: "failed" } | { readonly kind: "unknown" };
export type ReadOutcome = { readonly kind: "value"; readonly value: string | null } | { readonly kind: "lost" };

/** down: the destination is not running (the transport's connection fails, like a cut link). */
export type DeliveryFate = SendFate | "down";

export interface NodeEnvironment {
  readonly rng: Prng;
  readonly invariants: InvariantChecker;
  /** Hands a message to the network; the attachment rides along with snapshot messages. */
  send(message: Message, attachment: KvSnapshotState | undefined, senderIncarnation: number): DeliveryFate;
  /**
   * This node applied a committed entry; `outcome` is what a command did (undefined for no-ops and
   * membership changes). The simulation follows the membership and the writes' fates from these.
   */
  onApplied(node: NodeId, entry: Entry, outcome: ApplyOutcome | undefined): void;
  /** A fresh ReadIndex context, unique over the run (a restarted node must not mistake an old answer for a new request). */
  nextReadContext(): number;
  /** Whether this Ready's processing crashes the node before its write is synced (fault injection). */
  crashMidReady(): boolean;
}

export interface NodeTuning {
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Applied entries beyond the snapshot before the driver compacts. */
  readonly compactAfterEntries: number;
  readonly maxAppendBytes: number;
  readonly maxInflightAppends: number;
}

interface PendingProposal {
  readonly term: number;
  readonly opId: number;
  readonly settle: (outcome: ProposalOutcome) => void;
}

interface PendingRead {
  readonly key: string;
  readonly settle: (outcome: ReadOutcome) => void;
  /** The read point, once the ReadState arrived. */
  index: number | undefined;
}

export class SimNode {
  private core: RaftCore | undefined;
  private machine: KvStateMachine | undefined;
  /** Membership as of the state machine's applied index (the conf a snapshot taken now records). */
  private appliedConf: ConfState;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<number, PendingRead>();
  /** Snapshot states received with snapshot messages, by index, until the core says which to install. */
  private readonly staged = new Map<number, KvSnapshotState>();
  /** Bumped by every crash: reports meant for an earlier incarnation are dropped. */
  incarnation = 0;
  readonly counters = { compactions: 0, snapshotsInstalled: 0, crashes: 0, midReadyCrashes: 0 };

  constructor(
    readonly id: NodeId,
    readonly disk: Disk,
    private readonly tuning: NodeTuning,
    private readonly env: NodeEnvironment,
  ) {
    this.appliedConf = disk.snapshot.conf;
  }

  get running(): boolean {
    return this.core !== undefined;
  }

  /** The running core; throws when the node is down (a simulation bug). */
  raft(): RaftCore {
    if (this.core === undefined) throw new Error(`node ${this.id} is down`);
    return this.core;
  }

  stateMachine(): KvStateMachine {
    if (this.machine === undefined) throw new Error(`node ${this.id} is down`);
    return this.machine;
  }

  /** Starts (or restarts) from the disk. */
  start(): void {
    if (this.core !== undefined) throw new Error(`node ${this.id} is already running`);
    const disk = this.disk;
    if (disk.snapshotState.appliedIndex !== disk.snapshot.index) {
      throw new Error(`node ${this.id}: snapshot state at ${disk.snapshotState.appliedIndex} but snapshot point ${disk.snapshot.index}`);
    }
    const config: RaftConfig = {
      id: this.id,
      electionTicks: 10,
      heartbeatTicks: 1,
      random: () => this.env.rng.next(),
      preVote: this.tuning.preVote,
      checkQuorum: this.tuning.checkQuorum,
      maxInflightAppends: this.tuning.maxInflightAppends,
      maxAppendBytes: this.tuning.maxAppendBytes,
      maxUncommittedBytes: 1 << 20,
    };
    this.core = new RaftCore(config, { hardState: disk.hardState, snapshot: disk.snapshot, entries: [...disk.entries] }, disk.snapshot.index);
    this.machine = new KvStateMachine(disk.snapshotState);
    this.appliedConf = disk.snapshot.conf;
  }

  /** Loses everything not on disk; pending clients learn their outcome is unknown. */
  crash(): void {
    if (this.core === undefined) return;
    if (this.env.rng.int(2) === 0) this.disk.hardState = this.disk.syncedHardState;
    this.core = undefined;
    this.machine = undefined;
    this.staged.clear();
    this.incarnation++;
    this.counters.crashes++;
    const proposals = [...this.proposals.values()];
    const reads = [...this.reads.values()];
    this.proposals.clear();
    this.reads.clear();
    for (const p of proposals) p.settle({ kind: "unknown" });
    for (const r of reads) r.settle({ kind: "lost" });
  }

  // ------------------------------------------------------------------ client entry points

  propose(command: KvCommand, settle: (outcome: ProposalOutcome) => void): ProposeResult {
    const result = this.raft().propose(encodeCommand(command));
    if (result.ok) {
      // An older proposal at this index (from an earlier term of this node) was cut from its log;
      // its fate is decided elsewhere, and this node will no longer see it.
      this.proposals.get(result.index)?.settle({ kind: "unknown" });
      this.proposals.set(result.index, { term: result.term, opId: command.id, settle });
    }
    return result;
  }

  read(key: string, settle: (outcome: ReadOutcome) => void): ProposeResult {
    const context = this.env.nextReadContext();
    const result = this.raft().readIndex(context);
    if (result.ok) this.reads.set(context, { key, settle, index: undefined });
    return result;
  }

  // ------------------------------------------------------------------ network

  /** Delivers a message (staging a snapshot's state first). */
  receive(message: Message, attachment: KvSnapshotState | undefined): void {
    const core = this.raft();
    if (message.type === "snapshot") {
      if (attachment === undefined || attachment.appliedIndex !== message.snapshot.index) {
        throw new Error(`snapshot message ${message.snapshot.index}@${message.snapshot.term} arrived without its state`);
      }
      this.staged.set(message.snapshot.index, attachment);
    }
    core.step(message);
  }

  // ------------------------------------------------------------------ Ready

  /** Processes Readies until there are none (bounded); returns false if the node crashed mid-Ready. */
  processReadies(): boolean {
    for (let round = 0; round < 100; round++) {
      const core = this.core;
      if (core === undefined || !core.hasReady()) return true;
      if (!this.processReady(core)) return false;
    }
    throw new Error(`node ${this.id}: still has a Ready after 100 rounds`);
  }

  private processReady(core: RaftCore): boolean {
    const rd = core.ready();
    const failedTo: { to: NodeId; snapshot: boolean; unreachable: boolean }[] = [];
    const sendAll = (): void => {
      for (const m of rd.messages) {
        const attachment = m.type === "snapshot" ? this.snapshotAttachment(m.snapshot) : undefined;
        const fate = this.env.send(m, attachment, this.incarnation);
        if (fate !== "queued") failedTo.push({ to: m.to, snapshot: m.type === "snapshot", unreachable: fate !== "lost" });
      }
    };
    // A leader's messages may leave before its save is synced; a crash mid-Ready then loses
    // entries its followers already have, which the invariants must survive.
    if (rd.sendBeforePersist) sendAll();
    if (this.env.crashMidReady()) {
      this.persistTorn(rd);
      this.counters.midReadyCrashes++;
      this.crash();
      return false;
    }
    this.persist(rd, Infinity);
    if (!rd.sendBeforePersist) sendAll();
    this.apply(rd);
    core.advance(rd);
    for (const f of failedTo) {
      if (f.snapshot) core.reportSnapshot(f.to, false);
      if (f.unreachable) core.reportUnreachable(f.to);
    }
    this.maybeCompact(core);
    return true;
  }

  /** A mid-Ready crash: a random prefix of the write (snapshot, entries, hard state) reaches the disk. */
  private persistTorn(rd: Ready): void {
    const writes = (rd.snapshot === undefined ? 0 : 1) + rd.entries.length + (rd.hardState === undefined ? 0 : 1);
    this.persist(rd, this.env.rng.int(writes + 1));
  }

  /** Persists the first `writes` of (snapshot, entries..., hard state). */
  private persist(rd: Ready, writes: number): void {
    let budget = writes;
    const disk = this.disk;
    if (rd.snapshot !== undefined) {
      if (budget-- <= 0) return;
      this.installSnapshot(rd.snapshot);
    }
    const entries = rd.entries.slice(0, Math.max(0, Math.min(budget, rd.entries.length)));
    budget -= entries.length;
    if (entries.length > 0) {
      const first = entries[0].index;
      if (first <= disk.snapshot.index) throw new Error(`node ${this.id}: Ready entry ${first} is behind the snapshot ${disk.snapshot.index}`);
      disk.entries.length = Math.min(disk.entries.length, first - disk.snapshot.index - 1);
      if (disk.snapshot.index + disk.entries.length !== first - 1) {
        throw new Error(`node ${this.id}: Ready entries start at ${first}, the log ends at ${disk.snapshot.index + disk.entries.length}`);
      }
      disk.entries.push(...entries);
      this.env.invariants.observePersistedEntries(this.id, disk, entries);
    }
    if (entries.length < rd.entries.length) return;
    if (rd.hardState !== undefined && budget > 0) {
      const synced = rd.snapshot !== undefined || rd.entries.length > 0 || rd.hardState.term !== disk.hardState.term || rd.hardState.vote !== disk.hardState.vote;
      disk.hardState = rd.hardState;
      if (synced) disk.syncedHardState = rd.hardState;
      this.env.invariants.noteTerm(rd.hardState.term);
    }
  }

  /** Installs the staged state of a received snapshot: on disk and as the state machine. */
  private installSnapshot(meta: SnapshotMeta): void {
    const state = this.staged.get(meta.index);
    if (state === undefined) throw new Error(`node ${this.id}: told to install snapshot ${meta.index}@${meta.term}, none staged`);
    this.staged.clear();
    this.env.invariants.observeSnapshotInstalled(this.id, meta);
    this.disk.snapshot = meta;
    this.disk.snapshotState = state;
    this.disk.entries = [];
    this.machine = new KvStateMachine(state);
    this.appliedConf = meta.conf;
    this.counters.snapshotsInstalled++;
    // Proposals at or before the snapshot point were decided elsewhere; this node cannot tell how.
    for (const [index, p] of [...this.proposals]) {
      if (index > meta.index) continue;
      this.proposals.delete(index);
      p.settle({ kind: "unknown" });
    }
  }

  private snapshotAttachment(meta: SnapshotMeta): KvSnapshotState {
    const disk = this.disk;
    if (disk.snapshot.index !== meta.index || disk.snapshot.term !== meta.term) {
      throw new InvariantViolation(
        "coreError",
        `node ${this.id} sent snapshot ${meta.index}@${meta.term} but its driver holds ${disk.snapshot.index}@${disk.snapshot.term}`,
      );
    }
    return disk.snapshotState;
  }

  private apply(rd: Ready): void {
    const machine = this.stateMachine();
    for (const e of rd.committedEntries) {
      this.env.invariants.observeApplied(this.id, e, machine.appliedIndex + 1);
      const outcome = machine.apply(e);
      if (e.type === "confChange") {
        const next = applyConfChange(this.appliedConf, decodeConfChange(e.data));
        // The core ignores an invalid change the same way.
        if (typeof next !== "string") this.appliedConf = next;
      }
      this.env.onApplied(this.id, e, outcome);
      this.settleProposal(e, outcome);
    }
    for (const rs of rd.readStates) {
      const read = this.reads.get(rs.context);
      if (read !== undefined) read.index = rs.index;
    }
    for (const [context, read] of [...this.reads]) {
      if (read.index === undefined || read.index > machine.appliedIndex) continue;
      this.reads.delete(context);
      read.settle({ kind: "value", value: machine.get(read.key) });
    }
  }

  private settleProposal(e: Entry, outcome: ApplyOutcome | undefined): void {
    const p = this.proposals.get(e.index);
    if (p === undefined) return;
    this.proposals.delete(e.index);
    if (p.term !== e.term) {
      p.settle({ kind: "failed" });
      return;
    }
    if (outcome === undefined || outcome.opId !== p.opId) {
      throw new InvariantViolation("stateMachineSafety", `node ${this.id}: entry ${e.index}@${e.term} is not the proposal of op ${p.opId} made there`);
    }
    p.settle({ kind: "applied", swapped: outcome.swapped });
  }

  private maybeCompact(core: RaftCore): void {
    const machine = this.stateMachine();
    const index = machine.appliedIndex;
    if (index - this.disk.snapshot.index <= this.tuning.compactAfterEntries) return;
    const term = core.termAt(index);
    if (term === undefined) throw new Error(`node ${this.id}: no term for applied index ${index}`);
    const meta: SnapshotMeta = { index, term, conf: this.appliedConf };
    // The snapshot is durable before the log behind it is dropped (one atomic disk update here).
    this.disk.snapshotState = machine.snapshot();
    this.disk.entries = this.disk.entries.slice(index - this.disk.snapshot.index);
    this.disk.snapshot = meta;
    core.compact(meta);
    this.counters.compactions++;
  }
}
