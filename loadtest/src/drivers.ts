/**
 * The clients a load run drives, behind one interface (KvDriver): one driver is one connection
 * to one endpoint, and all the calls of the clients sharing it are multiplexed on it.
 *
 *   grpc-js       @grpc/grpc-js with @grpc/proto-loader reading proto/ (an implementation
 *                 independent of ours): unary gRPC.
 *   sdk-connect   our SDK (@sisyphusdb/client), unary calls over the Connect protocol (HTTP/2).
 *   sdk-grpc      our SDK, unary calls over gRPC.
 *   sdk-pipeline  our SDK, every call multiplexed on one KVService.Pipeline stream (gRPC).
 *
 * Another system (e.g. etcd's v3 KV over grpc-js) is one more entry in DRIVERS: nothing else in
 * the generator knows which driver it runs. bench:api uses sdkDriver and grpcJsDriver as well.
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { cmp, createClient, op, type Client } from "@sisyphusdb/client";
import { repoRoot } from "./repo-paths.js";

export interface KvDriver {
  readonly name: string;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** A single-key read; linearizable unless `serializable`. */
  get(key: Uint8Array, options?: { serializable?: boolean }): Promise<void>;
  /**
   * A compare-and-put transaction: if the key's mod_revision is below 2^48 (it always is, so
   * every txn writes), put the value. One comparison and one write, the same for every
   * system, so txn throughput compares like with like.
   */
  txn(key: Uint8Array, value: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface DriverOptions {
  /** Deadline of each call in ms; <= 0 for none. */
  timeoutMs: number;
  /** Attempts per call for drivers that retry (the SDK); undefined keeps the driver's default. A load test counts failures instead of hiding them, so it passes 1. */
  maxAttempts?: number;
}

export type DriverFactory = (endpoint: string, options: DriverOptions) => KvDriver;

/** Far above any revision a run reaches. (Not 2^53 - 1: the server's command encoding takes signed values up to 2^52 only.) */
const TXN_MOD_REVISION_BOUND = 2 ** 48;

export const DRIVERS: Readonly<Record<string, DriverFactory>> = {
  "grpc-js": (endpoint, options) => grpcJsDriver(endpoint, options),
  "sdk-connect": (endpoint, options) => sdkDriver("SDK unary Connect (h2)", endpoint, { ...options, protocol: "connect", pipeline: false }),
  "sdk-grpc": (endpoint, options) => sdkDriver("SDK unary gRPC", endpoint, { ...options, protocol: "grpc", pipeline: false }),
  "sdk-pipeline": (endpoint, options) => sdkDriver("SDK pipeline (gRPC, one stream)", endpoint, { ...options, protocol: "grpc", pipeline: true }),
};

export function sdkDriver(
  name: string,
  url: string,
  options: Partial<DriverOptions> & { protocol: "grpc" | "connect"; pipeline: boolean },
): KvDriver {
  const client: Client = createClient({
    endpoints: [url],
    protocol: options.protocol,
    pipeline: options.pipeline,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.maxAttempts === undefined ? {} : { retry: { maxAttempts: options.maxAttempts } }),
  });
  return {
    name,
    put: async (key, value) => {
      await client.put(key, value);
    },
    get: async (key, getOptions) => {
      await client.get(key, { serializable: getOptions?.serializable === true });
    },
    txn: async (key, value) => {
      await client.txn().if(cmp.modRevision(key).less(TXN_MOD_REVISION_BOUND)).then(op.put(key, value)).commit();
    },
    close: async () => client.close(),
  };
}

type Unary = (request: object, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: unknown) => void) => void;
type GrpcJsKv = grpc.Client & { Put: Unary; Range: Unary; Txn: Unary };

export function grpcJsDriver(url: string, options: Partial<DriverOptions> = {}): KvDriver {
  const definition = protoLoader.loadSync("sisyphus/kv/v1/kv.proto", { includeDirs: [path.join(repoRoot(), "proto")], longs: String, defaults: false });
  const v1 = (grpc.loadPackageDefinition(definition) as unknown as { sisyphus: { kv: { v1: Record<string, grpc.ServiceClientConstructor> } } }).sisyphus.kv.v1;
  const client = new v1.KVService(new URL(url).host, grpc.credentials.createInsecure()) as unknown as GrpcJsKv;
  const timeoutMs = options.timeoutMs ?? 0;
  const call = (method: Unary, request: object): Promise<void> =>
    new Promise((resolve, reject) => {
      const callOptions: grpc.CallOptions = timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {};
      method.call(client, request, callOptions, (err) => (err === null ? resolve() : reject(err)));
    });
  return {
    name: "grpc-js unary",
    put: (key, value) => call(client.Put, { key: Buffer.from(key), value: Buffer.from(value) }),
    get: (key, getOptions) => call(client.Range, { key: Buffer.from(key), serializable: getOptions?.serializable === true }),
    txn: (key, value) =>
      call(client.Txn, {
        compare: [{ key: Buffer.from(key), operator: "COMPARE_OPERATOR_LESS", modRevision: String(TXN_MOD_REVISION_BOUND) }],
        success: [{ put: { key: Buffer.from(key), value: Buffer.from(value) } }],
      }),
    close: async () => client.close(),
  };
}
