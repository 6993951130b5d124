/**
 * Reads a ghz JSON config (the fields loadtest/ghz/*.json use: call, proto, import-paths, host,
 * insecure, data, metadata) and makes its calls through @grpc/grpc-js with @grpc/proto-loader,
 * resolving the proto file and import paths the way ghz does (relative to the directory ghz
 * runs in, the repository root here; the proto's own directory and "." are import paths too),
 * so a wrong path, service or method name fails here as it would in ghz.
 */
import fs from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { GhzTemplate } from "./ghz-template.js";

export interface GhzConfig {
  call: string;
  proto: string;
  "import-paths"?: string[];
  host: string;
  insecure?: boolean;
  data: Record<string, unknown>;
  metadata?: Record<string, string>;
}

export class GhzConfigError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "GhzConfigError";
  }
}

export function readGhzConfig(file: string): GhzConfig {
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<GhzConfig>;
  for (const field of ["call", "proto", "host"] as const) {
    if (typeof parsed[field] !== "string") throw new GhzConfigError(file, `"${field}" must be a string`);
  }
  if (typeof parsed.data !== "object" || parsed.data === null) throw new GhzConfigError(file, '"data" must be an object');
  return parsed as GhzConfig;
}

type Unary = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response: unknown) => void) => void;

/** A ghz config's call, bound to a server; `send` renders data and metadata like ghz and makes one call. */
export class GhzCall {
  private readonly client: grpc.Client;
  private readonly method: Unary;

  constructor(
    readonly file: string,
    readonly config: GhzConfig,
    repoRoot: string,
    /** host:port to call instead of config.host. */
    target: string,
  ) {
    // ghz accepts "package.Service.Method" and "package.Service/Method".
    const call = config.call.replace("/", ".");
    const dot = call.lastIndexOf(".");
    const serviceName = call.slice(0, dot);
    const methodName = call.slice(dot + 1);
    const includeDirs = [path.dirname(config.proto), ".", ...(config["import-paths"] ?? [])].map((d) => path.resolve(repoRoot, d));
    const definition = protoLoader.loadSync(config.proto, { includeDirs, longs: String, defaults: true });
    let node: unknown = grpc.loadPackageDefinition(definition);
    for (const part of serviceName.split(".")) node = (node as Record<string, unknown> | undefined)?.[part];
    if (typeof node !== "function" || !("service" in node)) throw new GhzConfigError(file, `no service ${serviceName} in ${config.proto}`);
    const Service = node as grpc.ServiceClientConstructor;
    if (Service.service[methodName] === undefined) throw new GhzConfigError(file, `service ${serviceName} has no method ${methodName}`);
    if (Service.service[methodName].requestStream || Service.service[methodName].responseStream) throw new GhzConfigError(file, `${config.call} is not unary`);
    this.client = new Service(target, grpc.credentials.createInsecure());
    this.method = (this.client as unknown as Record<string, Unary>)[methodName];
  }

  /** Renders the request (ghz templates the JSON text of data and of metadata) and sends it; returns request and response. */
  async send(template: GhzTemplate, requestNumber: number): Promise<{ request: Record<string, unknown>; response: unknown }> {
    const callData = { WorkerID: "g1c0", RequestNumber: requestNumber };
    const request = JSON.parse(template.render(JSON.stringify(this.config.data), callData)) as Record<string, unknown>;
    const metadata = new grpc.Metadata();
    if (this.config.metadata !== undefined) {
      const rendered = JSON.parse(template.render(JSON.stringify(this.config.metadata), callData)) as Record<string, string>;
      for (const [name, value] of Object.entries(rendered)) metadata.set(name, value);
    }
    // proto-loader serializes with protobufjs' fromObject, which takes protojson's forms: base64
    // strings for bytes fields, lowerCamelCase names.
    const response = await new Promise<unknown>((resolve, reject) =>
      this.method.call(this.client, request, metadata, { deadline: Date.now() + 10_000 }, (err, res) => (err === null ? resolve(res) : reject(err))),
    );
    return { request, response };
  }

  close(): void {
    this.client.close();
  }
}
