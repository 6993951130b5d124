/**
 * The clients bench:api drives, behind one small interface: the SDK through its pipeline
 * stream, the SDK's plain unary calls over gRPC and over Connect, and @grpc/grpc-js with
 * @grpc/proto-loader reading the .proto files (an implementation independent of ours).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient, type Client } from "@sisyphusdb/client";

export interface ApiDriver {
  readonly name: string;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  get(key: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

const PROTO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../proto");

export function sdkDriver(name: string, url: string, options: { protocol: "grpc" | "connect"; pipeline: boolean }): ApiDriver {
  const client: Client = createClient({ endpoints: [url], protocol: options.protocol, pipeline: options.pipeline });
  return {
    name,
    put: async (key, value) => {
      await client.put(key, value);
    },
    get: async (key) => {
      await client.get(key);
    },
    close: async () => client.close(),
  };
}

interface GrpcJsKv extends grpc.Client {
  put(request: object, callback: (err: grpc.ServiceError | null, response?: unknown) => void): void;
  range(request: object, callback: (err: grpc.ServiceError | null, response?: unknown) => void): void;
}

export function grpcJsDriver(url: string): ApiDriver {
  const definition = protoLoader.loadSync("sisyphus/kv/v1/kv.proto", { includeDirs: [PROTO_ROOT], longs: String, defaults: false });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    sisyphus: { kv: { v1: { KVService: new (address: string, credentials: grpc.ChannelCredentials) => GrpcJsKv } } };
  };
  const client = new loaded.sisyphus.kv.v1.KVService(new URL(url).host, grpc.credentials.createInsecure());
  const call = (method: "put" | "range", request: object): Promise<void> =>
    new Promise((resolve, reject) => client[method](request, (err) => (err === null ? resolve() : reject(err))));
  return {
    name: "grpc-js unary",
    put: (key, value) => call("put", { key: Buffer.from(key), value: Buffer.from(value) }),
    get: (key) => call("range", { key: Buffer.from(key) }),
    close: async () => client.close(),
  };
}
