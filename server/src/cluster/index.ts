/**
 * The cluster layer's public surface: one member's replication wiring (Replication: the durable
 * Raft log, the core's driver, the peer transport, the KV store as the replicated state machine,
 * snapshots) and the API's view of the cluster (RaftCluster). node.ts is its only user.
 */
export { Replication } from "./replication.js";
export type { ReplicationHooks } from "./replication.js";
export { RaftCluster } from "./raft-cluster.js";
export { ClusterStartError } from "./initial-state.js";
