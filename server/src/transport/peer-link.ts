/**
 * Everything this member has to do with one peer: the connection to it, the Append stream it
 * opened on that connection, the replies it sends back on the Append stream the peer opened, its
 * Forward stream, snapshots and one-way calls, and the counters of all that.
 *
 * Where a message to the peer goes (raft.proto "Which call carries what"):
 *   - vote, preVote, voteResponse, preVoteResponse: a Vote call each (kept out of the Append
 *     queue so an election is never stuck behind a backlog of appends);
 *   - timeoutNow: a TimeoutNow call; snapshot: an InstallSnapshot call (one at a time);
 *   - appendResponse, heartbeatResponse, readIndexResponse: the response side of the peer's
 *     Append stream while it is open (they answer what arrived there), else as the rest;
 *   - everything else: the requests of this member's Append stream, in order.
 * While the connection is down nothing can be sent: send() returns false (the caller reports
 * the peer unreachable). While it is connecting, Append messages queue (bounded).
 *
 * Ordering: messages on one direction of one stream arrive in the order they were sent; the
 * core needs nothing stronger.
 */
import type http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import * as pb from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { EntryType, Message, MessageType, NodeId, ProposeResult, SnapshotMessage } from "../raft/index.js";
import { encodeEnvelopes } from "../wire/index.js";
import { BatchWriter } from "./batch-writer.js";
import { ForwardClient } from "./forward-client.js";
import { GrpcClientCall } from "./grpc-client-call.js";
import type { GrpcServerCall } from "./grpc-server-call.js";
import { describeStatus, GRPC_OK, type GrpcStatus } from "./grpc-status.js";
import { decodeProto, encodeMessage, messageFromProto, messageToProto } from "./message-codec.js";
import { type ConnectionState, PeerConnection } from "./peer-connection.js";
import { checkAddressing, helloTo, type LocalIdentity } from "./peer-identity.js";
import { RAFT_PATHS } from "./raft-paths.js";
import { sendSnapshot } from "./snapshot-sender.js";
import { FRAMING_BYTES, type TransportHandlers, type TransportLimits, type TransportLogger } from "./transport-options.js";

export interface LinkContext {
  readonly identity: LocalIdentity;
  readonly handlers: TransportHandlers;
  readonly limits: TransportLimits;
  readonly logger: TransportLogger;
  readonly random: () => number;
  /** The local address connections to peers leave from (see RaftTransportOptions.sourceAddress). */
  readonly sourceAddress: string | undefined;
}

export interface PeerStats {
  readonly id: NodeId;
  readonly url: string;
  readonly state: ConnectionState;
  /** The connection is open (its Append stream may still be opening). */
  readonly connected: boolean;
  /** Connection attempts after the first. */
  readonly reconnects: number;
  /** Append batches (both directions of sending: this member's stream and replies on the peer's). */
  readonly batchesSent: number;
  readonly messagesSent: number;
  readonly bytesSent: number;
  /** Snapshots streamed to the peer to the end (InstallSnapshot calls that succeeded). */
  readonly snapshotsSent: number;
  /** Round-trip time of the last keep-alive PING answered by the peer (ms), undefined before one. */
  readonly rttMs: number | undefined;
  /** messagesSent / batchesSent (0 before the first batch). */
  readonly messagesPerBatch: number;
  /** Messages dropped: queue bound exceeded, or queued when a stream or the connection was lost. */
  readonly messagesDropped: number;
  readonly queuedBytes: number;
  /** Append batches received from the peer, either stream. */
  readonly batchesReceived: number;
  /** Core messages received from the peer on any call, plus forwarded proposals. */
  readonly messagesReceived: number;
  /** The peer's Append stream to this member is open (replies go on it). */
  readonly inboundAppendStream: boolean;
  readonly forwardsInFlight: number;
}

const VOTE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(["vote", "preVote", "voteResponse", "preVoteResponse"]);
const REPLY_TYPES: ReadonlySet<MessageType> = new Set<MessageType>(["appendResponse", "heartbeatResponse", "readIndexResponse"]);

