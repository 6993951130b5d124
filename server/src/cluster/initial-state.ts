/**
 * Where a member's Raft state starts:
 *  - a Raft log exists: from it (a restart);
 *  - no log, --initial-cluster-state new, an empty store: the founders' bootstrap log (one
 *    addVoter entry per founder, identical on every founder);
 *  - no log, new, a store with data (a data directory from before clustering, or `snapshot
 *    restore`): a one-member cluster continuing from the store's applied index A: a snapshot
 *    point at A and this member's addVoter entry at A + 1. Founding several members from such a
 *    directory is refused: the others would not have its data;
 *  - no log, --initial-cluster-state existing: an empty log and no membership; the leader of
 *    the cluster this member was added to sends it the log (or a snapshot).
 */
import type { InitialClusterMember } from "../config.js";
import { bootstrapState, encodeConfChange, type InitialState, type NodeId } from "../raft/index.js";
import { encodeMemberInfo } from "./member-info.js";

export class ClusterStartError extends Error {
  override name = "ClusterStartError";
}

export function startingPoint(args: {
  recovered: InitialState | undefined;
  storeAppliedIndex: number;
  state: "new" | "existing";
  selfId: NodeId;
  founders: readonly (InitialClusterMember & { id: NodeId })[];
}): InitialState {
  if (args.recovered !== undefined) return args.recovered;
  if (args.state === "existing") {
    return { hardState: { term: 0, vote: 0n, commit: 0 }, snapshot: { index: 0, term: 0, conf: { voters: [], learners: [] } }, entries: [] };
  }
  if (args.storeAppliedIndex === 0) {
    return bootstrapState(args.founders.map((f) => ({ id: f.id, context: encodeMemberInfo({ name: f.name, peerUrls: f.peerUrls }) })));
  }
  if (args.founders.length > 1) {
    throw new ClusterStartError(
      `this data directory holds data (applied index ${args.storeAppliedIndex}) but no Raft log; it can only start a one-member cluster, not found one of ${args.founders.length}. Start the others empty and add them with "sisyphusctl member add".`,
    );
  }
  const self = args.founders[0];
  const a = args.storeAppliedIndex;
  return {
    hardState: { term: 1, vote: 0n, commit: a + 1 },
    snapshot: { index: a, term: 1, conf: { voters: [], learners: [] } },
    entries: [
      {
        term: 1,
        index: a + 1,
        type: "confChange",
        data: encodeConfChange({ type: "addVoter", nodeId: args.selfId, context: encodeMemberInfo({ name: self.name, peerUrls: self.peerUrls }) }),
      },
    ],
  };
}
