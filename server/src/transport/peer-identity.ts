/**
 * Who may call whom: the PeerHello that opens every call, and the addressing of the core
 * messages a call carries (raft.proto, "Identity").
 */
import { create } from "@bufbuild/protobuf";
import { type PeerHello, PeerHelloSchema } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { Message, NodeId } from "../raft/index.js";
import { MessageCodecError, PeerIdentityError } from "./errors.js";

export interface LocalIdentity {
  readonly clusterId: bigint;
  readonly memberId: NodeId;
  /** True if `id` is a current peer of this member. */
  isPeer(id: NodeId): boolean;
}

export function helloTo(local: LocalIdentity, receiver: NodeId): PeerHello {
  return create(PeerHelloSchema, { clusterId: local.clusterId, senderId: local.memberId, receiverId: receiver });
}

/** The sender's member ID, once `hello` is found acceptable; throws PeerIdentityError (FAILED_PRECONDITION) otherwise. */
export function checkHello(hello: PeerHello | undefined, local: LocalIdentity): NodeId {
  if (hello === undefined) throw new MessageCodecError("the call's first message carries no hello", "hello");
  const { clusterId, memberId } = local;
  if (hello.clusterId !== clusterId) {
    throw new PeerIdentityError(`member ${hello.senderId} belongs to cluster ${hello.clusterId}, but member ${memberId} belongs to cluster ${clusterId}`);
  }
  if (hello.receiverId !== memberId) {
    throw new PeerIdentityError(`member ${hello.senderId} called member ${hello.receiverId}, but this is member ${memberId} (check the peer URLs)`);
  }
  if (!local.isPeer(hello.senderId)) {
    throw new PeerIdentityError(`member ${hello.senderId} is not a member of cluster ${clusterId} as member ${memberId} knows it (removed, or not yet added here)`);
  }
  return hello.senderId;
}

/** Throws MessageCodecError unless `m` is from `sender` to `receiver`. */
export function checkAddressing(m: Message, sender: NodeId, receiver: NodeId): void {
  if (m.from !== sender || m.to !== receiver) {
    throw new MessageCodecError(`a ${m.type} message from ${m.from} to ${m.to} arrived on a call from ${sender} to ${receiver}`, "from");
  }
}
