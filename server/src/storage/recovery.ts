/**
 * Recovery of the write-ahead logs at open: every WAL numbered at or above the manifest's log
 * number holds writes that may not be in any table yet. They are replayed, in file order, into
 * memtables which are written out as L0 tables; the caller records those tables and the new
 * log number in one version edit, after which the replayed logs are deleted.
 *
 * A torn tail (a crash in the middle of an append) is truncated and logged. Any other damage,
 * a malformed batch, or sequence numbers going backwards is corruption naming file and offset.
 */
import * as fs from "node:fs";
import { runJob } from "./background-jobs.js";
import { CorruptionError } from "./errors.js";
import { logFileName, parseFileName } from "./file-names.js";
import { Memtable } from "./memtable.js";
import type { ResolvedOptions } from "./options.js";
import { readRecordLog } from "./record-log.js";
import type { FileMeta } from "./version-edit.js";
import type { VersionSet } from "./version-set.js";
import { batchCount, batchSequence, forEachBatchOp } from "./write-batch.js";

export interface WalRecovery {
  /** L0 tables written from the replayed logs. */
  files: FileMeta[];
  /** Highest sequence number found in any replayed record. */
  lastSequence: number;
  /** The replayed log files, to delete once the edit is durable. */
  replayedLogs: string[];
  recordsReplayed: number;
}

export async function recoverLogs(dir: string, versions: VersionSet, options: ResolvedOptions): Promise<WalRecovery> {
  const logs = fs
    .readdirSync(dir)
    .map((name) => parseFileName(name))
    .filter((p): p is { kind: "log"; number: number } => p?.kind === "log")
    .map((p) => p.number)
    .sort((a, b) => a - b);
  for (const n of logs) versions.markFileNumberUsed(n);

  const result: WalRecovery = { files: [], lastSequence: versions.lastSequence, replayedLogs: [], recordsReplayed: 0 };
  let memtable: Memtable | undefined;
  const writerOptions = {
    blockSizeBytes: options.blockSizeBytes,
    restartInterval: options.blockRestartInterval,
    bloomBitsPerKey: options.bloomBitsPerKey,
  };
  const flush = async () => {
    if (memtable === undefined || memtable.count() === 0) return;
    const job = {
      kind: "flush" as const,
      dir,
      memtable: memtable.shared(),
      fileNumber: versions.newFileNumber(),
      writer: writerOptions,
      smallestSnapshot: 0,
    };
    const out = await runJob(job, () => undefined);
    result.files.push(...out.files);
    memtable = undefined;
  };

  for (const number of logs) {
    const path = logFileName(dir, number);
    if (number < versions.logNumber) {
      result.replayedLogs.push(path); // already in tables: obsolete
      continue;
    }
    const log = readRecordLog(path, "lenient");
    if (log.validLength < log.fileSize) {
      options.logger.warn(
        { file: path, validBytes: log.validLength, droppedBytes: log.fileSize - log.validLength },
        "write-ahead log has a torn tail (an append interrupted by a crash); truncating it",
      );
      fs.truncateSync(path, log.validLength);
    }
    for (let i = 0; i < log.records.length; i++) {
      const record = log.records[i]!;
      const offset = log.offsets[i]!;
      if (record.length < 12) throw new CorruptionError("write-ahead log record too short for a batch", path, offset);
      const first = batchSequence(record);
      if (first <= result.lastSequence) {
        throw new CorruptionError(
          `batch sequence ${first} is not above the last recovered sequence ${result.lastSequence}`,
          path,
          offset,
        );
      }
      const needed = record.length * 2 + 4096;
      if (memtable !== undefined && !memtable.hasRoomForBatch(record.length, batchCount(record))) await flush();
      memtable ??= Memtable.create(Math.max(options.memtableBytes, needed));
      const m = memtable;
      const ok = forEachBatchOp(record, (seq, kind, key, value) => m.add(seq, kind, key, value));
      if (!ok) throw new CorruptionError("malformed batch in write-ahead log", path, offset);
      result.lastSequence = first + batchCount(record) - 1;
      result.recordsReplayed++;
    }
    result.replayedLogs.push(path);
  }
  await flush();
  return result;
}
