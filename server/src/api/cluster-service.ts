/**
 * ClusterService for a member without Raft: it is the whole cluster. Membership changes need
 * Raft (issue 5) and are refused with FAILED_PRECONDITION naming why.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ClusterService } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { type MemberContext, responseHeader } from "./member.js";
import type { ServiceRegistrar } from "./unary-method-table.js";

export function registerClusterService(router: ServiceRegistrar, member: MemberContext): void {
  const self = () => ({
    id: member.identity.memberId,
    name: member.identity.name,
    peerUrls: member.identity.peerUrls,
    clientUrls: member.identity.clientUrls,
    isLearner: false,
  });
  const refuse = (what: string): never => {
    throw new ConnectError(`${what} needs a Raft cluster; this member runs alone without Raft`, Code.FailedPrecondition);
  };
  router.service(ClusterService, {
    memberList() {
      return { header: responseHeader(member, 0), members: [self()] };
    },
    memberAdd: () => refuse("adding a member"),
    memberPromote: () => refuse("promoting a member"),
    memberRemove: () => refuse("removing a member"),
    moveLeader: () => refuse("moving the leader"),
  });
}
