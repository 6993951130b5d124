/**
 * What every handler needs to know about the member it runs in: who it is (for response
 * headers), its store (reads, watches, lease clocks), its proposer (writes) and its limits.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ResponseHeaderSchema } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import type { CommandLimits, KvStateMachine, Proposer } from "../kv/index.js";
import type { Engine } from "../storage/index.js";

export interface MemberIdentity {
  clusterId: bigint;
  memberId: bigint;
  name: string;
  /** URLs clients reach this member on (advertised). */
  clientUrls: string[];
  /** URLs peers reach this member on (advertised). */
  peerUrls: string[];
}

/** One member as the cluster API lists it. */
export interface ClusterMember {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** This member's view of the Raft group (Maintenance Status). */
export interface RaftView {
  leaderId: bigint;
  term: number;
  committedIndex: number;
  appliedIndex: number;
  logBytes: number;
  isLearner: boolean;
}

/**
 * The cluster as the API sees it: membership (replicated, so every member lists the same) and
 * changes to it, which go through Raft one at a time. Errors are the Raft layer's typed errors.
 */
export interface ClusterControl {
  raft(): RaftView;
  /** The members, by ascending ID; `linearizable` first passes a read barrier. */
  members(linearizable: boolean): Promise<ClusterMember[]>;
  addMember(peerUrls: string[], isLearner: boolean): Promise<ClusterMember>;
  promoteMember(id: bigint): Promise<void>;
  removeMember(id: bigint): Promise<void>;
  /** Resolves once `targetId` leads (or fails with FAILED_PRECONDITION / UNAVAILABLE). */
  moveLeader(targetId: bigint): Promise<void>;
}

export interface MemberContext {
  identity: MemberIdentity;
  cluster: ClusterControl;
  store: KvStateMachine;
  proposer: Proposer;
  engine: Engine;
  /** Where the engine keeps its files (for db size and snapshots). */
  engineDir: string;
  limits: CommandLimits;
  /** Most requests in flight on one Pipeline stream. */
  pipelineMaxInFlight: number;
  version: string;
  /** Aborted when the member starts shutting down: streams finish what they accepted and end. */
  shutdown: AbortSignal;
}

export type ResponseHeaderInit = MessageInitShape<typeof ResponseHeaderSchema>;

/** The header of a response that reflects the store at `revision` (0: does not read the store). */
export function responseHeader(member: MemberContext, revision: number): ResponseHeaderInit {
  return {
    clusterId: member.identity.clusterId,
    memberId: member.identity.memberId,
    revision: BigInt(revision),
    raftTerm: BigInt(member.proposer.term()),
    leaderId: member.proposer.leaderId(),
  };
}
