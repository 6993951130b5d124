/**
 * One member, wired: replication (storage engine <- KV store <- Raft log, core and driver <-
 * peer transport, cluster/replication.ts) <- API server, plus leader-only lease expiry, the
 * publication of this member's client URLs, and metrics. Every member runs Raft; without
 * --initial-cluster it is a one-member cluster that elects itself at start.
 *
 * Data directory:
 *   <data-dir>/member.json   cluster and member IDs (member-identity.ts)
 *   <data-dir>/kv/           the storage engine holding the MVCC store
 *   <data-dir>/raft/         the Raft log and snapshots (cluster/replication.ts)
 *   <data-dir>/snapshots/    checkpoints being streamed by Maintenance.Snapshot (temporary)
 */
import fs from "node:fs";
import path from "node:path";
import { ApiServer, DEFAULT_WATCH_OPTIONS, type MemberContext } from "./api/index.js";
import { Replication } from "./cluster/index.js";
import { listenHost, type MemberConfig } from "./config.js";
import { LeaseExpiry } from "./kv/index.js";
import { clusterIdFor, loadOrCreateIdentity, memberIdFor } from "./member-identity.js";
import { type Logger, Metrics } from "./observability/index.js";
import { SERVER_VERSION } from "./version.js";

export interface RunningMember {
  /** The client URL actually bound (the port is real when 0 was asked for). */
  clientUrl: string;
  /** The peer URL actually bound. */
  peerUrl: string;
  /** Drains and closes everything; resolves when the data is closed cleanly. Idempotent. */
  stop(): Promise<void>;
  /** Resolves with the error that stopped the member on its own (storage failure, removal). */
  failed: Promise<Error>;
}

export async function startMember(config: MemberConfig, logger: Logger): Promise<RunningMember> {
  const dataDir = path.resolve(config.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const clusterId = clusterIdFor(config.initialClusterToken);
  const identity = loadOrCreateIdentity(dataDir, config.name, { clusterId, memberId: memberIdFor(clusterId, config.initialAdvertisePeerUrls) });
  let reportFailure: (err: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (reportFailure = resolve));

  const metrics = new Metrics();
  const replication = await Replication.start(config, dataDir, identity, logger, {
    onFatal: (err) => {
      logger.fatal({ err }, "the member cannot go on");
      reportFailure(err);
    },
    onSoftState: (state, previous) => {
      // A new leader does not know when the old one last saw each lease kept alive: it gives
      // every lease a full TTL from now instead of expiring them all at once.
      if (state.role === "leader" && previous.role !== "leader") replication.replica.store.renewAllLeases();
      if (state.leaderId !== previous.leaderId) metrics.raftLeaderChanges.inc();
    },
    onReady: ({ entries, saveMs }) => {
      if (entries === 0) return;
      metrics.raftReadyEntries.observe(entries);
      metrics.raftSaveSeconds.observe(saveMs / 1000);
    },
  });
  let api: ApiServer | undefined;
  let leaseExpiry: LeaseExpiry | undefined;
  try {
    const { node, replica } = replication;
    leaseExpiry = new LeaseExpiry(() => replica.store, node, {
      checkIntervalMs: config.leaseCheckIntervalMs,
      maxLeasesPerCommand: 1000,
      isLeader: () => node.isLeader(),
      onError: (err) => logger.warn({ err }, "proposing lease expiry failed; retrying at the next check"),
    });
    const clientUrls: string[] = [...config.advertiseClientUrls];
    metrics.observeStore({ engine: () => replica.engine.stats(), kv: () => replica.store.stats() });
    metrics.observeRaft({
      status: () => node.status(),
      proposals: () => node.stats(),
      logBytes: () => replication.raftLogBytes(),
      peers: () => replication.peerStats().map((p) => ({ ...p, peer: p.id.toString() })),
    });
    const shutdownController = new AbortController();
    const engineDir = path.join(dataDir, "kv");
    const member: MemberContext = {
      cluster: replication.cluster,
      identity: {
        clusterId: identity.clusterId,
        memberId: identity.memberId,
        name: config.name,
        clientUrls,
        peerUrls: config.initialAdvertisePeerUrls,
      },
      get store() {
        return replica.store;
      },
      get engine() {
        return replica.engine;
      },
      proposer: node,
      engineDir,
      limits: { maxTxnOps: config.maxTxnOps, maxRequestBytes: config.maxRequestBytes },
      pipelineMaxInFlight: config.pipelineMaxInFlight,
      version: SERVER_VERSION,
      shutdown: shutdownController.signal,
    };
    api = new ApiServer({
      host: listenHost(config.listenClientUrl),
      port: Number(config.listenClientUrl.port || 80),
      member,
      shutdownController,
      metrics,
      logger: logger.child({ component: "api" }),
      maxRequestBytes: config.maxRequestBytes,
      maxTimeoutMs: config.maxTimeoutMs,
      maxConcurrentStreams: config.maxConcurrentStreams,
      snapshotDir: path.join(dataDir, "snapshots"),
      watch: { ...DEFAULT_WATCH_OPTIONS, progressNotifyIntervalMs: config.watchProgressNotifyIntervalMs },
      corsAllowedOrigins: config.corsAllowedOrigins,
    });
    const address = await api.listen();
    leaseExpiry.start();
    const host = address.host.includes(":") ? `[${address.host}]` : address.host;
    const clientUrl = `http://${host}:${address.port}`;
    if (clientUrls.length === 0) clientUrls.push(clientUrl);
    replication.publishAttributes(config.name, clientUrls);
    const peerUrl = `http://${config.listenPeerUrl.hostname}:${replication.peerPort()}`;
    logger.info(
      {
        member: config.name,
        clientUrl,
        peerUrl,
        dataDir,
        memberId: String(identity.memberId),
        clusterId: String(identity.clusterId),
        revision: replica.store.revision(),
      },
      "member started",
    );
    let stopping: Promise<void> | undefined;
    const parts = { api, leaseExpiry, replication };
    return {
      clientUrl,
      peerUrl,
      failed,
      stop: () => (stopping ??= stopParts(parts, config.shutdownTimeoutMs, logger)),
    };
  } catch (err) {
    await stopParts({ api, leaseExpiry, replication }, 0, logger).catch(() => {});
    throw err;
  }
}

async function stopParts(parts: { api?: ApiServer; leaseExpiry?: LeaseExpiry; replication: Replication }, drainMs: number, logger: Logger): Promise<void> {
  const started = Date.now();
  await parts.api?.close(drainMs);
  await parts.leaseExpiry?.stop();
  await parts.replication.close();
  logger.info({ ms: Date.now() - started }, "member stopped");
}
