/** Cluster membership as the SDK returns it. */
import type { Member as MemberMessage } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";

/** One member of the cluster. */
export interface Member {
  id: bigint;
  /** Empty until the member has started and joined. */
  name: string;
  peerUrls: string[];
  /** Empty until the member has started. */
  clientUrls: string[];
  isLearner: boolean;
}

export function memberFromMessage(message: MemberMessage): Member {
  return { id: message.id, name: message.name, peerUrls: message.peerUrls, clientUrls: message.clientUrls, isLearner: message.isLearner };
}
