/**
 * A lean path for unary calls beside connect-node (DESIGN.md "The cost of a call"): measured
 * with h2load on this machine, 64 calls in flight, a constant Range answer, connect-node's
 * handler did ~2,200 calls/s and a plain http2 handler ~21,700. connect's universal handler
 * (async-iterable pipelines, linked abort controllers, header conversion) was the limit, not the
 * store. It also maps a body that does not decode to INVALID_ARGUMENT, where connect-node
 * answers INTERNAL ("parse binary: ...") before any interceptor could change it.
 *
 * Every unary method registered through UnaryMethodTable is served here when the request is
 * plain gRPC, gRPC-Web or Connect POST without compression (unary-wire.ts), over HTTP/2 from the
 * raw stream (handleStream) or else from node's compat objects (handle); anything else
 * (compressed bodies, Connect GET, gRPC-Web text, streams) goes to connect-node, so the
 * protocol surface is unchanged. The handlers are the same functions, called with a
 * HandlerContext built on first use (fast-handler-context.ts); limits, error mapping
 * (status.ts), metrics and logs (CallObserver) are the same.
 */
import type http2 from "node:http2";
import type { Readable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NodeRequest, NodeResponse } from "./node-http.js";
import { FastHandlerContext } from "./fast-handler-context.js";
import type { CallObserver } from "./observe-interceptor.js";
import { toConnectError } from "./status.js";
import { compatExchange, streamExchange, type UnaryExchange } from "./unary-exchange.js";
import type { UnaryMethod, UnaryMethodTable } from "./unary-method-table.js";
import { codecFor, type UnaryWireCodec } from "./unary-wire.js";

export interface FastPathLimits {
  maxRequestBytes: number;
  maxTimeoutMs: number;
}

export class UnaryFastPath {
  constructor(
    private readonly table: UnaryMethodTable,
    private readonly observer: CallObserver,
    private readonly limits: FastPathLimits,
    private readonly shutdownSignal: AbortSignal,
  ) {}

  /** Serves the request if it is a plain unary call of a registered method; false leaves it to connect-node. */
  handle(req: NodeRequest, res: NodeResponse): boolean {
    return this.take(compatExchange(req, res));
  }

  /**
   * The same for a raw HTTP/2 stream, before the compat layer wraps it (unary-exchange.ts).
   * Browser calls (an Origin header) are left to the compat path, where CORS is answered.
   */
  handleStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
    if (headers.origin !== undefined) return false;
    return this.take(streamExchange(stream, headers));
  }

  private take(exchange: UnaryExchange): boolean {
    if (exchange.method !== "POST") return false;
    const method = this.table.byPath.get(exchange.path);
    if (method === undefined) return false;
    const codec = codecFor(exchange.httpVersionMajor, exchange.headers);
    if (codec === undefined) return false;
    void this.serve(method, codec, exchange);
    return true;
  }

  private async serve(method: UnaryMethod, codec: UnaryWireCodec, exchange: UnaryExchange): Promise<void> {
    const { headers, writer } = exchange;
    const finish = this.observer.start(method.name);
    let timer: NodeJS.Timeout | undefined;
    let context: FastHandlerContext | undefined;
    let answered = false;
    const settle = (write: () => void, error: ConnectError | undefined): void => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      context?.release();
      finish(error);
      if (exchange.answerable()) write();
    };
    const fail = (err: unknown): void => {
      const error = toConnectError(err);
      settle(() => codec.fail(writer, error), error);
    };
    try {
      const timeoutMs = codec.timeoutMs(headers);
      if (timeoutMs !== undefined && timeoutMs > this.limits.maxTimeoutMs) {
        throw new ConnectError(`a deadline of ${timeoutMs} ms is longer than the maximum of ${this.limits.maxTimeoutMs} ms`, Code.InvalidArgument);
      }
      if (timeoutMs !== undefined) timer = setTimeout(() => fail(new ConnectError(`the deadline of ${timeoutMs} ms passed`, Code.DeadlineExceeded)), timeoutMs);
      const body = await readBody(exchange.body, codec.framingBytes + this.limits.maxRequestBytes, this.limits.maxRequestBytes);
      const request = codec.decode(method.input, body);
      context = new FastHandlerContext({
        service: method.service,
        method: method.method,
        protocolName: codec.protocol,
        url: exchange.path,
        timeoutMs,
        headers,
        onClientGone: (listener) => exchange.onClose(() => answered || listener()),
        shutdownSignal: this.shutdownSignal,
      });
      const response = create(method.output, await method.call(request, context));
      const extra = { headers: context.setResponseHeaders, trailers: context.setResponseTrailers };
      settle(() => codec.answer(writer, method.output, response, extra), undefined);
    } catch (err) {
      exchange.body.resume();
      fail(err);
    }
  }
}

/** The body, or RESOURCE_EXHAUSTED once it is longer than `limitBytes` (the rest is read and dropped). */
function readBody(body: Readable, limitBytes: number, limitForMessage: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    body.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limitBytes) chunks.push(chunk);
    });
    body.on("error", () => reject(new ConnectError("the request stream failed", Code.Canceled)));
    body.on("end", () => {
      if (received > limitBytes) reject(new ConnectError(`the request of ${received} bytes is larger than the limit of ${limitForMessage} bytes`, Code.ResourceExhausted));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
  });
}
