/**
 * The storage layer's public surface. Other layers and tests outside this folder import only
 * from here: the engine, its write batch, options, typed errors and limits.
 */
export { Engine } from "./engine.js";
export { WriteBatch } from "./write-batch.js";
export type { EngineOptions, EngineLogger } from "./options.js";
export type { WriteOptions, ReadOptions, IterateOptions, Snapshot, EngineStats, LevelStats } from "./engine-types.js";
export { StorageError, InvalidArgumentError, ClosedError, LockedError, CorruptionError, IOError } from "./errors.js";
export { MAX_KEY_BYTES, MAX_VALUE_BYTES } from "./internal-key.js";
/**
 * Temp file, fsync, rename, directory fsync (writeFileAtomic): for small files other layers must
 * never see half-written; and the directory fsync alone, blocking or on the thread pool.
 */
export { syncDir, syncDirAsync, writeFileAtomic } from "./file-names.js";
/** A checkpoint directory packed into one stream (snapshots, Raft snapshot transfer) and back. */
export { packDirectory, unpackArchive, SNAPSHOT_MAGIC } from "./checkpoint-archive.js";
/** The CRC-framed record log shared by the WAL, the manifest and the Raft log (record-log.ts documents the framing). */
export { RecordLogWriter, readRecordLog } from "./record-log.js";
