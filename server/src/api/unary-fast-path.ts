/**
 * A lean path for unary calls beside connect-node (DESIGN.md "The cost of a call"): measured
 * with h2load on this machine, 64 calls in flight, a constant Range answer, connect-node's
 * handler did ~2,200 calls/s and a plain http2 handler ~21,700. connect's universal handler
 * (async-iterable pipelines, linked abort controllers, header conversion) was the limit, not the
 * store. It also maps a body that does not decode to INVALID_ARGUMENT, where connect-node
 * answers INTERNAL ("parse binary: ...") before any interceptor could change it.
 *
 * Every unary method registered through UnaryMethodTable is served here when the request is
 * plain gRPC, gRPC-Web or Connect POST without compression (unary-wire.ts); anything else
 * (compressed bodies, Connect GET, gRPC-Web text, streams) goes to connect-node, so the
 * protocol surface is unchanged. The handlers are the same functions, called with a
 * HandlerContext built on first use (fast-handler-context.ts); limits, error mapping
 * (status.ts), metrics and logs (CallObserver) are the same.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NodeRequest, NodeResponse } from "./node-http.js";
import { FastHandlerContext } from "./fast-handler-context.js";
import type { CallObserver } from "./observe-interceptor.js";
import { toConnectError } from "./status.js";
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
    if (req.method !== "POST") return false;
    const method = this.table.byPath.get(req.url ?? "");
    if (method === undefined) return false;
    const codec = codecFor(req.httpVersionMajor, req.headers);
    if (codec === undefined) return false;
    void this.serve(method, codec, req, res);
    return true;
  }

  private async serve(method: UnaryMethod, codec: UnaryWireCodec, req: NodeRequest, res: NodeResponse): Promise<void> {
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
      if (!res.writableEnded && !res.destroyed) write();
    };
    const fail = (err: unknown): void => {
      const error = toConnectError(err);
      settle(() => codec.fail(res as never, error), error);
    };
    try {
      const timeoutMs = codec.timeoutMs(req.headers);
      if (timeoutMs !== undefined && timeoutMs > this.limits.maxTimeoutMs) {
        throw new ConnectError(`a deadline of ${timeoutMs} ms is longer than the maximum of ${this.limits.maxTimeoutMs} ms`, Code.InvalidArgument);
      }
      if (timeoutMs !== undefined) timer = setTimeout(() => fail(new ConnectError(`the deadline of ${timeoutMs} ms passed`, Code.DeadlineExceeded)), timeoutMs);
      const body = await readBody(req, codec.framingBytes + this.limits.maxRequestBytes, this.limits.maxRequestBytes);
      const request = codec.decode(method.input, body);
      context = new FastHandlerContext({
        service: method.service,
        method: method.method,
        protocolName: codec.protocol,
        url: req.url ?? "",
        timeoutMs,
        headers: req.headers,
        onClientGone: (listener) => res.once("close", () => answered || listener()),
        shutdownSignal: this.shutdownSignal,
      });
      const response = create(method.output, await method.call(request, context));
      const extra = { headers: context.setResponseHeaders, trailers: context.setResponseTrailers };
      settle(() => codec.answer(res as never, method.output, response, extra), undefined);
    } catch (err) {
      req.resume();
      fail(err);
    }
  }
}

/** The body, or RESOURCE_EXHAUSTED once it is longer than `limitBytes` (the rest is read and dropped). */
function readBody(req: NodeRequest, limitBytes: number, limitForMessage: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limitBytes) chunks.push(chunk);
    });
    req.on("error", () => reject(new ConnectError("the request stream failed", Code.Canceled)));
    req.on("end", () => {
      if (received > limitBytes) reject(new ConnectError(`the request of ${received} bytes is larger than the limit of ${limitForMessage} bytes`, Code.ResourceExhausted));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
  });
}