export class PeerLink {
  private readonly connection: PeerConnection;
  /** This member's Append stream: requests carry its messages, responses the peer's replies. */
  private readonly requests: BatchWriter;
  private appendCall: GrpcClientCall | undefined;
  /** The response side of the peer's Append stream, while it is open. */
  private readonly replies: BatchWriter;
  private replyCall: GrpcServerCall | undefined;
  /** Calls the peer made to this member: ended when the peer is removed. */
  private readonly inboundCalls = new Set<GrpcServerCall>();
  private readonly forwards: ForwardClient;
  private sendingSnapshot = false;
  private abortSnapshotReceiver: (() => void) | undefined;
  private oneWayCallsInFlight = 0;
  private batchesReceived = 0;
  private messagesReceived = 0;
  /** Why the connection last went down; undefined while it is fine (logs each new reason once). */
  private downReason: string | undefined;
  private closed = false;

  constructor(
    readonly id: NodeId,
    readonly url: string,
    private readonly ctx: LinkContext,
  ) {
    const { limits } = ctx;
    this.connection = new PeerConnection(
      {
        url,
        pingIntervalMs: limits.pingIntervalMs,
        connectTimeoutMs: limits.connectTimeoutMs,
        backoff: { minMs: limits.reconnectMinMs, maxMs: limits.reconnectMaxMs },
        random: ctx.random,
        sourceAddress: ctx.sourceAddress,
      },
      { onOpen: (session) => this.onOpen(session), onDown: (reason) => this.onDown(reason) },
    );
    this.requests = new BatchWriter(pb.AppendRequestSchema.field.messages.number, limits, () => this.overflowed());
    this.replies = new BatchWriter(pb.AppendResponseSchema.field.messages.number, limits, () => this.overflowed());
    this.forwards = new ForwardClient(
      id,
      ctx.identity,
      limits,
      () => this.connection.usableSession,
      () => this.downReason ?? "not connected yet",
    );
  }

  start(): void {
    this.connection.start();
  }

  /** Sends `m` (to this peer) on its way; false if it was dropped because the peer is unreachable. */
  send(m: Message): boolean {
    if (this.closed) return false;
    if (VOTE_TYPES.has(m.type)) return this.callOneWay(RAFT_PATHS.vote, pb.VoteRequestSchema, m);
    if (m.type === "timeoutNow") return this.callOneWay(RAFT_PATHS.timeoutNow, pb.TimeoutNowRequestSchema, m);
    if (m.type === "snapshot") return this.sendSnapshot(m);
    const bytes = encodeMessage(m);
    if (bytes.length + FRAMING_BYTES > this.ctx.limits.maxMessageBytes) {
      this.ctx.logger.warn({ peer: String(this.id), type: m.type, bytes: bytes.length }, "dropped a message larger than maxMessageBytes");
      return true;
    }
    if (this.replyCall !== undefined && REPLY_TYPES.has(m.type)) {
      this.replies.push(bytes, false);
      return true;
    }
    if (this.connection.usableSession === undefined) return false;
    this.requests.push(bytes, m.type === "append");
    return true;
  }

  forward(command: Uint8Array, signal?: AbortSignal, type: EntryType = "normal"): Promise<ProposeResult> {
    return this.forwards.forward(command, signal, type);
  }

  // ---------------------------------------------------------------- calls from the peer

  /** Ties a call from the peer to this link: it ends (FAILED_PRECONDITION) if the peer is removed. */
  adopt(call: GrpcServerCall): void {
    this.inboundCalls.add(call);
  }

  release(call: GrpcServerCall): void {
    this.inboundCalls.delete(call);
  }

  /** The peer's Append stream: this member's replies go out on its response side from now on. */
  attachReplies(call: GrpcServerCall): void {
    const previous = this.replyCall;
    this.replyCall = call;
    this.replies.detach();
    this.replies.attach(call);
    previous?.finish({ code: Code.Aborted, message: `replaced by a newer Append stream from member ${this.id}` });
  }

