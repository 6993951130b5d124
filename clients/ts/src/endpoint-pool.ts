/**
 * The members a client talks to. Calls go to the current endpoint; a call that fails in a way
 * worth retrying marks it failed, which moves every later call on to the next endpoint in the
 * list (round robin). Each endpoint owns its transport, its service clients and its long-lived
 * streams (the Pipeline session and the Watch streams), opened when first needed.
 */
import { createClient as createServiceClient, type Client as ServiceClient, type ConnectError, type Transport } from "@connectrpc/connect";
import { ClusterService } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { KVService } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { LeaseService } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { MaintenanceService } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { WatchService } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { PipelineSession } from "./pipeline-session.js";
import { connectPipelineStreams, type OpenPipelineStream } from "./pipeline-stream.js";
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

  constructor(urls: readonly string[], connect: (url: string) => EndpointConnection) {
    this.endpoints = urls.map((url) => new Endpoint(url, connect(url)));
  }

  /** The endpoint calls go to now. */
  current(): Endpoint {
    return this.endpoints[this.currentIndex];
  }

  /**
   * A call on `endpoint` failed: later calls go to the next endpoint. Only the first of several
   * calls failing on the same endpoint moves on (the others see it is no longer current).
   */
  markFailed(endpoint: Endpoint): void {
    if (this.endpoints[this.currentIndex] === endpoint) {
      this.currentIndex = (this.currentIndex + 1) % this.endpoints.length;
    }
  }

  close(reason: ConnectError): void {
    for (const endpoint of this.endpoints) endpoint.close(reason);
  }
}
