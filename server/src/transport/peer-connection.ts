/**
 * The one long-lived HTTP/2 (h2c) connection this member keeps to one peer, over which all of
 * its calls to that peer travel.
 *
 * States: connecting -> open -> down -> (after a backoff) connecting ... ; closed at the end.
 * While connecting, calls may already be opened (node queues them until the connection is up);
 * while down, there is no session and nothing can be sent. A connection that fails to come up
 * within connectTimeoutMs, does not answer a PING before the next one is due, receives GOAWAY,
 * or is failed by its user (a stream on it broke) is destroyed and goes down; the next attempt
 * waits reconnectDelayMs (exponential with jitter, reset once a connection opens).
 *
 * Sockets have TCP_NODELAY set: Raft messages are small and latency-bound. With sourceAddress
 * set they leave from that local address (the member's own peer address), so the peer and
 * anything in between see one stable source address per member. The stream window
 * (SETTINGS_INITIAL_WINDOW_SIZE) and the connection window are raised from HTTP/2's 64 KiB so a
 * 4 MiB batch or a snapshot is not held up by WINDOW_UPDATE round trips.
 */
import http2 from "node:http2";
import net from "node:net";
import { type BackoffLimits, reconnectDelayMs } from "./reconnect-backoff.js";

export const STREAM_WINDOW_BYTES = 8 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;
/** nghttp2's limit on buffered outgoing data per session, in MB; node's default (10) can refuse streams mid-snapshot. */
export const SESSION_MEMORY_MB = 64;

export type ConnectionState = "connecting" | "open" | "down" | "closed";

export interface PeerConnectionOptions {
  readonly url: string;
  readonly pingIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly backoff: BackoffLimits;
  readonly random: () => number;
  /** The local IP address connections leave from; the OS picks one when undefined. */
  readonly sourceAddress?: string;
}

export interface PeerConnectionEvents {
  /** The connection is up (calls opened while connecting are on their way). */
  onOpen(session: http2.ClientHttp2Session): void;
  /** The connection failed or was lost; calls on it have ended or will; a reconnect is scheduled. */
  onDown(reason: string): void;
}

export class PeerConnection {
  private currentState: ConnectionState = "down";
  private session: http2.ClientHttp2Session | undefined;
  /** Why the current session failed, first reason wins (the 'close' that follows carries none). */
  private failure: string | undefined;
  private attempt = 0;
  private reconnectCount = 0;
  private connectTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pingOutstanding = false;
  /** Round-trip time of the last answered keep-alive PING (ms), for metrics. */
  lastRttMs: number | undefined;
  private readonly host: string;
  private readonly port: number;

  constructor(
    private readonly options: PeerConnectionOptions,
    private readonly events: PeerConnectionEvents,
  ) {
    const url = new URL(options.url);
    if (url.protocol !== "http:") throw new RangeError(`peer URL ${options.url}: only http:// (h2c) is supported`);
    this.host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    this.port = url.port === "" ? 80 : Number(url.port);
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  get reconnects(): number {
    return this.reconnectCount;
  }

  /** The session calls may be opened on (connecting or open), undefined while down or closed. */
  get usableSession(): http2.ClientHttp2Session | undefined {
    return this.session;
  }

  start(): void {
    if (this.currentState === "down" && this.reconnectTimer === undefined) this.connect();
  }

  /**
   * The peer just called this member, so it is up: if the connection is waiting out a backoff,
   * connect now. Without this a link to a restarted peer can stay down for the rest of a long
   * backoff, and a vote sent on it in that time is lost (an election then needs another round).
   */
  peerIsUp(): void {
    if (this.currentState !== "down" || this.reconnectTimer === undefined) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.attempt = 0;
    this.reconnectCount++;
    this.connect();
  }

  /** Destroys the current session (a call on it broke); the connection goes down and reconnects after a backoff. */
  fail(reason: string): void {
    const session = this.session;
    if (session !== undefined) this.destroySession(session, reason);
  }

  close(): void {
    this.currentState = "closed";
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const session = this.session;
    if (session !== undefined) this.destroySession(session, "the transport closed");
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    this.currentState = "connecting";
    this.failure = undefined;
    const { host, port } = this;
    const session = http2.connect(`http://${host.includes(":") ? `[${host}]` : host}:${port}`, {
      createConnection: () => net.connect({ host, port, noDelay: true, localAddress: this.options.sourceAddress }),
      settings: { initialWindowSize: STREAM_WINDOW_BYTES },
      maxSessionMemory: SESSION_MEMORY_MB,
    });
    this.session = session;
    const timeoutMs = this.options.connectTimeoutMs;
    this.connectTimer = setTimeout(() => this.destroySession(session, `no connection within ${timeoutMs} ms`), timeoutMs);
    session.once("connect", () => this.onConnect(session));
    session.on("error", (err) => {
      if (this.session === session) this.failure ??= err.message;
    });
    session.on("goaway", (code) => this.destroySession(session, `the peer sent GOAWAY (HTTP/2 error code ${code})`));
    session.once("close", () => this.onSessionClose(session));
  }

  private onConnect(session: http2.ClientHttp2Session): void {
    // 'connect' is emitted from a nextTick queued when the socket connected: the session may have
    // been destroyed since (GOAWAY, close()), and then its 'close' is on the way instead.
    if (this.session !== session || session.destroyed) return;
    clearTimeout(this.connectTimer);
    this.currentState = "open";
    this.attempt = 0;
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    this.pingOutstanding = false;
    this.pingTimer = setInterval(() => this.ping(session), this.options.pingIntervalMs);
    this.pingTimer.unref();
    this.events.onOpen(session);
  }

  /** Sends a PING; one still unanswered from the last interval means the peer is gone. */
  private ping(session: http2.ClientHttp2Session): void {
    if (session.destroyed || session.closed) return; // its 'close' is on the way
    if (this.pingOutstanding) {
      this.destroySession(session, `no PING acknowledgement within ${this.options.pingIntervalMs} ms`);
      return;
    }
    this.pingOutstanding = true;
    session.ping((err, durationMs) => {
      if (err !== null) return;
      this.pingOutstanding = false;
      this.lastRttMs = durationMs;
    });
  }

  private destroySession(session: http2.ClientHttp2Session, reason: string): void {
    if (this.session === session) this.failure ??= reason;
    if (!session.destroyed) session.destroy();
  }

  private onSessionClose(session: http2.ClientHttp2Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    clearTimeout(this.connectTimer);
    clearInterval(this.pingTimer);
    if (this.currentState === "closed") return;
    const reason = this.failure ?? "the connection closed";
    this.currentState = "down";
    const delayMs = reconnectDelayMs(this.attempt++, this.options.backoff, this.options.random);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectCount++;
      this.connect();
    }, delayMs);
    this.reconnectTimer.unref();
    this.events.onDown(reason);
  }
}
