/**
 * The durable Raft log: what one Raft Ready must make durable (a snapshot point, entries, the
 * hard state), in segment files framed by the storage engine's record log (masked CRC32C |
 * length | position | payload; storage/record-log.ts), one record per save.
 *
 * Files: <dir>/<sequence number, 20 digits>.rlog, in the order written (not by index: after an
 * overwrite a newer segment may hold lower indexes than an older one). A new segment starts when the
 * current one passes segmentBytes; its first record repeats the newest snapshot point and hard
 * state, so every segment is self-describing once older ones are deleted.
 *
 * Record payload (little-endian; u64 as two u32, low first, values < 2^53):
 *   version u8 (=1) | flags u8 (bit 0 snapshot, bit 1 hard state, bit 2 the snapshot replaces the log)
 *   [snapshot: index u64 | term u64 | voters u32 | id u64 * voters | learners u32 | id u64 * learners]
 *   count u32 | entry * count
 *     entry = term u64 | index u64 | type u8 (1 normal, 2 confChange) | length u32 | data
 *   [hard state: term u64 | vote u64 | commit u64]
 * Order of effect within a record: snapshot, then entries, then hard state.
 *
 * A snapshot point comes two ways: compact() (this member's own snapshot: entries after it stay)
 * and a save() with a snapshot (one installed from the leader: it replaces the whole log).
 *
 * Recovery reads every segment in order and replays records: a snapshot point drops entries up
 * to it (all of them when it replaces the log); an entry at or below the last index replaces the tail from there (a follower's
 * conflicting suffix was overwritten); an entry past last + 1 (its predecessors were in deleted
 * segments) starts a new run, which the final snapshot point must cover. A torn tail of the last
 * segment (a crash during a save: that save was never acknowledged) is truncated, and a last
 * segment left with no complete record (a crash while it was being started) is removed; damage
 * anywhere else is corruption, reported with file and offset and never skipped. A synced hard
 * state that commits entries no longer present would be lost acknowledged data: corruption too.
 *
 * Group commit: save() writes its record at once (write(2)) and waits for an fsync; saves that
 * arrive while an fsync runs share the next one (leveldb's BuildBatchGroup idea, no timer). A
 * save that only moves the commit index is not synced (see save()): the next synced save, or a
 * recovery that finds the state machine's applied index ahead of it, covers it.
 */
import fs from "node:fs";
import path from "node:path";
import { CorruptionError, readRecordLog, RecordLogWriter, syncDir, syncDirAsync } from "../storage/index.js";
import { RaftError, RaftLogCorruptionError } from "./errors.js";
import type { ConfState, Entry, HardState, InitialState, NodeId, SnapshotMeta } from "./types.js";

const FORMAT_VERSION = 1;
const FLAG_SNAPSHOT = 1;
const FLAG_HARD_STATE = 2;
const FLAG_REPLACES_LOG = 4;
const SEGMENT_SUFFIX = ".rlog";
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const TYPE_CODES = { normal: 1, confChange: 2 } as const;

export interface RaftLogStoreOptions {
  /** Size past which a new segment starts (default 64 MiB). */
  segmentBytes?: number;
  /** fsync each save (default true); false only for tests that do not measure durability. */
  sync?: boolean;
}

export interface LogUpdate {
  hardState?: HardState;
  /** A snapshot installed from the leader: the log is replaced by it (entries, if any, follow it). */
  snapshot?: SnapshotMeta;
  entries: readonly Entry[];
}

interface Segment {
  sequence: number;
  file: string;
  /** Highest entry index ever written to it (0 if none). */
  maxIndex: number;
}

const EMPTY_SNAPSHOT: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };

export class DurableLog {
  private readonly segments: Segment[];
  private writer: RecordLogWriter;
  private hardState: HardState;
  private snapshot: SnapshotMeta;
  private last: number;
  private readonly recovered: InitialState | undefined;
  private readonly segmentBytes: number;
  private readonly syncEnabled: boolean;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private syncs = 0;
  private closed = false;

  private constructor(
    readonly dir: string,
    options: RaftLogStoreOptions,
    state: { segments: Segment[]; writer: RecordLogWriter; recovered: InitialState | undefined },
  ) {
    this.segments = state.segments;
    this.writer = state.writer;
    this.recovered = state.recovered;
    this.hardState = state.recovered?.hardState ?? { term: 0, vote: 0n, commit: 0 };
    this.snapshot = state.recovered?.snapshot ?? EMPTY_SNAPSHOT;
    const entries = state.recovered?.entries ?? [];
    this.last = entries.length > 0 ? entries[entries.length - 1].index : this.snapshot.index;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.syncEnabled = options.sync ?? true;
  }

