/**
 * One TCP port serving HTTP/2 cleartext (prior knowledge: h2c as gRPC clients speak it) and
 * HTTP/1.1 (curl, browsers, Connect and gRPC-Web over HTTP/1.1). Node's http2 server accepts
 * only HTTP/2 on a cleartext socket, so each new connection's first bytes are inspected: the
 * HTTP/2 connection preface goes to the http2 server, anything else to the http/1.1 server.
 *
 * Shutdown (close): stop accepting, send GOAWAY to every HTTP/2 session and close idle HTTP/1.1
 * connections, let calls in progress finish until the drain deadline, then destroy what is left.
 * Which HTTP/1.1 connections are idle is counted here (requests in flight per socket): the
 * http.Server never listens itself (it is handed sockets), so its own connection tracking, which
 * closeIdleConnections() relies on, is never set up.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { connectNodeAdapter } from "@connectrpc/connect-node";

/** The request handler both servers call (connect-node's adapter). */
type RequestHandler = ReturnType<typeof connectNodeAdapter>;

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** A client that sends nothing for this long after connecting is dropped. */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/** Takes an HTTP/2 stream before the compat layer wraps it; false leaves it to `handler`. */
export type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

export interface ListenerOptions {
  host: string;
  port: number;
  handler: RequestHandler;
  streamHandler?: StreamHandler;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection. */
  maxConcurrentStreams: number;
}

export class DualProtocolListener {
  private readonly tcp: net.Server;
  private readonly h2: http2.Http2Server;
  private readonly h1: http.Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly sockets = new Set<net.Socket>();
  /** HTTP/1.1 sockets and how many requests each has in flight. */
  private readonly h1InFlight = new Map<net.Socket, number>();
  private closing = false;

  private constructor(options: ListenerOptions) {
    this.h2 = http2.createServer({ settings: { maxConcurrentStreams: options.maxConcurrentStreams } }, options.handler);
    if (options.streamHandler !== undefined) this.putFirst(options.streamHandler);
    this.h1 = http.createServer(options.handler);
    this.h1.keepAliveTimeout = 60_000;
    this.h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => this.trackRequest(req.socket, res));
    this.h2.on("session", (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      session.on("close", () => this.sessions.delete(session));
    });
    this.tcp = net.createServer((socket) => this.route(socket));
  }

  static async listen(options: ListenerOptions): Promise<DualProtocolListener> {
    const listener = new DualProtocolListener(options);
    await new Promise<void>((resolve, reject) => {
      listener.tcp.once("error", reject);
      listener.tcp.listen(options.port, options.host, () => {
        listener.tcp.off("error", reject);
        resolve();
      });
    });
    return listener;
  }

  /**
   * Lets `streamHandler` see each HTTP/2 stream first. The compat layer (which builds the
   * request and response objects `handler` gets) is itself a 'stream' listener the server added
   * when given `handler`; it is replaced by one that runs only for the streams `streamHandler`
   * leaves.
   */
  private putFirst(streamHandler: StreamHandler): void {
    const compat = this.h2.listeners("stream") as ((...args: unknown[]) => void)[];
    if (compat.length === 0) throw new Error("the http2 server has no compat 'stream' listener to put the stream handler before");
    this.h2.removeAllListeners("stream");
    this.h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      if (streamHandler(stream, headers)) return;
      for (const listener of compat) listener.call(this.h2, stream, headers, ...rest);
    });
  }

  /** The bound address (the real port when 0 was asked for). */
  address(): { host: string; port: number } {
    const addr = this.tcp.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  private route(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const isHttp2 = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (isHttp2 && head.length < HTTP2_PREFACE.length) return;
      socket.off("data", onData);
      socket.setTimeout(0);
      // Both servers take bytes already read from the socket's buffer: http2 reads them into its
      // session when it adopts the socket, http/1.1 gets them with its first 'data' event.
      socket.pause();
      socket.unshift(head);
      if (!isHttp2) {
        this.h1InFlight.set(socket, 0);
        socket.once("close", () => this.h1InFlight.delete(socket));
      }
      (isHttp2 ? this.h2 : this.h1).emit("connection", socket);
      if (!isHttp2) socket.resume();
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  }

  /** Stops accepting; drains until `drainMs` have passed or nothing is left; then destroys the rest. */
  async close(drainMs: number): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const session of this.sessions) session.close();
    for (const [socket, inFlight] of this.h1InFlight) if (inFlight === 0) socket.end();
    const deadline = Date.now() + drainMs;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Counts a request in flight on an HTTP/1.1 socket; once closing, a socket whose last response went out is ended. */
  private trackRequest(socket: net.Socket, res: http.ServerResponse): void {
    this.h1InFlight.set(socket, (this.h1InFlight.get(socket) ?? 0) + 1);
    if (this.closing) res.shouldKeepAlive = false;
    res.once("close", () => {
      const inFlight = this.h1InFlight.get(socket);
      if (inFlight === undefined) return; // the socket closed first
      this.h1InFlight.set(socket, inFlight - 1);
      if (this.closing && inFlight === 1) socket.end();
    });
  }
}
