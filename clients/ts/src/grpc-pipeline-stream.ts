/**
 * The KVService.Pipeline stream as a gRPC call written directly on node:http2, for the Node entry
 * (gRPC over HTTP/2, the default). Node-only: the browser entry must never import it.
 *
 * Wire (gRPC over HTTP/2): a POST to /sisyphus.kv.v1.KVService/Pipeline with content-type
 * application/grpc, te: trailers and a user-agent; both bodies are sequences of envelopes
 * (grpc-envelope.ts) holding PipelineRequest / PipelineResponse messages. The call's status is in
 * the trailers (grpc-status, grpc-message, grpc-status-details-bin, and the error metadata, e.g.
 * sisyphus-not-applied), or in the response headers of a trailers-only response (a HEADERS
 * frame with END_STREAM). The stream has no deadline (the calls on it have theirs, kept by the
 * session), so no grpc-timeout is sent.
 *
 * Why not connect-node's bidi call: it writes each request with its own write and waits for its
 * callback before the next, and reads through several layers of async iterators, costing a
 * handful of promises per message. Here:
 *   - the requests sent in one turn of the event loop go out in ONE write (one DATA frame as far
 *     as the frame size allows), flushed from a microtask queued by the first of them;
 *   - the response DATA is split into envelopes synchronously in the 'data' handler, many per
 *     chunk, and each decoded message is handed to the session by a plain call.
 * The stream is opened on the endpoint's Http2SessionManager, the one its Connect transport uses:
 * one HTTP/2 connection per endpoint, with its PING keep-alive and its reconnection.
 *
 * Back-pressure: when write() returns false, requests gather until 'drain' and then go out in
 * one write. They are bounded by the session, which never has more than max_in_flight requests
 * sent and unanswered.
 *
 * Errors: a status other than OK becomes a ConnectError with its code, message and metadata
 * (response headers and trailers); a reset stream, a connection that fails or cannot be made
 * becomes UNAVAILABLE, caused by the Node.js error (so the retry policy sees ECONNREFUSED and the
 * like); a response that breaks the protocol becomes what connect-node makes of it: the code
 * of an HTTP status other than 200, UNKNOWN for another content-type, INTERNAL for a compressed
 * or undecodable message or a missing status.
 */
import * as http2 from "node:http2";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
// Connect's own gRPC status parsing, so that statuses read here equal those its transports read
// (grpc-status-details-bin included). Connect marks these exports internal (no semver promise);
// the version is pinned exactly and tsc checks their use on every upgrade.
import { codeFromHttpStatus, findTrailerError } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { KVService, PipelineRequestSchema, PipelineResponseSchema, type PipelineRequest, type PipelineResponse } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { ENVELOPE_HEADER_BYTES, EnvelopeReader, encodeEnvelopes } from "./grpc-envelope.js";
import type { OpenPipelineStream, PipelineStream, PipelineStreamHandlers } from "./pipeline-stream.js";

export const USER_AGENT = "sisyphusdb-client-ts";
export const GRPC_CONTENT_TYPE = /^application\/grpc(?:\+proto)?(?:;|$)/i;

/** Pipeline streams as gRPC calls on `sessionManager`'s HTTP/2 connection to `baseUrl` (its origin must be the manager's). */
export function grpcPipelineStreams(sessionManager: Http2SessionManager, baseUrl: string): OpenPipelineStream {
  const url = new URL(baseUrl);
  if (url.origin !== sessionManager.authority) throw new RangeError(`${baseUrl} is not on the session manager's origin ${sessionManager.authority}`);
  const path = `${url.pathname.replace(/\/+$/, "")}/${KVService.typeName}/${KVService.method.pipeline.name}`;
  const headers: http2.OutgoingHttpHeaders = { "content-type": "application/grpc", te: "trailers", "user-agent": USER_AGENT };
  return (handlers) => new GrpcPipelineStream(sessionManager, path, headers, handlers);
}

class GrpcPipelineStream implements PipelineStream {
  /** Undefined until the session manager has opened it (it may have to connect first). */
  private stream: http2.ClientHttp2Stream | undefined;
  /** Encoded requests not yet written, in order, and their size once framed. */
  private unsent: Uint8Array[] = [];
  private unsentEnvelopeBytes = 0;
  private flushQueued = false;
  /** write() returned false: nothing more is written before 'drain'. */
  private awaitingDrain = false;
  private readonly reader = new EnvelopeReader();
  private responseHeaders: http2.IncomingHttpHeaders | undefined;
  private trailers: http2.IncomingHttpHeaders | undefined;
  /** The server ended its side with no status: a protocol error, unless 'close' shows a reset. */
  private readEndedWithoutStatus = false;
  /** Set once onEnd was called or cancel() was: from then on nothing is sent or delivered. */
  private finished = false;

  constructor(
    private readonly sessionManager: Http2SessionManager,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    private readonly handlers: PipelineStreamHandlers,
  ) {
    sessionManager.request("POST", path, headers, {}).then(
      (stream) => this.attach(stream),
      (err: unknown) => this.finish(unavailable("the pipeline stream could not be opened", err)),
    );
  }