  /** Opens (creating if needed) and recovers the log in `dir`. */
  static open(dir: string, options: RaftLogStoreOptions = {}): DurableLog {
    fs.mkdirSync(dir, { recursive: true });
    const names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith(SEGMENT_SUFFIX))
      .sort();
    for (const n of fs.readdirSync(dir)) if (n.endsWith(".tmp")) fs.rmSync(path.join(dir, n), { force: true });
    if (names.length === 0) {
      const file = path.join(dir, segmentName(1));
      const writer = RecordLogWriter.create(file);
      syncDir(dir);
      return new DurableLog(dir, options, { segments: [{ sequence: 1, file, maxIndex: 0 }], writer, recovered: undefined });
    }
    const replay = new Replay();
    const segments: Segment[] = [];
    let validLength = 0;
    for (const [i, name] of names.entries()) {
      const file = path.join(dir, name);
      const isLast = i === names.length - 1;
      const contents = readSegment(file, isLast);
      if (!isLast && contents.validLength !== contents.fileSize) {
        throw new RaftLogCorruptionError("a segment that is not the last ends in a damaged record", file, contents.validLength);
      }
      if (isLast && i > 0 && contents.records.length === 0) {
        // A crash while rotate() was starting this segment, before its first record (which
        // repeats the hard state and snapshot point) was complete: no save in it was
        // acknowledged, and the previous segment was synced before it was created. Writing goes
        // on in the previous segment; appending here instead would leave records without that
        // first record, and a compaction deleting the older segments would lose the hard state.
        fs.rmSync(file);
        syncDir(dir);
        break;
      }
      let maxIndex = 0;
      contents.records.forEach((payload, r) => {
        maxIndex = Math.max(maxIndex, replay.apply(decodeRecord(payload, file, contents.offsets[r])));
      });
      segments.push({ sequence: Number(name.slice(0, -SEGMENT_SUFFIX.length)), file, maxIndex });
      validLength = contents.validLength;
    }
    const recovered = replay.finish(dir);
    const lastSegment = segments[segments.length - 1];
    const writer = RecordLogWriter.reopen(lastSegment.file, validLength);
    return new DurableLog(dir, options, { segments, writer, recovered: replay.written ? recovered : undefined });
  }

  /** What the log held when opened; undefined for a log never written (a new member). */
  initialState(): InitialState | undefined {
    return this.recovered;
  }

  /**
   * Writes one Ready's snapshot point, entries and hard state; resolves once they are durable.
   * A save that changes only the commit index is written but not synced (etcd's MustSync): the
   * entries it commits are already durable, and losing it costs only re-learning the commit
   * from the leader, while syncing it put an fsync between every commit and its apply.
   */
  save(update: LogUpdate): Promise<void> {
    this.checkOpen();
    const entries = update.entries;
    for (let i = 1; i < entries.length; i++) {
      if (entries[i].index !== entries[i - 1].index + 1) throw new RaftError(`entries to save are not contiguous at ${entries[i - 1].index} -> ${entries[i].index}`);
    }
    if (update.hardState === undefined && update.snapshot === undefined && entries.length === 0) return Promise.resolve();
    const mustSync = entries.length > 0 || update.snapshot !== undefined || (update.hardState !== undefined && !sameTermAndVote(update.hardState, this.hardState));
    if (this.writer.size >= this.segmentBytes && entries.length > 0) this.rotate();
    this.writer.append([encodeRecord(update.snapshot, entries, update.hardState, true)]);
    const segment = this.segments[this.segments.length - 1];
    if (update.snapshot !== undefined) {
      this.snapshot = update.snapshot;
      this.last = update.snapshot.index;
    }
    if (entries.length > 0) {
      const lastIndex = entries[entries.length - 1].index;
      this.last = lastIndex;
      segment.maxIndex = Math.max(segment.maxIndex, lastIndex);
    }
    if (update.hardState !== undefined) this.hardState = update.hardState;
    return mustSync ? this.sync() : Promise.resolve();
  }

  /**
   * Records that a durable state snapshot exists at snapshot.index, then deletes the segments
   * holding only entries at or below it (never the one being written).
   */
  async compact(snapshot: SnapshotMeta): Promise<void> {
    this.checkOpen();
    if (snapshot.index <= this.snapshot.index) return;
    this.writer.append([encodeRecord(snapshot, [], undefined, false)]);
    this.snapshot = snapshot;
    await this.sync();
    while (this.segments.length > 1 && this.segments[0].maxIndex <= snapshot.index) {
      const [old] = this.segments.splice(0, 1);
      fs.rmSync(old.file, { force: true });
    }
    await syncDirAsync(this.dir);
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  sizeBytes(): number {
    let bytes = 0;
    for (const s of this.segments.slice(0, -1)) bytes += fs.statSync(s.file).size;
    return bytes + this.writer.size;
  }

  segmentCount(): number {
    return this.segments.length;
  }

  /** fsyncs made so far (group commit makes this far fewer than saves under load). */
  syncCount(): number {
    return this.syncs;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.running !== undefined || this.queued !== undefined) await (this.queued ?? this.running);
    this.closed = true;
    this.writer.close();
  }

  /** Resolves once an fsync that started after this call has finished. */
  private sync(): Promise<void> {
    if (!this.syncEnabled) return Promise.resolve();
    if (this.queued !== undefined) return this.queued;
    if (this.running === undefined) {
      this.running = this.runSync();
      return this.running;
    }
    this.queued = this.running.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  private startQueued(): Promise<void> {
    this.queued = undefined;
    this.running = this.runSync();
    return this.running;
  }

  private async runSync(): Promise<void> {
    try {
      await this.writer.sync();
      this.syncs++;
    } finally {
      this.running = undefined;
    }
  }

  private rotate(): void {
    this.writer.syncNow();
    this.writer.close();
    const sequence = this.segments[this.segments.length - 1].sequence + 1;
    const file = path.join(this.dir, segmentName(sequence));
    this.writer = RecordLogWriter.create(file);
    this.writer.append([encodeRecord(this.snapshot, [], this.hardState, false)]);
    this.writer.syncNow();
    syncDir(this.dir);
    this.segments.push({ sequence, file, maxIndex: 0 });
  }

  private checkOpen(): void {
    if (this.closed) throw new RaftError("the Raft log is closed");
  }
}

