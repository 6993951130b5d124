/**
 * The membership changes a simulation run makes, one at a time through the leader's
 * proposeConfChange: add a new node as a learner, promote it to voter, then remove another voter
 * (chosen at random, possibly the leader) — and again for each further cycle. A change counts as
 * done once some node applies it (it is committed); until then it is proposed again, at most
 * every `retryTicks`, to whichever node leads (a proposal can be refused, or lost with its leader).
 */
import type { ConfChange, NodeId } from "../../../src/raft/index.js";
import type { Prng } from "./prng.js";
import type { SimNode } from "./sim-node.js";

export interface MembershipHost {
  /** The node leading in the highest term, if any runs. */
  leader(): SimNode | undefined;
  /** Creates and starts a node with an empty disk (it learns the cluster from the leader). */
  addEmptyNode(id: NodeId): void;
  note(event: string): void;
}

type Stage = "addLearner" | "promote" | "remove";

const NO_CONTEXT = new Uint8Array(0);

export class MembershipScript {
  private readonly applied = new Set<string>();
  private stage: Stage | "done" = "addLearner";
  private cyclesLeft: number;
  private newId: NodeId;
  private victim: NodeId | undefined;
  /** Whether the node of the current cycle has been created. */
  private nodeStarted = false;
  private lastProposalTick = -Infinity;
  changesDone = 0;

  constructor(
    private readonly rng: Prng,
    firstNewId: NodeId,
    cycles: number,
    private readonly retryTicks = 15,
  ) {
    this.newId = firstNewId;
    this.cyclesLeft = cycles;
    if (cycles <= 0) this.stage = "done";
  }

  /** Some node applied a membership change (called for every node that applies it). */
  onApplied(change: ConfChange): void {
    this.applied.add(changeKey(change));
  }

  onTick(tick: number, host: MembershipHost): void {
    if (this.stage === "done") return;
    const leader = host.leader();
    const change = this.currentChange(leader);
    if (change === undefined) return;
    if (this.applied.has(changeKey(change))) {
      this.changesDone++;
      host.note(`membership: ${change.type} ${change.nodeId} committed`);
      this.nextStage();
      return;
    }
    if (leader === undefined || tick - this.lastProposalTick < this.retryTicks) return;
    if (this.stage === "addLearner" && !this.nodeStarted) {
      host.addEmptyNode(this.newId);
      this.nodeStarted = true;
    }
    const result = leader.raft().proposeConfChange(change);
    if (result.ok) {
      this.lastProposalTick = tick;
      host.note(`membership: node ${leader.id} proposed ${change.type} ${change.nodeId} at ${result.index}@${result.term}`);
    }
  }

  private currentChange(leader: SimNode | undefined): ConfChange | undefined {
    switch (this.stage) {
      case "addLearner":
        return { type: "addLearner", nodeId: this.newId, context: NO_CONTEXT };
      case "promote":
        return { type: "addVoter", nodeId: this.newId, context: NO_CONTEXT };
      case "remove": {
        if (this.victim === undefined) {
          if (leader === undefined) return undefined;
          const voters = leader.raft().status().conf.voters.filter((id) => id !== this.newId);
          if (voters.length === 0) return undefined;
          this.victim = this.rng.pick(voters);
        }
        return { type: "removeNode", nodeId: this.victim, context: NO_CONTEXT };
      }
      case "done":
        return undefined;
    }
  }

  private nextStage(): void {
    this.lastProposalTick = -Infinity;
    if (this.stage === "addLearner") this.stage = "promote";
    else if (this.stage === "promote") this.stage = "remove";
    else if (this.stage === "remove") {
      this.victim = undefined;
      this.cyclesLeft--;
      if (this.cyclesLeft <= 0) {
        this.stage = "done";
      } else {
        this.stage = "addLearner";
        this.newId += 1n;
        this.nodeStarted = false;
      }
    }
  }
}

function changeKey(change: ConfChange): string {
  return `${change.type}:${change.nodeId}`;
}
