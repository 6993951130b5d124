/**
 * The browser entry of @sisyphusdb/client: createClient on @connectrpc/connect-web (fetch).
 * Browsers cannot send on a stream once it is open, so: no pipeline (KV calls are unary),
 * watches use WatchService.Subscribe (one server stream each), and lease keep-alives call
 * KeepAliveOnce on a timer. Nothing this file imports may import node: modules or
 * @connectrpc/connect-node.
 */
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { Client } from "./client.js";
import { InvalidArgumentError } from "./errors.js";
import type { ClientOptions } from "./options.js";
import { createWebSha256 } from "./sha256-web.js";

export * from "./public-api.js";

/** Creates a client for browsers. See ClientOptions and the README. */
export function createClient(options: ClientOptions): Client {
  const protocol = options.protocol ?? "connect";
  if (protocol === "grpc") throw new InvalidArgumentError('browsers cannot speak gRPC: use protocol "connect" or "grpc-web"');
  return new Client(options, {
    connect: (url) => ({
      transport: protocol === "grpc-web" ? createGrpcWebTransport({ baseUrl: url, useBinaryFormat: true }) : createConnectTransport({ baseUrl: url, useBinaryFormat: true }),
      close: () => undefined,
    }),
    bidiStreams: false,
    createSha256: createWebSha256,
  });
}
