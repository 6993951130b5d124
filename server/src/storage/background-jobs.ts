/**
 * Flush and compaction jobs: pure functions of their inputs (a frozen memtable or a set of
 * table files) that write new table files and describe them. They run in the background
 * worker thread (background-worker.ts) or inline, time-sliced, on the main thread; the engine
 * installs their results with a version edit. A job never touches the manifest, so a crash
 * during one leaves only unreferenced files, which the next open deletes. A job fsyncs every
 * file it writes and then the directory, so the edit naming the files may follow at once.
 *
 * Which entries survive (as in LevelDB's DoCompactionWork): walking one user key's entries
 * newest first, an entry is dropped when a newer entry of the same key is already visible to
 * every live snapshot (seq <= smallestSnapshot), and a tombstone is dropped when it is visible
 * to every snapshot and no deeper level can hold an older version of its key.
 */
import { compareUserKeys, type ValueKind } from "./internal-key.js";
import type { InternalIterator } from "./internal-iterator.js";
import { LevelIterator } from "./level-iterator.js";
import { Memtable, type MemtableShared } from "./memtable.js";
import { MergingIterator } from "./merging-iterator.js";
import { removeFile, syncDir, tableFileName } from "./file-names.js";
import { SSTableWriter, type SSTableWriterOptions } from "./sstable-writer.js";
import { TableCache } from "./table-cache.js";
import type { FileMeta } from "./version-edit.js";
import { StorageError } from "./errors.js";

export interface FlushJob {
  kind: "flush";
  dir: string;
  memtable: MemtableShared;
  fileNumber: number;
  writer: SSTableWriterOptions;
  smallestSnapshot: number;
}

/** A user key range, as two byte arrays (structured-clone friendly). */
export interface KeyRange {
  smallest: Uint8Array;
  largest: Uint8Array;
}

export interface CompactionJob {
  kind: "compaction";
  dir: string;
  /** Input L0 files (each its own iterator, newest first) or none. */
  l0Inputs: FileMeta[];
  /** Input files of one sorted level per entry (each a LevelIterator). */
  sortedInputs: FileMeta[][];
  /** Numbers reserved for output files; the job fails rather than run out. */
  fileNumbers: number[];
  targetFileBytes: number;
  /** Bytes of grandparent (output level + 1) overlap after which an output file is cut. */
  maxGrandparentOverlapBytes: number;
  grandparents: (KeyRange & { size: number })[];
  /** Per level below the output level, the sorted user key ranges of its files. */
  deeperLevels: KeyRange[][];
  writer: SSTableWriterOptions;
  smallestSnapshot: number;
}

export type Job = FlushJob | CompactionJob;

export interface JobResult {
  files: FileMeta[];
  bytesRead: number;
  bytesWritten: number;
  entriesIn: number;
  entriesDropped: number;
}

/** Lets inline jobs give the event loop a turn; a no-op in the worker. */
export type Yielder = () => Promise<void> | undefined;

const YIELD_EVERY_ENTRIES = 512;

export async function runJob(job: Job, yielder: Yielder): Promise<JobResult> {
  return job.kind === "flush" ? runFlush(job, yielder) : runCompaction(job, yielder);
}

async function runFlush(job: FlushJob, yielder: Yielder): Promise<JobResult> {
  const memtable = Memtable.attach(job.memtable);
  const iter = memtable.iterator();
  iter.seekToFirst();
  const out = new OutputFiles(job.dir, [job.fileNumber], job.writer, Infinity, 0, []);
  try {
    const stats = await copyEntries(iter, out, job.smallestSnapshot, () => false, yielder);
    const files = out.finish();
    syncDir(job.dir);
    return { files, bytesRead: 0, bytesWritten: sumSizes(files), ...stats };
  } catch (err) {
    out.abandon();
    throw err;
  } finally {
    iter.close();
  }
}

async function runCompaction(job: CompactionJob, yielder: Yielder): Promise<JobResult> {
  const tables = new TableCache(job.dir, undefined);
  const children: InternalIterator[] = [];
  for (const f of job.l0Inputs) children.push(tables.get(f.number).iterator({ fillCache: false }));
  for (const files of job.sortedInputs) children.push(new LevelIterator(files, tables, false));
  const iter = new MergingIterator(children);
  const out = new OutputFiles(
    job.dir,
    job.fileNumbers,
    job.writer,
    job.targetFileBytes,
    job.maxGrandparentOverlapBytes,
    job.grandparents,
  );
  const deeper = new DeeperLevels(job.deeperLevels);
  try {
    iter.seekToFirst();
    const stats = await copyEntries(iter, out, job.smallestSnapshot, (k) => !deeper.mayContain(k), yielder);
    const files = out.finish();
    syncDir(job.dir);
    const bytesRead = sumSizes(job.l0Inputs) + job.sortedInputs.reduce((s, fs) => s + sumSizes(fs), 0);
    return { files, bytesRead, bytesWritten: sumSizes(files), ...stats };
  } catch (err) {
    out.abandon();
    throw err;
  } finally {
    iter.close();
    tables.close();
  }
}

