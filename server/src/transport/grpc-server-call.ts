/**
 * The server side of one gRPC call on node's http2 compat request/response, as the API's
 * pipeline-fast-path.ts serves KV Pipeline streams: the peer protocol is served directly on
 * node:http2 because connect-node's handler costs far more CPU per message.
 *
 * Wire: HEADERS (200, content-type application/grpc) at once; the request body is split into
 * envelopes as it arrives (wire/grpc-envelope.ts), each handed to onMessage by a plain call in
 * arrival order; responses are written as given (each write one or more envelopes); the call
 * always ends with TRAILERS (grpc-status, grpc-message), never trailers-only, followed by
 * RST_STREAM NO_ERROR if the client had not half-closed yet (so a client that never half-closes,
 * like an Append stream's opener, cannot hold the stream open).
 *
 * An exception from onMessage or onRequestEnd ends the call with the status statusOf() gives
 * it; so does a malformed envelope (INVALID_ARGUMENT) or one over the size limit
 * (RESOURCE_EXHAUSTED). After finish() nothing more is handed out.
 */
import http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { GrpcEnvelopeReader } from "../wire/index.js";
import { type GrpcStatus, statusOf, statusTrailers } from "./grpc-status.js";

export interface ServerCallHandlers {
  /** One request message, a view valid as long as the caller keeps it. */
  onMessage(bytes: Uint8Array): void;
  /** The client half-closed after its last message. */
  onRequestEnd(): void;
  /** Writable again after write() returned false. */
  onDrain(): void;
  /** The stream is gone (finished, reset by the client, or its connection lost); called once. */
  onClose(): void;
}

export class GrpcServerCall {
  private readonly envelopes: GrpcEnvelopeReader;
  private handlers: ServerCallHandlers | undefined;
  private finishedCall = false;
  private closed = false;
  private readingPaused = false;

  constructor(
    private readonly req: http2.Http2ServerRequest,
    private readonly res: http2.Http2ServerResponse,
    maxMessageBytes: number,
  ) {
    this.envelopes = new GrpcEnvelopeReader(maxMessageBytes);
  }

  /** True once finish() ran or the stream closed: nothing more is written or handed out. */
  get finished(): boolean {
    return this.finishedCall || this.closed;
  }

  start(handlers: ServerCallHandlers): void {
    this.handlers = handlers;
    const { req, res } = this;
    res.on("close", () => {
      this.closed = true;
      handlers.onClose();
    });
    res.on("drain", () => {
      if (!this.finished) handlers.onDrain();
    });
    req.on("data", (chunk: Buffer) => this.receive(chunk));
    req.on("end", () => {
      if (this.finished) return;
      if (this.envelopes.midMessage) {
        this.finish({ code: Code.InvalidArgument, message: "the request stream ended inside a message" });
        return;
      }
      this.guard(() => handlers.onRequestEnd());
    });
    res.writeHead(200, { "content-type": "application/grpc" });
  }

  /** Calls `listener` once the stream is gone (besides the handlers' onClose). */
  whenClosed(listener: () => void): void {
    if (this.closed) listener();
    else this.res.once("close", listener);
  }

  /** Writes one or more envelopes; false: wait for onDrain before writing more. */
  write(frame: Uint8Array): boolean {
    if (this.finished) return true;
    return this.res.write(frame);
  }

  /** Stops reading requests (HTTP/2 flow control then stops the client) until resumeRequests(). */
  pauseRequests(): void {
    if (this.readingPaused || this.finished) return;
    this.readingPaused = true;
    this.req.pause();
  }

  resumeRequests(): void {
    if (!this.readingPaused) return;
    this.readingPaused = false;
    this.req.resume();
  }

  /** Ends the call with `status` (trailers), then resets the stream if the client is still sending. */
  finish(status: GrpcStatus): void {
    if (this.finished) return;
    this.finishedCall = true;
    this.res.addTrailers(statusTrailers(status));
    if (!this.req.complete) {
      // As pipeline-fast-path.ts: the compat response submits the trailers from its own
      // 'wantTrailers' listener; a reset submitted from within that callback would overtake them,
      // so it waits for the next turn. The client's bytes until then are read and dropped.
      const stream = this.res.stream;
      stream.once("wantTrailers", () =>
        setImmediate(() => {
          // The session may have been torn down meanwhile (the peer went away); never touch a destroyed stream.
          if (!stream.destroyed && !stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
        }),
      );
      this.resumeRequests();
    }
    this.res.end();
  }

  private receive(chunk: Buffer): void {
    const handlers = this.handlers;
    if (this.finished || handlers === undefined) return;
    this.guard(() =>
      this.envelopes.push(chunk, (bytes) => {
        handlers.onMessage(bytes);
        return !this.finished;
      }),
    );
  }

  private guard(action: () => void): void {
    try {
      action();
    } catch (err) {
      this.finish(statusOf(err));
    }
  }
}