/** Replays records into the recovered state. */
class Replay {
  hardState: HardState = { term: 0, vote: 0n, commit: 0 };
  snapshot: SnapshotMeta = EMPTY_SNAPSHOT;
  entries: Entry[] = [];
  written = false;

  /** Applies one record; returns the highest entry index in it (0 if none). */
  apply(record: LogUpdate & { replacesLog: boolean }): number {
    this.written = true;
    if (record.snapshot !== undefined && (record.replacesLog || record.snapshot.index >= this.snapshot.index)) {
      const point = record.snapshot;
      this.snapshot = point;
      this.entries = record.replacesLog ? [] : this.entries.filter((e) => e.index > point.index);
    }
    let max = 0;
    for (const e of record.entries) {
      max = Math.max(max, e.index);
      if (e.index <= this.snapshot.index) continue;
      const first = this.entries.length > 0 ? this.entries[0].index : e.index;
      const last = this.entries.length > 0 ? this.entries[this.entries.length - 1].index : e.index - 1;
      if (e.index <= last) this.entries.length = Math.max(0, e.index - first);
      else if (e.index > last + 1) this.entries = [];
      this.entries.push(e);
    }
    if (record.hardState !== undefined) this.hardState = record.hardState;
    return max;
  }

  finish(dir: string): InitialState {
    const entries = this.entries.filter((e) => e.index > this.snapshot.index);
    if (entries.length > 0 && entries[0].index !== this.snapshot.index + 1) {
      throw new RaftLogCorruptionError(`entries ${this.snapshot.index + 1}..${entries[0].index - 1} are missing after the snapshot point`, dir, 0);
    }
    const lastIndex = entries.length > 0 ? entries[entries.length - 1].index : this.snapshot.index;
    if (this.hardState.commit > lastIndex) {
      throw new RaftLogCorruptionError(`the hard state commits index ${this.hardState.commit} but the log ends at ${lastIndex}: committed entries are lost`, dir, 0);
    }
    return { hardState: this.hardState, snapshot: this.snapshot, entries };
  }
}

/**
 * Reads a segment's records: a damaged tail is torn only in the last segment; the record log's
 * CorruptionError (damage with valid records after it, or in an earlier segment) becomes this
 * layer's RaftLogCorruptionError, with the file and offset.
 */
function readSegment(file: string, isLast: boolean): ReturnType<typeof readRecordLog> {
  try {
    return readRecordLog(file, isLast ? "lenient" : "strict");
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    const where = isLast ? "before valid records (not a torn tail)" : "in a segment that is not the last";
    throw new RaftLogCorruptionError(`a damaged record (checksum or length) ${where}`, err.file, err.offset);
  }
}

function sameTermAndVote(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote;
}

