/**
 * The vocabulary of the consensus core: log entries, hard state, configurations, messages and
 * the Ready a driver acts on. Plain data only (no classes), so a message can be copied by a
 * simulated network, encoded by the transport and compared in tests.
 *
 * Indexes and terms are JavaScript numbers (safe integers: 2^53 entries is beyond any log this
 * process will hold); node IDs are bigint because they are random 64-bit values on the wire.
 */
import type { NodeId } from "./quorum.js";

export type { NodeId } from "./quorum.js";

/** "none": no node (no vote cast, no leader known). */
export const NO_NODE: NodeId = 0n;

export type EntryType = "normal" | "confChange";

/**
 * One log entry. A "normal" entry with empty data is the no-op a new leader appends to commit
 * the entries of earlier terms; the driver skips it when applying (but counts it as applied).
 * A "confChange" entry's data is an encodeConfChange() result.
 */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  /** The node voted for in `term`, NO_NODE if none. */
  readonly vote: NodeId;
  /** Highest index known committed (persisting it only saves re-learning it after a restart). */
  readonly commit: number;
}

/** The membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * A snapshot as the core knows it: the point the log was compacted at and the membership there.
 * The state itself (an engine checkpoint) lives with the driver; the core never touches it.
 * index 0 / term 0 means "no snapshot": the log starts at index 1.
 */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export type ConfChangeType = "addLearner" | "addVoter" | "removeNode";

/**
 * One membership change (changes are made one at a time; see docs/ARCHITECTURE.md).
 * "addVoter" adds a new voter or promotes a learner; "addLearner" adds a learner (or demotes a voter).
 * `context` is opaque to the core: the driver stores it (the member's name and peer URLs).
 */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  readonly context: Uint8Array;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term (0 for messages that carry none, which never happens in this core). */
  readonly term: number;
}

/** Leader -> follower: entries after (prevIndex, prevTerm), and the leader's commit index. */
export interface AppendMessage extends MessageBase {
  readonly type: "append";
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Follower -> leader. Accepted: `index` is the follower's last index matching the leader's log.
 * Rejected: `index` is the prevIndex that did not match, and (rejectHint, hintTerm) is the
 * follower's guess of where the logs may agree: the largest index <= rejectHint whose term is
 * <= hintTerm (the fast back-tracking of etcd-io/raft, thesis §5.3).
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: "appendResponse";
  readonly index: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly hintTerm: number;
}

/** Leader -> follower, every heartbeat interval: keeps followers from campaigning, carries ReadIndex context. */
export interface HeartbeatMessage extends MessageBase {
  readonly type: "heartbeat";
  readonly commit: number;
  /** The newest pending ReadIndex request's context, 0 when none. */
  readonly context: number;
}

export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: "heartbeatResponse";
  readonly context: number;
}

/**
 * A (pre-)vote request. For "preVote", `term` is the term the candidate would campaign in (its
 * own term + 1), and no state changes on either side. `transfer` marks a campaign started by
 * TimeoutNow: it may disrupt a live leader.
 */
export interface VoteMessage extends MessageBase {
  readonly type: "vote" | "preVote";
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly transfer: boolean;
}

export interface VoteResponseMessage extends MessageBase {
  readonly type: "voteResponse" | "preVoteResponse";
  readonly reject: boolean;
}

/**
 * Leader -> follower that is behind the compacted log. The transport streams the snapshot's
 * data first (InstallSnapshot) and delivers this message to the follower's core after the data
 * is staged; the core then tells its driver (Ready.snapshot) to install it.
 */
export interface SnapshotMessage extends MessageBase {
  readonly type: "snapshot";
  readonly snapshot: SnapshotMeta;
}

/** Leader -> transfer target: campaign now, even though a leader is alive. */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: "timeoutNow";
}

/** Follower -> leader: a linearizable read point is wanted; `context` identifies the request. */
export interface ReadIndexMessage extends MessageBase {
  readonly type: "readIndex";
  readonly context: number;
}

/** Leader -> follower: the read point for `context` (`index` is 0 and `reject` true if refused). */
export interface ReadIndexResponseMessage extends MessageBase {
  readonly type: "readIndexResponse";
  readonly context: number;
  readonly index: number;
  readonly reject: boolean;
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage;

export type MessageType = Message["type"];

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** A linearizable read point: once the state machine has applied `index`, reads for `context` may run. */
export interface ReadState {
  readonly context: number;
  readonly index: number;
}

/**
 * Everything the core wants done, in the order the driver must do it:
 *  1. persist `hardState` (if set), `snapshot` (if set: install its data, then record it) and
 *     `entries` (which may overwrite the log from entries[0].index on), syncing to disk;
 *  2. send `messages`;
 *  3. apply `committedEntries` in order, and answer `readStates` once applied >= their index;
 *  4. call advance(ready).
 */
export interface Ready {
  readonly hardState: HardState | undefined;
  readonly snapshot: SnapshotMeta | undefined;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  /**
   * The messages may go out before the save is synced, in parallel with it (Raft thesis §10.2.1):
   * set for a leader whose term and vote are already durable. Its appends carry entries it has
   * not synced yet, which is safe because it counts its own copy toward commit only after
   * advance(); nothing it sends depends on this Ready's save. Otherwise the save comes first.
   */
  readonly sendBeforePersist: boolean;
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Who leads and this node's role, when either changed since the last Ready. */
  readonly softState: SoftState | undefined;
}

export interface SoftState {
  readonly leaderId: NodeId;
  readonly role: Role;
}

/** What a restarting node recovers from its durable log. */
export interface InitialState {
  readonly hardState: HardState;
  /** The last snapshot (index 0 when none): the log's entries start at snapshot.index + 1. */
  readonly snapshot: SnapshotMeta;
  /** Every persisted entry after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
}

/** Outcome of propose / proposeConfChange / readIndex on this node. */
export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: ProposeRefusal; readonly leaderId: NodeId };

/**
 * Why a proposal was refused (it is certainly not in the log):
 *  notLeader: this node is not the leader (leaderId says who is, NO_NODE if unknown);
 *  transferring: leadership is being transferred;
 *  confChangePending: a membership change is already in flight, or this leader has not yet
 *    committed an entry of its term (a change then could be unsafe);
 *  invalidConfChange: the change makes no sense for the current membership;
 *  tooLarge: the uncommitted log would exceed its byte limit.
 */
export type ProposeRefusal = "notLeader" | "transferring" | "confChangePending" | "invalidConfChange" | "tooLarge";

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before campaigning; the actual timeout is random in [e, 2e). */
  readonly electionTicks: number;
  /** Ticks between heartbeats; must be < electionTicks. */
  readonly heartbeatTicks: number;
  /** The only source of randomness: a seeded generator in tests, Math.random in production. Returns [0, 1). */
  readonly random: () => number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Append messages in flight per follower in the replicate state before the leader waits for acks. */
  readonly maxInflightAppends: number;
  /** Upper bound on the entry bytes of one append message (at least one entry is always sent). */
  readonly maxAppendBytes: number;
  /** Upper bound on proposed-but-uncommitted entry bytes on a leader; beyond it proposals are refused (tooLarge). */
  readonly maxUncommittedBytes: number;
}

/** Replication progress of one peer as the leader sees it. */
export type ProgressState = "probe" | "replicate" | "snapshot";

export interface PeerStatus {
  readonly id: NodeId;
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly learner: boolean;
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leaderId: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly conf: ConfState;
  /** The leader's view of each peer (empty on other roles). */
  readonly peers: readonly PeerStatus[];
}
