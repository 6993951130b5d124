/**
 * The client-facing server of one member: every public service (KV incl. Pipeline, Watch,
 * Lease, Cluster, Maintenance), gRPC reflection and health, over Connect, gRPC and gRPC-Web on
 * one port (HTTP/2 cleartext and HTTP/1.1), plus plain HTTP endpoints (plain unary calls and plain
 * gRPC Pipeline streams take lean paths beside connect-node: unary-fast-path.ts, pipeline-fast-path.ts):
 *   GET /healthz  200 while the process serves (liveness)
 *   GET /readyz   200 while the member can serve requests (readiness), else 503
 *   GET /metrics  Prometheus text format
 *
 * Shutdown (close): health goes NOT_SERVING and /readyz 503 at once; Pipeline streams stop
 * taking calls, finish the ones in flight and end with UNAVAILABLE; then the remaining streams
 * (Watch, KeepAlive) are ended with UNAVAILABLE and the listener drains connections until the
 * deadline.
 */
import type { DescFile } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { file_grpc_health_v1_health } from "../../../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_sisyphus_kv_v1_cluster } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { file_sisyphus_kv_v1_kv } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { file_sisyphus_kv_v1_lease } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { file_sisyphus_kv_v1_maintenance } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { file_sisyphus_kv_v1_watch } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import type { Logger, Metrics } from "../observability/index.js";
import { registerClusterService } from "./cluster-service.js";
import { HealthStatus, registerHealth, ServingStatus } from "./health.js";
import { registerKvService } from "./kv-service.js";
import { registerLeaseService } from "./lease-service.js";
import { DualProtocolListener } from "./listener.js";
import { registerMaintenanceService } from "./maintenance-service.js";
import type { MemberContext } from "./member.js";
import type { NodeRequest, NodeResponse } from "./node-http.js";
import { CallObserver, observeInterceptor } from "./observe-interceptor.js";
import { decodeErrorInterceptor } from "./decode-error-interceptor.js";
import { CorsPolicy } from "./cors-policy.js";
import { PipelineFastPath } from "./pipeline-fast-path.js";
import { type PipelineCallObserver, PipelineStreams } from "./pipeline-session.js";
import { UnaryFastPath } from "./unary-fast-path.js";
import { UnaryMethodTable } from "./unary-method-table.js";
import { registerReflection } from "./reflection.js";
import { codeName } from "./status.js";
import { registerWatchService, type WatchServiceOptions } from "./watch-service.js";

/** The files whose services reflection lists (their imports are found from them). */
const REFLECTED_FILES: readonly DescFile[] = [
  file_sisyphus_kv_v1_kv,
  file_sisyphus_kv_v1_watch,
  file_sisyphus_kv_v1_lease,
  file_sisyphus_kv_v1_cluster,
  file_sisyphus_kv_v1_maintenance,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
];

/** The services health reports on by name, besides "" (the whole server). */
const SERVICE_NAMES = REFLECTED_FILES.slice(0, 5).flatMap((f) => f.services.map((s) => s.typeName));

export interface ApiServerOptions {
  host: string;
  port: number;
  member: MemberContext;
  /** Aborting it starts the member's shutdown (ApiServer.close does). */
  shutdownController: AbortController;
  metrics: Metrics;
  logger: Logger;
  /** Largest request message accepted; larger ones fail with RESOURCE_EXHAUSTED. */
  maxRequestBytes: number;
  /** Largest deadline a client may set. */
  maxTimeoutMs: number;
  maxConcurrentStreams: number;
  snapshotDir: string;
  watch: WatchServiceOptions;
  /** Origins browsers may call from ("*" for any); empty: no CORS headers. */
  corsAllowedOrigins: readonly string[];
}

export class ApiServer {
  readonly health = new HealthStatus();
  private readonly streamShutdown = new AbortController();
  private readonly pipelines = new PipelineStreams();
  private listener: DualProtocolListener | undefined;

  constructor(private readonly options: ApiServerOptions) {
    for (const name of SERVICE_NAMES) this.health.set(name, ServingStatus.SERVING);
  }