async function copyEntries(
  iter: InternalIterator,
  out: OutputFiles,
  smallestSnapshot: number,
  isBaseLevelFor: (userKey: Uint8Array) => boolean,
  yielder: Yielder,
): Promise<{ entriesIn: number; entriesDropped: number }> {
  // The current user key, copied into a reused buffer (iterator views move on).
  let currentKey = Buffer.allocUnsafe(256);
  let currentLength = -1;
  let lastSeqForKey = Number.MAX_SAFE_INTEGER;
  let entriesIn = 0;
  let entriesDropped = 0;
  for (; iter.valid(); iter.next()) {
    if (++entriesIn % YIELD_EVERY_ENTRIES === 0) {
      const y = yielder();
      if (y) await y;
    }
    const key = iter.key();
    const seq = iter.seq();
    const kind = iter.kind() as ValueKind;
    let newKey = false;
    if (!holds(currentKey, currentLength, key)) {
      if (key.length > currentKey.length) currentKey = Buffer.allocUnsafe(key.length * 2);
      currentKey.set(key, 0);
      currentLength = key.length;
      lastSeqForKey = Number.MAX_SAFE_INTEGER;
      newKey = true;
    }
    let drop = false;
    if (lastSeqForKey <= smallestSnapshot) {
      drop = true;
    } else if (kind === 0 && seq <= smallestSnapshot && isBaseLevelFor(key)) {
      drop = true;
    }
    lastSeqForKey = seq;
    if (drop) {
      entriesDropped++;
      continue;
    }
    out.add(key, seq, kind, iter.value(), newKey);
  }
  return { entriesIn, entriesDropped };
}

/** Whether buf[0, length) equals key. */
function holds(buf: Buffer, length: number, key: Uint8Array): boolean {
  if (length !== key.length) return false;
  for (let i = length - 1; i >= 0; i--) if (buf[i] !== key[i]) return false;
  return true;
}

function sumSizes(files: readonly FileMeta[]): number {
  let s = 0;
  for (const f of files) s += f.size;
  return s;
}

/**
 * Answers "may a level below the output hold this user key?" for keys arriving in ascending
 * order, with one cursor per level (amortized O(1) per key).
 */
class DeeperLevels {
  private readonly cursors: number[];
  constructor(private readonly levels: KeyRange[][]) {
    this.cursors = levels.map(() => 0);
  }

  mayContain(userKey: Uint8Array): boolean {
    for (let l = 0; l < this.levels.length; l++) {
      const files = this.levels[l]!;
      let i = this.cursors[l]!;
      while (i < files.length && compareUserKeys(files[i]!.largest, userKey) < 0) i++;
      this.cursors[l] = i;
      if (i < files.length && compareUserKeys(files[i]!.smallest, userKey) <= 0) return true;
    }
    return false;
  }
}

/**
 * The output side of a job: a sequence of table files, cut at the target size or when the
 * file would overlap too much of the next level, and only between two user keys.
 */
class OutputFiles {
  private writer: SSTableWriter | undefined;
  private writerNumber = 0;
  private readonly done: FileMeta[] = [];
  private next = 0;
  private grandparentIndex = 0;
  private overlappedBytes = 0;
  private seenKey = false;

  constructor(
    private readonly dir: string,
    private readonly numbers: number[],
    private readonly options: SSTableWriterOptions,
    private readonly targetFileBytes: number,
    private readonly maxOverlapBytes: number,
    private readonly grandparents: (KeyRange & { size: number })[],
  ) {}

  add(key: Uint8Array, seq: number, kind: ValueKind, value: Uint8Array, newKey: boolean): void {
    if (newKey) {
      const tooMuchOverlap = this.advanceGrandparents(key);
      if (this.writer !== undefined && (this.writer.estimatedFileSize() >= this.targetFileBytes || tooMuchOverlap)) {
        this.finishCurrent();
      }
    }
    if (this.writer === undefined) {
      const number = this.numbers[this.next++];
      if (number === undefined) throw new StorageError("compaction ran out of reserved file numbers");
      this.writer = new SSTableWriter(tableFileName(this.dir, number), this.options);
      this.writerNumber = number;
    }
    this.writer.add(key, seq, kind, value);
  }

  /** Moves past grandparent files that end before `key`; true when the current output overlaps too much. */
  private advanceGrandparents(key: Uint8Array): boolean {
    const gp = this.grandparents;
    while (this.grandparentIndex < gp.length && compareUserKeys(gp[this.grandparentIndex]!.largest, key) < 0) {
      if (this.seenKey) this.overlappedBytes += gp[this.grandparentIndex]!.size;
      this.grandparentIndex++;
    }
    this.seenKey = true;
    if (this.maxOverlapBytes > 0 && this.overlappedBytes > this.maxOverlapBytes) {
      this.overlappedBytes = 0;
      return true;
    }
    return false;
  }

  private finishCurrent(): void {
    const w = this.writer!;
    this.writer = undefined;
    if (w.entries() === 0) {
      w.abandon();
      return;
    }
    const meta = w.finish();
    this.done.push({
      number: this.writerNumber,
      size: meta.fileSize,
      smallest: meta.smallestKey,
      largest: meta.largestKey,
      smallestSeq: meta.smallestSeq,
      largestSeq: meta.largestSeq,
    });
  }

  finish(): FileMeta[] {
    if (this.writer !== undefined) this.finishCurrent();
    return this.done;
  }

  /** Removes every file this job wrote; none of them was ever referenced by a version. */
  abandon(): void {
    this.writer?.abandon();
    this.writer = undefined;
    for (const f of this.done) removeFile(tableFileName(this.dir, f.number));
  }
}
