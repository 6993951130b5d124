/**
 * One member, wired: storage engine <- KV state machine <- proposer <- API server, plus lease
 * expiry and metrics. Without Raft (this version) the proposer applies each write directly:
 * the engine's synced write with group commit is the commit. Raft will replace DirectProposer
 * behind the same interface.
 *
 * Data directory:
 *   <data-dir>/member.json   cluster and member IDs (member-identity.ts)
 *   <data-dir>/kv/           the storage engine holding the MVCC store
 *   <data-dir>/snapshots/    checkpoints being streamed by Maintenance.Snapshot (temporary)
 */
import fs from "node:fs";
import path from "node:path";
import { ApiServer, DEFAULT_WATCH_OPTIONS, type MemberContext } from "./api/index.js";
import type { MemberConfig } from "./config.js";
import { DirectProposer, KvStateMachine, LeaseExpiry, type Proposer } from "./kv/index.js";
import { loadOrCreateIdentity } from "./member-identity.js";
import { type Logger, Metrics } from "./observability/index.js";
import { Engine } from "./storage/index.js";
import { SERVER_VERSION } from "./version.js";

export interface RunningMember {
  /** The client URL actually bound (the port is real when 0 was asked for). */
  clientUrl: string;
  /** Drains and closes everything; resolves when the data is closed cleanly. Idempotent. */
  stop(): Promise<void>;
  /** Resolves with the error that stopped the member on its own (storage failure). */
  failed: Promise<Error>;
}

export async function startMember(config: MemberConfig, logger: Logger): Promise<RunningMember> {
  const dataDir = path.resolve(config.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const identity = loadOrCreateIdentity(dataDir, config.name);
  const engineDir = path.join(dataDir, "kv");
  let reportFailure: (err: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (reportFailure = resolve));

  const engine = await Engine.open(engineDir, { blockCacheBytes: config.blockCacheBytes, logger: logger.child({ component: "storage" }) });
  let store: KvStateMachine | undefined;
  let proposer: Proposer | undefined;
  let api: ApiServer | undefined;
  let leaseExpiry: LeaseExpiry | undefined;
  try {
    store = await KvStateMachine.open(engine, {
      onFailure: (err) => {
        logger.fatal({ err }, "the store stopped after a storage failure");
        reportFailure(err);
      },
    });
    const openedStore = store;
    proposer = new DirectProposer(store, identity.memberId);
    leaseExpiry = new LeaseExpiry(store, proposer, {
      checkIntervalMs: config.leaseCheckIntervalMs,
      maxLeasesPerCommand: 1000,
      onError: (err) => logger.warn({ err }, "proposing lease expiry failed; retrying at the next check"),
    });
    const clientUrls: string[] = [...config.advertiseClientUrls];
    const metrics = new Metrics();
    metrics.observeStore({ engine: () => engine.stats(), kv: () => openedStore.stats() });
    const shutdownController = new AbortController();
    const member: MemberContext = {
      identity: {
        clusterId: identity.clusterId,
        memberId: identity.memberId,
        name: config.name,
        clientUrls,
        peerUrls: [],
      },
      store,
      proposer,
      engine,
      engineDir,
      limits: { maxTxnOps: config.maxTxnOps, maxRequestBytes: config.maxRequestBytes },
      pipelineMaxInFlight: config.pipelineMaxInFlight,
      version: SERVER_VERSION,
      shutdown: shutdownController.signal,
    };
    api = new ApiServer({
      host: config.listenClientUrl.hostname.replace(/^\[|\]$/g, ""),
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
    logger.info(
      { member: config.name, clientUrl, dataDir, memberId: String(identity.memberId), clusterId: String(identity.clusterId), revision: store.revision() },
      "member started",
    );
    let stopping: Promise<void> | undefined;
    const parts = { api, leaseExpiry, proposer, store };
    return {
      clientUrl,
      failed,
      stop: () => (stopping ??= stopParts(parts, engine, config.shutdownTimeoutMs, logger)),
    };
  } catch (err) {
    await stopParts({ api, leaseExpiry, proposer, store }, engine, 0, logger).catch(() => {});
    throw err;
  }
}

async function stopParts(
  parts: { api?: ApiServer; leaseExpiry?: LeaseExpiry; proposer?: Proposer; store?: KvStateMachine },
  engine: Engine,
  drainMs: number,
  logger: Logger,
): Promise<void> {
  const started = Date.now();
  await parts.api?.close(drainMs);
  await parts.leaseExpiry?.stop();
  await parts.proposer?.close();
  await parts.store?.close();
  await engine.close();
  logger.info({ ms: Date.now() - started }, "member stopped");
}
