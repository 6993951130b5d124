/**
 * The protocol variants the end-to-end suite runs over, and their transports and clients. Each
 * transport owns its connection (an HTTP/2 session manager or an HTTP/1.1 agent) so a test can
 * close it in after() instead of leaving sockets to time out.
 */
import http from "node:http";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ClusterService } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { KVService } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { LeaseService } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { MaintenanceService } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { WatchService } from "../../../gen/sisyphus/kv/v1/watch_pb.js";

export type RpcProtocol = "connect" | "grpc" | "grpc-web";

export interface ProtocolVariant {
  /** Shown in test names, e.g. "Connect over HTTP/1.1 (JSON)". */
  name: string;
  protocol: RpcProtocol;
  httpVersion: "1.1" | "2";
  /** Protobuf binary (true) or JSON (false) messages. */
  binary: boolean;
  /** Which kinds of calls run over this variant (bidi streams need HTTP/2). */
  calls: { unary: boolean; serverStreams: boolean; bidi: boolean };
}

export interface OpenTransport {
  transport: Transport;
  /** Closes the connection the transport holds. */
  close(): void;
}

export function openTransport(variant: ProtocolVariant, baseUrl: string, interceptors: Interceptor[] = []): OpenTransport {
  const common = { baseUrl, useBinaryFormat: variant.binary, interceptors };
  if (variant.httpVersion === "2") {
    const sessionManager = new Http2SessionManager(baseUrl);
    const options = { ...common, httpVersion: "2" as const, sessionManager };
    const transport =
      variant.protocol === "connect"
        ? createConnectTransport(options)
        : variant.protocol === "grpc"
          ? createGrpcTransport(options)
          : createGrpcWebTransport(options);
    return { transport, close: () => sessionManager.abort() };
  }
  if (variant.protocol === "grpc") throw new Error("gRPC needs HTTP/2");
  const agent = new http.Agent({ keepAlive: true });
  const options = { ...common, httpVersion: "1.1" as const, nodeOptions: { agent } };
  const transport = variant.protocol === "connect" ? createConnectTransport(options) : createGrpcWebTransport(options);
  return { transport, close: () => agent.destroy() };
}

export interface Clients {
  kv: Client<typeof KVService>;
  watch: Client<typeof WatchService>;
  lease: Client<typeof LeaseService>;
  cluster: Client<typeof ClusterService>;
  maintenance: Client<typeof MaintenanceService>;
}

export function createClients(transport: Transport): Clients {
  return {
    kv: createClient(KVService, transport),
    watch: createClient(WatchService, transport),
    lease: createClient(LeaseService, transport),
    cluster: createClient(ClusterService, transport),
    maintenance: createClient(MaintenanceService, transport),
  };
}