function segmentName(sequence: number): string {
  return `${String(sequence).padStart(20, "0")}${SEGMENT_SUFFIX}`;
}


// ---------------------------------------------------------------- record codec

function putU64(buf: Buffer, offset: number, value: number): number {
  buf.writeUInt32LE(value >>> 0, offset);
  buf.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
  return offset + 8;
}

function encodeRecord(snapshot: SnapshotMeta | undefined, entries: readonly Entry[], hardState: HardState | undefined, replacesLog: boolean): Buffer {
  let size = 2 + 4;
  if (snapshot !== undefined) size += 16 + 8 + 8 * (snapshot.conf.voters.length + snapshot.conf.learners.length);
  for (const e of entries) size += 21 + e.data.length;
  if (hardState !== undefined) size += 24;
  const buf = Buffer.allocUnsafe(size);
  buf[0] = FORMAT_VERSION;
  buf[1] = (snapshot !== undefined ? FLAG_SNAPSHOT : 0) | (hardState !== undefined ? FLAG_HARD_STATE : 0) | (snapshot !== undefined && replacesLog ? FLAG_REPLACES_LOG : 0);
  let o = 2;
  if (snapshot !== undefined) {
    o = putU64(buf, o, snapshot.index);
    o = putU64(buf, o, snapshot.term);
    for (const ids of [snapshot.conf.voters, snapshot.conf.learners]) {
      buf.writeUInt32LE(ids.length, o);
      o += 4;
      for (const id of ids) {
        buf.writeBigUInt64LE(id, o);
        o += 8;
      }
    }
  }
  buf.writeUInt32LE(entries.length, o);
  o += 4;
  for (const e of entries) {
    o = putU64(buf, o, e.term);
    o = putU64(buf, o, e.index);
    buf[o++] = TYPE_CODES[e.type];
    buf.writeUInt32LE(e.data.length, o);
    o += 4;
    buf.set(e.data, o);
    o += e.data.length;
  }
  if (hardState !== undefined) {
    o = putU64(buf, o, hardState.term);
    buf.writeBigUInt64LE(hardState.vote, o);
    o += 8;
    putU64(buf, o, hardState.commit);
  }
  return buf;
}

/** Decodes a record whose CRC matched; malformed contents are corruption (a bug or a damaged disk). */
function decodeRecord(payload: Buffer, file: string, offset: number): LogUpdate & { replacesLog: boolean } {
  let o = 0;
  const need = (n: number): void => {
    if (o + n > payload.length) throw new RaftLogCorruptionError(`record truncated inside (needs ${n} bytes at ${o})`, file, offset);
  };
  const u64 = (): number => {
    need(8);
    const v = payload.readUInt32LE(o) + payload.readUInt32LE(o + 4) * 0x1_0000_0000;
    o += 8;
    if (!Number.isSafeInteger(v)) throw new RaftLogCorruptionError(`integer ${v} out of range`, file, offset);
    return v;
  };
  const id = (): NodeId => {
    need(8);
    const v = payload.readBigUInt64LE(o);
    o += 8;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = payload.readUInt32LE(o);
    o += 4;
    return v;
  };
  need(2);
  if (payload[0] !== FORMAT_VERSION) throw new RaftLogCorruptionError(`unknown record version ${payload[0]}`, file, offset);
  const flags = payload[1];
  o = 2;
  let snapshot: SnapshotMeta | undefined;
  if (flags & FLAG_SNAPSHOT) {
    const index = u64();
    const term = u64();
    const ids = (): NodeId[] => Array.from({ length: u32() }, () => id());
    const voters = ids();
    const learners = ids();
    const conf: ConfState = { voters, learners };
    snapshot = { index, term, conf };
  }
  const count = u32();
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const term = u64();
    const index = u64();
    need(5);
    const code = payload[o++];
    const type = code === TYPE_CODES.normal ? "normal" : code === TYPE_CODES.confChange ? "confChange" : undefined;
    if (type === undefined) throw new RaftLogCorruptionError(`unknown entry type ${code}`, file, offset);
    const length = u32();
    need(length);
    entries.push({ term, index, type, data: payload.subarray(o, o + length) });
    o += length;
  }
  let hardState: HardState | undefined;
  if (flags & FLAG_HARD_STATE) hardState = { term: u64(), vote: id(), commit: u64() };
  if (o !== payload.length) throw new RaftLogCorruptionError(`${payload.length - o} unexpected bytes at the end of a record`, file, offset);
  return { snapshot, entries, hardState, replacesLog: (flags & FLAG_REPLACES_LOG) !== 0 };
}
