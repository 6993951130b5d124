/**
 * The version set: the current version, the counters that must survive a restart (next file
 * number, WAL log number, last sequence) and the manifest that records them.
 *
 * Every change goes through logAndApply(edit): the edit is appended to the manifest and
 * fdatasync'ed BEFORE the new version becomes current, so a crash leaves either the old or the
 * new version, never a mix. Each open writes a fresh manifest holding one snapshot edit and
 * switches CURRENT to it atomically (temp file + rename), which also bounds manifest growth.
 *
 * File lifetime: each table file is counted by the versions that contain it; when the last
 * such version is released (no current version, iterator or snapshot uses it) the file is
 * handed to onObsoleteFile for deletion.
 */
import * as fs from "node:fs";
import { CorruptionError, IOError } from "./errors.js";
import { currentFileName, manifestFileName, parseFileName, removeFile, syncDir, writeFileAtomic } from "./file-names.js";
import { readRecordLog, RecordLogWriter } from "./record-log.js";
import { decodeEdit, emptyEdit, encodeEdit, type FileMeta, type VersionEdit } from "./version-edit.js";
import { Version } from "./version.js";

/** A manifest larger than this is rewritten as one snapshot edit at the next change. */
const MANIFEST_ROTATE_BYTES = 64 * 1024 * 1024;

export interface RecoveredState {
  logNumber: number;
  lastSequence: number;
}

export class VersionSet {
  current: Version;
  nextFileNumber = 2;
  logNumber = 0;
  lastSequence = 0;
  readonly compactPointers: (Buffer | undefined)[];
  onObsoleteFile: (file: FileMeta) => void = () => {};

