/**
 * Real servers on 127.0.0.1, port 0, for the tests of the Node transports: the fake API served
 * by connect-node over HTTP/2 (h2c) or HTTP/1.1, a bare node:http2 server whose streams a test
 * scripts itself, and a URL on which nothing listens.
 */
import { EventEmitter } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { FakeServer } from "./fake-server.js";

export interface Served {
  url: string;
  /** Connections accepted so far, and how many of them are still open. */
  readonly connections: { accepted: number; open: number };
  /** Emits "change" when a connection opens or closes (for waitFor). */
  readonly changes: EventEmitter;
  /** Destroys every connection and stops listening. */
  stop(): Promise<void>;
}

export interface ServedFake extends Served {
  fake: FakeServer;
}

async function listen(server: http.Server | http2.Http2Server): Promise<Served> {
  const sockets = new Set<Socket>();
  const connections = { accepted: 0, open: 0 };
  const changes = new EventEmitter();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    connections.accepted++;
    connections.open++;
    changes.emit("change");
    socket.on("close", () => {
      sockets.delete(socket);
      connections.open--;
      changes.emit("change");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    changes,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Connect routes served by connect-node over h2c or HTTP/1.1. */
export async function serveRoutes(routes: (router: ConnectRouter) => void, httpVersion: "2" | "1.1" = "2"): Promise<Served> {
  const handler = connectNodeAdapter({ routes });
  return listen(httpVersion === "2" ? http2.createServer(handler) : http.createServer(handler));
}

/** A fresh FakeServer served by connect-node over h2c or HTTP/1.1. */
export async function serveFake(httpVersion: "2" | "1.1"): Promise<ServedFake> {
  const fake = new FakeServer();
  return { ...(await serveRoutes(fake.routes, httpVersion)), fake };
}

/** An h2c server handing every stream to `onStream`. */
export async function serveHttp2(onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<Served> {
  const server = http2.createServer();
  server.on("stream", onStream);
  return listen(server);
}

/** A URL on which nothing listens (a port that was just freed). */
export async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
