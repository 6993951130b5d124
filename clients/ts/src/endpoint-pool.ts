/**
 * The members a client talks to, and which of them leads.
 *
 * Reads (and streams) go to the current endpoint; a call that fails in a way worth retrying
 * marks it failed, which moves every later call on to the next endpoint in the list (round
 * robin). Writes go to the endpoint of the member believed to lead, when one of the endpoints is
 * it, and else to the current endpoint (whose member forwards them to the leader).
 *
 * The pool learns from every answer: the header's member_id says which member an endpoint is,
 * its leader_id and raft_term (and the sisyphus-leader metadata of UNAVAILABLE errors) who
 * leads (leader-tracker.ts has the rules). When the leader is known but none of the endpoints
 * heard from is it, the others are asked who they are (member-discovery.ts). Recording a header
 * reads a few bigint fields and allocates nothing unless something changed.
 *
 * Each endpoint owns its transport, its service clients and its long-lived streams (the
 * Pipeline session and the Watch streams), opened when first needed.
 */
import { Code, createClient as createServiceClient, type Client as ServiceClient, type ConnectError, type Transport } from "@connectrpc/connect";
import { ClusterService } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { KVService } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { LeaseService } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { MaintenanceService } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import type { ResponseHeader as ResponseHeaderMessage } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import { WatchService } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { LeaderTracker } from "./leader-tracker.js";
import { MemberDiscovery } from "./member-discovery.js";
import { PipelineSession } from "./pipeline-session.js";
import { connectPipelineStreams, type OpenPipelineStream } from "./pipeline-stream.js";
import { isTransportFailure, leaderHint } from "./retry-policy.js";
import { WatchMux } from "./watch-mux.js";

/** A transport to one member and how to release what it holds (HTTP/2 sessions). */
export interface EndpointConnection {
  readonly transport: Transport;
  /** How to open Pipeline streams, when not as Connect bidi calls on `transport`. */
  readonly openPipeline?: OpenPipelineStream;
  close(): void;
}

export class Endpoint {
  readonly kv: ServiceClient<typeof KVService>;
  readonly watch: ServiceClient<typeof WatchService>;
  readonly lease: ServiceClient<typeof LeaseService>;
  readonly cluster: ServiceClient<typeof ClusterService>;
  readonly maintenance: ServiceClient<typeof MaintenanceService>;
  /** The member behind this endpoint, from the last header it sent; 0n until it answered. */
  memberId = 0n;
  private pipelineSession: PipelineSession | undefined;
  private readonly openPipeline: OpenPipelineStream;
  private watchMux: WatchMux | undefined;

  constructor(
    readonly url: string,
    private readonly connection: EndpointConnection,
  ) {
    const transport = connection.transport;
    this.kv = createServiceClient(KVService, transport);
    this.watch = createServiceClient(WatchService, transport);
    this.lease = createServiceClient(LeaseService, transport);
    this.cluster = createServiceClient(ClusterService, transport);
    this.maintenance = createServiceClient(MaintenanceService, transport);
    this.openPipeline = connection.openPipeline ?? connectPipelineStreams(this.kv);
  }

  /** The Pipeline session, a new one when there is none yet or the last one failed. */
  pipeline(): PipelineSession {
    if (this.pipelineSession === undefined || this.pipelineSession.failed) {
      this.pipelineSession = new PipelineSession(this.openPipeline);
    }
    return this.pipelineSession;
  }

  /** The watch streams of this endpoint. */
  watchStreams(): WatchMux {
    this.watchMux ??= new WatchMux((requests, signal) => this.watch.watch(requests, { signal }));
    return this.watchMux;
  }

  close(reason: ConnectError): void {
    this.pipelineSession?.close(reason);
    this.watchMux?.close(reason);
    this.connection.close();
  }
}

export class EndpointPool {
  private readonly endpoints: Endpoint[];
  private currentIndex = 0;
  private readonly leader = new LeaderTracker();
  /** The endpoint of the member believed to lead, when one of the endpoints is it. */
  private leaderEndpoint: Endpoint | undefined;
  private readonly discovery = new MemberDiscovery((endpoint, header) => this.observe(endpoint, header));

  constructor(urls: readonly string[], connect: (url: string) => EndpointConnection) {
    this.endpoints = urls.map((url) => new Endpoint(url, connect(url)));
  }

  /** The endpoint reads and streams go to now. */
  current(): Endpoint {
    return this.endpoints[this.currentIndex];
  }

  /** The endpoint writes go to now: the leader's when known, else the current one. */
  forWrite(): Endpoint {
    return this.leaderEndpoint ?? this.endpoints[this.currentIndex];
  }

  /**
   * While the leader's member ID is known but not yet which endpoint it is (the endpoints are
   * being asked): settles when that is found out or the lookup ends. Writes wait for it.
   */
  get leaderLookup(): Promise<void> | undefined {
    return this.discovery.pending;
  }

  /** Records the header of an answer `endpoint` sent (undefined: the message had none). */
  observe(endpoint: Endpoint, header: ResponseHeaderMessage | undefined): void {
    if (header === undefined) return;
    const leaderBefore = this.leader.leaderId;
    this.leader.observeHeader(header.clusterId, header.memberId, header.leaderId, header.raftTerm);
    const memberChanged = endpoint.memberId !== header.memberId;
    if (memberChanged) endpoint.memberId = header.memberId;
    if (memberChanged || this.leader.leaderId !== leaderBefore) this.findLeaderEndpoint();
  }

  /**
   * Records what a failed call on `endpoint` says about the leader: the leader it names
   * (sisyphus-leader), or, when the endpoint is the leader's and failed as unreachable or
   * UNAVAILABLE, that the leader is unknown again.
   */
  observeFailure(endpoint: Endpoint, error: ConnectError): void {
    const leaderBefore = this.leader.leaderId;
    const hint = leaderHint(error);
    if (hint !== undefined && hint !== endpoint.memberId) {
      this.leader.observeHint(hint);
    } else if (error.code === Code.Unavailable || isTransportFailure(error)) {
      this.leader.leaderFailed(endpoint.memberId);
    }
    if (this.leader.leaderId !== leaderBefore) this.findLeaderEndpoint();
  }

  /**
   * A call on `endpoint` failed: later calls go to the next endpoint. Only the first of several
   * calls failing on the same endpoint moves on (the others see it is no longer current). If it
   * is the leader's endpoint, writes stop going there until a member names a leader again.
   */
  markFailed(endpoint: Endpoint): void {
    if (this.endpoints[this.currentIndex] === endpoint) {
      this.currentIndex = (this.currentIndex + 1) % this.endpoints.length;
    }
    if (endpoint === this.leaderEndpoint) {
      this.leader.leaderFailed(endpoint.memberId);
      this.findLeaderEndpoint();
    }
  }

  close(reason: ConnectError): void {
    this.discovery.close();
    for (const endpoint of this.endpoints) endpoint.close(reason);
  }

  /** Points writes at the leader's endpoint; asks the endpoints not heard from when none is known to be it. */
  private findLeaderEndpoint(): void {
    const leaderId = this.leader.leaderId;
    this.leaderEndpoint = leaderId === 0n ? undefined : this.endpoints.find((e) => e.memberId === leaderId);
    if (this.leaderEndpoint !== undefined || leaderId === 0n) {
      this.discovery.end();
      return;
    }
    this.discovery.start(this.endpoints.filter((e) => e.memberId === 0n));
  }
}
