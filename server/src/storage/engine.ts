/**
 * The storage engine: an LSM tree of a memtable, frozen memtables waiting to be flushed, and
 * levels of SSTables, with a write-ahead log in front.
 *
 * Write path (see docs/ARCHITECTURE.md): a write is validated, given the next sequence
 * numbers, appended to the WAL with one write(2) and inserted into the memtable, all in the
 * same turn of the event loop. It becomes visible (and its promise resolves) when it is
 * "published": at once for a non-sync write; after the fdatasync that covers it for a sync
 * write. One fdatasync covers every sync write appended while the previous one ran (group
 * commit without a timer), and publication is strictly in sequence order, so a reader never
 * sees a later write without every earlier one.
 *
 * Invariants:
 *  - visibleSequence <= lastSequence; every entry with seq <= visibleSequence is published.
 *  - a WAL file is deleted only after the memtable it backs is in a table named by a durable
 *    version edit; a table file is deleted only when no live version (current, iterator,
 *    snapshot) contains it.
 *  - at most one background job (flush or compaction) runs at a time; flushes go first.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BackgroundRunner } from "./background-runner.js";
import type { CompactionJob, FlushJob, JobResult } from "./background-jobs.js";
import { BlockCache } from "./block-cache.js";
import { maxGrandparentOverlapBytes, pickCompaction, type CompactionPick } from "./compaction-picker.js";
import { DbIterator, type UserBounds } from "./db-iterator.js";
import type { EngineStats, IterateOptions, ReadOptions, Snapshot, WriteOptions } from "./engine-types.js";
import { ClosedError, InvalidArgumentError, IOError, StorageError } from "./errors.js";
import {
  logFileName,
  manifestFileName,
  parseFileName,
  removeFile,
  syncDir,
  syncDirAsync,
  tableFileName,
  writeFileAtomic,
} from "./file-names.js";
import type { InternalIterator } from "./internal-iterator.js";
import { ValueKind } from "./internal-key.js";
import { LevelIterator } from "./level-iterator.js";
import { DirectoryLock } from "./lock-file.js";
import { LookupResult, Memtable } from "./memtable.js";
import { MergingIterator } from "./merging-iterator.js";
import { resolveOptions, type EngineOptions, type ResolvedOptions } from "./options.js";
import { RecordLogWriter } from "./record-log.js";
import { recoverLogs } from "./recovery.js";
import { TableLookup } from "./sstable-reader.js";
import type { SSTableWriterOptions } from "./sstable-writer.js";
import { TableCache } from "./table-cache.js";
import { emptyEdit, encodeEdit, type FileMeta } from "./version-edit.js";
import { VersionSet } from "./version-set.js";
import { compareUserKeyToBound, userKeyOf, type Version } from "./version.js";
import { BATCH_HEADER_BYTES, checkKey, checkValue, WriteBatch } from "./write-batch.js";
import { putFixed32, putFixed64, putVarint, varintLength } from "./coding.js";

/** Frozen memtables allowed to wait for flushing before writes stop. */
const MAX_IMMUTABLE_MEMTABLES = 2;
/** Entries an iterator yields before giving the event loop a turn. */
const ITERATOR_YIELD_EVERY = 256;

interface Immutable {
  memtable: Memtable;
  wal: RecordLogWriter;
  walNumber: number;
}

