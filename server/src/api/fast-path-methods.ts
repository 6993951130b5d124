/**
 * What the unary fast paths (grpc-unary-fast-path.ts, connect-unary-fast-path.ts) share: the
 * table of hot KV methods they serve, reading a request body under the size limit, and the
 * deadline. Both exist because connect-node's per-call cost, not the store, limited unary
 * throughput (measurements in grpc-unary-fast-path.ts); both hand anything they do not fully
 * understand to connect-node.
 */
import type { DescMessage, Message, MessageInitShape } from "@bufbuild/protobuf";
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

type NodeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
export type NodeRequest = Parameters<NodeHandler>[0];
export type NodeResponse = Parameters<NodeHandler>[1];

export interface FastMethod {
  /** "sisyphus.kv.v1.KVService/Put", for metrics and logs. */
  name: string;
  input: DescMessage;
  output: DescMessage;
  call(request: Message): Promise<MessageInitShape<DescMessage>>;
}

export interface FastPathLimits {
  maxRequestBytes: number;
  maxTimeoutMs: number;
}

/** The hot KV methods by request path ("/sisyphus.kv.v1.KVService/Put"). */
export function kvFastMethods(ops: KvOperations): Map<string, FastMethod> {
  const methods = new Map<string, FastMethod>();
  const add = <I extends DescMessage, O extends DescMessage>(
    method: string,
    input: I,
    output: O,
    call: (request: never) => Promise<MessageInitShape<O>>,
  ): void => {
    const name = `sisyphus.kv.v1.KVService/${method}`;
    methods.set(`/${name}`, { name, input, output, call: call as FastMethod["call"] });
  };
  add("Range", RangeRequestSchema, RangeResponseSchema, (r) => ops.range(r));
  add("Put", PutRequestSchema, PutResponseSchema, (r) => ops.put(r));
  add("DeleteRange", DeleteRangeRequestSchema, DeleteRangeResponseSchema, (r) => ops.deleteRange(r));
  add("Txn", TxnRequestSchema, TxnResponseSchema, (r) => ops.txn(r));
  add("Compact", CompactRequestSchema, CompactResponseSchema, (r) => ops.compact(r));
  return methods;
}

/**
 * Collects the request body; resolves with it, or rejects with RESOURCE_EXHAUSTED once it is
 * longer than `limitBytes` (the rest is read and dropped, so the connection stays usable).
 */
export function readBody(req: NodeRequest, limitBytes: number, limitForMessage: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limitBytes) chunks.push(chunk);
    });
    req.on("error", () => reject(new ConnectError("the request stream failed", Code.Canceled)));
    req.on("end", () => {
      if (received > limitBytes) {
        reject(new ConnectError(`request of ${received} bytes is larger than the limit of ${limitForMessage} bytes`, Code.ResourceExhausted));
      } else {
        resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      }
    });
  });
}

/** A deadline in ms from a header value; undefined without one; INVALID_ARGUMENT when over the maximum. */
export function checkTimeout(ms: number | undefined, maxMs: number): number | undefined {
  if (ms === undefined) return undefined;
  if (ms > maxMs) throw new ConnectError(`a deadline of ${ms} ms is longer than the maximum of ${maxMs} ms`, Code.InvalidArgument);
  return ms;
}
