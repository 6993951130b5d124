/**
 * The clients a load run drives, behind one interface (KvDriver): one driver is one connection
 * to one endpoint, and all the calls of the clients sharing it are multiplexed on it.
 *
 *   grpc-js       @grpc/grpc-js with @grpc/proto-loader reading proto/ (an implementation
 *                 independent of ours): unary gRPC.
 *   sdk-connect   our SDK (@sisyphusdb/client), unary calls over the Connect protocol (HTTP/2).
 *   sdk-grpc      our SDK, unary calls over gRPC.
 *   sdk-pipeline  our SDK, every call multiplexed on one KVService.Pipeline stream (gRPC).
 *   etcd-grpc-js  etcd's v3 KV API (etcdserverpb.KV Put, Range, Txn) through the same
 *                 @grpc/grpc-js + proto-loader client and settings as grpc-js, with the
 *                 field-compatible subset of etcd's protos in loadtest/proto/etcd: like with like.
 *   h2-grpc       unary gRPC to SisyphusDB straight over node:http2 with hand-encoded requests
 *                 (h2-grpc-driver.ts): a fraction of grpc-js's client CPU per call, so the
 *                 generator is not the bottleneck.
 *   etcd-h2-grpc  the same lean client and code for etcd's v3 KV API (etcdserverpb.KV).
 *
 * Another system is one more entry in DRIVERS: nothing else in the generator knows which driver
 * it runs. bench:api uses sdkDriver and grpcJsDriver as well; bench:etcd the h2-grpc pair
 * (its headline) and the grpc-js pair.
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { cmp, createClient, op, type Client } from "@sisyphusdb/client";
import { h2GrpcDriver } from "./h2-grpc-driver.js";
import { ETCD_KV_SCHEMA, SISYPHUS_KV_SCHEMA, TXN_MOD_REVISION_BOUND } from "./kv-grpc-messages.js";
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

export const DRIVERS: Readonly<Record<string, DriverFactory>> = {
  "grpc-js": (endpoint, options) => grpcJsDriver(endpoint, options),
  "sdk-connect": (endpoint, options) => sdkDriver("SDK unary Connect (h2)", endpoint, { ...options, protocol: "connect", pipeline: false }),
  "sdk-grpc": (endpoint, options) => sdkDriver("SDK unary gRPC", endpoint, { ...options, protocol: "grpc", pipeline: false }),
  "sdk-pipeline": (endpoint, options) => sdkDriver("SDK pipeline (gRPC, one stream)", endpoint, { ...options, protocol: "grpc", pipeline: true }),
  "etcd-grpc-js": (endpoint, options) => etcdGrpcJsDriver(endpoint, options),
  "h2-grpc": (endpoint, options) => h2GrpcDriver("h2-grpc unary (node:http2)", endpoint, SISYPHUS_KV_SCHEMA, options),
  "etcd-h2-grpc": (endpoint, options) => h2GrpcDriver("etcd v3 h2-grpc unary (node:http2)", endpoint, ETCD_KV_SCHEMA, options),
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

/** proto-loader's settings for both grpc-js drivers: 64-bit integers as decimal strings, no default values filled in. */
const PROTO_LOADER_OPTIONS: protoLoader.Options = { longs: String, defaults: false };

/** A unary call on `client` as a promise, with the driver's deadline (none when timeoutMs <= 0). */
function unaryCaller(client: grpc.Client, timeoutMs: number): (method: Unary, request: object) => Promise<void> {
  return (method, request) =>
    new Promise((resolve, reject) => {
      const callOptions: grpc.CallOptions = timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {};
      method.call(client, request, callOptions, (err) => (err === null ? resolve() : reject(err)));
    });
}

/** The request objects (proto-loader's field names) a grpc-js driver sends; the h2-grpc encoding test holds the lean drivers' bytes against them. */
export interface GrpcJsKvRequests {
  put(key: Uint8Array, value: Uint8Array): object;
  range(key: Uint8Array, serializable: boolean): object;
  /** [mod_revision(key) < TXN_MOD_REVISION_BOUND] then put(key, value). */
  txn(key: Uint8Array, value: Uint8Array): object;
}

