/**
 * One member's replication, wired: the durable Raft log, the consensus core and its driver, the
 * peer transport and its server, and the KV store as the replicated state machine.
 *
 * Data directory:
 *   <data-dir>/kv/               the storage engine holding the MVCC store (replaced by a snapshot install)
 *   <data-dir>/raft/log/         the durable Raft log (segments, hard state, snapshot markers)
 *   <data-dir>/raft/snapshots/   snapshot archives made here or received from the leader
 *
 * The store applies without fsync: the Raft log is its write-ahead log (synced before any entry
 * is applied), and the store records its applied index atomically with each applied group, so a
 * restart replays the log from there.
 */
import path from "node:path";
import { listenHost, type MemberConfig } from "../config.js";
import { type ApplyResult, encodeCommand, type KvStateMachine } from "../kv/index.js";
import { memberIdFor } from "../member-identity.js";
import type { Logger } from "../observability/index.js";
import { DurableLog, NO_NODE, RaftCore, RaftNode, RaftUnavailableError, type NodeId, type SoftState } from "../raft/index.js";
import { createPeerServer, ForwardError, type PeerServer, RaftTransport } from "../transport/index.js";
import { startingPoint } from "./initial-state.js";
import { KvReplica } from "./kv-replica.js";
import { decodeMemberInfo } from "./member-info.js";
import { RaftCluster } from "./raft-cluster.js";
import { SnapshotFiles } from "./snapshot-files.js";

/**
 * The Raft clock's period: fine enough that randomized election timeouts take many distinct
 * values. Two followers that time out within one round trip of each other split the vote and
 * need another round; with the default 100 ms timeout a 5 ms tick gives 20 values (a 20 ms tick
 * gave 5, and bench:failover saw splits). The driver catches up on late timer firings, so a fine
 * tick does not stretch timeouts under load. Never coarser than the heartbeat interval.
 */
function raftTickMs(config: MemberConfig): number {
  return Math.max(1, Math.min(5, config.heartbeatIntervalMs));
}

/** How long a removed member's link stays up after its removal is applied here. */
const REMOVED_PEER_GRACE_MS = 2000;

export interface ReplicationHooks {
  /** The member cannot go on (storage failure, removed from the cluster): stop it. */
  onFatal(err: Error): void;
  /** Leadership or this member's role changed. */
  onSoftState?(state: SoftState, previous: SoftState): void;
  /** A snapshot install replaced the store. */
  onStoreReplaced?(store: KvStateMachine): void;
  /** After each Raft Ready: entries persisted and the time the save took (metrics). */
  onReady?(stats: { entries: number; saveMs: number }): void;
}

