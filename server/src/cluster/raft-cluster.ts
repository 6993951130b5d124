/**
 * The API's ClusterControl over this member's Raft node: membership from the replicated member
 * records, changes as Raft membership entries (one at a time), leadership transfer.
 *
 * A new member's ID is derived from its peer URLs (member-identity.ts), so the member computes
 * the same ID when it starts with --initial-cluster-state existing. Its name and client URLs are
 * unknown until it starts and publishes them (a memberAttributes command).
 */
import type { ClusterControl, ClusterMember, RaftView } from "../api/index.js";
import type { ApplyResult, KvStateMachine } from "../kv/index.js";
import { memberIdFor } from "../member-identity.js";
import { MembershipChangeError, RaftUnavailableError, type NodeId, type RaftNode } from "../raft/index.js";
import { encodeMemberInfo } from "./member-info.js";

/** A learner may be promoted once it holds this share of the leader's committed entries (etcd's rule). */
const LEARNER_READY_FRACTION = 0.9;

export interface RaftClusterParts {
  node: RaftNode<ApplyResult>;
  /** The current store (an install replaces it). */
  store: () => KvStateMachine;
  clusterId: bigint;
  selfId: NodeId;
  logBytes: () => number;
  electionTimeoutMs: number;
}

export class RaftCluster implements ClusterControl {
  constructor(private readonly parts: RaftClusterParts) {}

  raft(): RaftView {
    const s = this.parts.node.status();
    return {
      leaderId: s.leaderId,
      term: s.term,
      committedIndex: s.commit,
      appliedIndex: s.durableApplied,
      logBytes: this.parts.logBytes(),
      isLearner: s.conf.learners.includes(this.parts.selfId),
    };
  }

  async members(linearizable: boolean): Promise<ClusterMember[]> {
    if (linearizable) await this.parts.node.readBarrier();
    return this.parts
      .store()
      .members()
      .map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.learner }));
  }

  async addMember(peerUrls: string[], isLearner: boolean): Promise<ClusterMember> {
    const id = memberIdFor(this.parts.clusterId, peerUrls);
    if (!isLearner) this.checkQuorumAfter((voters) => [...voters, id], "adding a voter that has not started yet");
    await this.parts.node.proposeConfChange({ type: isLearner ? "addLearner" : "addVoter", nodeId: id, context: encodeMemberInfo({ name: "", peerUrls }) });
    return { id, name: "", peerUrls, clientUrls: [], isLearner };
  }

  async promoteMember(id: bigint): Promise<void> {
    const member = (await this.members(true)).find((m) => m.id === id);
    if (member === undefined) throw new MembershipChangeError(`no member has ID ${id}`);
    const status = this.parts.node.status();
    const learner = status.peers.find((p) => p.id === id);
    if (status.role === "leader" && (learner === undefined || learner.match < Math.floor(status.commit * LEARNER_READY_FRACTION))) {
      throw new MembershipChangeError(
        `learner ${id} has not caught up with the leader's log yet (it holds ${learner?.match ?? 0} of ${status.commit} committed entries); promote it once it has`,
      );
    }
    await this.parts.node.proposeConfChange({ type: "addVoter", nodeId: id, context: encodeMemberInfo({ name: member.name, peerUrls: member.peerUrls }) });
  }

  async removeMember(id: bigint): Promise<void> {
    this.checkQuorumAfter((voters) => voters.filter((v) => v !== id), "removing this member");
    await this.parts.node.proposeConfChange({ type: "removeNode", nodeId: id, context: new Uint8Array(0) });
  }

  /**
   * Refuses a change after which the voters still running could not form a quorum (etcd's strict
   * reconfiguration check): it would stop the cluster. Only the leader knows who is running; on
   * other members the proposal itself is refused.
   */
  private checkQuorumAfter(change: (voters: readonly NodeId[]) => NodeId[], what: string): void {
    const status = this.parts.node.status();
    if (status.role !== "leader") return;
    const running = new Set<NodeId>([this.parts.selfId]);
    for (const p of status.peers) if (p.recentActive || p.state === "replicate") running.add(p.id);
    const after = change(status.conf.voters);
    const quorum = Math.floor(after.length / 2) + 1;
    const up = after.filter((v) => running.has(v)).length;
    if (up < quorum) {
      throw new MembershipChangeError(`${what} would leave ${up} of ${after.length} voters running, fewer than the quorum of ${quorum}; the cluster would stop`);
    }
  }

  async moveLeader(targetId: bigint): Promise<void> {
    const node = this.parts.node;
    if (node.leaderId() === targetId) return;
    if (!node.isLeader()) {
      throw new RaftUnavailableError("MoveLeader must be sent to the leader (see sisyphus-leader)", true, node.leaderId());
    }
    node.transferLeadership(targetId);
    // The transfer succeeds or is abandoned within an election timeout; allow for the new leader's election.
    const deadline = Date.now() + 3 * this.parts.electionTimeoutMs + 500;
    while (Date.now() < deadline) {
      if (node.leaderId() === targetId) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new MembershipChangeError(`member ${targetId} did not take over leadership in time (it may be behind or unreachable)`);
  }
}
