/**
 * One unary call's request and response as the unary fast path needs them, over either of two
 * carriers: node's http/http2 compat objects (HTTP/1.1, and HTTP/2 requests that first pass
 * through the compat layer) or a raw HTTP/2 stream (http2 'stream' event).
 *
 * Why the raw carrier: for an HTTP/2 call the compat layer wraps the stream in an
 * Http2ServerRequest (a second Readable the body is pushed through) and an Http2ServerResponse,
 * and wires their events, on every call. The fast path needs none of it: headers, the body's
 * chunks, one answer and, for gRPC, trailers. Measured on a single member with h2load, 64 calls
 * in flight, six alternating runs: median server CPU per durable put 119 -> 116 µs, a gain the
 * size of that machine's noise (docs/ARCHITECTURE.md).
 */
import type http2 from "node:http2";
import type { Readable } from "node:stream";
import type { NodeRequest, NodeResponse } from "./node-http.js";
import type { AnswerWriter, IncomingHeaders } from "./unary-wire.js";

export interface UnaryExchange {
  readonly method: string;
  readonly path: string;
  readonly httpVersionMajor: number;
  readonly headers: IncomingHeaders;
  /** The request body's chunks ('data', 'end', 'error'); resume() drains what is left unread. */
  readonly body: Readable;
  readonly writer: AnswerWriter;
  /** False once the answer was sent or the client went away. */
  answerable(): boolean;
  /** Calls `listener` when the exchange closes (answered or abandoned by the client). */
  onClose(listener: () => void): void;
}

export function compatExchange(req: NodeRequest, res: NodeResponse): UnaryExchange {
  return {
    method: req.method ?? "",
    path: req.url ?? "",
    httpVersionMajor: req.httpVersionMajor,
    headers: req.headers,
    body: req,
    writer: res as unknown as AnswerWriter,
    answerable: () => !res.writableEnded && !res.destroyed,
    onClose: (listener) => res.once("close", listener),
  };
}

/**
 * A raw HTTP/2 stream as an exchange. The answer is one respond() at end(): the codecs call
 * writeHead, then addTrailers (gRPC), then end, and HTTP/2 needs to know when it sends the
 * response HEADERS whether trailers follow.
 */
export function streamExchange(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): UnaryExchange {
  return {
    method: String(headers[":method"] ?? ""),
    path: String(headers[":path"] ?? ""),
    httpVersionMajor: 2,
    headers,
    body: stream,
    writer: new StreamAnswerWriter(stream),
    answerable: () => !stream.destroyed && !stream.closed && !stream.headersSent,
    onClose: (listener) => stream.once("close", listener),
  };
}

class StreamAnswerWriter implements AnswerWriter {
  private head: http2.OutgoingHttpHeaders = {};
  private trailers: Record<string, string> | undefined;

  constructor(private readonly stream: http2.ServerHttp2Stream) {}

  writeHead(status: number, headers: Record<string, string>): void {
    this.head = { ...headers, ":status": status };
  }

  addTrailers(trailers: Record<string, string>): void {
    this.trailers = trailers;
  }

  end(body?: Uint8Array | string): void {
    const { stream, trailers } = this;
    if (stream.destroyed || stream.closed) return;
    if (trailers !== undefined) stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    stream.respond(this.head, { waitForTrailers: trailers !== undefined });
    stream.end(body);
  }
}