/** A write waiting to be published (in sequence order). */
interface Unpublished {
  lastSeq: number;
  sync: boolean;
  /** For sync writes: the WAL to fdatasync, and whether a completed fdatasync covered it. */
  wal: RecordLogWriter | undefined;
  syncStarted: boolean;
  synced: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A write that could not be committed at once (stall or queue ahead of it). */
interface QueuedWrite {
  record: Buffer;
  count: number;
  dataBytes: number;
  sync: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

class EngineSnapshot implements Snapshot {
  released = false;
  constructor(
    readonly sequence: number,
    readonly version: Version,
    private readonly onRelease: (s: EngineSnapshot) => void,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

export class Engine {
  private memtable: Memtable;
  private wal: RecordLogWriter;
  private walNumber: number;
  private readonly immutables: Immutable[] = [];

  private lastSequence: number;
  private visibleSequence: number;
  private readonly unpublished: Unpublished[] = [];
  private syncInFlight: Promise<void> | undefined;
  /** fsync of the directory after the newest WAL was created; sync writes wait for it. */
  private walDirSync: Promise<void> | undefined;

  private readonly queue: QueuedWrite[] = [];
  private draining = false;

  private readonly snapshots = new Set<EngineSnapshot>();
  private readonly iterators = new Set<EngineIterator>();

  private jobRunning = false;
  private jobDone: Promise<void> = Promise.resolve();
  private progressWaiters: (() => void)[] = [];
  private backgroundError: Error | undefined;
  /** Set by close() once queued writes are in: no new background job starts. */
  private stopping = false;
  private closed = false;
  private closing: Promise<void> | undefined;

  private readonly counters = {
    userBytesWritten: 0,
    walBytesWritten: 0,
    walSyncs: 0,
    syncedWrites: 0,
    flushes: 0,
    flushBytesWritten: 0,
    compactions: 0,
    trivialMoves: 0,
    compactionBytesRead: 0,
    compactionBytesWritten: 0,
    slowdownCount: 0,
    slowdownMs: 0,
    stopCount: 0,
    stopMs: 0,
  };

  private constructor(
    readonly dir: string,
    private readonly options: ResolvedOptions,
    private readonly lock: DirectoryLock,
    private readonly versions: VersionSet,
    private readonly blockCache: BlockCache,
    private readonly tables: TableCache,
    private readonly runner: BackgroundRunner,
    wal: RecordLogWriter,
    walNumber: number,
    lastSequence: number,
  ) {
    this.memtable = Memtable.create(options.memtableBytes);
    this.wal = wal;
    this.walNumber = walNumber;
    this.lastSequence = lastSequence;
    this.visibleSequence = lastSequence;
    versions.onObsoleteFile = (f) => this.deleteObsoleteTable(f);
  }

  /**
   * Opens (creating if needed) the database in `dir`: takes the LOCK, recovers the manifest,
   * replays the write-ahead logs into L0 tables, and deletes files no version refers to.
   */
  static async open(dir: string, options?: EngineOptions): Promise<Engine> {
    if (typeof dir !== "string" || dir.length === 0) {
      throw new InvalidArgumentError("dir must be a non-empty string", "dir");
    }
    const opts = resolveOptions(options);
    validateOptions(opts);
    const resolved = path.resolve(dir);
    try {
      fs.mkdirSync(resolved, { recursive: true });
    } catch (err) {
      throw new IOError(`cannot create directory: ${(err as Error).message}`, resolved, { cause: err });
    }
    const lock = DirectoryLock.acquire(resolved);
    let versions: VersionSet | undefined;
    try {
      versions = VersionSet.open(resolved, opts.levels);
      const live = new Set(versions.current.allFiles().map((f) => f.number));
      const recovered = await recoverLogs(resolved, versions, opts);
      const walNumber = versions.newFileNumber();
      const wal = RecordLogWriter.create(logFileName(resolved, walNumber));
      syncDir(resolved);
      const edit = emptyEdit();
      edit.logNumber = walNumber;
      edit.lastSequence = recovered.lastSequence;
      for (const file of recovered.files) edit.newFiles.push({ level: 0, file });
      await versions.logAndApply(edit);
      for (const log of recovered.replayedLogs) removeFile(log);
      for (const f of recovered.files) live.add(f.number);
      removeStrayFiles(resolved, live, walNumber, versions.manifestNumber);
      const blockCache = new BlockCache(opts.blockCacheBytes);
      const engine = new Engine(
        resolved,
        opts,
        lock,
        versions,
        blockCache,
        new TableCache(resolved, blockCache),
        new BackgroundRunner(opts.backgroundWorker),
        wal,
        walNumber,
        recovered.lastSequence,
      );
      if (recovered.recordsReplayed > 0) {
        opts.logger.info(
          { dir: resolved, records: recovered.recordsReplayed, tables: recovered.files.length },
          "replayed write-ahead log",
        );
      }
      engine.maybeScheduleWork();
      return engine;
    } catch (err) {
      versions?.close();
      lock.release();
      throw err;
    }
  }

  // ---------------------------------------------------------------- writes

  put(key: Uint8Array, value: Uint8Array, options?: WriteOptions): Promise<void> {
    try {
      this.checkOpen();
      checkKey(key);
      checkValue(value);
      const size =
        BATCH_HEADER_BYTES + 1 + varintLength(key.length) + key.length + varintLength(value.length) + value.length;
      const record = Buffer.allocUnsafe(size);
      let o = BATCH_HEADER_BYTES;
      record[o++] = ValueKind.Put;
      o = putVarint(record, o, key.length);
      record.set(key, o);
      o += key.length;
      o = putVarint(record, o, value.length);
      record.set(value, o);
      return this.submit(record, 1, key.length + value.length, syncOption(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  delete(key: Uint8Array, options?: WriteOptions): Promise<void> {
    try {
      this.checkOpen();
      checkKey(key);
      const record = Buffer.allocUnsafe(BATCH_HEADER_BYTES + 1 + varintLength(key.length) + key.length);
      let o = BATCH_HEADER_BYTES;
      record[o++] = ValueKind.Delete;
      o = putVarint(record, o, key.length);
      record.set(key, o);
      return this.submit(record, 1, key.length, syncOption(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Applies every operation of `batch` atomically: after a crash all of them or none are present. */
  write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    try {
      this.checkOpen();
      if (!(batch instanceof WriteBatch)) {
        throw new InvalidArgumentError("batch must be a WriteBatch", "batch");
      }
      if (batch.length === 0) return Promise.resolve();
      // Copied: the caller may reuse the batch as soon as write() returns.
      const record = Buffer.from(batch.encode(0));
      return this.submit(record, batch.length, batch.byteLength - BATCH_HEADER_BYTES, syncOption(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private submit(record: Buffer, count: number, dataBytes: number, sync: boolean): Promise<void> {
    if (this.backgroundError) return Promise.reject(this.backgroundError);
    if (
      this.queue.length === 0 &&
      this.versions.current.levels[0]!.length < this.options.l0SlowdownTrigger &&
      this.memtable.hasRoomForBatch(dataBytes, count)
    ) {
      return this.commit(record, count, dataBytes, sync);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ record, count, dataBytes, sync, resolve, reject });
      void this.drainQueue();
    });
  }

  /** Commits queued writes in order, stalling as MakeRoomForWrite does in LevelDB. */
  private async drainQueue(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const w = this.queue[0]!;
        try {
          await this.makeRoom(w.dataBytes, w.count);
        } catch (err) {
          // Nothing can be written any more (background error or close): fail everything queued.
          for (const q of this.queue.splice(0)) q.reject(err as Error);
          return;
        }
        this.queue.shift();
        this.commit(w.record, w.count, w.dataBytes, w.sync).then(w.resolve, w.reject);
      }
    } finally {
      this.draining = false;
    }
  }

  private async makeRoom(dataBytes: number, count: number): Promise<void> {
    let allowDelay = true;
    while (true) {
      if (this.backgroundError) throw this.backgroundError;
      if (this.closed) throw new ClosedError("engine closed while the write waited for room");
      const l0 = this.versions.current.levels[0]!.length;
      if (allowDelay && l0 >= this.options.l0SlowdownTrigger && l0 < this.options.l0StopTrigger) {
        // Slow each write a little rather than stop them all later for seconds.
        const start = performance.now();
        await new Promise((r) => setTimeout(r, 1));
        this.counters.slowdownCount++;
        this.counters.slowdownMs += performance.now() - start;
        allowDelay = false;
      } else if (this.memtable.hasRoomForBatch(dataBytes, count)) {
        return;
      } else if (this.immutables.length >= MAX_IMMUTABLE_MEMTABLES || l0 >= this.options.l0StopTrigger) {
        const start = performance.now();
        this.counters.stopCount++;
        await this.waitForBackgroundProgress();
        this.counters.stopMs += performance.now() - start;
      } else {
        this.rotateMemtable(dataBytes, count);
      }
    }
  }

  /** Freezes the memtable and starts a new one with a new WAL. */
  private rotateMemtable(dataBytes: number, count: number): void {
    const number = this.versions.newFileNumber();
    const wal = RecordLogWriter.create(logFileName(this.dir, number));
    // The new WAL's name must be durable before a sync write in it is acknowledged; the
    // directory fsync runs on the thread pool and the next group commit waits for it.
    this.walDirSync = syncDirAsync(this.dir);
    this.walDirSync.catch(() => undefined);
    if (this.memtable.count() > 0) {
      this.immutables.push({ memtable: this.memtable, wal: this.wal, walNumber: this.walNumber });
    } else {
      this.retireWal(this.wal, this.walNumber);
    }
    this.wal = wal;
    this.walNumber = number;
    // A batch larger than a memtable gets a memtable of its own size.
    const needed = Memtable.bytesNeededFor(dataBytes, count);
    this.memtable = Memtable.create(Math.max(this.options.memtableBytes, needed));
    this.maybeScheduleWork();
  }

  /** Assigns sequence numbers, appends to the WAL and inserts into the memtable, in one turn. */
  private commit(record: Buffer, count: number, dataBytes: number, sync: boolean): Promise<void> {
    if (this.backgroundError) return Promise.reject(this.backgroundError);
    const first = this.lastSequence + 1;
    putFixed64(record, 0, first);
    putFixed32(record, 8, count);
    try {
      this.wal.append([record]);
    } catch (err) {
      // The log may now hold a partial record; nothing after it could be replayed safely.
      this.fail(err as Error);
      return Promise.reject(err);
    }
    this.lastSequence = first + count - 1;
    this.counters.walBytesWritten += record.length + 8;
    this.counters.userBytesWritten += dataBytes;
    this.applyToMemtable(record);

    if (!sync && this.unpublished.length === 0) {
      this.visibleSequence = this.lastSequence;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.unpublished.push({
        lastSeq: this.lastSequence,
        sync,
        wal: sync ? this.wal : undefined,
        syncStarted: false,
        synced: false,
        resolve,
        reject,
      });
      if (sync) this.startSync();
    });
  }

  private applyToMemtable(record: Buffer): void {
    const m = this.memtable;
    let o = BATCH_HEADER_BYTES;
    let seq = this.lastSequence - (recordCount(record) - 1);
    // Decoded inline (not via forEachBatchOp) to keep the per-write path free of closures.
    while (o < record.length) {
      const kind = record[o++]!;
      let keyLen = 0;
      for (let shift = 1; ; shift *= 128) {
        const b = record[o++]!;
        keyLen += (b & 0x7f) * shift;
        if (b < 0x80) break;
      }
      const key = record.subarray(o, o + keyLen);
      o += keyLen;
      if (kind === ValueKind.Put) {
        let valueLen = 0;
        for (let shift = 1; ; shift *= 128) {
          const b = record[o++]!;
          valueLen += (b & 0x7f) * shift;
          if (b < 0x80) break;
        }
        m.add(seq++, ValueKind.Put, key, record.subarray(o, o + valueLen));
        o += valueLen;
      } else {
        m.add(seq++, ValueKind.Delete, key, EMPTY);
      }
    }
  }

  /** Starts an fdatasync covering every sync write appended so far, unless one is running. */
  private startSync(): void {
    if (this.syncInFlight) return;
    const group = this.unpublished.filter((u) => u.sync && !u.syncStarted);
    if (group.length === 0) return;
    const wals = new Set<RecordLogWriter>();
    for (const u of group) {
      u.syncStarted = true;
      wals.add(u.wal!);
    }
    this.counters.walSyncs++;
    const syncs: Promise<void>[] = [...wals].map((w) => w.sync());
    if (this.walDirSync) syncs.push(this.walDirSync);
    this.syncInFlight = Promise.all(syncs).then(
      () => {
        this.syncInFlight = undefined;
        this.counters.syncedWrites += group.length;
        for (const u of group) u.synced = true;
        this.publish();
        this.startSync();
      },
      (err: Error) => {
        this.syncInFlight = undefined;
        // After a failed fsync the kernel may have dropped the pages: never retry, refuse writes.
        this.fail(err);
      },
    );
  }

  /** Resolves writes from the head of the queue whose durability requirement is met. */
  private publish(): void {
    while (this.unpublished.length > 0) {
      const head = this.unpublished[0]!;
      if (head.sync && !head.synced) return;
      this.unpublished.shift();
      this.visibleSequence = head.lastSeq;
      head.resolve();
    }
  }

  /** Puts the engine in a failed state: writes are refused, reads go on. */
  private fail(err: Error): void {
    if (this.backgroundError) return;
    this.backgroundError =
      err instanceof StorageError ? err : new IOError(`write path failed: ${err.message}`, this.dir, { cause: err });
    this.options.logger.error({ err: this.backgroundError.message }, "storage engine stopped accepting writes");
    for (const u of this.unpublished.splice(0)) u.reject(this.backgroundError);
    this.wakeProgressWaiters();
  }

  // ---------------------------------------------------------------- reads

  get(key: Uint8Array, options?: ReadOptions): Promise<Uint8Array | undefined> {
    try {
      return Promise.resolve(this.getSync(key, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * get() without the promise: every read of the engine is synchronous underneath (memtables,
   * then pread of at most one block per table), so callers on a hot path can skip the promise,
   * as with LevelDB's getSync. Throws what get() rejects with.
   */
  getSync(key: Uint8Array, options?: ReadOptions): Uint8Array | undefined {
    this.checkOpen();
    checkKey(key);
    const seq = this.readSequence(options?.snapshot);
    let r = this.memtable.get(key, seq);
    if (r !== LookupResult.NotFound) return r === LookupResult.Found ? copy(this.memtable.lastValue()) : undefined;
    for (let i = this.immutables.length - 1; i >= 0; i--) {
      const m = this.immutables[i]!.memtable;
      r = m.get(key, seq);
      if (r !== LookupResult.NotFound) return r === LookupResult.Found ? copy(m.lastValue()) : undefined;
    }
    const version = this.versions.current;
    for (const f of version.levels[0]!) {
      if (compareUserKeyToBound(f.smallest, key) > 0 || compareUserKeyToBound(f.largest, key) < 0) continue;
      const t = this.tables.get(f.number);
      const tr = t.get(key, seq);
      if (tr === TableLookup.Found) return t.lastValueCopy();
      if (tr === TableLookup.Deleted) return undefined;
    }
    for (let level = 1; level < version.levels.length; level++) {
      const i = version.findFile(level, key);
      if (i < 0) continue;
      const t = this.tables.get(version.levels[level]![i]!.number);
      const tr = t.get(key, seq);
      if (tr === TableLookup.Found) return t.lastValueCopy();
      if (tr === TableLookup.Deleted) return undefined;
    }
    return undefined;
  }

  /**
   * Iterates [key, value] pairs in key order (or reverse) within the bounds, as of the moment
   * of the call (or of `snapshot`). The view stays consistent while writes, flushes and
   * compactions go on: the iterator pins the memtables and table files it reads.
   */
  iterate(options: IterateOptions = {}): AsyncIterableIterator<[Uint8Array, Uint8Array]> {
    this.checkOpen();
    const bounds = iterateBounds(options);
    const limit = options.limit === undefined || options.limit < 0 ? Infinity : options.limit;
    if (!Number.isFinite(limit) && limit !== Infinity) {
      throw new InvalidArgumentError("limit must be a number", "limit");
    }
    const seq = this.readSequence(options.snapshot);
    const version = this.versions.current;
    this.versions.ref(version);
    const children: InternalIterator[] = [this.memtable.iterator()];
    for (let i = this.immutables.length - 1; i >= 0; i--) children.push(this.immutables[i]!.memtable.iterator());
    try {
      for (const f of version.levels[0]!) children.push(this.tables.get(f.number).iterator());
    } catch (err) {
      this.versions.unref(version);
      throw err;
    }
    for (let level = 1; level < version.levels.length; level++) {
      if (version.levels[level]!.length > 0) children.push(new LevelIterator(version.levels[level]!, this.tables, true));
    }
    const db = new DbIterator(new MergingIterator(children), seq, bounds, options.reverse === true);
    const it = new EngineIterator(db, limit, () => {
      this.iterators.delete(it);
      this.versions.unref(version);
    });
    this.iterators.add(it);
    return it;
  }

  /** A read view pinned at the current sequence; release() it when done. */
  snapshot(): Snapshot {
    this.checkOpen();
    const version = this.versions.current;
    this.versions.ref(version);
    const s = new EngineSnapshot(this.visibleSequence, version, (snap) => {
      this.snapshots.delete(snap);
      if (!this.closed) this.versions.unref(snap.version);
    });
    this.snapshots.add(s);
    return s;
  }

  private readSequence(snapshot: Snapshot | undefined): number {
    if (snapshot === undefined) return this.visibleSequence;
    if (!(snapshot instanceof EngineSnapshot) || !this.snapshots.has(snapshot)) {
      if (snapshot instanceof EngineSnapshot && snapshot.released) {
        throw new ClosedError("snapshot was released");
      }
      throw new InvalidArgumentError("snapshot does not belong to this engine", "snapshot");
    }
    return snapshot.sequence;
  }

  // ---------------------------------------------------------------- background work

  private maybeScheduleWork(): void {
    if (this.jobRunning || this.stopping || this.backgroundError) return;
    let work: Promise<void> | undefined;
    if (this.immutables.length > 0) {
      work = this.flushOldestImmutable();
    } else {
      const pick = pickCompaction(this.versions.current, this.versions.compactPointers, this.options);
      if (pick) work = pick.trivialMove ? this.trivialMove(pick) : this.compact(pick);
    }
    if (!work) return;
    this.jobRunning = true;
    this.jobDone = work.then(
      () => {
        this.jobRunning = false;
        this.wakeProgressWaiters();
        this.maybeScheduleWork();
      },
      (err: Error) => {
        this.jobRunning = false;
        if (this.stopping) return;
        this.options.logger.error({ err: err.message }, "background flush/compaction failed");
        this.fail(err);
      },
    );
  }

  private writerOptions(): SSTableWriterOptions {
    return {
      blockSizeBytes: this.options.blockSizeBytes,
      restartInterval: this.options.blockRestartInterval,
      bloomBitsPerKey: this.options.bloomBitsPerKey,
    };
  }

  /** Oldest sequence a live snapshot may read; entries hidden below it are garbage. */
  private smallestSnapshot(): number {
    let s = this.visibleSequence;
    for (const snap of this.snapshots) if (snap.sequence < s) s = snap.sequence;
    return s;
  }

  private async flushOldestImmutable(): Promise<void> {
    const imm = this.immutables[0]!;
    const job: FlushJob = {
      kind: "flush",
      dir: this.dir,
      memtable: imm.memtable.shared(),
      fileNumber: this.versions.newFileNumber(),
      writer: this.writerOptions(),
      smallestSnapshot: this.smallestSnapshot(),
    };
    const result = await this.runner.run(job);
    const edit = emptyEdit();
    for (const file of result.files) edit.newFiles.push({ level: 0, file });
    edit.logNumber = this.immutables.length > 1 ? this.immutables[1]!.walNumber : this.walNumber;
    edit.lastSequence = Math.max(this.versions.lastSequence, imm.memtable.maxSeq());
    await this.versions.logAndApply(edit);
    this.immutables.shift();
    this.counters.flushes++;
    this.counters.flushBytesWritten += result.bytesWritten;
    this.retireWal(imm.wal, imm.walNumber);
  }

  private async trivialMove(pick: CompactionPick): Promise<void> {
    const file = pick.inputs[0]!;
    const edit = emptyEdit();
    edit.deletedFiles.push({ level: pick.level, number: file.number });
    edit.newFiles.push({ level: pick.outputLevel, file });
    edit.compactPointers.push({ level: pick.level, key: file.largest });
    await this.versions.logAndApply(edit);
    this.counters.trivialMoves++;
  }

  private async compact(pick: CompactionPick): Promise<void> {
    // Outputs are cut by size (at most inputBytes / target + 1 files) and by grandparent
    // overlap (at most grandparentBytes / maxOverlap + 1 more); reserve twice that.
    const inputBytes = [...pick.inputs, ...pick.nextInputs].reduce((s, f) => s + f.size, 0);
    const grandparentBytes = pick.grandparents.reduce((s, f) => s + f.size, 0);
    const reserve =
      2 *
        (Math.ceil(inputBytes / this.options.targetFileBytes) +
          Math.ceil(grandparentBytes / maxGrandparentOverlapBytes(this.options))) +
      8;
    const fileNumbers = Array.from({ length: reserve }, () => this.versions.newFileNumber());
    const version = this.versions.current;
    const deeperLevels = [];
    for (let level = pick.outputLevel + 1; level < version.levels.length; level++) {
      deeperLevels.push(version.levels[level]!.map((f) => ({ smallest: userKeyOf(f.smallest), largest: userKeyOf(f.largest) })));
    }
    const sortedInputs = pick.level === 0 ? [] : [pick.inputs];
    if (pick.nextInputs.length > 0) sortedInputs.push(pick.nextInputs);
    const job: CompactionJob = {
      kind: "compaction",
      dir: this.dir,
      l0Inputs: pick.level === 0 ? pick.inputs : [],
      sortedInputs,
      fileNumbers,
      targetFileBytes: this.options.targetFileBytes,
      maxGrandparentOverlapBytes: maxGrandparentOverlapBytes(this.options),
      grandparents: pick.grandparents.map((f) => ({
        smallest: userKeyOf(f.smallest),
        largest: userKeyOf(f.largest),
        size: f.size,
      })),
      deeperLevels,
      writer: this.writerOptions(),
      smallestSnapshot: this.smallestSnapshot(),
    };
    let result: JobResult;
    try {
      result = await this.runner.run(job);
    } catch (err) {
      if (this.stopping) return;
      throw err;
    }
    const edit = emptyEdit();
    for (const f of pick.inputs) edit.deletedFiles.push({ level: pick.level, number: f.number });
    for (const f of pick.nextInputs) edit.deletedFiles.push({ level: pick.outputLevel, number: f.number });
    for (const file of result.files) edit.newFiles.push({ level: pick.outputLevel, file });
    if (pick.level > 0) edit.compactPointers.push({ level: pick.level, key: pick.inputs[pick.inputs.length - 1]!.largest });
    await this.versions.logAndApply(edit);
    this.counters.compactions++;
    this.counters.compactionBytesRead += result.bytesRead;
    this.counters.compactionBytesWritten += result.bytesWritten;
    this.options.logger.info(
      {
        level: pick.level,
        inputs: pick.inputs.length + pick.nextInputs.length,
        outputs: result.files.length,
        bytesRead: result.bytesRead,
        bytesWritten: result.bytesWritten,
        dropped: result.entriesDropped,
      },
      "compaction finished",
    );
  }

  private waitForBackgroundProgress(): Promise<void> {
    if (!this.jobRunning) this.maybeScheduleWork();
    if (!this.jobRunning && !this.backgroundError) {
      // Nothing can make progress: should not happen (a stall always has a job to wait for).
      return Promise.reject(new StorageError("write stalled with no background work to wait for"));
    }
    return new Promise((resolve) => this.progressWaiters.push(resolve));
  }

  private wakeProgressWaiters(): void {
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const w of waiters) w();
  }

  /** Closes and deletes a WAL whose memtable is durable in a table, once no fdatasync uses it. */
  private retireWal(wal: RecordLogWriter, number: number): void {
    const done = () => {
      if (this.unpublished.some((u) => u.wal === wal)) {
        void (this.syncInFlight ?? Promise.resolve()).then(done, done);
        return;
      }
      wal.close();
      removeFile(logFileName(this.dir, number));
    };
    if (this.syncInFlight) void this.syncInFlight.then(done, done);
    else done();
  }

  private deleteObsoleteTable(f: FileMeta): void {
    this.tables.evict(f.number);
    try {
      removeFile(tableFileName(this.dir, f.number));
    } catch (err) {
      this.options.logger.warn({ file: f.number, err: (err as Error).message }, "cannot delete obsolete table");
    }
  }

  // ---------------------------------------------------------------- checkpoint, stats, close

  /**
   * Writes a consistent copy of the database to `target` (which must not exist): the
   * memtable is flushed, then the current version's tables are hard-linked (copied across
   * file systems) next to a fresh manifest. Writes go on meanwhile; the copy holds every write
   * acknowledged before the call.
   */
  async checkpoint(target: string): Promise<void> {
    this.checkOpen();
    if (typeof target !== "string" || target.length === 0) {
      throw new InvalidArgumentError("checkpoint directory must be a non-empty string", "dir");
    }
    const dest = path.resolve(target);
    if (fs.existsSync(dest)) throw new InvalidArgumentError(`checkpoint directory ${dest} already exists`, "dir");
    await this.flushMemtables();
    const version = this.versions.current;
    this.versions.ref(version);
    try {
      const tmp = `${dest}.${process.pid}.tmp`;
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.mkdirSync(tmp, { recursive: true });
      for (const f of version.allFiles()) {
        const src = tableFileName(this.dir, f.number);
        const dst = tableFileName(tmp, f.number);
        try {
          fs.linkSync(src, dst);
        } catch {
          fs.copyFileSync(src, dst);
        }
      }
      const edit = emptyEdit();
      edit.logNumber = 0;
      edit.nextFileNumber = this.versions.nextFileNumber + 1;
      edit.lastSequence = Math.max(this.versions.lastSequence, ...version.allFiles().map((f) => f.largestSeq), 0);
      version.levels.forEach((files, level) => files.forEach((file) => edit.newFiles.push({ level, file })));
      const manifestNumber = this.versions.nextFileNumber;
      const manifest = RecordLogWriter.create(manifestFileName(tmp, manifestNumber));
      manifest.append([encodeEdit(edit)]);
      manifest.syncNow();
      manifest.close();
      writeFileAtomic(path.join(tmp, "CURRENT"), `MANIFEST-${String(manifestNumber).padStart(6, "0")}\n`);
      syncDir(tmp);
      fs.renameSync(tmp, dest);
      syncDir(path.dirname(dest));
    } finally {
      this.versions.unref(version);
    }
  }

  /** Freezes the memtable (if it holds anything) and waits until every frozen one is flushed. */
  private async flushMemtables(): Promise<void> {
    if (this.memtable.count() > 0) {
      while (this.immutables.length >= MAX_IMMUTABLE_MEMTABLES) await this.waitForBackgroundProgress();
      this.checkOpen();
      this.rotateMemtable(0, 0);
    }
    while (this.immutables.length > 0) {
      if (this.backgroundError) throw this.backgroundError;
      await this.waitForBackgroundProgress();
    }
  }

  stats(): EngineStats {
    const version = this.versions.current;
    const c = this.counters;
    const live = new Set(version.allFiles().map((f) => f.number));
    const pinned = [...this.versions.liveFiles()].filter((n) => !live.has(n)).length;
    const written = c.walBytesWritten + c.flushBytesWritten + c.compactionBytesWritten;
    return {
      levels: version.levels.map((files, level) => ({
        level,
        files: files.length,
        bytes: files.reduce((s, f) => s + f.size, 0),
      })),
      memtableBytes: this.memtable.approximateBytes(),
      immutableMemtables: this.immutables.length,
      sequence: this.visibleSequence,
      userBytesWritten: c.userBytesWritten,
      wal: { bytesWritten: c.walBytesWritten, syncs: c.walSyncs, syncedWrites: c.syncedWrites },
      flushes: { count: c.flushes, bytesWritten: c.flushBytesWritten },
      compactions: {
        count: c.compactions,
        trivialMoves: c.trivialMoves,
        bytesRead: c.compactionBytesRead,
        bytesWritten: c.compactionBytesWritten,
      },
      writeAmplification: c.userBytesWritten > 0 ? written / c.userBytesWritten : 0,
      stalls: {
        slowdownCount: c.slowdownCount,
        slowdownMs: c.slowdownMs,
        stopCount: c.stopCount,
        stopMs: c.stopMs,
      },
      blockCache: this.blockCache.stats(),
      bloom: this.tables.bloomStats(),
      liveSnapshots: this.snapshots.size,
      liveIterators: this.iterators.size,
      obsoleteFilesPending: pinned,
      backgroundWork: this.jobRunning || this.immutables.length > 0 || this.needsCompaction(),
    };
  }

  private needsCompaction(): boolean {
    return pickCompaction(this.versions.current, this.versions.compactPointers, this.options) !== undefined;
  }

  /**
   * Resolves once no flush or compaction is pending or running (for benchmarks and tests that
   * want a settled tree). Writes arriving meanwhile may extend the wait.
   */
  async waitForIdle(): Promise<void> {
    this.checkOpen();
    while (this.jobRunning || this.immutables.length > 0 || this.needsCompaction()) {
      if (this.backgroundError) throw this.backgroundError;
      await this.waitForBackgroundProgress();
    }
  }

  /**
   * Waits for queued writes and the running background job, makes every acknowledged write
   * durable (fdatasync of the WAL), and releases the directory. Reads and writes after close
   * reject with ClosedError; open iterators end with it.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    while (this.queue.length > 0 || this.draining) {
      if (this.backgroundError) break;
      await new Promise((r) => setImmediate(r));
    }
    while (this.syncInFlight) await this.syncInFlight.catch(() => undefined);
    this.stopping = true;
    while (this.jobRunning) await this.jobDone.catch(() => undefined);
    this.closed = true;
    this.wakeProgressWaiters();
    for (const it of [...this.iterators]) it.abort();
    try {
      if (!this.backgroundError) this.wal.syncNow();
    } finally {
      await this.runner.close();
      this.wal.close();
      for (const imm of this.immutables) imm.wal.close();
      this.tables.close();
      this.versions.close();
      this.lock.release();
    }
  }

  private checkOpen(): void {
    if (this.closed || this.closing) throw new ClosedError(`engine at ${this.dir} is closed`);
  }
}

/**
 * The async iterator handed to callers. Releases its pins when exhausted, on return()/throw
 * (a `break` out of for-await), and when the engine closes.
 */
class EngineIterator implements AsyncIterableIterator<[Uint8Array, Uint8Array]> {
  private count = 0;
  private finished = false;
  private aborted = false;

  constructor(
    private readonly db: DbIterator,
    private readonly limit: number,
    private readonly onFinish: () => void,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<[Uint8Array, Uint8Array]>> {
    if (this.aborted) throw new ClosedError("engine closed while an iterator was open");
    if (this.finished) return { done: true, value: undefined };
    if (this.count >= this.limit) return this.finish();
    if (this.count > 0 && this.count % ITERATOR_YIELD_EVERY === 0) {
      await new Promise((r) => setImmediate(r));
      if (this.aborted) throw new ClosedError("engine closed while an iterator was open");
    }
    let found: boolean;
    try {
      found = this.db.step();
    } catch (err) {
      this.finish();
      throw err;
    }
    if (!found) return this.finish();
    this.count++;
    return { done: false, value: [this.db.key, this.db.value] };
  }

  async return(): Promise<IteratorResult<[Uint8Array, Uint8Array]>> {
    return this.finish();
  }

  abort(): void {
    this.aborted = true;
    this.finish();
  }

  private finish(): IteratorResult<[Uint8Array, Uint8Array]> {
    if (!this.finished) {
      this.finished = true;
      this.db.close();
      this.onFinish();
    }
    return { done: true, value: undefined };
  }
}

const EMPTY = new Uint8Array(0);

function copy(view: Uint8Array): Uint8Array {
  return Buffer.from(view);
}

function recordCount(record: Buffer): number {
  return record.readUInt32LE(8);
}

function syncOption(options: WriteOptions | undefined): boolean {
  if (options === undefined || options === null) return false;
  if (typeof options !== "object") throw new InvalidArgumentError("write options must be an object", "options");
  return options.sync === true;
}

function iterateBounds(options: IterateOptions): UserBounds {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError("iterate options must be an object", "options");
  }
  for (const name of ["gt", "gte", "lt", "lte"] as const) {
    const v = options[name];
    if (v !== undefined && !(v instanceof Uint8Array)) {
      throw new InvalidArgumentError(`${name} must be a Uint8Array`, name);
    }
  }
  if (options.gt !== undefined && options.gte !== undefined) {
    throw new InvalidArgumentError("give at most one of gt and gte", "gt");
  }
  if (options.lt !== undefined && options.lte !== undefined) {
    throw new InvalidArgumentError("give at most one of lt and lte", "lt");
  }
  if (options.limit !== undefined && (typeof options.limit !== "number" || Number.isNaN(options.limit))) {
    throw new InvalidArgumentError("limit must be a number", "limit");
  }
  const lower = options.gt ?? options.gte;
  const upper = options.lt ?? options.lte;
  return {
    ...(lower !== undefined ? { lower } : {}),
    lowerInclusive: options.gte !== undefined,
    ...(upper !== undefined ? { upper } : {}),
    upperInclusive: options.lte !== undefined,
  };
}

function validateOptions(o: ResolvedOptions): void {
  const positive: (keyof ResolvedOptions)[] = [
    "memtableBytes",
    "blockSizeBytes",
    "blockRestartInterval",
    "targetFileBytes",
    "l0CompactionTrigger",
    "l0SlowdownTrigger",
    "l0StopTrigger",
    "levelBaseBytes",
    "levelSizeMultiplier",
  ];
  for (const name of positive) {
    const v = o[name];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new InvalidArgumentError(`option ${name} must be a positive integer, got ${String(v)}`, name);
    }
  }
  if (!Number.isInteger(o.bloomBitsPerKey) || o.bloomBitsPerKey < 0) {
    throw new InvalidArgumentError(`option bloomBitsPerKey must be a non-negative integer`, "bloomBitsPerKey");
  }
  if (!Number.isInteger(o.blockCacheBytes) || o.blockCacheBytes < 0) {
    throw new InvalidArgumentError(`option blockCacheBytes must be a non-negative integer`, "blockCacheBytes");
  }
  if (!Number.isInteger(o.levels) || o.levels < 2 || o.levels > 20) {
    throw new InvalidArgumentError(`option levels must be an integer from 2 to 20`, "levels");
  }
  if (o.memtableBytes < 4096) throw new InvalidArgumentError("option memtableBytes must be at least 4096", "memtableBytes");
  if (!(o.l0CompactionTrigger <= o.l0SlowdownTrigger && o.l0SlowdownTrigger <= o.l0StopTrigger)) {
    throw new InvalidArgumentError(
      "options must satisfy l0CompactionTrigger <= l0SlowdownTrigger <= l0StopTrigger",
      "l0StopTrigger",
    );
  }
}

/** Deletes tables no version names, WALs below the live one, old manifests and leftover temp files. */
function removeStrayFiles(dir: string, liveTables: Set<number>, walNumber: number, manifestNumber: number): void {
  for (const name of fs.readdirSync(dir)) {
    const p = parseFileName(name);
    if (p === undefined) continue;
    if (
      (p.kind === "table" && !liveTables.has(p.number)) ||
      (p.kind === "log" && p.number < walNumber) ||
      (p.kind === "manifest" && p.number !== manifestNumber) ||
      p.kind === "temp"
    ) {
      removeFile(path.join(dir, name));
    }
  }
}

