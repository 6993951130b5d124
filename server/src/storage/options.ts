/**
 * Engine options with their defaults. Defaults follow LevelDB's where the reason carries over
 * (4 MiB memtable, 4 KiB blocks, 10 bloom bits per key, L0 triggers 4 / 8 / 12, x10 levels).
 */

/** The logging surface the engine needs; pino's logger satisfies it. */
export interface EngineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface EngineOptions {
  /** Size of a memtable's arena; when full it is frozen and flushed to an L0 table. */
  memtableBytes?: number;
  /** Target uncompressed size of an SSTable data block. */
  blockSizeBytes?: number;
  /** Keys between restart points in a data block. */
  blockRestartInterval?: number;
  /** Bloom filter bits per key (0 disables filters). */
  bloomBitsPerKey?: number;
  /** Byte budget of the shared block cache. */
  blockCacheBytes?: number;
  /** Target size of an SSTable written by flush or compaction. */
  targetFileBytes?: number;
  /** L0 file count that starts a compaction into L1. */
  l0CompactionTrigger?: number;
  /** L0 file count at which each write is delayed by 1 ms (slowdown). */
  l0SlowdownTrigger?: number;
  /** L0 file count at which writes wait for compaction (stop). */
  l0StopTrigger?: number;
  /** Maximum bytes of L1; level n+1 may hold levelSizeMultiplier times level n. */
  levelBaseBytes?: number;
  levelSizeMultiplier?: number;
  /** Number of levels (L0 .. L(n-1)). */
  levels?: number;
  /**
   * Run flush and compaction in a worker thread (the default), so merge work never blocks the
   * event loop and uses the second core. false runs them inline, time-sliced (tests use both).
   */
  backgroundWorker?: boolean;
  logger?: EngineLogger;
}

export type ResolvedOptions = Required<Omit<EngineOptions, "logger">> & { logger: EngineLogger };

const silentLogger: EngineLogger = {
  info() {},
  warn() {},
  error() {},
};

export function resolveOptions(options: EngineOptions = {}): ResolvedOptions {
  return {
    memtableBytes: options.memtableBytes ?? 4 * 1024 * 1024,
    blockSizeBytes: options.blockSizeBytes ?? 4096,
    blockRestartInterval: options.blockRestartInterval ?? 16,
    bloomBitsPerKey: options.bloomBitsPerKey ?? 10,
    blockCacheBytes: options.blockCacheBytes ?? 8 * 1024 * 1024,
    targetFileBytes: options.targetFileBytes ?? 2 * 1024 * 1024,
    l0CompactionTrigger: options.l0CompactionTrigger ?? 4,
    l0SlowdownTrigger: options.l0SlowdownTrigger ?? 8,
    l0StopTrigger: options.l0StopTrigger ?? 12,
    levelBaseBytes: options.levelBaseBytes ?? 10 * 1024 * 1024,
    levelSizeMultiplier: options.levelSizeMultiplier ?? 10,
    levels: options.levels ?? 7,
    backgroundWorker: options.backgroundWorker ?? true,
    logger: options.logger ?? silentLogger,
  };
}
