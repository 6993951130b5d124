/**
 * The Raft transport of one member: carries its consensus core's messages to its peers and
 * theirs to it, over one long-lived HTTP/2 connection per peer (PeerLink), and serves the
 * sisyphus.raft.v1.RaftService on whatever node:http2 server the member gives it (handle(), or
 * createPeerServer()).
 *
 * Contract with the driver (raft/raft-node.ts RaftMessenger: send + forward):
 *   - send() never blocks and never throws: a message to an unknown peer is dropped (debug log),
 *     as is one not from this member (a warning: its receiver would refuse the whole stream);
 *     one to a peer that cannot be reached now is dropped and that peer reported unreachable
 *     (once per send() call); Raft tolerates every loss.
 *   - handlers.deliver() gets each peer's messages in the order that peer sent them on each
 *     stream, synchronously as they are decoded (no queue in between).
 *   - forward() resolves with the leader's ProposeResult, or rejects with a ForwardError (no
 *     answer: see its notProposed), or with the signal's reason once aborted.
 *
 * Membership: setPeers / addPeer / removePeer follow the configuration. A removed peer's
 * connection is closed and its calls to this member end with FAILED_PRECONDITION; new calls
 * from it are refused the same way. An entry for this member itself is ignored, so the whole
 * member list can be passed.
 */
import type http2 from "node:http2";
import net from "node:net";
import { Code } from "@connectrpc/connect";
import type { PeerHello } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { EntryType, Message, NodeId, ProposeResult } from "../raft/index.js";
import { serveAppend } from "./append-service.js";
import { ForwardError, PeerIdentityError } from "./errors.js";
import { serveForward } from "./forward-service.js";
import { GrpcServerCall, type ServerCallHandlers } from "./grpc-server-call.js";
import type { GrpcStatus } from "./grpc-status.js";
import type { InboundContext } from "./inbound-context.js";
import { serveOneWay, TIMEOUT_NOW_METHOD, VOTE_METHOD } from "./one-way-service.js";
import { checkHello, type LocalIdentity } from "./peer-identity.js";
import { type LinkContext, PeerLink, type PeerStats } from "./peer-link.js";
import { raftMethodAt } from "./raft-paths.js";
import { serveInstallSnapshot } from "./snapshot-service.js";
import { resolveLimits, type TransportHandlers, type TransportLimits, type TransportLogger } from "./transport-options.js";

export interface RaftTransportOptions {
  readonly memberId: NodeId;
  readonly clusterId: bigint;
  /** Peer member ID -> peer URL (http://host:port). */
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly handlers: TransportHandlers;
  readonly logger: TransportLogger;
  readonly limits?: Partial<TransportLimits>;
  /** The jitter of reconnect backoff; Math.random unless a test wants it fixed. */
  readonly random?: () => number;
  /**
   * The host this member listens for peers on. When it is a specific IP address (not a wildcard
   * such as 0.0.0.0 or ::, not a host name), connections to peers leave from it, so peers (and
   * firewalls or proxies between them) see one stable source address per member.
   */
  readonly sourceAddress?: string;
}

const GRPC_CONTENT_TYPE = /^application\/grpc(?:\+proto)?(?:;|$)/i;

const NO_HANDLERS: ServerCallHandlers = { onMessage: () => {}, onRequestEnd: () => {}, onDrain: () => {}, onClose: () => {} };

export class RaftTransport {
  readonly limits: TransportLimits;
  private readonly links = new Map<NodeId, PeerLink>();
  /** Every call being served, to end them at close(). */
  private readonly inboundCalls = new Set<GrpcServerCall>();
  private readonly identity: LocalIdentity;
  private readonly handlers: TransportHandlers;
  private readonly logger: TransportLogger;
  private readonly linkContext: LinkContext;
  private readonly inboundContext: InboundContext;
  private closed = false;

  constructor(options: RaftTransportOptions) {
    this.limits = resolveLimits(options.limits);
    this.handlers = options.handlers;
    this.logger = options.logger;
    this.identity = { clusterId: options.clusterId, memberId: options.memberId, isPeer: (id) => this.links.has(id) };
    this.linkContext = {
      identity: this.identity,
      handlers: this.handlers,
      limits: this.limits,
      logger: this.logger,
      random: options.random ?? Math.random,
      sourceAddress: specificAddress(options.sourceAddress),
    };
    this.inboundContext = {
      identity: this.identity,
      handlers: this.handlers,
      limits: this.limits,
      claim: (call, hello) => this.claim(call, hello),
    };
    this.setPeers(options.peers);
  }

  get memberId(): NodeId {
    return this.identity.memberId;
  }