export class Replication {
  private publishing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    readonly node: RaftNode<ApplyResult>,
    readonly replica: KvReplica,
    readonly cluster: RaftCluster,
    private readonly transport: RaftTransport,
    readonly peerServer: PeerServer,
    private readonly log: DurableLog,
    readonly selfId: NodeId,
    private readonly logger: Logger,
  ) {}

  static async start(config: MemberConfig, dataDir: string, ids: { clusterId: bigint; memberId: bigint }, logger: Logger, hooks: ReplicationHooks): Promise<Replication> {
    const raftDir = path.join(dataDir, "raft");
    const snapshots = await SnapshotFiles.open(path.join(raftDir, "snapshots"));
    let transport: RaftTransport | undefined;
    const replica = await KvReplica.open({
      kvDir: path.join(dataDir, "kv"),
      engine: { blockCacheBytes: config.blockCacheBytes, logger: logger.child({ component: "storage" }) },
      store: { syncApplies: false, onFailure: (err) => hooks.onFatal(err) },
      snapshots,
      logger,
      onReplaced: (store) => {
        hooks.onStoreReplaced?.(store);
        transport?.setPeers(peerUrlsOf(store, ids.memberId));
      },
      onMembership: (change) => {
        if (change.type === "removeNode" && change.nodeId === ids.memberId) {
          // No longer a member: nothing it sends or serves on the peer port counts any more, so
          // the peer traffic ends now, not after the client API has drained.
          transport?.close();
          hooks.onFatal(new Error("this member was removed from the cluster"));
          return;
        }
        if (transport === undefined || change.nodeId === ids.memberId) return;
        if (change.type === "removeNode") {
          // Keep the link a moment: the leader's last append tells the removed member that its
          // removal committed, so it stops rather than knock on doors that are now closed.
          const removed = change.nodeId;
          const connected = transport;
          setTimeout(() => connected.removePeer(removed), REMOVED_PEER_GRACE_MS).unref();
        } else {
          transport.addPeer(change.nodeId, decodeMemberInfo(change.context).peerUrls[0]);
        }
      },
    });
    try {
      const log = DurableLog.open(path.join(raftDir, "log"));
      const founders = config.initialCluster.map((m) => ({ ...m, id: m.name === config.name && config.initialCluster.length === 1 ? ids.memberId : memberIdFor(ids.clusterId, m.peerUrls) }));
      const recovered = log.initialState();
      const initial = startingPoint({ recovered, storeAppliedIndex: replica.store.appliedIndex(), state: config.initialClusterState, selfId: ids.memberId, founders });
      if (recovered === undefined) await log.save({ hardState: initial.hardState, snapshot: initial.snapshot, entries: initial.entries });
      const applied = replica.store.appliedIndex();
      const tickMs = raftTickMs(config);
      const core = new RaftCore(
        {
          id: ids.memberId,
          heartbeatTicks: Math.max(1, Math.round(config.heartbeatIntervalMs / tickMs)),
          electionTicks: Math.max(Math.round(config.heartbeatIntervalMs / tickMs) + 1, Math.round(config.electionTimeoutMs / tickMs)),
          random: Math.random,
          preVote: true,
          checkQuorum: true,
          maxInflightAppends: 64,
          maxAppendBytes: 1024 * 1024,
          maxUncommittedBytes: 256 * 1024 * 1024,
        },
        initial,
        applied,
      );
      // The transport is built before the node it delivers to; messages cannot arrive before both exist.
      const driver: { node?: RaftNode<ApplyResult> } = {};
      const peers = new Map<NodeId, string>();
      for (const f of founders) if (f.id !== ids.memberId) peers.set(f.id, f.peerUrls[0]);
      for (const [id, url] of peerUrlsOf(replica.store, ids.memberId)) peers.set(id, url);
      transport = new RaftTransport({
        memberId: ids.memberId,
        clusterId: ids.clusterId,
        peers,
        sourceAddress: listenHost(config.listenPeerUrl),
        logger: logger.child({ component: "transport" }),
        handlers: {
          deliver: (m) => driver.node?.step(m),
          forward: (command, type) => driver.node?.acceptForwarded(command, type) ?? { ok: false, reason: "notLeader", leaderId: NO_NODE },
          receiveSnapshot: (message, data) => snapshots.stage(message.snapshot.index, data),
          openSnapshot: (meta) => snapshots.read(meta.index),
          reportUnreachable: (peer) => driver.node?.reportUnreachable(peer),
          reportSnapshot: (peer, ok) => driver.node?.reportSnapshot(peer, ok),
        },
      });
      const peerTransport = transport;
      const node = new RaftNode<ApplyResult>({
        core,
        log,
        messenger: {
          send: (messages) => peerTransport.send(messages),
          // The transport says whether a failed forward certainly never reached the leader.
          forward: (leader, data, signal, type) =>
            peerTransport.forward(leader, data, signal, type).catch((err: unknown) => {
              if (err instanceof ForwardError) throw new RaftUnavailableError(`the leader could not be reached: ${err.message}`, err.notProposed, leader);
              throw err;
            }),
        },
        applier: replica,
        options: {
          tickMs,
          snapshotEntries: config.snapshotCount,
          readTimeoutMs: Math.max(1000, 10 * config.electionTimeoutMs),
        },
        events: {
          onSoftState: (state, previous) => {
            logger.info({ leader: state.leaderId.toString(), role: state.role, term: driver.node?.term() }, "raft state changed");
            hooks.onSoftState?.(state, previous);
          },
          onFatal: (err) => hooks.onFatal(err),
          onReady: (stats) => hooks.onReady?.(stats),
        },
        initial: { appliedIndex: applied, state: initial },
      });
      driver.node = node;
      const peerServer = await createPeerServer(transport, {
        host: listenHost(config.listenPeerUrl),
        port: Number(config.listenPeerUrl.port || 80),
      });
      node.start();
      const status = node.status();
      if (status.conf.voters.length === 1 && status.conf.voters[0] === ids.memberId) node.campaign();
      const cluster = new RaftCluster({
        node,
        store: () => replica.store,
        clusterId: ids.clusterId,
        selfId: ids.memberId,
        logBytes: () => log.sizeBytes(),
        electionTimeoutMs: config.electionTimeoutMs,
      });
      return new Replication(node, replica, cluster, transport, peerServer, log, ids.memberId, logger);
    } catch (err) {
      transport?.close();
      await replica.close().catch(() => {});
      throw err;
    }
  }

  /** Per-peer transport statistics, for metrics. */
  peerStats(): ReturnType<RaftTransport["stats"]> {
    return this.transport.stats();
  }

  raftLogBytes(): number {
    return this.log.sizeBytes();
  }

  /** The peer port actually bound. */
  peerPort(): number {
    return this.peerServer.port;
  }

  /**
   * Publishes this member's name and client URLs to the cluster (a replicated command), retrying
   * until a leader accepts it: other members and clients learn where to reach it from MemberList.
   */
  publishAttributes(name: string, clientUrls: string[]): void {
    const command = encodeCommand({ type: "memberAttributes", id: this.selfId, name, clientUrls });
    this.publishing = (async () => {
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          await this.node.propose(command);
          this.logger.info({ name, clientUrls }, "published this member's client URLs");
          return;
        } catch (err) {
          if (attempt % 20 === 0) this.logger.debug({ err: (err as Error).message }, "publishing member attributes failed; retrying");
          await new Promise((r) => setTimeout(r, Math.min(1000, 50 * (attempt + 1))));
        }
      }
    })();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.node.close();
    await this.publishing?.catch(() => {});
    this.transport.close();
    await this.peerServer.close();
    await this.log.close();
    await this.replica.close();
  }
}

/** The other members' peer URLs (the first of each) as the store records them. */
function peerUrlsOf(store: KvStateMachine, selfId: NodeId): Map<NodeId, string> {
  const peers = new Map<NodeId, string>();
  for (const m of store.members()) if (m.id !== selfId && m.peerUrls.length > 0) peers.set(m.id, m.peerUrls[0]);
  return peers;
}
