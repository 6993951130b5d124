/**
 * A node:http2 (h2c) server for the peer port, serving a RaftTransport's RaftService. Anything
 * else gets gRPC UNIMPLEMENTED (or HTTP 404 for a request that is not gRPC).
 *
 * Its HTTP/2 windows match the client side's (peer-connection.ts), and sockets have
 * TCP_NODELAY set. close() stops accepting and closes every session (GOAWAY); sessions still
 * open after closeGraceMs (an Append stream never ends on its own: close the transport first)
 * are destroyed.
 */
import http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { Code } from "@connectrpc/connect";
import { percentEncode } from "./grpc-status.js";
import { CONNECTION_WINDOW_BYTES, SESSION_MEMORY_MB, STREAM_WINDOW_BYTES } from "./peer-connection.js";
import type { RaftTransport } from "./raft-transport.js";

export interface PeerServerOptions {
  readonly host: string;
  /** 0 for any free port. */
  readonly port: number;
  /** How long close() lets sessions finish before destroying them; 1 s by default. */
  readonly closeGraceMs?: number;
}

export interface PeerServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port, the URL peers reach this server at when host is an address they can reach. */
  readonly url: string;
  close(): Promise<void>;
}

export async function createPeerServer(transport: RaftTransport, options: PeerServerOptions): Promise<PeerServer> {
  const server = http2.createServer({ settings: { initialWindowSize: STREAM_WINDOW_BYTES }, maxSessionMemory: SESSION_MEMORY_MB });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("connection", (socket: Socket) => socket.setNoDelay(true));
  server.on("session", (session) => {
    sessions.add(session);
    if (!session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    session.once("close", () => sessions.delete(session));
  });
  server.on("request", (req, res) => {
    if (transport.handle(req, res)) return;
    if (/^application\/grpc/i.test(req.headers["content-type"] ?? "")) {
      res.writeHead(200, { "content-type": "application/grpc", "grpc-status": String(Code.Unimplemented), "grpc-message": percentEncode(`no method ${req.url} here`) });
    } else {
      res.writeHead(404);
    }
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostInUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const closeGraceMs = options.closeGraceMs ?? 1_000;
  return {
    host: address.address,
    port: address.port,
    url: `http://${hostInUrl}:${address.port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      const grace = setTimeout(() => {
        for (const session of sessions) session.destroy();
      }, closeGraceMs);
      await closed;
      clearTimeout(grace);
    },
  };
}
