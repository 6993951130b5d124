/**
 * The Prometheus registry of one member (served at /metrics). Request metrics are recorded by
 * the API layer as calls finish; store metrics are read from the engine's and the state
 * machine's stats() when Prometheus scrapes, so the hot path pays nothing for them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The slice of engine and state machine statistics the store gauges show. */
export interface StoreStatsSource {
  engine(): {
    levels: { files: number; bytes: number }[];
    memtableBytes: number;
    immutableMemtables: number;
    userBytesWritten: number;
    wal: { bytesWritten: number; syncs: number; syncedWrites: number };
    flushes: { count: number };
    compactions: { count: number; bytesWritten: number };
    writeAmplification: number;
    stalls: { slowdownMs: number; stopMs: number };
    blockCache: { usedBytes: number; hits: number; misses: number };
  };
  kv(): {
    appliedIndex: number;
    revision: number;
    compactRevision: number;
    physicallyCompactedRevision: number;
    applyGroups: number;
    appliedCommands: number;
    watchers: number;
    leases: number;
  };
}

/** What the Raft gauges read at scrape time. */
export interface RaftStatsSource {
  status(): { role: string; term: number; commit: number; durableApplied: number; lastIndex: number; firstIndex: number };
  proposals(): { proposalsCommitted: number; proposalsFailed: number; proposalsPending: number; snapshotsTaken: number };
  logBytes(): number;
  peers(): { peer: string; connected: boolean; batchesSent: number; messagesSent: number; snapshotsSent: number; rttMs: number | undefined }[];
}

/** Latency buckets in seconds: 50 us to 10 s, dense where durable writes land (0.5-20 ms). */
const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1,
  2.5, 5, 10,
];

export class Metrics {
  readonly registry = new Registry();
  /** Finished calls by method and status code name ("ok" or e.g. "invalid_argument"). */
  readonly requests: Counter<"method" | "code">;
  readonly requestSeconds: Histogram<"method">;
  /** Calls currently being served (streams count while open). */
  readonly inFlight: Gauge<"method">;
  /** Pipeline stream calls, by operation and code (their stream is one request above). */
  readonly pipelineCalls: Counter<"op" | "code">;
  readonly pipelineSeconds: Histogram<"op">;
  readonly raftLeaderChanges: Counter;
  /** Entries persisted per Raft Ready (one log write and fsync; the leader's append batch). */
  readonly raftReadyEntries: Histogram;
  /** Time to persist one Ready (log write + fsync). */
  readonly raftSaveSeconds: Histogram;

  constructor() {
    // prom-client's names already say what they are (process_cpu_seconds_total, nodejs_heap_size_used_bytes).
    collectDefaultMetrics({ register: this.registry, prefix: "sisyphus_" });
    this.requests = new Counter({
      name: "sisyphus_rpc_requests_total",
      help: "RPC calls finished, by method and status code",
      labelNames: ["method", "code"],
      registers: [this.registry],
    });
    this.requestSeconds = new Histogram({
      name: "sisyphus_rpc_duration_seconds",
      help: "RPC call latency (unary: request to response; streams: open to close)",
      labelNames: ["method"],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    this.inFlight = new Gauge({
      name: "sisyphus_rpc_in_flight",
      help: "RPC calls being served",
      labelNames: ["method"],
      registers: [this.registry],
    });
    this.pipelineCalls = new Counter({
      name: "sisyphus_pipeline_calls_total",
      help: "Calls made on KV Pipeline streams, by operation and status code",
      labelNames: ["op", "code"],
      registers: [this.registry],
    });
    this.raftLeaderChanges = new Counter({
      name: "sisyphus_raft_leader_changes_total",
      help: "Times this member saw the leader change (including to no leader)",
      registers: [this.registry],
    });
    this.raftReadyEntries = new Histogram({
      name: "sisyphus_raft_ready_entries",
      help: "Log entries persisted per Raft Ready (one write and fsync; on the leader, one append batch per follower)",
      buckets: [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
      registers: [this.registry],
    });
    this.raftSaveSeconds = new Histogram({
      name: "sisyphus_raft_save_duration_seconds",
      help: "Time to persist one Raft Ready (log write and fsync)",
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    this.pipelineSeconds = new Histogram({
      name: "sisyphus_pipeline_call_duration_seconds",
      help: "Latency of one call on a KV Pipeline stream, request received to response queued",
      labelNames: ["op"],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.registry],
    });
  }

  /** A gauge whose value is read when Prometheus scrapes. */
  private scrapedGauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Adds gauges that read this member's Raft state at scrape time. */
  observeRaft(source: RaftStatsSource): void {
    const gauge = (name: string, help: string, read: () => number): void => this.scrapedGauge(name, help, read);
    gauge("sisyphus_raft_is_leader", "1 when this member leads the cluster", () => (source.status().role === "leader" ? 1 : 0));
    gauge("sisyphus_raft_term", "This member's Raft term", () => source.status().term);
    gauge("sisyphus_raft_committed_index", "Index of the last log entry known committed", () => source.status().commit);
    gauge("sisyphus_raft_applied_index", "Index of the last log entry applied to the store", () => source.status().durableApplied);
    gauge("sisyphus_raft_apply_lag_entries", "Committed entries not yet applied here", () => source.status().commit - source.status().durableApplied);
    gauge("sisyphus_raft_log_entries", "Entries in the uncompacted Raft log", () => source.status().lastIndex - source.status().firstIndex + 1);
    gauge("sisyphus_raft_log_bytes", "Bytes of the Raft log on disk", () => source.logBytes());
    gauge("sisyphus_raft_proposals_committed_total", "Proposals made through this member that committed", () => source.proposals().proposalsCommitted);
    gauge("sisyphus_raft_proposals_failed_total", "Proposals made through this member that certainly failed (lost in a leader change)", () => source.proposals().proposalsFailed);
    gauge("sisyphus_raft_proposals_pending", "Proposals made through this member waiting to be applied", () => source.proposals().proposalsPending);
    gauge("sisyphus_raft_snapshots_total", "Snapshots taken by this member (each compacts the log)", () => source.proposals().snapshotsTaken);
    const peerGauge = (name: string, help: string, read: (p: ReturnType<RaftStatsSource["peers"]>[number]) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ["peer"],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const p of source.peers()) {
            const value = read(p);
            if (value !== undefined) this.set({ peer: p.peer }, value);
          }
        },
      });
    };
    peerGauge("sisyphus_raft_peer_connected", "1 while the connection to the peer is up", (p) => (p.connected ? 1 : 0));
    peerGauge("sisyphus_raft_peer_batches_sent_total", "Append batches sent to the peer", (p) => p.batchesSent);
    peerGauge("sisyphus_raft_peer_messages_sent_total", "Raft messages sent to the peer", (p) => p.messagesSent);
    peerGauge("sisyphus_raft_peer_snapshots_sent_total", "Snapshots sent to the peer", (p) => p.snapshotsSent);
    peerGauge("sisyphus_raft_peer_round_trip_seconds", "Last measured round-trip time to the peer (HTTP/2 PING)", (p) => (p.rttMs === undefined ? undefined : p.rttMs / 1000));
  }

