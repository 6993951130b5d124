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
  /** URLs peers reach this member on (advertised); empty without Raft. */
  peerUrls: string[];
}

export interface MemberContext {
  identity: MemberIdentity;
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
  };
}