export const SISYPHUS_GRPC_JS_REQUESTS: GrpcJsKvRequests = {
  put: (key, value) => ({ key: Buffer.from(key), value: Buffer.from(value) }),
  range: (key, serializable) => ({ key: Buffer.from(key), serializable }),
  txn: (key, value) => ({
    compare: [{ key: Buffer.from(key), operator: "COMPARE_OPERATOR_LESS", modRevision: String(TXN_MOD_REVISION_BOUND) }],
    success: [{ put: { key: Buffer.from(key), value: Buffer.from(value) } }],
  }),
};

export function grpcJsDriver(url: string, options: Partial<DriverOptions> = {}): KvDriver {
  const definition = protoLoader.loadSync("sisyphus/kv/v1/kv.proto", { ...PROTO_LOADER_OPTIONS, includeDirs: [path.join(repoRoot(), "proto")] });
  const v1 = (grpc.loadPackageDefinition(definition) as unknown as { sisyphus: { kv: { v1: Record<string, grpc.ServiceClientConstructor> } } }).sisyphus.kv.v1;
  const client = new v1.KVService(new URL(url).host, grpc.credentials.createInsecure()) as unknown as GrpcJsKv;
  return grpcJsKvDriver("grpc-js unary", client, SISYPHUS_GRPC_JS_REQUESTS, options.timeoutMs ?? 0);
}

/** Put, get and txn on a grpc-js KV client (either system's), with that system's request objects. */
function grpcJsKvDriver(name: string, client: GrpcJsKv, requests: GrpcJsKvRequests, timeoutMs: number): KvDriver {
  const call = unaryCaller(client, timeoutMs);
  return {
    name,
    put: (key, value) => call(client.Put, requests.put(key, value)),
    get: (key, getOptions) => call(client.Range, requests.range(key, getOptions?.serializable === true)),
    txn: (key, value) => call(client.Txn, requests.txn(key, value)),
    close: async () => client.close(),
  };
}

/** Where the etcd proto subset lives (include directory), and its entry file. */
export const ETCD_PROTO_DIR = ["loadtest", "proto", "etcd"];
export const ETCD_RPC_PROTO = "etcdserverpb/rpc.proto";

/** etcd's KV definitions loaded as the etcd driver loads them (for the driver and the proto test). */
export function loadEtcdPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(ETCD_RPC_PROTO, { ...PROTO_LOADER_OPTIONS, includeDirs: [path.join(repoRoot(), ...ETCD_PROTO_DIR)] });
}

export const ETCD_GRPC_JS_REQUESTS: GrpcJsKvRequests = {
  put: (key, value) => ({ key: Buffer.from(key), value: Buffer.from(value) }),
  range: (key, serializable) => ({ key: Buffer.from(key), serializable }),
  txn: (key, value) => ({
    compare: [{ key: Buffer.from(key), result: "LESS", target: "MOD", modRevision: String(TXN_MOD_REVISION_BOUND) }],
    success: [{ requestPut: { key: Buffer.from(key), value: Buffer.from(value) } }],
  }),
};

/**
 * etcd's v3 KV API over gRPC (etcdserverpb.KV): Put, Range (single key, `serializable` for
 * serializable gets) and Txn ([mod_revision(key) < 2^48] then put), the same operations as
 * grpcJsDriver sends to SisyphusDB, through the same client and settings.
 */
export function etcdGrpcJsDriver(url: string, options: Partial<DriverOptions> = {}): KvDriver {
  const etcdserverpb = (grpc.loadPackageDefinition(loadEtcdPackageDefinition()) as unknown as { etcdserverpb: Record<string, grpc.ServiceClientConstructor> }).etcdserverpb;
  const client = new etcdserverpb.KV(new URL(url).host, grpc.credentials.createInsecure()) as unknown as GrpcJsKv;
  return grpcJsKvDriver("etcd v3 grpc-js unary", client, ETCD_GRPC_JS_REQUESTS, options.timeoutMs ?? 0);
}
