/**
 * ClusterService: the members of the Raft group (replicated records, the same on every member)
 * and changes to it, through the member's ClusterControl. Membership changes go through Raft one
 * at a time; a follower hands them to the leader. Errors come from one mapping (status.ts).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ClusterService } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { type ClusterMember, type MemberContext, responseHeader } from "./member.js";
import { rethrowAsConnectError } from "./status.js";
import type { ServiceRegistrar } from "./unary-method-table.js";

const MAX_PEER_URLS = 16;

export function registerClusterService(router: ServiceRegistrar, member: MemberContext): void {
  const list = async (linearizable = false): Promise<ClusterMember[]> => member.cluster.members(linearizable).catch(rethrowAsConnectError);
  const known = async (id: bigint): Promise<ClusterMember> => {
    const found = (await list(true)).find((m) => m.id === id);
    if (found === undefined) throw new ConnectError(`no member has ID ${id}`, Code.NotFound);
    return found;
  };
  router.service(ClusterService, {
    async memberList(req) {
      return { header: responseHeader(member, 0), members: await list(req.linearizable) };
    },
    async memberAdd(req) {
      const peerUrls = checkPeerUrls(req.peerUrls);
      const current = await list(true);
      for (const m of current) {
        const taken = m.peerUrls.find((u) => peerUrls.includes(u));
        if (taken !== undefined) throw new ConnectError(`the peer URL ${taken} is already used by member ${m.name || m.id}`, Code.AlreadyExists);
      }
      const added = await member.cluster.addMember(peerUrls, req.isLearner).catch(rethrowAsConnectError);
      return { header: responseHeader(member, 0), member: added, members: await list(true) };
    },
    async memberPromote(req) {
      const target = await known(req.id);
      if (!target.isLearner) throw new ConnectError(`member ${target.name || target.id} is already a voter`, Code.FailedPrecondition);
      await member.cluster.promoteMember(req.id).catch(rethrowAsConnectError);
      return { header: responseHeader(member, 0), members: await list(true) };
    },
    async memberRemove(req) {
      await known(req.id);
      await member.cluster.removeMember(req.id).catch(rethrowAsConnectError);
      return { header: responseHeader(member, 0), members: await list(true) };
    },
    async moveLeader(req) {
      const target = await known(req.targetId);
      if (target.isLearner) throw new ConnectError(`member ${target.name || target.id} is a learner; only a voter can lead`, Code.FailedPrecondition);
      await member.cluster.moveLeader(req.targetId).catch(rethrowAsConnectError);
      return { header: responseHeader(member, 0) };
    },
  });
}

/** Peer URLs as given to MemberAdd: at least one, http(s), no path, normalized to their origin. */
function checkPeerUrls(urls: readonly string[]): string[] {
  if (urls.length === 0) throw new ConnectError("peer_urls: at least one peer URL is required", Code.InvalidArgument);
  if (urls.length > MAX_PEER_URLS) throw new ConnectError(`peer_urls: at most ${MAX_PEER_URLS} peer URLs`, Code.InvalidArgument);
  return urls.map((raw, i) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConnectError(`peer_urls[${i}]: not a URL: "${raw}"`, Code.InvalidArgument);
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" || url.search !== "" || url.port === "") {
      throw new ConnectError(`peer_urls[${i}]: must be http(s)://host:port with no path, got "${raw}"`, Code.InvalidArgument);
    }
    return url.origin;
  });
}