  send(request: PipelineRequest): void {
    if (this.finished) return;
    const message = toBinary(PipelineRequestSchema, request);
    this.unsent.push(message);
    this.unsentEnvelopeBytes += ENVELOPE_HEADER_BYTES + message.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    this.unsent = [];
    this.unsentEnvelopeBytes = 0;
    if (this.stream !== undefined && !this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** Writes every request not yet written in one write, unless the stream is not open or is full. */
  private readonly flush = (): void => {
    this.flushQueued = false;
    const stream = this.stream;
    if (stream === undefined || this.awaitingDrain || this.finished || this.unsent.length === 0) return;
    const frame = encodeEnvelopes(this.unsent, this.unsentEnvelopeBytes);
    this.unsent = [];
    this.unsentEnvelopeBytes = 0;
    if (!stream.write(frame)) this.awaitingDrain = true;
  };

  private attach(stream: http2.ClientHttp2Stream): void {
    if (this.finished) {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    this.stream = stream;
    stream.on("response", (headers) => this.onResponseHeaders(headers));
    stream.on("trailers", (trailers) => {
      this.trailers = trailers;
    });
    stream.on("data", (chunk: Buffer) => this.onData(stream, chunk));
    stream.on("end", () => this.onReadEnd(stream));
    stream.on("drain", () => {
      this.awaitingDrain = false;
      this.flush();
    });
    // Stays attached after finishing: a session torn down later still errors its streams.
    stream.on("error", (err) => this.finish(unavailable("the pipeline stream failed", err)));
    stream.on("close", () => this.onClose(stream));
    this.flush();
  }

  private onResponseHeaders(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    this.responseHeaders = headers;
    const status = headers[":status"] ?? 0;
    if (status !== 200) {
      this.abort(new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status), webHeaders(headers)));
      return;
    }
    // A trailers-only response (the status in these headers) is read at the end of the stream.
    if (headers["grpc-status"] !== undefined) return;
    const contentType = headers["content-type"] ?? "";
    if (!GRPC_CONTENT_TYPE.test(contentType)) {
      this.abort(new ConnectError(`unsupported content type ${contentType}`, Code.Unknown, webHeaders(headers)));
    }
  }

  private onData(stream: http2.ClientHttp2Stream, chunk: Buffer): void {
    if (this.finished) return;
    this.sessionManager.notifyResponseByteRead(stream);
    try {
      this.reader.push(chunk, this.onMessage);
    } catch (err) {
      this.abort(new ConnectError(`protocol error: ${err instanceof Error ? err.message : String(err)}`, Code.Internal, undefined, undefined, err));
    }
  }

  private readonly onMessage = (bytes: Uint8Array): void => {
    if (this.finished) return;
    let response: PipelineResponse;
    try {
      response = fromBinary(PipelineResponseSchema, bytes);
    } catch (err) {
      this.abort(new ConnectError(`could not decode a PipelineResponse: ${err instanceof Error ? err.message : String(err)}`, Code.Internal, undefined, undefined, err));
      return;
    }
    this.handlers.onResponse(response);
  };

  /**
   * The server ended its side. The status is in the trailers, or in the headers of a
   * trailers-only response; without one, this end came from a reset or a broken connection (Node
   * ends the readable side then too), or the server broke the protocol: 'close' tells which.
   */
  private onReadEnd(stream: http2.ClientHttp2Stream): void {
    if (!this.finished) {
      const headers = this.responseHeaders ?? {};
      const trailers = this.trailers ?? {};
      const statusIn = trailers["grpc-status"] !== undefined ? trailers : headers["grpc-status"] !== undefined ? headers : undefined;
      if (statusIn !== undefined && this.reader.pendingBytes > 0) {
        this.finish(new ConnectError(`protocol error: the stream ended inside a message (${this.reader.pendingBytes} bytes of it received)`, Code.Internal));
      } else if (statusIn !== undefined) {
        const error = findTrailerError(webHeaders(statusIn));
        if (error !== undefined && statusIn === trailers) webHeaders(headers).forEach((value, key) => error.metadata.append(key, value));
        this.finish(error);
      } else {
        this.readEndedWithoutStatus = true;
      }
    }
    // We never half-close (the session has no last request), so end the stream now that the server is done.
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  private onClose(stream: http2.ClientHttp2Stream): void {
    if (this.finished) return;
    const code = stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR;
    if (code !== http2.constants.NGHTTP2_NO_ERROR) {
      this.finish(new ConnectError(`the pipeline stream was reset (HTTP/2 error code ${code})`, Code.Unavailable));
    } else if (this.readEndedWithoutStatus) {
      this.finish(new ConnectError("protocol error: missing status", Code.Internal, webHeaders(this.responseHeaders ?? {})));
    } else {
      this.finish(new ConnectError("the pipeline stream closed before its status arrived", Code.Unavailable));
    }
  }

  /** Ends the stream on the client's decision (a protocol error): reset it and report `error`. */
  private abort(error: ConnectError): void {
    this.finish(error);
    if (this.stream !== undefined && !this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private finish(error: ConnectError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.unsent = [];
    this.unsentEnvelopeBytes = 0;
    this.handlers.onEnd(error);
  }
}

/** UNAVAILABLE for a failure of the stream or its connection, keeping the Node.js error as its cause. */
export function unavailable(what: string, cause: unknown): ConnectError {
  return new ConnectError(`${what}: ${cause instanceof Error ? cause.message : String(cause)}`, Code.Unavailable, undefined, undefined, cause);
}

/** Node's header object as web Headers (Connect's metadata), without the pseudo-headers. */
export function webHeaders(headers: http2.IncomingHttpHeaders): Headers {
  const result = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) result.append(name, item);
    else result.append(name, value);
  }
  return result;
}
