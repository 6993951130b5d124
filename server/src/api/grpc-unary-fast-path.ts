/**
 * A lean gRPC unary path for the hot KV methods (Range, Put, DeleteRange, Txn, Compact),
 * straight on node:http2, beside connect-node (DESIGN.md "The cost of a call"). Measured with
 * h2load on this machine, 64 calls in flight, a no-op Range answer: connect-node's handler
 * ~2,200 calls/s, the same answer from a plain http2 handler ~21,700 calls/s. The per-call cost
 * of connect's universal handler (async-iterable pipelines, linked abort controllers, header
 * conversion) was the limit, not the store.
 *
 * It takes only what it fully understands: HTTP/2, POST, content-type application/grpc or
 * application/grpc+proto, no compression (grpc-encoding absent or identity). Everything else
 * (gzip, gRPC-Web, Connect, streams, the other services) goes to connect-node, so the protocol
 * surface is unchanged. Semantics match the Connect handlers: the same KvOperations, the same
 * error mapping (status.ts), the same limits (request bytes -> RESOURCE_EXHAUSTED, grpc-timeout
 * above the maximum -> INVALID_ARGUMENT, deadline -> DEADLINE_EXCEEDED), the same metrics and
 * logs (CallObserver). The interop tests run gRPC clients (grpc-js, buf curl, connect) through it.
 *
 * Wire: request = one gRPC message (flag byte 0, u32 BE length, protobuf bytes) and END_STREAM;
 * success = HEADERS(200, content-type) DATA(one message) TRAILERS(grpc-status 0); failure =
 * trailers-only HEADERS(200, content-type, grpc-status, grpc-message percent-encoded, error
 * metadata such as sisyphus-not-applied).
 */
