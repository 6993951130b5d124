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
    this.pipelineSeconds = new Histogram({
      name: "sisyphus_pipeline_call_duration_seconds",
      help: "Latency of one call on a KV Pipeline stream, request received to response queued",
      labelNames: ["op"],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.registry],
    });
  }

  /** Adds gauges that read the store's statistics at scrape time. */
  observeStore(source: StoreStatsSource): void {
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    };
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