  detachReplies(call: GrpcServerCall): void {
    if (this.replyCall !== call) return;
    this.replyCall = undefined;
    this.replies.detach();
  }

  repliesDrained(call: GrpcServerCall): void {
    if (this.replyCall === call) this.replies.drained();
  }

  /** A batch of the peer's messages (either Append stream): checked and delivered in order. */
  receiveBatch(messages: readonly pb.Message[]): void {
    this.batchesReceived++;
    const self = this.ctx.identity.memberId;
    for (const p of messages) {
      const m = messageFromProto(p);
      checkAddressing(m, this.id, self);
      this.messagesReceived++;
      this.ctx.handlers.deliver(m);
    }
  }

  countReceived(messages: number): void {
    this.messagesReceived += messages;
  }

  /** A snapshot from the peer started arriving; one still arriving from it is aborted. */
  replaceSnapshotReceiver(abort: () => void): void {
    const previous = this.abortSnapshotReceiver;
    this.abortSnapshotReceiver = abort;
    previous?.();
  }

  clearSnapshotReceiver(abort: () => void): void {
    if (this.abortSnapshotReceiver === abort) this.abortSnapshotReceiver = undefined;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Stops everything to and from the peer; calls from it end with `status`. */
  close(status: GrpcStatus): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.close();
    this.forwards.close(status.message);
    this.requests.detach();
    this.replies.detach();
    this.appendCall = undefined;
    for (const call of [...this.inboundCalls]) call.finish(status);
    this.abortSnapshotReceiver?.();
  }

  private snapshotsSent = 0;

  /** The peer called this member: a connection to it waiting out a backoff connects now. */
  peerIsUp(): void {
    this.connection.peerIsUp();
  }

  stats(): PeerStats {
    const sent = { batches: this.requests.counters.batches + this.replies.counters.batches, messages: this.requests.counters.messages + this.replies.counters.messages };
    return {
      id: this.id,
      url: this.url,
      state: this.connection.state,
      connected: this.connection.state === "open",
      reconnects: this.connection.reconnects,
      batchesSent: sent.batches,
      messagesSent: sent.messages,
      bytesSent: this.requests.counters.bytes + this.replies.counters.bytes,
      snapshotsSent: this.snapshotsSent,
      rttMs: this.connection.lastRttMs,
      messagesPerBatch: sent.batches === 0 ? 0 : sent.messages / sent.batches,
      messagesDropped: this.requests.counters.dropped + this.replies.counters.dropped,
      queuedBytes: this.requests.queuedBytes + this.replies.queuedBytes,
      batchesReceived: this.batchesReceived,
      messagesReceived: this.messagesReceived,
      inboundAppendStream: this.replyCall !== undefined,
      forwardsInFlight: this.forwards.inFlight,
    };
  }

  // ---------------------------------------------------------------- this member's calls

  private onOpen(session: http2.ClientHttp2Session): void {
    let call: GrpcClientCall;
    try {
      call = new GrpcClientCall(
        session,
        { path: RAFT_PATHS.append, maxMessageBytes: this.ctx.limits.maxMessageBytes },
        {
          onMessage: (bytes) => this.receiveBatch(decodeProto(pb.AppendResponseSchema, bytes).messages),
          onDrain: () => this.requests.drained(),
          onEnd: (status) => this.onAppendEnd(call, status),
        },
      );
    } catch (err) {
      this.connection.fail(`cannot open the Append stream: ${(err as Error).message}`);
      return;
    }
    this.appendCall = call;
    call.write(encodeEnvelopes([toBinary(pb.AppendRequestSchema, create(pb.AppendRequestSchema, { hello: helloTo(this.ctx.identity, this.id) }))]));
    this.requests.attach(call);
    if (this.downReason !== undefined) this.ctx.logger.info({ peer: String(this.id), url: this.url }, "peer reachable again");
    this.downReason = undefined;
  }

