/**
 * The Raft layer's public surface (issue 5, in progress): so far the quorum arithmetic the
 * consensus core will count commits and elections with. The core (step/tick/Ready), its durable
 * log and the transport come next; see docs/ARCHITECTURE.md.
 */
export { committedIndex, majorityCommittedIndex, majorityVoteResult, voteResult } from "./quorum.js";
export type { MajorityConfig, NodeId, QuorumConfig, VoteResult } from "./quorum.js";