  // ---------------------------------------------------------------- sending

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    let unreachable: Set<NodeId> | undefined;
    for (const m of messages) {
      if (m.from !== this.memberId) {
        // The peer would refuse it, and end the whole stream with it: a driver bug, dropped here.
        this.logger.warn({ from: String(m.from), to: String(m.to), type: m.type }, "dropped a message not from this member");
        continue;
      }
      const link = this.links.get(m.to);
      if (link === undefined) {
        this.logger.debug({ to: String(m.to), type: m.type }, "dropped a message to an unknown peer");
        continue;
      }
      let sent: boolean;
      try {
        sent = link.send(m);
      } catch (err) {
        // A message the codec cannot encode is a bug in its producer; losing it is safe.
        this.logger.warn({ to: String(m.to), type: m.type, err: (err as Error).message }, "dropped a message that cannot be encoded");
        sent = true;
      }
      if (!sent) (unreachable ??= new Set()).add(m.to);
    }
    if (unreachable !== undefined) for (const peer of unreachable) this.handlers.reportUnreachable(peer);
  }

  /** Asks `leader` to propose `command`; resolves with its answer (see the class comment). */
  forward(leader: NodeId, command: Uint8Array, signal?: AbortSignal, type: EntryType = "normal"): Promise<ProposeResult> {
    const link = this.closed ? undefined : this.links.get(leader);
    if (link === undefined) return Promise.reject(new ForwardError(`member ${leader} is not a known peer of member ${this.memberId}`, leader, true));
    return link.forward(command, signal, type);
  }

  // ---------------------------------------------------------------- membership

  /** Makes the peers exactly `peers` (this member's own entry ignored). */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    for (const id of [...this.links.keys()]) if (!peers.has(id)) this.removePeer(id);
    for (const [id, url] of peers) this.addPeer(id, url);
  }

  /** Adds a peer (or moves it to a new URL) and starts connecting to it; throws RangeError for a URL that is not http://host:port. */
  addPeer(id: NodeId, url: string): void {
    if (this.closed || id === this.memberId) return;
    const existing = this.links.get(id);
    if (existing?.url === url) return;
    existing?.close({ code: Code.Unavailable, message: `member ${id}'s peer URL changed to ${url}` });
    const link = new PeerLink(id, url, this.linkContext);
    this.links.set(id, link);
    link.start();
  }

  removePeer(id: NodeId): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    this.links.delete(id);
    link.close({ code: Code.FailedPrecondition, message: `member ${id} was removed from the cluster of member ${this.memberId}` });
  }

  stats(): PeerStats[] {
    return [...this.links.values()].map((link) => link.stats()).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Closes every connection and ends every call being served (UNAVAILABLE). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const status: GrpcStatus = { code: Code.Unavailable, message: `member ${this.memberId} is shutting down` };
    for (const link of this.links.values()) link.close(status);
    this.links.clear();
    for (const call of [...this.inboundCalls]) call.finish(status);
  }

  // ---------------------------------------------------------------- serving

  /**
   * Serves the request if it is a RaftService call (by :path) and returns true; false leaves it
   * to the caller. Only gRPC over HTTP/2, uncompressed, is served.
   */
  handle(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): boolean {
    const method = raftMethodAt(req.url);
    if (method === undefined) return false;
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST" });
      res.end();
      return true;
    }
    if (!GRPC_CONTENT_TYPE.test(req.headers["content-type"] ?? "")) {
      res.writeHead(415, { "content-type": "text/plain; charset=utf-8" });
      res.end("the Raft peer service speaks gRPC only (content-type application/grpc)\n");
      return true;
    }
    const call = new GrpcServerCall(req, res, this.limits.maxMessageBytes);
    this.inboundCalls.add(call);
    call.whenClosed(() => this.inboundCalls.delete(call));
    const encoding = req.headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") {
      refuse(call, { code: Code.Unimplemented, message: `grpc-encoding ${encoding} is not supported; send uncompressed messages` });
    } else if (this.closed) {
      refuse(call, { code: Code.Unavailable, message: `member ${this.memberId} is shutting down` });
    } else if (method === "append") {
      serveAppend(call, this.inboundContext);
    } else if (method === "forward") {
      serveForward(call, this.inboundContext);
    } else if (method === "vote") {
      serveOneWay(call, this.inboundContext, VOTE_METHOD);
    } else if (method === "timeoutNow") {
      serveOneWay(call, this.inboundContext, TIMEOUT_NOW_METHOD);
    } else {
      serveInstallSnapshot(call, this.inboundContext);
    }
    return true;
  }

  private claim(call: GrpcServerCall, hello: PeerHello | undefined): PeerLink {
    const sender = checkHello(hello, this.identity);
    const link = this.links.get(sender);
    if (link === undefined) throw new PeerIdentityError(`member ${sender} is not a peer of member ${this.memberId}`);
    link.adopt(call);
    link.peerIsUp();
    call.whenClosed(() => link.release(call));
    return link;
  }
}

/** `host` if it is one specific IP address; undefined for a wildcard, a host name or nothing. */
function specificAddress(host: string | undefined): string | undefined {
  if (host === undefined || net.isIP(host) === 0) return undefined;
  // An IP address written with only zeros, dots and colons is 0.0.0.0 or :: (the wildcards).
  return /^[0.:]+$/.test(host) ? undefined : host;
}

function refuse(call: GrpcServerCall, status: GrpcStatus): void {
  call.start(NO_HANDLERS);
  call.finish(status);
}