  /** Adds gauges that read the store's statistics at scrape time. */
  observeStore(source: StoreStatsSource): void {
    const gauge = (name: string, help: string, read: () => number): void => this.scrapedGauge(name, help, read);
    gauge("sisyphus_mvcc_revision", "The store's current revision", () => source.kv().revision);
    gauge("sisyphus_mvcc_compact_revision", "The oldest readable revision (last compaction)", () => source.kv().compactRevision);
    gauge(
      "sisyphus_mvcc_physically_compacted_revision",
      "Revision below which old versions have been removed from disk",
      () => source.kv().physicallyCompactedRevision,
    );
    gauge("sisyphus_applied_index", "Index of the last applied log entry", () => source.kv().appliedIndex);
    gauge("sisyphus_apply_groups_total", "Engine writes made by apply (each carries a group of commands)", () => source.kv().applyGroups);
    gauge("sisyphus_applied_commands_total", "Commands applied", () => source.kv().appliedCommands);
    gauge("sisyphus_watchers", "Active watchers", () => source.kv().watchers);
    gauge("sisyphus_leases", "Existing leases", () => source.kv().leases);
    gauge("sisyphus_storage_memtable_bytes", "Bytes used in the active memtable", () => source.engine().memtableBytes);
    gauge("sisyphus_storage_immutable_memtables", "Frozen memtables waiting to be flushed", () => source.engine().immutableMemtables);
    gauge("sisyphus_storage_user_bytes_written_total", "Key and value bytes written by callers", () => source.engine().userBytesWritten);
    gauge("sisyphus_storage_wal_bytes_written_total", "Bytes appended to the write-ahead log", () => source.engine().wal.bytesWritten);
    gauge("sisyphus_storage_wal_syncs_total", "fsyncs of the write-ahead log", () => source.engine().wal.syncs);
    gauge("sisyphus_storage_wal_synced_writes_total", "Writes made durable by those fsyncs", () => source.engine().wal.syncedWrites);
    gauge("sisyphus_storage_flushes_total", "Memtable flushes", () => source.engine().flushes.count);
    gauge("sisyphus_storage_compactions_total", "Compactions that merged files", () => source.engine().compactions.count);
    gauge("sisyphus_storage_write_amplification", "Bytes written to disk per user byte", () => source.engine().writeAmplification);
    gauge("sisyphus_storage_stall_slowdown_ms_total", "Milliseconds writes were slowed by L0 pressure", () => source.engine().stalls.slowdownMs);
    gauge("sisyphus_storage_stall_stop_ms_total", "Milliseconds writes were stopped waiting for compaction", () => source.engine().stalls.stopMs);
    gauge("sisyphus_storage_block_cache_bytes", "Bytes held by the block cache", () => source.engine().blockCache.usedBytes);
    gauge("sisyphus_storage_block_cache_hits_total", "Block cache hits", () => source.engine().blockCache.hits);
    gauge("sisyphus_storage_block_cache_misses_total", "Block cache misses", () => source.engine().blockCache.misses);
    // One read of the levels per scrape: the first gauge's collect fills the two after it, which
    // prom-client serializes later in registration order.
    let levelBytesByLevel: number[] = [];
    new Gauge({
      name: "sisyphus_storage_level_files",
      help: "SSTables per level",
      labelNames: ["level"],
      registers: [this.registry],
      collect() {
        const levels = source.engine().levels;
        levelBytesByLevel = levels.map((l) => l.bytes);
        levels.forEach((l, i) => this.set({ level: String(i) }, l.files));
      },
    });
    new Gauge({
      name: "sisyphus_storage_level_bytes",
      help: "SSTable bytes per level",
      labelNames: ["level"],
      registers: [this.registry],
      collect() {
        levelBytesByLevel.forEach((bytes, i) => this.set({ level: String(i) }, bytes));
      },
    });
    new Gauge({
      name: "sisyphus_storage_bytes",
      help: "Bytes of all live SSTables",
      registers: [this.registry],
      collect() {
        this.set(levelBytesByLevel.reduce((a, b) => a + b, 0));
      },
    });
  }
}
