/**
 * The server side of Vote and TimeoutNow: one request carrying one core message, delivered to
 * the core, acknowledged with an empty response at once (the core's answer, if any, travels
 * back as a call of its own).
 */
import type { MessageShape } from "@bufbuild/protobuf";
import { TimeoutNowRequestSchema, VoteRequestSchema } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { MessageType } from "../raft/index.js";
import { encodeEnvelopes } from "../wire/index.js";
import { MessageCodecError } from "./errors.js";
import type { GrpcServerCall } from "./grpc-server-call.js";
import { OK_STATUS } from "./grpc-status.js";
import type { InboundContext } from "./inbound-context.js";
import { decodeProto, messageFromProto } from "./message-codec.js";
import { checkAddressing } from "./peer-identity.js";

/** Both requests are { hello, message }. */
type OneWayRequestSchema = typeof VoteRequestSchema | typeof TimeoutNowRequestSchema;

export interface OneWayMethod {
  readonly schema: OneWayRequestSchema;
  /** The message types the method may carry. */
  readonly carries: ReadonlySet<MessageType>;
}

export const VOTE_METHOD: OneWayMethod = {
  schema: VoteRequestSchema,
  carries: new Set<MessageType>(["vote", "preVote", "voteResponse", "preVoteResponse"]),
};

export const TIMEOUT_NOW_METHOD: OneWayMethod = {
  schema: TimeoutNowRequestSchema,
  carries: new Set<MessageType>(["timeoutNow"]),
};

/** An empty response message (VoteResponse and TimeoutNowResponse have no fields). */
const EMPTY_RESPONSE = encodeEnvelopes([new Uint8Array(0)]);

export function serveOneWay(call: GrpcServerCall, ctx: InboundContext, method: OneWayMethod): void {
  let request: MessageShape<OneWayRequestSchema> | undefined;
  call.start({
    onMessage(bytes) {
      if (request !== undefined) throw new MessageCodecError(`a ${method.schema.typeName} call carries more than one request`, "request");
      request = decodeProto(method.schema, bytes);
    },
    onRequestEnd() {
      if (request === undefined) throw new MessageCodecError(`a ${method.schema.typeName} call carries no request`, "request");
      const link = ctx.claim(call, request.hello);
      if (request.message === undefined) throw new MessageCodecError(`a ${method.schema.typeName} carries no message`, "message");
      const message = messageFromProto(request.message);
      if (!method.carries.has(message.type)) throw new MessageCodecError(`a ${method.schema.typeName} cannot carry a ${message.type} message`, "message");
      checkAddressing(message, link.id, ctx.identity.memberId);
      link.countReceived(1);
      ctx.handlers.deliver(message);
      call.write(EMPTY_RESPONSE);
      call.finish(OK_STATUS);
    },
    onDrain() {},
    onClose() {},
  });
}