import { create, fromBinary, toBinary, type DescMessage, type Message, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import {
  CompactRequestSchema,
  CompactResponseSchema,
  DeleteRangeRequestSchema,
  DeleteRangeResponseSchema,
  PutRequestSchema,
  PutResponseSchema,
  RangeRequestSchema,
  RangeResponseSchema,
  TxnRequestSchema,
  TxnResponseSchema,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import type { KvOperations } from "./kv-operations.js";
import type { CallObserver } from "./observe-interceptor.js";
import { toConnectError } from "./status.js";

type NodeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

interface FastMethod {
  /** "sisyphus.kv.v1.KVService/Put", for metrics and logs. */
  name: string;
  input: DescMessage;
  output: DescMessage;
  call(request: Message): Promise<MessageInitShape<DescMessage>>;
}

const ENVELOPE_HEADER_BYTES = 5;
const TIMEOUT_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

export interface FastPathLimits {
  maxRequestBytes: number;
  maxTimeoutMs: number;
}

export class GrpcUnaryFastPath {
  private readonly methods = new Map<string, FastMethod>();

  constructor(
    ops: KvOperations,
    private readonly observer: CallObserver,
    private readonly limits: FastPathLimits,
  ) {
    const add = <I extends DescMessage, O extends DescMessage>(
      method: string,
      input: I,
      output: O,
      call: (request: Message & { $typeName: I["typeName"] }) => Promise<MessageInitShape<O>>,
    ): void => {
      const name = `sisyphus.kv.v1.KVService/${method}`;
      this.methods.set(`/${name}`, { name, input, output, call: call as FastMethod["call"] });
    };
    add("Range", RangeRequestSchema, RangeResponseSchema, (r) => ops.range(r as never));
    add("Put", PutRequestSchema, PutResponseSchema, (r) => ops.put(r as never));
    add("DeleteRange", DeleteRangeRequestSchema, DeleteRangeResponseSchema, (r) => ops.deleteRange(r as never));
    add("Txn", TxnRequestSchema, TxnResponseSchema, (r) => ops.txn(r as never));
    add("Compact", CompactRequestSchema, CompactResponseSchema, (r) => ops.compact(r as never));
  }

  /** Serves the call if it is a plain gRPC unary call of a fast method; false leaves it to connect-node. */
  handle(req: NodeRequest, res: NodeResponse): boolean {
    if (req.httpVersionMajor !== 2 || req.method !== "POST") return false;
    const method = this.methods.get(req.url ?? "");
    if (method === undefined) return false;
    const contentType = req.headers["content-type"];
    if (contentType !== "application/grpc" && contentType !== "application/grpc+proto") return false;
    const encoding = req.headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    this.serve(method, req, res, contentType);
    return true;
  }

  private serve(method: FastMethod, req: NodeRequest, res: NodeResponse, contentType: string): void {
    const finish = this.observer.start(method.name);
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const answer = (body: Uint8Array | ConnectError): void => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      finish(body instanceof ConnectError ? body : undefined);
      if (res.writableEnded || res.destroyed) return;
      if (body instanceof ConnectError) {
        const headers: Record<string, string> = { "content-type": contentType, "grpc-status": String(body.code), "grpc-message": encodeURIComponent(body.rawMessage) };
        body.metadata.forEach((value, key) => {
          headers[key] = value;
        });
        res.writeHead(200, headers);
        res.end();
        return;
      }
      const frame = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + body.length);
      frame[0] = 0;
      frame.writeUInt32BE(body.length, 1);
      frame.set(body, ENVELOPE_HEADER_BYTES);
      res.writeHead(200, { "content-type": contentType });
      res.addTrailers({ "grpc-status": "0" });
      res.end(frame);
    };

    const timeout = parseGrpcTimeout(req.headers["grpc-timeout"], this.limits.maxTimeoutMs);
    if (timeout instanceof ConnectError) {
      req.resume();
      answer(timeout);
      return;
    }
    if (timeout !== undefined) {
      timer = setTimeout(() => answer(new ConnectError(`the deadline of ${timeout} ms passed`, Code.DeadlineExceeded)), timeout);
    }

    const limitBytes = ENVELOPE_HEADER_BYTES + this.limits.maxRequestBytes;
    const chunks: Buffer[] = [];
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limitBytes) chunks.push(chunk);
    });
    req.on("error", () => answer(new ConnectError("the request stream failed", Code.Canceled)));
    req.on("end", () => {
      if (received > limitBytes) {
        answer(
          new ConnectError(`request of ${received - ENVELOPE_HEADER_BYTES} bytes is larger than the limit of ${this.limits.maxRequestBytes}`, Code.ResourceExhausted),
        );
        return;
      }
      let request: Message;
      try {
        request = fromBinary(method.input, unwrapEnvelope(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
      } catch (err) {
        answer(err instanceof ConnectError ? err : new ConnectError(`cannot decode ${method.input.typeName}: ${(err as Error).message}`, Code.InvalidArgument));
        return;
      }
      method.call(request).then(
        (init) => answer(toBinary(method.output, create(method.output, init))),
        (err: unknown) => answer(toConnectError(err)),
      );
    });
  }
}

/** The message of a unary gRPC request body: exactly one uncompressed envelope. */
function unwrapEnvelope(body: Buffer): Uint8Array {
  if (body.length < ENVELOPE_HEADER_BYTES) throw new ConnectError("the request holds no gRPC message", Code.InvalidArgument);
  if (body[0] !== 0) throw new ConnectError(`gRPC message flags ${body[0]} are not supported without grpc-encoding`, Code.InvalidArgument);
  const length = body.readUInt32BE(1);
  if (ENVELOPE_HEADER_BYTES + length !== body.length) {
    throw new ConnectError(`the gRPC envelope says ${length} bytes but the request carries ${body.length - ENVELOPE_HEADER_BYTES}`, Code.InvalidArgument);
  }
  return body.subarray(ENVELOPE_HEADER_BYTES);
}

/** grpc-timeout ("100m", "5S", ...) in ms; undefined without one; an INVALID_ARGUMENT error when malformed or too long. */
function parseGrpcTimeout(value: string | string[] | undefined, maxMs: number): number | undefined | ConnectError {
  if (value === undefined) return undefined;
  const match = typeof value === "string" ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  if (match === null) return new ConnectError(`malformed grpc-timeout header: ${String(value)}`, Code.InvalidArgument);
  const ms = Number(match[1]) * TIMEOUT_UNITS_MS[match[2]];
  if (ms > maxMs) return new ConnectError(`grpc-timeout of ${ms} ms is longer than the maximum of ${maxMs} ms`, Code.InvalidArgument);
  return ms;
}
