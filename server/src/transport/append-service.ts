/**
 * The server side of Append: a peer's long-lived stream of message batches. The first request's
 * hello is checked (and the stream tied to its sender); every batch's messages are checked to
 * be from that sender to this member and delivered to the core in order. The response side
 * carries this member's replies to that peer (PeerLink.attachReplies) until the stream ends.
 */
import { AppendRequestSchema } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import { MessageCodecError } from "./errors.js";
import type { GrpcServerCall } from "./grpc-server-call.js";
import { OK_STATUS } from "./grpc-status.js";
import type { InboundContext } from "./inbound-context.js";
import { decodeProto } from "./message-codec.js";
import type { PeerLink } from "./peer-link.js";

export function serveAppend(call: GrpcServerCall, ctx: InboundContext): void {
  let link: PeerLink | undefined;
  call.start({
    onMessage(bytes) {
      const request = decodeProto(AppendRequestSchema, bytes);
      if (link === undefined) {
        link = ctx.claim(call, request.hello);
        link.attachReplies(call);
      } else if (request.hello !== undefined) {
        throw new MessageCodecError("an AppendRequest after the first carries a hello", "hello");
      }
      link.receiveBatch(request.messages);
    },
    onRequestEnd() {
      call.finish(OK_STATUS);
    },
    onDrain() {
      link?.repliesDrained(call);
    },
    onClose() {
      link?.detachReplies(call);
    },
  });
}
