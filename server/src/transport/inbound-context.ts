/** What the server side of each Raft call needs from the transport that serves it. */
import type { PeerHello } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { GrpcServerCall } from "./grpc-server-call.js";
import type { LocalIdentity } from "./peer-identity.js";
import type { PeerLink } from "./peer-link.js";
import type { TransportHandlers, TransportLimits } from "./transport-options.js";

export interface InboundContext {
  readonly identity: LocalIdentity;
  readonly handlers: TransportHandlers;
  readonly limits: TransportLimits;
  /**
   * Checks the call's hello and ties the call to its sender's link, so that it ends when that
   * peer is removed; throws PeerIdentityError (FAILED_PRECONDITION) or MessageCodecError.
   */
  claim(call: GrpcServerCall, hello: PeerHello | undefined): PeerLink;
}
