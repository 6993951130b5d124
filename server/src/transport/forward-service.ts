/**
 * The leader's side of Forward: each proposal is handed to the core (handlers.forward) as it
 * arrives and answered at once with its ProposeResult; the answers to one turn's proposals go out
 * in one write (a microtask flush). When the stream is full, reading stops until 'drain', so
 * HTTP/2 flow control holds back the follower and the unwritten answers stay bounded by what one
 * chunk of requests held.
 */
import { toBinary } from "@bufbuild/protobuf";
import { EntryType, ForwardRequestSchema, ForwardResponseSchema } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import { encodeEnvelopes } from "../wire/index.js";
import { MessageCodecError } from "./errors.js";
import type { GrpcServerCall } from "./grpc-server-call.js";
import { OK_STATUS } from "./grpc-status.js";
import type { InboundContext } from "./inbound-context.js";
import { decodeProto } from "./message-codec.js";
import type { PeerLink } from "./peer-link.js";
import { type ForwardOutcome, forwardResponseToProto } from "./propose-result-codec.js";

export function serveForward(call: GrpcServerCall, ctx: InboundContext): void {
  let link: PeerLink | undefined;
  let answers: Uint8Array[] = [];
  let flushQueued = false;
  let awaitingDrain = false;

  const flush = (): void => {
    flushQueued = false;
    if (awaitingDrain || answers.length === 0) return;
    const frame = encodeEnvelopes(answers);
    answers = [];
    if (!call.write(frame)) {
      awaitingDrain = true;
      call.pauseRequests();
    }
  };

  call.start({
    onMessage(bytes) {
      const request = decodeProto(ForwardRequestSchema, bytes);
      if (link === undefined) {
        link = ctx.claim(call, request.hello);
        if (request.id !== 0n) throw new MessageCodecError("the first ForwardRequest carries a proposal; it must carry only the hello", "id");
        return;
      }
      if (request.hello !== undefined) throw new MessageCodecError("a ForwardRequest after the first carries a hello", "hello");
      if (request.id === 0n) throw new MessageCodecError("a ForwardRequest has id 0", "id");
      let outcome: ForwardOutcome;
      try {
        outcome = { result: ctx.handlers.forward(request.command, request.type === EntryType.CONF_CHANGE ? "confChange" : "normal") };
      } catch (err) {
        outcome = { failed: err instanceof Error ? err.message : String(err) };
      }
      link.countReceived(1);
      answers.push(toBinary(ForwardResponseSchema, forwardResponseToProto(request.id, outcome)));
      if (!flushQueued) {
        flushQueued = true;
        queueMicrotask(flush);
      }
    },
    onRequestEnd() {
      // The follower is done: what is unwritten goes out now, buffered behind what is, before the trailers.
      awaitingDrain = false;
      flush();
      call.finish(OK_STATUS);
    },
    onDrain() {
      awaitingDrain = false;
      call.resumeRequests();
      flush();
    },
    onClose() {},
  });
}
