// Test members for the transport: a RaftTransport with a recording set of handlers and a peer
// server on 127.0.0.1 (port 0), plus waits with deadlines and a raw gRPC client for probing the
// server with bytes no transport would send.
import http2 from "node:http2";
import type { Message, NodeId, ProposeResult, SnapshotMessage, SnapshotMeta } from "../../src/raft/index.js";
import { createPeerServer, type PeerServer, RaftTransport, type TransportHandlers, type TransportLimits } from "../../src/transport/index.js";

export const CLUSTER_ID = 0x5151n;
export const WAIT_MS = 5_000;

/** Limits that make reconnects quick, so tests of failures stay fast. */
export const TEST_LIMITS: Partial<TransportLimits> = { reconnectMinMs: 10, reconnectMaxMs: 100, connectTimeoutMs: 2_000 };

export interface LogRecord {
  readonly level: "debug" | "info" | "warn";
  readonly fields: object;
  readonly message: string;
}

/** The handlers of one member, recording every call, with waits on what they record. */
export class Recorder implements TransportHandlers {
  readonly delivered: Message[] = [];
  readonly unreachable: NodeId[] = [];
  readonly snapshotReports: { peer: NodeId; ok: boolean }[] = [];
  /** What happened around snapshots, in order ("staged <index>", "delivered snapshot <index>"). */
  readonly events: string[] = [];
  readonly stagedSnapshots: Buffer[] = [];
  readonly logs: LogRecord[] = [];
  forwardWith: (command: Uint8Array) => ProposeResult = () => ({ ok: false, reason: "notLeader", leaderId: 0n });
  snapshotData: (meta: SnapshotMeta) => AsyncIterable<Uint8Array> = async function* () {};
  /** Replaces how received snapshot data is staged (default: read all of it into stagedSnapshots). */
  stageWith: ((message: SnapshotMessage, data: AsyncIterable<Uint8Array>) => Promise<void>) | undefined;
  private readonly waiters = new Set<() => void>();

  readonly logger = {
    debug: (fields: object, message: string) => this.log("debug", fields, message),
    info: (fields: object, message: string) => this.log("info", fields, message),
    warn: (fields: object, message: string) => this.log("warn", fields, message),
  };

  deliver(message: Message): void {
    this.delivered.push(message);
    if (message.type === "snapshot") this.events.push(`delivered snapshot ${message.snapshot.index}`);
    this.changed();
  }

  forward(command: Uint8Array): ProposeResult {
    return this.forwardWith(command);
  }

  async receiveSnapshot(message: SnapshotMessage, data: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.stageWith !== undefined) return this.stageWith(message, data);
    const pieces: Buffer[] = [];
    for await (const piece of data) pieces.push(Buffer.from(piece));
    this.stagedSnapshots.push(Buffer.concat(pieces));
    this.events.push(`staged ${message.snapshot.index}`);
    this.changed();
  }

  openSnapshot(meta: SnapshotMeta): AsyncIterable<Uint8Array> {
    return this.snapshotData(meta);
  }

  reportUnreachable(peer: NodeId): void {
    this.unreachable.push(peer);
    this.changed();
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    this.snapshotReports.push({ peer, ok });
    this.changed();
  }

  /** Resolves once `condition` holds after something was recorded; rejects naming `what` after timeoutMs. */
  waitFor(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private log(level: LogRecord["level"], fields: object, message: string): void {
    this.logs.push({ level, fields, message });
    this.changed();
  }

  private changed(): void {
    for (const check of [...this.waiters]) check();
  }
}

export interface TestMember {
  readonly id: NodeId;
  readonly transport: RaftTransport;
  readonly recorder: Recorder;
  readonly server: PeerServer;
  stop(): Promise<void>;
}

export async function startMember(id: NodeId, options: { clusterId?: bigint; limits?: Partial<TransportLimits>; port?: number } = {}): Promise<TestMember> {
  const recorder = new Recorder();
  const transport = new RaftTransport({
    memberId: id,
    clusterId: options.clusterId ?? CLUSTER_ID,
    peers: new Map(),
    handlers: recorder,
    logger: recorder.logger,
    limits: { ...TEST_LIMITS, ...options.limits },
    random: () => 0.5,
  });
  const server = await createPeerServer(transport, { host: "127.0.0.1", port: options.port ?? 0, closeGraceMs: 200 });
  return {
    id,
    transport,
    recorder,
    server,
    stop: async () => {
      transport.close();
      await server.close();
    },
  };
}

/** Makes every member a peer of every other (each member's map names all of them, itself included). */
export function connectAll(members: readonly TestMember[]): void {
  const peers = new Map(members.map((m) => [m.id, m.server.url]));
  for (const m of members) m.transport.setPeers(peers);
}

/** Resolves once condition() holds, checking every few milliseconds; rejects after timeoutMs. For states no handler reports. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface RawCallResult {
  readonly httpStatus: number;
  /** The grpc-status, from the trailers or a trailers-only response. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly body: Buffer;
}

/** One gRPC call with a hand-made body (and any extra headers), on its own connection; half-closes after the body. */
export async function rawGrpcCall(url: string, path: string, body: Uint8Array, extraHeaders: http2.OutgoingHttpHeaders = {}, timeoutMs = WAIT_MS): Promise<RawCallResult> {
  const session = http2.connect(url);
  session.on("error", () => {});
  try {
    return await new Promise<RawCallResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${url}${path} within ${timeoutMs} ms`)), timeoutMs);
      const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...extraHeaders });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        headers = h;
      });
      stream.on("trailers", (t) => {
        trailers = t;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", () => {});
      stream.on("close", () => {
        clearTimeout(timer);
        const source = trailers["grpc-status"] !== undefined ? trailers : headers;
        const status = source["grpc-status"];
        resolve({
          httpStatus: Number(headers[":status"]),
          grpcStatus: status === undefined ? undefined : Number(status),
          grpcMessage: decodeURIComponent(String(source["grpc-message"] ?? "")),
          body: Buffer.concat(chunks),
        });
      });
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

/** Messages as gRPC envelopes. */
export function envelopes(...messages: Uint8Array[]): Buffer {
  return Buffer.concat(messages.flatMap((m) => [Buffer.from([0, (m.length >>> 24) & 0xff, (m.length >>> 16) & 0xff, (m.length >>> 8) & 0xff, m.length & 0xff]), Buffer.from(m)]));
}
