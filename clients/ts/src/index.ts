/**
 * The Node entry of @sisyphusdb/client: createClient on @connectrpc/connect-node. Default: gRPC
 * over HTTP/2 (h2c with prior knowledge for http:// URLs), KV calls pipelined, watches and
 * lease keep-alives on shared bidi streams. Over gRPC the Pipeline stream is written directly on
 * the HTTP/2 connection (grpc-pipeline-stream.ts), the rest goes through connect-node; a custom
 * `transport` option carries everything, the Pipeline included. With httpVersion "1.1" (Connect
 * or gRPC-Web only) there are no bidi streams, and the client works as in a browser.
 */
import type { Transport } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Client } from "./client.js";
import type { EndpointConnection } from "./endpoint-pool.js";
import { InvalidArgumentError } from "./errors.js";
import { grpcPipelineStreams } from "./grpc-pipeline-stream.js";
import { leanGrpcUnaryTransport } from "./grpc-unary-transport.js";
import type { ClientOptions, Protocol } from "./options.js";
import { createNodeSha256 } from "./sha256-node.js";

export * from "./public-api.js";

/** HTTP/2 PING cadence on connections with open streams, so a dead peer fails long-lived streams (watches, keep-alives) instead of hanging them. */
const PING_INTERVAL_MS = 10_000;
const PING_TIMEOUT_MS = 10_000;

function connectNode(url: string, protocol: Protocol, httpVersion: "2" | "1.1"): EndpointConnection {
  if (httpVersion === "1.1") {
    const options = { baseUrl: url, httpVersion: "1.1" as const, useBinaryFormat: true };
    const transport: Transport = protocol === "grpc-web" ? createGrpcWebTransport(options) : createConnectTransport(options);
    return { transport, close: () => undefined };
  }
  const sessionManager = new Http2SessionManager(url, { pingIntervalMs: PING_INTERVAL_MS, pingTimeoutMs: PING_TIMEOUT_MS });
  const options = { baseUrl: url, httpVersion: "2" as const, sessionManager, useBinaryFormat: true };
  if (protocol === "grpc") {
    // The Pipeline stream and unary calls bypass connect-node's client (grpc-pipeline-stream.ts,
    // grpc-unary-transport.ts), on the same HTTP/2 connection; other streams go through it.
    return {
      transport: leanGrpcUnaryTransport(createGrpcTransport(options), sessionManager, url),
      openPipeline: grpcPipelineStreams(sessionManager, url),
      close: () => sessionManager.abort(),
    };
  }
  const transport = protocol === "grpc-web" ? createGrpcWebTransport(options) : createConnectTransport(options);
  return { transport, close: () => sessionManager.abort() };
}

/** Creates a client for Node. See ClientOptions and the README. */
export function createClient(options: ClientOptions): Client {
  const protocol = options.protocol ?? "grpc";
  const httpVersion = options.httpVersion ?? "2";
  if (protocol === "grpc" && httpVersion === "1.1") {
    throw new InvalidArgumentError('gRPC needs HTTP/2: use httpVersion "2", or protocol "connect" or "grpc-web" over HTTP/1.1');
  }
  return new Client(options, {
    connect: (url) => connectNode(url, protocol, httpVersion),
    bidiStreams: httpVersion === "2",
    createSha256: createNodeSha256,
  });
}
