/**
 * Typed errors of the transport. Each carries the gRPC status code it ends a call with when it
 * is raised while serving a peer (grpc-status.ts statusOf), so a refusal reads the same in our
 * logs and in the peer's.
 */
import { Code } from "@connectrpc/connect";
import type { NodeId } from "../raft/index.js";

export class TransportError extends Error {
  override readonly name: string = "TransportError";
  constructor(
    message: string,
    readonly code: Code,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bytes that are not a valid peer-protocol message; `field` names the offending field (e.g. "append.entries[2].index"). */
export class MessageCodecError extends TransportError {
  override readonly name: string = "MessageCodecError";
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message, Code.InvalidArgument);
  }
}

/** A call from a member of another cluster, meant for another member, or from a member this one does not know. */
export class PeerIdentityError extends TransportError {
  override readonly name: string = "PeerIdentityError";
  constructor(message: string) {
    super(message, Code.FailedPrecondition);
  }
}

/**
 * A forwarded proposal that got no answer from the leader (the leader's refusals are
 * ProposeResult values, not errors). `notProposed` is true only when the command certainly never
 * reached the leader's core (it was never written to the stream, or the leader said it could not
 * take it); otherwise it may or may not be in the leader's log.
 */
export class ForwardError extends TransportError {
  override readonly name: string = "ForwardError";
  constructor(
    message: string,
    readonly leader: NodeId,
    readonly notProposed: boolean,
    code: Code = Code.Unavailable,
  ) {
    super(message, code);
  }
}