  async listen(): Promise<{ host: string; port: number }> {
    const { member, metrics, logger } = this.options;
    const unaryMethods = new UnaryMethodTable();
    const observePipelineCall: PipelineCallObserver = (op, code, seconds, err) => {
      metrics.pipelineCalls.inc({ op, code: codeName(code) });
      metrics.pipelineSeconds.observe({ op }, seconds);
      if (err !== undefined) logger.warn({ method: `Pipeline/${op}`, code: codeName(code) }, err.rawMessage);
    };
    const routes = (router: ConnectRouter): void => {
      const registrar = unaryMethods.registrar(router);
      registerKvService(registrar, member, observePipelineCall, this.pipelines);
      registerWatchService(registrar, member, this.options.watch);
      registerLeaseService(registrar, member);
      registerClusterService(registrar, member);
      registerMaintenanceService(registrar, member, this.options.snapshotDir);
      registerHealth(registrar, this.health);
      registerReflection(router, REFLECTED_FILES);
    };
    const observer = new CallObserver(metrics, logger);
    const connectHandler = connectNodeAdapter({
      routes,
      // Outermost first: the observer records the code the client gets, after remapping.
      interceptors: [observeInterceptor(observer), decodeErrorInterceptor()],
      readMaxBytes: this.options.maxRequestBytes,
      maxTimeoutMs: this.options.maxTimeoutMs,
      shutdownSignal: this.streamShutdown.signal,
      fallback: (req, res) => this.serveHttp(req, res),
    });
    const limits = { maxRequestBytes: this.options.maxRequestBytes, maxTimeoutMs: this.options.maxTimeoutMs };
    const fastPath = new UnaryFastPath(unaryMethods, observer, limits, this.streamShutdown.signal);
    const pipelineFastPath = new PipelineFastPath({
      member,
      observeCall: observePipelineCall,
      streams: this.pipelines,
      observer,
      limits,
      streamShutdownSignal: this.streamShutdown.signal,
    });
    const cors = new CorsPolicy(this.options.corsAllowedOrigins);
    const handler: typeof connectHandler = (req, res) => {
      if (cors.apply(req, res)) return;
      if (!pipelineFastPath.handle(req, res) && !fastPath.handle(req, res)) connectHandler(req, res);
    };
    this.listener = await DualProtocolListener.listen({
      host: this.options.host,
      port: this.options.port,
      handler,
      streamHandler: (stream, headers) => fastPath.handleStream(stream, headers),
      maxConcurrentStreams: this.options.maxConcurrentStreams,
    });
    return this.listener.address();
  }

  /** Drains and stops serving; at most `drainMs` for calls in progress. */
  async close(drainMs: number): Promise<void> {
    this.health.shutdown();
    this.options.shutdownController.abort();
    const listener = this.listener;
    this.listener = undefined;
    if (listener === undefined) return;
    const deadline = Date.now() + drainMs;
    // Pipelines finish their calls in flight first; give them part of the drain time.
    await waitUntil(() => this.pipelines.open === 0, Math.min(drainMs / 2, deadline - Date.now()));
    this.streamShutdown.abort(new ConnectError("the member is shutting down", Code.Unavailable));
    await listener.close(Math.max(0, deadline - Date.now()));
  }

  private serveHttp(req: NodeRequest, res: NodeResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, contentType: string, body: string): void => {
      res.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(404, "text/plain; charset=utf-8", `no such endpoint: ${req.method} ${path}\n`);
      return;
    }
    switch (path) {
      case "/healthz":
        send(200, "text/plain; charset=utf-8", "ok\n");
        return;
      case "/readyz": {
        const ready = this.health.get("") === ServingStatus.SERVING;
        send(ready ? 200 : 503, "text/plain; charset=utf-8", ready ? "ready\n" : "not ready: the member is shutting down\n");
        return;
      }
      case "/metrics":
        this.options.metrics.registry.metrics().then(
          (text) => send(200, this.options.metrics.registry.contentType, text),
          (err: unknown) => send(500, "text/plain; charset=utf-8", `metrics failed: ${String(err)}\n`),
        );
        return;
      default:
        send(404, "text/plain; charset=utf-8", `no such endpoint: ${path}\n`);
    }
  }
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}
