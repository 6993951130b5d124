/** Public types of the engine's surface (re-exported from index.ts). */

export interface WriteOptions {
  /**
   * true: resolve after the write is fsynced (group commit: one fsync covers every sync write
   * that arrived while the previous fsync ran). false (default): resolve after the bytes
   * reached the OS, which survives the process being killed but not a power loss.
   */
  sync?: boolean;
}

/** A consistent read view: reads through it see the database as of its creation. */
export interface Snapshot {
  /** The last sequence number visible through this snapshot. */
  readonly sequence: number;
  /** Lets the engine drop versions and files this snapshot pinned. Idempotent. */
  release(): void;
}

export interface ReadOptions {
  snapshot?: Snapshot;
}

export interface IterateOptions {
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
  reverse?: boolean;
  /** Maximum entries to yield; negative or absent means no limit. */
  limit?: number;
  snapshot?: Snapshot;
}

export interface LevelStats {
  level: number;
  files: number;
  bytes: number;
}

export interface EngineStats {
  levels: LevelStats[];
  /** Bytes used in the active memtable's arena. */
  memtableBytes: number;
  /** Frozen memtables waiting to be flushed. */
  immutableMemtables: number;
  /** Last sequence number visible to readers. */
  sequence: number;
  /** Bytes callers asked to write (keys + values), the base of write amplification. */
  userBytesWritten: number;
  wal: { bytesWritten: number; syncs: number; syncedWrites: number };
  flushes: { count: number; bytesWritten: number };
  /** Compactions that merged files; trivial moves only re-parented a file to the next level. */
  compactions: { count: number; trivialMoves: number; bytesRead: number; bytesWritten: number };
  /** (WAL + flush + compaction bytes written) / user bytes written. */
  writeAmplification: number;
  stalls: { slowdownCount: number; slowdownMs: number; stopCount: number; stopMs: number };
  blockCache: { capacityBytes: number; usedBytes: number; hits: number; misses: number; hitRate: number };
  bloom: { checks: number; negatives: number };
  liveSnapshots: number;
  liveIterators: number;
  /** Table files no longer in the current version but still pinned by a snapshot or iterator. */
  obsoleteFilesPending: number;
  /** A flush or compaction is running or due. */
  backgroundWork: boolean;
}
