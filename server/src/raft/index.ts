/**
 * The Raft layer's public surface: the deterministic consensus core (RaftCore and its
 * vocabulary), membership-change helpers and the quorum arithmetic. The durable log and the
 * driver that wires the core to storage and transport come next; see docs/ARCHITECTURE.md.
 */
export { RaftCore } from "./raft-core.js";
export { applyConfChange, bootstrapState, decodeConfChange, encodeConfChange } from "./conf-change.js";
export { MembershipChangeError, RaftError, RaftLogCorruptionError, RaftUnavailableError } from "./errors.js";
export { RaftNode } from "./raft-node.js";
export { DurableLog } from "./raft-log-store.js";
export type { LogUpdate, RaftLogStoreOptions } from "./raft-log-store.js";
export type { RaftApplier, RaftLogStore, RaftMessenger, RaftNodeEvents, RaftNodeOptions } from "./raft-node.js";
export { committedIndex, majorityCommittedIndex, majorityVoteResult, voteResult } from "./quorum.js";
export type { MajorityConfig, NodeId, QuorumConfig, VoteResult } from "./quorum.js";
export { NO_NODE } from "./types.js";
export type * from "./types.js";
