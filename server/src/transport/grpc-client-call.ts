/**
 * The client side of one gRPC call on a node:http2 client session (the peer's connection),
 * written directly on the stream rather than through connect-node, for the same reason the
 * server side is (grpc-server-call.ts).
 *
 * Wire: a POST to `path` with content-type application/grpc, te: trailers, a user-agent and,
 * when the call has a deadline, grpc-timeout; both bodies are sequences of envelopes
 * (wire/grpc-envelope.ts). The response's messages are handed to onMessage as they arrive, in
 * order. The call's status is read from the trailers, or from the headers of a trailers-only
 * response.
 *
 * onEnd is called exactly once, with:
 *   - the status the server sent (OK included);
 *   - UNAVAILABLE for a stream reset without a status, or a connection that failed;
 *   - DEADLINE_EXCEEDED when the call's own deadline passed (the stream is then reset);
 *   - the HTTP status's code (http-grpc-status-mapping) for a response other than 200;
 *   - INTERNAL for a response that ends inside a message or without a status;
 *   - the status of what onMessage threw (the stream is then reset), or the one given to cancel().
 * Once the server has ended its side, the client side is closed too (an Append or Forward
 * stream never half-closes on its own).
 */
import http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { GrpcEnvelopeReader } from "../wire/index.js";
import { codeForHttpStatus, type GrpcStatus, readStatus, statusOf } from "./grpc-status.js";

export const PEER_USER_AGENT = "sisyphusdb-raft-transport";

export interface ClientCallOptions {
  readonly path: string;
  /** Larger response messages end the call with RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  /** The call's deadline (sent as grpc-timeout and kept here); none when undefined. */
  readonly timeoutMs?: number;
}

export interface ClientCallHandlers {
  /** One response message, a view valid as long as the caller keeps it; throw to end the call. */
  onMessage(bytes: Uint8Array): void;
  /** Writable again after write() returned false. */
  onDrain(): void;
  onEnd(status: GrpcStatus): void;
}

export class GrpcClientCall {
  private readonly stream: http2.ClientHttp2Stream;
  private readonly reader: GrpcEnvelopeReader;
  private responseHeaders: http2.IncomingHttpHeaders = {};
  private trailers: http2.IncomingHttpHeaders = {};
  private streamError: Error | undefined;
  private ended = false;
  private readonly deadlineTimer: NodeJS.Timeout | undefined;

  /** Opens the call on `session`; throws (ERR_HTTP2_INVALID_SESSION and the like) when the session cannot take streams. */
  constructor(
    session: http2.ClientHttp2Session,
    options: ClientCallOptions,
    private readonly handlers: ClientCallHandlers,
  ) {
    this.reader = new GrpcEnvelopeReader(options.maxMessageBytes);
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": options.path,
      "content-type": "application/grpc",
      te: "trailers",
      "user-agent": PEER_USER_AGENT,
    };
    if (options.timeoutMs !== undefined) headers["grpc-timeout"] = `${Math.max(1, Math.ceil(options.timeoutMs))}m`;
    const stream = session.request(headers);
    this.stream = stream;
    stream.on("response", (h) => this.onResponseHeaders(h));
    stream.on("trailers", (t) => {
      this.trailers = t;
    });
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.on("end", () => {
      if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    stream.on("drain", () => {
      if (!this.ended) handlers.onDrain();
    });
    stream.on("error", (err) => {
      this.streamError = err;
    });
    stream.on("close", () => this.onClose());
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined) {
      this.deadlineTimer = setTimeout(() => this.cancel({ code: Code.DeadlineExceeded, message: `no answer within ${timeoutMs} ms` }), timeoutMs);
    }
  }

  /** True once onEnd was called. */
  get done(): boolean {
    return this.ended;
  }

  /** Writes one or more envelopes; false: wait for onDrain before writing more. */
  write(frame: Uint8Array): boolean {
    if (this.ended || this.stream.closed) return true;
    return this.stream.write(frame);
  }

  /** Half-closes the request side after `frame` (if given). */
  end(frame?: Uint8Array): void {
    if (this.ended || this.stream.closed) return;
    if (frame === undefined) this.stream.end();
    else this.stream.end(frame);
  }

  /** Resets the stream and ends the call with `status` (CANCELED if not given). */
  cancel(status: GrpcStatus = { code: Code.Canceled, message: "cancelled by the caller" }): void {
    this.endWith(status);
    if (!this.stream.closed && !this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private onResponseHeaders(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    this.responseHeaders = headers;
    const httpStatus = headers[":status"] ?? 0;
    if (httpStatus !== 200) this.cancel({ code: codeForHttpStatus(httpStatus), message: `the peer answered HTTP ${httpStatus}` });
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    try {
      this.reader.push(chunk, (bytes) => {
        this.handlers.onMessage(bytes);
        return !this.ended;
      });
    } catch (err) {
      this.cancel(statusOf(err));
    }
  }

  private onClose(): void {
    if (this.ended) return;
    const status = readStatus(this.responseHeaders, this.trailers);
    if (status !== undefined && this.reader.midMessage) {
      this.endWith({ code: Code.Internal, message: "the response ended inside a message" });
    } else if (status !== undefined) {
      this.endWith(status);
    } else if (this.streamError !== undefined) {
      this.endWith({ code: Code.Unavailable, message: this.streamError.message });
    } else if ((this.stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR) !== http2.constants.NGHTTP2_NO_ERROR) {
      this.endWith({ code: Code.Unavailable, message: `the stream was reset (HTTP/2 error code ${this.stream.rstCode})` });
    } else {
      this.endWith({ code: Code.Internal, message: "the response ended without a grpc-status" });
    }
  }

  private endWith(status: GrpcStatus): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.deadlineTimer);
    this.handlers.onEnd(status);
  }
}