  private manifest: RecordLogWriter | undefined;
  /** Number of the manifest CURRENT names. */
  manifestNumber = 0;
  private readonly fileRefs = new Map<number, number>();
  private applying: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly levelCount: number,
  ) {
    this.current = Version.empty(levelCount);
    this.current.refs = 1;
    this.compactPointers = new Array(levelCount).fill(undefined);
  }

  /**
   * Opens the version set of `dir`: recovers it from CURRENT's manifest, or starts an empty one
   * for a new directory. Either way a fresh manifest is written and made current.
   */
  static open(dir: string, levelCount: number): VersionSet {
    const vs = new VersionSet(dir, levelCount);
    const current = currentFileName(dir);
    if (fs.existsSync(current)) {
      vs.recover(current);
    } else {
      const leftovers = fs.readdirSync(dir).filter((n) => {
        const kind = parseFileName(n)?.kind;
        return kind === "log" || kind === "table";
      });
      if (leftovers.length > 0) {
        throw new CorruptionError(`CURRENT is missing but the directory holds data files (${leftovers.slice(0, 3).join(", ")})`, current, 0);
      }
    }
    // A crash can leave files numbered at or above the recorded counter (a table being written,
    // a WAL or manifest just created): new files must not collide with them.
    for (const name of fs.readdirSync(dir)) {
      const parsed = parseFileName(name);
      if (parsed !== undefined && parsed.number > 0) vs.markFileNumberUsed(parsed.number);
    }
    vs.writeFreshManifest();
    return vs;
  }

  private recover(current: string): void {
    const text = fs.readFileSync(current, "utf8");
    const m = /^MANIFEST-(\d+)\n$/.exec(text);
    if (!m) throw new CorruptionError(`CURRENT does not name a manifest: ${JSON.stringify(text.slice(0, 40))}`, current, 0);
    const manifestPath = manifestFileName(this.dir, Number(m[1]));
    if (!fs.existsSync(manifestPath)) throw new CorruptionError(`CURRENT names ${manifestPath}, which does not exist`, current, 0);
    const log = readRecordLog(manifestPath, "strict");
    if (log.records.length === 0) throw new CorruptionError("manifest holds no valid record", manifestPath, 0);
    let version = Version.empty(this.levelCount);
    let sawNext = false;
    for (let i = 0; i < log.records.length; i++) {
      const edit = decodeEdit(log.records[i]!, manifestPath, log.offsets[i]!);
      try {
        version = version.apply(edit);
      } catch (err) {
        throw new CorruptionError(`manifest edit cannot be applied: ${(err as Error).message}`, manifestPath, log.offsets[i]!);
      }
      this.absorbCounters(edit);
      if (edit.nextFileNumber !== undefined) sawNext = true;
    }
    if (!sawNext) throw new CorruptionError("manifest never records the next file number", manifestPath, 0);
    try {
      version.checkInvariants();
    } catch (err) {
      throw new CorruptionError(`manifest describes an invalid version: ${(err as Error).message}`, manifestPath, 0);
    }
    this.manifestNumber = Number(m[1]);
    this.installVersion(version);
  }

  private absorbCounters(edit: VersionEdit): void {
    if (edit.logNumber !== undefined) this.logNumber = edit.logNumber;
    // Never backwards: numbers may have been handed out while the edit was being synced.
    if (edit.nextFileNumber !== undefined) this.nextFileNumber = Math.max(this.nextFileNumber, edit.nextFileNumber);
    if (edit.lastSequence !== undefined) this.lastSequence = edit.lastSequence;
    for (const p of edit.compactPointers) this.compactPointers[p.level] = p.key;
  }

  /** Makes sure future file numbers are above every number already on disk. */
  markFileNumberUsed(n: number): void {
    if (n >= this.nextFileNumber) this.nextFileNumber = n + 1;
  }

  newFileNumber(): number {
    return this.nextFileNumber++;
  }

  /** Writes a new manifest holding the whole current state, points CURRENT at it, drops the old one. */
  private writeFreshManifest(): void {
    const old = this.manifestNumber;
    const oldWriter = this.manifest;
    const number = this.newFileNumber();
    const snapshot = emptyEdit();
    snapshot.logNumber = this.logNumber;
    snapshot.nextFileNumber = this.nextFileNumber;
    snapshot.lastSequence = this.lastSequence;
    this.current.levels.forEach((files, level) => {
      for (const file of files) snapshot.newFiles.push({ level, file });
      const p = this.compactPointers[level];
      if (p) snapshot.compactPointers.push({ level, key: p });
    });
    const path = manifestFileName(this.dir, number);
    const writer = RecordLogWriter.create(path);
    try {
      writer.append([encodeEdit(snapshot)]);
      writer.syncNow();
      syncDir(this.dir);
      writeFileAtomic(currentFileName(this.dir), `MANIFEST-${String(number).padStart(6, "0")}\n`);
    } catch (err) {
      writer.close();
      removeFile(path);
      throw err;
    }
    this.manifest = writer;
    this.manifestNumber = number;
    oldWriter?.close();
    if (old !== 0) removeFile(manifestFileName(this.dir, old));
  }

  /**
   * Records `edit` durably, then makes the resulting version current. Calls are serialized.
   * The edit's counters are filled in here (next file number, and log number / last sequence
   * when the caller set them).
   */
  logAndApply(edit: VersionEdit): Promise<void> {
    const run = this.applying.then(() => this.logAndApplyNow(edit));
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async logAndApplyNow(edit: VersionEdit): Promise<void> {
    const next = this.current.apply(edit);
    next.checkInvariants();
    edit.nextFileNumber = this.nextFileNumber;
    const writer = this.manifest;
    if (!writer) throw new IOError("manifest is closed", manifestFileName(this.dir, this.manifestNumber));
    if (writer.size > MANIFEST_ROTATE_BYTES) {
      this.absorbCounters(edit);
      this.installVersion(next);
      this.writeFreshManifest();
      return;
    }
    writer.append([encodeEdit(edit)]);
    await writer.sync();
    this.absorbCounters(edit);
    this.installVersion(next);
  }

  private installVersion(next: Version): void {
    const prev = this.current;
    this.ref(next);
    this.current = next;
    this.unref(prev);
  }

  ref(v: Version): void {
    if (v.refs++ === 0) {
      for (const f of v.allFiles()) this.fileRefs.set(f.number, (this.fileRefs.get(f.number) ?? 0) + 1);
    }
  }

  unref(v: Version): void {
    if (--v.refs > 0) return;
    for (const f of v.allFiles()) {
      const n = (this.fileRefs.get(f.number) ?? 0) - 1;
      if (n > 0) {
        this.fileRefs.set(f.number, n);
      } else {
        this.fileRefs.delete(f.number);
        this.onObsoleteFile(f);
      }
    }
  }

  /** Numbers of every table some live version contains. */
  liveFiles(): Set<number> {
    return new Set(this.fileRefs.keys());
  }

  close(): void {
    this.manifest?.close();
    this.manifest = undefined;
  }
}
