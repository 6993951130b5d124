/**
 * The consensus core: Raft as a pure state machine (in the shape of etcd-io/raft's raft.go and
 * rawnode.go, written afresh). It does no I/O and reads no clock: the driver calls tick() at a
 * fixed interval, step() for each message received, propose()/readIndex() for clients, and acts
 * on ready() in order: persist, send, apply, then advance(). The only randomness (election
 * timeouts) comes from the injected config.random.
 *
 * Features: pre-vote and check-quorum (a partitioned or rejoining node cannot disrupt a healthy
 * leader), leadership transfer by TimeoutNow, per-peer flow control (probe / replicate /
 * snapshot with a bounded window of in-flight appends), fast back-tracking on rejected appends,
 * commit by counting only entries of the leader's term, ReadIndex reads confirmed by a heartbeat
 * quorum after the leader's no-op commits, and one-at-a-time membership changes with learners.
 *
 * Durability contract: a message in a Ready may depend on that Ready's hard state and entries
 * (a vote grant on the recorded vote, an append acknowledgement on the entries), so the driver
 * sends only after persisting. The leader counts its own copy of an entry towards a quorum only
 * once advance() reports it persisted.
 *
 * Batching: proposals and read requests only mark work; the appends and heartbeats they need are
 * built once per ready(), so everything proposed between two Ready cycles travels in one append
 * per follower.
 */
import { applyConfChange, decodeConfChange, encodeConfChange } from "./conf-change.js";
import { RaftError } from "./errors.js";
import { Progress } from "./progress.js";
import { committedIndex, voteResult, type QuorumConfig } from "./quorum.js";
import { entryBytes, RaftLog } from "./raft-log.js";
import { PendingReads, type ReadRequest } from "./read-index.js";
import {
  NO_NODE,
  type AppendMessage,
  type AppendResponseMessage,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type HeartbeatMessage,
  type HeartbeatResponseMessage,
  type InitialState,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftConfig,
  type RaftStatus,
  type ReadIndexResponseMessage,
  type ReadState,
  type Ready,
  type Role,
  type SnapshotMessage,
  type SnapshotMeta,
  type SoftState,
  type VoteMessage,
} from "./types.js";

type CampaignKind = "preElection" | "election" | "transfer";

const EMPTY = new Uint8Array(0);

export class RaftCore {
  readonly id: NodeId;
  private readonly config: RaftConfig;
  private readonly log: RaftLog;

  private term: number;
  private vote: NodeId;
  private role: Role = "follower";
  private leaderId: NodeId = NO_NODE;
  private conf: ConfState = { voters: [], learners: [] };
  /** The voters as a quorum configuration, rebuilt only when the membership changes (setConf). */
  private quorum: QuorumConfig = [new Set()];
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  /** Whether the campaign under way is a leadership transfer's (its requests pass voters' leases). */
  private campaignIsTransfer = false;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId = NO_NODE;
  /** Index of the newest membership change in the log; a new one waits until it is committed. */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;

  private readonly reads = new PendingReads();
  private messages: Message[] = [];
  private readStates: ReadState[] = [];
  /** Appends to build at the next ready(): "entries" sends only if there is something new; "all" also sends empty ones (commit news). */
  private appendsWanted: "none" | "entries" | "all" = "none";
  private heartbeatWanted = false;

  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private readyOutstanding = false;

  constructor(config: RaftConfig, initial: InitialState, applied = 0) {
    if (config.id === NO_NODE) throw new RaftError("node ID 0 is reserved");
    if (!(config.heartbeatTicks >= 1 && config.electionTicks > config.heartbeatTicks)) {
      throw new RaftError(`electionTicks (${config.electionTicks}) must exceed heartbeatTicks (${config.heartbeatTicks}) >= 1`);
    }
    if (config.maxInflightAppends < 1) throw new RaftError("maxInflightAppends must be at least 1");
    this.id = config.id;
    this.config = config;
    this.log = new RaftLog(initial.snapshot, initial.entries, initial.hardState.commit, applied);
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.setConf(initial.snapshot.conf);
    this.applyConfEntries(initial.snapshot.index + 1, this.log.commit);
    this.pendingConfIndex = 0;
    this.prevHardState = this.hardState();
    this.prevSoftState = { leaderId: NO_NODE, role: "follower" };
    this.becomeFollower(this.term, NO_NODE);
  }

