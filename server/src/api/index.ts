/**
 * The API layer's public surface: the client-facing server of one member (Connect, gRPC and
 * gRPC-Web on one port; reflection; health; /healthz, /readyz, /metrics) and the context it
 * serves from. Error codes are mapped in status.ts, the only place that does.
 */
export { ApiServer } from "./api-server.js";
export type { ApiServerOptions } from "./api-server.js";
export type { ClusterControl, ClusterMember, MemberContext, MemberIdentity, RaftView } from "./member.js";
export { DEFAULT_WATCH_OPTIONS } from "./watch-service.js";
export type { WatchServiceOptions } from "./watch-service.js";
export { NOT_APPLIED_METADATA_KEY } from "./status.js";
export { PIPELINE_MAX_IN_FLIGHT_HEADER } from "./pipeline-session.js";