  private onAppendEnd(call: GrpcClientCall, status: GrpcStatus): void {
    if (this.appendCall !== call) return;
    this.appendCall = undefined;
    this.requests.detach();
    if (!this.closed) this.connection.fail(`the Append stream ended (${describeStatus(status)})`);
  }

  private onDown(reason: string): void {
    const call = this.appendCall;
    this.appendCall = undefined;
    call?.cancel({ code: Code.Unavailable, message: reason });
    this.requests.detach();
    const fields = { peer: String(this.id), url: this.url, reason };
    if (reason !== this.downReason) this.ctx.logger.warn(fields, "peer unreachable");
    else this.ctx.logger.debug(fields, "peer still unreachable");
    this.downReason = reason;
    this.ctx.handlers.reportUnreachable(this.id);
  }

  private overflowed(): void {
    this.ctx.logger.debug({ peer: String(this.id) }, "peer's queue is full: dropped its oldest messages");
    this.ctx.handlers.reportUnreachable(this.id);
  }

  /** Sends `m` as the only message of a Vote or TimeoutNow call; the peer's answer is just an acknowledgement. */
  private callOneWay(path: string, schema: typeof pb.VoteRequestSchema | typeof pb.TimeoutNowRequestSchema, m: Message): boolean {
    const session = this.connection.usableSession;
    if (session === undefined) return false;
    if (this.oneWayCallsInFlight >= this.ctx.limits.maxCallsInFlight) {
      this.ctx.logger.debug({ peer: String(this.id), type: m.type }, "too many calls in flight: dropped a message");
      return true;
    }
    const request = toBinary(schema, create(schema, { hello: helloTo(this.ctx.identity, this.id), message: messageToProto(m) }));
    let call: GrpcClientCall;
    try {
      call = new GrpcClientCall(
        session,
        { path, maxMessageBytes: this.ctx.limits.maxMessageBytes, timeoutMs: this.ctx.limits.callTimeoutMs },
        {
          onMessage: () => {},
          onDrain: () => {},
          onEnd: (status) => {
            this.oneWayCallsInFlight--;
            if (status.code !== GRPC_OK) this.oneWayCallFailed(m, status);
          },
        },
      );
    } catch {
      return false;
    }
    this.oneWayCallsInFlight++;
    call.end(encodeEnvelopes([request]));
    return true;
  }

  private oneWayCallFailed(m: Message, status: GrpcStatus): void {
    const fields = { peer: String(this.id), type: m.type, status: describeStatus(status) };
    if (status.code === Code.FailedPrecondition || status.code === Code.InvalidArgument) this.ctx.logger.warn(fields, "the peer refused a message");
    else this.ctx.logger.debug(fields, "a message did not reach the peer");
    if (!this.closed) this.ctx.handlers.reportUnreachable(this.id);
  }

  private sendSnapshot(m: SnapshotMessage): boolean {
    const session = this.connection.usableSession;
    if (session === undefined) {
      this.ctx.handlers.reportSnapshot(this.id, false);
      return false;
    }
    if (this.sendingSnapshot) {
      this.ctx.logger.debug({ peer: String(this.id), index: m.snapshot.index }, "a snapshot is already being sent: dropped another");
      return true;
    }
    this.sendingSnapshot = true;
    const fields = { peer: String(this.id), index: m.snapshot.index, term: m.snapshot.term };
    this.ctx.logger.info(fields, "sending a snapshot");
    (async () => sendSnapshot(session, helloTo(this.ctx.identity, this.id), m, this.ctx.handlers.openSnapshot(m.snapshot), this.ctx.limits))().then(
      () => {
        this.sendingSnapshot = false;
        this.snapshotsSent++;
        this.ctx.logger.info(fields, "snapshot sent");
        if (!this.closed) this.ctx.handlers.reportSnapshot(this.id, true);
      },
      (err: unknown) => {
        this.sendingSnapshot = false;
        this.ctx.logger.warn({ ...fields, err: (err as Error).message }, "sending a snapshot failed");
        if (!this.closed) this.ctx.handlers.reportSnapshot(this.id, false);
      },
    );
    return true;
  }
}