  // ------------------------------------------------------------------ driver interface

  tick(): void {
    this.electionElapsed++;
    if (this.role === "leader") this.tickLeader();
    else if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.config.preVote ? "preElection" : "election");
    } else if ((this.role === "preCandidate" || this.role === "candidate") && this.electionElapsed % this.config.heartbeatTicks === 0) {
      // A voter still within the old leader's lease ignores a (pre-)vote request without
      // answering (it heard from that leader less than an election timeout ago), and a request
      // sent while the connection was down is lost. Asking those that have not answered again
      // every heartbeat interval turns their lease ending into a vote within a heartbeat,
      // instead of the whole randomized timeout of another campaign. Repeating a request binds
      // nothing new: a voter answers it as it answered (or would have answered) the first.
      this.askVotes();
    }
  }

  /**
   * Whether the next tick() ends a timeout that acts on silence: a follower's or candidate's
   * election timeout, or a leader's check-quorum. A driver whose clock ran late runs such a tick
   * only after stepping the messages waiting to be read (RaftNode.start).
   */
  nextTickActsOnSilence(): boolean {
    const elapsed = this.electionElapsed + 1;
    if (this.role === "leader") return this.config.checkQuorum && elapsed >= this.config.electionTicks;
    return this.promotable() && elapsed >= this.randomizedElectionTimeout;
  }

  /** Sends this campaign's (pre-)vote request to every voter that has not answered it yet. */
  private askVotes(): void {
    const type = this.role === "preCandidate" ? "preVote" : "vote";
    const term = this.role === "preCandidate" ? this.term + 1 : this.term;
    for (const id of this.conf.voters) {
      if (id === this.id || this.votes.has(id)) continue;
      this.send({ type, from: this.id, to: id, term, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(), transfer: this.campaignIsTransfer });
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NO_NODE);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = NO_NODE;
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.heartbeatWanted = true;
    }
  }

  /** Starts an election now (a single-member cluster uses it at start; tests use it to pick a leader). */
  campaign(kind: CampaignKind = this.config.preVote ? "preElection" : "election"): void {
    if (this.role === "leader" || !this.promotable()) return;
    if (kind === "preElection") this.becomePreCandidate();
    else this.becomeCandidate();
    this.campaignIsTransfer = kind === "transfer";
    this.votes.set(this.id, true);
    if (this.pollVotes() === "won") {
      if (kind === "preElection") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    this.askVotes();
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === "vote" || m.type === "preVote") {
        // Within a live leader's lease a vote request is ignored (check-quorum): a node that
        // was partitioned away must not depose a leader the rest of the cluster still follows.
        const inLease = this.config.checkQuorum && this.leaderId !== NO_NODE && this.electionElapsed < this.config.electionTicks;
        if (inLease && !m.transfer) return;
      }
      if (m.type === "preVote" || (m.type === "preVoteResponse" && !m.reject)) {
        // Pre-votes never change terms: a granted pre-vote answer carries the future term.
      } else if (m.type === "append" || m.type === "heartbeat" || m.type === "snapshot") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE);
      }
    } else if (m.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (m.type === "append" || m.type === "heartbeat")) {
        // A stale leader (cut off, then healed) learns the newer term from this answer and
        // steps down; without it, with pre-vote on, it could keep this node from ever campaigning.
        this.send({ type: "appendResponse", from: this.id, to: m.from, term: this.term, index: 0, reject: false, rejectHint: 0, hintTerm: 0 });
      } else if (m.type === "preVote") {
        this.send({ type: "preVoteResponse", from: this.id, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === "vote" || m.type === "preVote") {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
  }

  propose(data: Uint8Array): ProposeResult {
    return this.appendProposal("normal", data);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    if (this.role === "leader") {
      if (this.pendingConfIndex > this.log.commit || !this.committedInTerm()) {
        return { ok: false, reason: "confChangePending", leaderId: this.id };
      }
      if (typeof applyConfChange(this.conf, change) === "string") return { ok: false, reason: "invalidConfChange", leaderId: this.id };
    }
    const result = this.appendProposal("confChange", encodeConfChange(change));
    if (result.ok) this.pendingConfIndex = result.index;
    return result;
  }

  /**
   * Asks for a linearizable read point. ok: a ReadState with this context will appear in a
   * later Ready unless leadership is lost first (the driver bounds the wait). A follower relays
   * the request to the leader it knows.
   */
  readIndex(context: number): ProposeResult {
    if (this.role === "leader") {
      const request: ReadRequest = { from: this.id, context, index: 0, seq: 0 };
      this.handleReadRequest(request);
      return { ok: true, index: this.log.commit, term: this.term };
    }
    if (this.leaderId === NO_NODE) return { ok: false, reason: "notLeader", leaderId: NO_NODE };
    this.send({ type: "readIndex", from: this.id, to: this.leaderId, term: this.term, context });
    return { ok: true, index: 0, term: this.term };
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== "leader" || to === this.id || !this.conf.voters.includes(to)) return;
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    // The transfer has one election timeout to finish; proposals are refused meanwhile.
    this.electionElapsed = 0;
    const pr = this.progress.get(to);
    if (pr === undefined) return;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(pr, true);
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.role === "leader" ? this.progress.get(id) : undefined;
    // Appends may have been lost: stop pipelining until the peer answers again.
    if (pr !== undefined && pr.state === "replicate") pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.role === "leader" ? this.progress.get(id) : undefined;
    if (pr === undefined || pr.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the peer's next answer before probing: the snapshot may still be installing.
    pr.probeSent = true;
  }

  /** The driver holds a durable state snapshot at snapshot.index (<= applied): drop the log before it. */
  compact(snapshot: SnapshotMeta): void {
    this.log.compact(snapshot);
  }

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    return (
      this.messages.length > 0 ||
      this.appendsWanted !== "none" ||
      this.heartbeatWanted ||
      this.readStates.length > 0 ||
      this.log.hasUnstable() ||
      this.log.hasNextCommitted() ||
      this.log.pendingSnapshot !== undefined ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  ready(): Ready {
    if (this.readyOutstanding) throw new RaftError("ready() called again before advance()");
    this.flushReplication();
    const hardState = this.hardState();
    const softState = this.softState();
    const snapshot = this.log.pendingSnapshot;
    this.log.pendingSnapshot = undefined;
    const rd: Ready = {
      hardState: sameHardState(hardState, this.prevHardState) ? undefined : hardState,
      softState: sameSoftState(softState, this.prevSoftState) ? undefined : softState,
      snapshot,
      entries: this.log.takeUnstable(),
      messages: this.messages,
      sendBeforePersist:
        this.role === "leader" && snapshot === undefined && hardState.term === this.prevHardState.term && hardState.vote === this.prevHardState.vote,
      committedEntries: this.log.takeNextCommitted(this.config.maxAppendBytes * 4),
      readStates: this.readStates,
    };
    this.messages = [];
    this.readStates = [];
    this.prevSoftState = softState;
    if (rd.hardState !== undefined) this.prevHardState = rd.hardState;
    this.readyOutstanding = true;
    return rd;
  }

  advance(rd: Ready): void {
    if (!this.readyOutstanding) throw new RaftError("advance() without an outstanding ready()");
    this.readyOutstanding = false;
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableTo(last.index, last.term);
      if (this.role === "leader") {
        const self = this.progress.get(this.id);
        if (self !== undefined && self.maybeUpdate(this.log.stableIndex)) this.maybeCommit();
      }
    }
    if (rd.committedEntries.length > 0) this.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
  }

  status(): RaftStatus {
    const peers =
      this.role === "leader"
        ? [...this.progress.values()].map((pr) => ({
            id: pr.id,
            match: pr.match,
            next: pr.next,
            state: pr.state,
            learner: pr.learner,
            recentActive: pr.recentActive,
          }))
        : [];
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.leaderId,
      commit: this.log.commit,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: this.conf,
      peers,
    };
  }

  /** The current term: cheap, for every response header (status() builds the whole picture). */
  currentTerm(): number {
    return this.term;
  }

  /** The term of the entry at index, if the log holds it (the driver checks a proposal's fate with it). */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  // ------------------------------------------------------------------ roles

  private becomeFollower(term: number, leaderId: NodeId): void {
    this.reset(term);
    this.role = "follower";
    this.leaderId = leaderId;
  }

  private becomePreCandidate(): void {
    // No term change and no vote: a pre-election that fails leaves no trace.
    this.votes.clear();
    this.role = "preCandidate";
    this.leaderId = NO_NODE;
    this.reads.clear();
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = "leader";
    this.leaderId = this.id;
    const self = this.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.maybeUpdate(this.log.stableIndex);
    }
    // Any membership change still uncommitted in the log must commit before a new one.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op: committing it commits every earlier entry and lets reads and changes proceed.
    this.log.append({ term: this.term, index: this.log.lastIndex() + 1, type: "normal", data: EMPTY });
    this.appendsWanted = "all";
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.leaderId = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.config.electionTicks + Math.floor(this.config.random() * this.config.electionTicks);
    this.leadTransferee = NO_NODE;
    this.votes.clear();
    this.uncommittedBytes = 0;
    this.appendsWanted = "none";
    this.heartbeatWanted = false;
    this.reads.clear();
    this.resetProgress();
  }

  private resetProgress(): void {
    this.progress.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of this.conf.voters) this.progress.set(id, new Progress(id, next, this.config.maxInflightAppends, false));
    for (const id of this.conf.learners) this.progress.set(id, new Progress(id, next, this.config.maxInflightAppends, true));
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id) && this.log.pendingSnapshot === undefined;
  }

  private setConf(conf: ConfState): void {
    this.conf = conf;
    this.quorum = [new Set(conf.voters)];
  }

  private pollVotes(): "won" | "lost" | "pending" {
    return voteResult(this.quorum, this.votes);
  }

  /** Whether a quorum of voters was heard from since the last check; resets the marks. */
  private quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const pr of this.progress.values()) {
      if (pr.learner) continue;
      active.set(pr.id, pr.id === this.id || pr.recentActive);
      pr.recentActive = pr.id === this.id;
    }
    return voteResult(this.quorum, active) === "won";
  }

  // ------------------------------------------------------------------ votes

  private handleVoteRequest(m: VoteMessage): void {
    // The pre-vote tie-break applies whichever clause would grant: a pre-candidate has no vote
    // and no leader, so the middle clause alone would let two of them yield to each other.
    const canVote =
      (m.type !== "preVote" || this.yieldsPreVoteTo(m)) &&
      (this.vote === m.from || (this.vote === NO_NODE && this.leaderId === NO_NODE) || (m.type === "preVote" && m.term > this.term));
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      // The answer carries the requested term so the candidate counts it in that term.
      this.send({ type: m.type === "vote" ? "voteResponse" : "preVoteResponse", from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      } else if (this.role === "follower" || this.role === "preCandidate") {
        // A granted pre-vote also holds back this node's own campaign (or two nodes timing out
        // together would both campaign and split the vote), and forgets the leader it no longer
        // hears from, so the lease check does not refuse the real vote. The hold lasts half an
        // election timeout: the rival's real vote request (one round trip away) resets the timer
        // fully when it comes; when it does not (the rival yielded to this node too, or its
        // messages were lost) this node tries again soon instead of after a whole new timeout.
        if (this.role === "preCandidate") this.becomeFollower(this.term, NO_NODE);
        this.electionElapsed = Math.max(0, this.randomizedElectionTimeout - Math.ceil(this.config.electionTicks / 2));
        this.leaderId = NO_NODE;
      }
    } else {
      this.send({ type: m.type === "vote" ? "voteResponse" : "preVoteResponse", from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  /**
   * Two nodes that time out together would each grant the other's pre-vote, both campaign, and
   * split the vote (every survivor votes for itself), costing another election timeout. A node
   * that is itself pre-campaigning grants a rival's pre-vote only if the rival's log is more up to
   * date, or as up to date with a higher ID: exactly one of the two goes on. Pre-votes bind
   * nothing, so this changes no safety property; the one held back grants the real vote.
   */
  private yieldsPreVoteTo(m: VoteMessage): boolean {
    if (this.role !== "preCandidate") return true;
    const myTerm = this.log.lastTerm();
    const myIndex = this.log.lastIndex();
    if (m.lastTerm !== myTerm) return m.lastTerm > myTerm;
    if (m.lastIndex !== myIndex) return m.lastIndex > myIndex;
    return m.from > this.id;
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        // A leader of this term exists: stand down and follow it.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case "voteResponse":
      case "preVoteResponse": {
        const expected = this.role === "candidate" ? "voteResponse" : "preVoteResponse";
        if (m.type !== expected) return;
        if (m.type === "preVoteResponse" && !m.reject && m.term !== this.term + 1) return;
        this.votes.set(m.from, !m.reject);
        const result = this.pollVotes();
        if (result === "won") {
          if (this.role === "preCandidate") this.campaign("election");
          else this.becomeLeader();
        } else if (result === "lost") {
          this.becomeFollower(this.term, NO_NODE);
        }
        return;
      }
      default:
        return;
    }
  }

  // ------------------------------------------------------------------ follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "append":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleAppend(m);
        return;
      case "heartbeat":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleHeartbeat(m);
        return;
      case "snapshot":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleSnapshot(m);
        return;
      case "timeoutNow":
        this.campaign("transfer");
        return;
      case "readIndexResponse":
        if (!m.reject) this.readStates.push({ context: m.context, index: m.index });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: AppendMessage): void {
    if (m.prevIndex < this.log.commit) {
      this.respondAppend(m.from, this.log.commit);
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.entries);
    if (lastNew !== undefined) {
      this.commitTo(Math.min(m.commit, lastNew));
      this.respondAppend(m.from, lastNew);
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    this.send({ type: "appendResponse", from: this.id, to: m.from, term: this.term, index: m.prevIndex, reject: true, rejectHint: hint.index, hintTerm: hint.term });
  }

  private respondAppend(to: NodeId, index: number): void {
    this.send({ type: "appendResponse", from: this.id, to, term: this.term, index, reject: false, rejectHint: 0, hintTerm: 0 });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    // The leader sends min(its commit, our match), so this never commits past what we hold.
    this.commitTo(Math.min(m.commit, this.log.lastIndex()));
    const reply: HeartbeatResponseMessage = { type: "heartbeatResponse", from: this.id, to: m.from, term: this.term, context: m.context };
    this.send(reply);
  }

  private handleSnapshot(m: SnapshotMessage): void {
    const snap = m.snapshot;
    if (snap.index <= this.log.commit) {
      this.respondAppend(m.from, this.log.commit);
      return;
    }
    if (this.log.matchTerm(snap.index, snap.term)) {
      // Our log already holds the snapshot's point: it only tells us the commit moved.
      this.commitTo(snap.index);
      this.respondAppend(m.from, this.log.lastIndex());
      return;
    }
    this.log.restore(snap);
    this.setConf(snap.conf);
    this.pendingConfIndex = 0;
    this.resetProgress();
    this.respondAppend(m.from, snap.index);
  }

  // ------------------------------------------------------------------ leader

  private stepLeader(m: Message): void {
    switch (m.type) {
      case "appendResponse":
        this.handleAppendResponse(m);
        return;
      case "heartbeatResponse":
        this.handleHeartbeatResponse(m);
        return;
      case "readIndex":
        this.handleReadRequest({ from: m.from, context: m.context, index: 0, seq: 0 });
        return;
      default:
        return;
    }
  }

  private appendProposal(type: Entry["type"], data: Uint8Array): ProposeResult {
    if (this.role !== "leader") return { ok: false, reason: "notLeader", leaderId: this.leaderId };
    if (this.leadTransferee !== NO_NODE) return { ok: false, reason: "transferring", leaderId: this.id };
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    const bytes = entryBytes(entry);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.config.maxUncommittedBytes) {
      return { ok: false, reason: "tooLarge", leaderId: this.id };
    }
    this.uncommittedBytes += bytes;
    this.log.append(entry);
    if (this.appendsWanted === "none") this.appendsWanted = "entries";
    // A lone voter commits as soon as its own copy is durable (advance()).
    return { ok: true, index: entry.index, term: entry.term };
  }

  private handleAppendResponse(m: AppendResponseMessage): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      const hint = m.hintTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.hintTerm).index : m.rejectHint;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(pr, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index)) {
      if (pr.state === "probe") pr.becomeReplicate();
      else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === "replicate") pr.inflights.freeTo(m.index);
      if (this.maybeCommit()) {
        // maybeCommit scheduled appends to everyone (the commit news).
      } else if (wasPaused) {
        this.sendAppend(pr, true);
      }
      // Fill the window: everything the peer lacks, as far as flow control allows.
      let sent = true;
      while (sent) sent = this.sendAppend(pr, false);
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: HeartbeatResponseMessage): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    // The window may be full of appends that were lost; let one more through.
    if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.log.lastIndex()) this.sendAppend(pr, true);
    if (m.context === 0 || pr.learner) return;
    this.reads.ack(m.from, m.context);
    this.releaseConfirmedReads();
  }

  private handleReadRequest(request: ReadRequest): void {
    if (!this.committedInTerm()) {
      this.reads.blocked.push(request);
      return;
    }
    this.reads.register(request, this.log.commit);
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.releaseConfirmedReads();
      return;
    }
    this.heartbeatWanted = true;
  }

  private releaseConfirmedReads(): void {
    const confirmed = committedIndex(this.quorum, (id) => (id === this.id ? Number.MAX_SAFE_INTEGER : this.reads.ackedBy(id)));
    for (const request of this.reads.releaseThrough(confirmed)) {
      if (request.from === this.id) {
        this.readStates.push({ context: request.context, index: request.index });
      } else {
        const reply: ReadIndexResponseMessage = {
          type: "readIndexResponse",
          from: this.id,
          to: request.from,
          term: this.term,
          context: request.context,
          index: request.index,
          reject: false,
        };
        this.send(reply);
      }
    }
  }

  private committedInTerm(): boolean {
    return this.log.term(this.log.commit) === this.term;
  }

  /** Advances the commit index to what a quorum holds, counting only entries of this term (§5.4.2). */
  private maybeCommit(): boolean {
    const index = committedIndex(this.quorum, (id) => this.progress.get(id)?.match);
    if (!Number.isFinite(index) || index <= this.log.commit || this.log.term(index) !== this.term) return false;
    this.commitTo(index);
    this.appendsWanted = "all";
    return true;
  }

  private commitTo(index: number): void {
    const from = this.log.commit + 1;
    if (!this.log.commitTo(index)) return;
    if (this.role === "leader") {
      for (let i = from; i <= index; i++) {
        const e = this.log.entry(i);
        if (e !== undefined && e.term === this.term) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entryBytes(e));
      }
    }
    this.applyConfEntries(from, index);
    if (this.role === "leader" && this.reads.blocked.length > 0 && this.committedInTerm()) {
      for (const request of this.reads.blocked.splice(0)) this.handleReadRequest(request);
    }
  }

  /** Applies the membership changes committed in [from, to]: the core changes its configuration on commit. */
  private applyConfEntries(from: number, to: number): void {
    for (let i = from; i <= to; i++) {
      const e = this.log.entry(i);
      if (e === undefined || e.type !== "confChange") continue;
      const next = applyConfChange(this.conf, decodeConfChange(e.data));
      // An invalid change (possible only if proposed against another leader's view) is a no-op everywhere alike.
      if (typeof next === "string") continue;
      this.setConf(next);
      this.onConfChanged();
    }
  }

  private onConfChanged(): void {
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of [...this.progress]) {
      if (this.conf.voters.includes(id) || this.conf.learners.includes(id)) continue;
      if (this.role === "leader" && id !== this.id) this.sendFarewell(pr);
      this.progress.delete(id);
    }
    for (const [ids, learner] of [
      [this.conf.voters, false],
      [this.conf.learners, true],
    ] as const) {
      for (const id of ids) {
        const pr = this.progress.get(id);
        if (pr === undefined) this.progress.set(id, new Progress(id, next, this.config.maxInflightAppends, learner));
        else pr.learner = learner;
      }
    }
    if (this.role !== "leader") return;
    if (!this.conf.voters.includes(this.id)) {
      // Removed (or demoted): the change is committed; the others elect a leader among themselves.
      this.becomeFollower(this.term, NO_NODE);
      return;
    }
    if (this.leadTransferee !== NO_NODE && !this.conf.voters.includes(this.leadTransferee)) this.leadTransferee = NO_NODE;
    const self = this.progress.get(this.id);
    if (self !== undefined && self.match < this.log.stableIndex) self.maybeUpdate(this.log.stableIndex);
    // A smaller quorum may commit more now.
    this.maybeCommit();
    this.appendsWanted = "all";
  }

  /**
   * A last append to a member whose removal just committed: the entries it lacks up to the
   * commit index (which includes its removal) and that commit index, so it applies its removal
   * and stops instead of waiting for a leader that no longer talks to it. Best effort.
   */
  private sendFarewell(pr: Progress): void {
    const prevTerm = this.log.term(pr.match);
    const entries = this.log.slice(pr.match + 1, this.log.commit + 1, this.config.maxAppendBytes);
    if (prevTerm === undefined || entries === undefined) return;
    this.send({ type: "append", from: this.id, to: pr.id, term: this.term, prevIndex: pr.match, prevTerm, entries, commit: this.log.commit });
  }

  /** Builds the appends and heartbeats marked since the last Ready. */
  private flushReplication(): void {
    if (this.role !== "leader") {
      this.appendsWanted = "none";
      this.heartbeatWanted = false;
      return;
    }
    if (this.appendsWanted !== "none") {
      const sendIfEmpty = this.appendsWanted === "all";
      this.appendsWanted = "none";
      for (const pr of this.progress.values()) if (pr.id !== this.id) this.sendAppend(pr, sendIfEmpty);
    }
    if (this.heartbeatWanted) {
      this.heartbeatWanted = false;
      const context = this.reads.lastSeq();
      for (const pr of this.progress.values()) {
        if (pr.id === this.id) continue;
        const hb: HeartbeatMessage = {
          type: "heartbeat",
          from: this.id,
          to: pr.id,
          term: this.term,
          commit: Math.min(pr.match, this.log.commit),
          context: pr.learner ? 0 : context,
        };
        this.send(hb);
      }
    }
  }

  /** Sends the next append (or the snapshot) to a peer if flow control allows; returns whether it sent. */
  private sendAppend(pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.config.maxAppendBytes);
    if (prevTerm === undefined || entries === undefined) return this.sendSnapshot(pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m: AppendMessage = {
      type: "append",
      from: this.id,
      to: pr.id,
      term: this.term,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.commit,
    };
    this.send(m);
    pr.sentAppend(entries.length, entries.length > 0 ? entries[entries.length - 1].index : prevIndex);
    return entries.length > 0;
  }

  private sendSnapshot(pr: Progress): boolean {
    // A peer not heard from recently may be down: do not ship a whole snapshot into the void.
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot;
    if (snapshot.index === 0) throw new RaftError(`peer ${pr.id.toString(16)} needs entries before index 1`);
    pr.becomeSnapshot(snapshot.index);
    this.send({ type: "snapshot", from: this.id, to: pr.id, term: this.term, snapshot });
    return false;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: "timeoutNow", from: this.id, to, term: this.term });
  }

  private send(m: Message): void {
    this.messages.push(m);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.commit };
  }

  private softState(): SoftState {
    return { leaderId: this.leaderId, role: this.role };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leaderId === b.leaderId && a.role === b.role;
}

