/**
 * Record log: the framing shared by the WAL and the manifest (and, later, the Raft log).
 *
 *   record = masked CRC32C (fixed32) | payload length (fixed32) | position (fixed32) | payload
 *
 * `position` is the record's own file offset (mod 2^32). The CRC covers length, position and
 * payload, so a damaged length is caught too, and a record is valid only where it was written:
 * a payload that happens to contain a framed record (a user value may be a copy of a log file)
 * never reads as a record, and scanning for records after damage rejects almost every offset
 * with one integer comparison instead of a checksum, keeping the scan linear.
 * Records are appended with write(2) (fs.writeSync) straight from the caller's buffers: once
 * append() returns the bytes are in the OS and survive the process being killed; sync() adds
 * fdatasync for power loss.
 *
 * Reading distinguishes two kinds of damage:
 *  - a torn tail: what a crash during an append leaves. A killed process leaves at worst an
 *    incomplete last record (write(2) of one record is one call); a power loss can also leave a
 *    complete-looking last record whose bytes never reached the disk. With `tail: "lenient"`
 *    (the WAL, whose non-sync appends may be lost that way) any damaged tail with no valid record
 *    after it is torn; with `tail: "strict"` (the manifest) only an incomplete last record is:
 *    a manifest edit may already have been acted on (tables it replaced deleted), so silently
 *    dropping a complete but damaged last edit could leave a version naming deleted files;
 *    refusing to open and naming the file is the safe answer. The reader reports the valid length; the caller truncates there.
 *  - corruption: anything else. Bytes that were once durable have changed; this is an error
 *    naming the file and offset, never skipped.
 */
import * as fs from "node:fs";
import { getFixed32, putFixed32 } from "./coding.js";
import { crc32cUpdate, maskCrc, unmaskCrc } from "./crc32c.js";
import { CorruptionError, IOError } from "./errors.js";

export const RECORD_HEADER_BYTES = 12;
/** Upper bound on one record, far above the largest batch the engine accepts. */
export const MAX_RECORD_BYTES = 1024 * 1024 * 1024;

export class RecordLogWriter {
  private readonly header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  private closed = false;
  /** Bytes in the file, i.e. the offset of the next record. */
  size: number;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    size: number,
  ) {
    this.size = size;
  }

  /** Creates a new, empty log file (fails if it exists). */
  static create(path: string): RecordLogWriter {
    try {
      const fd = fs.openSync(path, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_APPEND, 0o644);
      return new RecordLogWriter(path, fd, 0);
    } catch (err) {
      throw new IOError(`cannot create log file: ${(err as Error).message}`, path, { cause: err });
    }
  }

  /** Opens an existing log for appending after `validLength` bytes (truncating anything past it). */
  static reopen(path: string, validLength: number): RecordLogWriter {
    try {
      fs.truncateSync(path, validLength);
      const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_APPEND);
      return new RecordLogWriter(path, fd, validLength);
    } catch (err) {
      throw new IOError(`cannot reopen log file: ${(err as Error).message}`, path, { cause: err });
    }
  }

  /**
   * Appends one record whose payload is the concatenation of `parts`, with one write(2) so that
   * a crash leaves either the whole record or a torn tail. Returns the record's offset.
   */
  append(parts: readonly Uint8Array[]): number {
    let length = 0;
    for (const p of parts) length += p.length;
    if (length > MAX_RECORD_BYTES) throw new IOError(`record of ${length} bytes is too large`, this.path);
    putFixed32(this.header, 4, length);
    putFixed32(this.header, 8, this.size >>> 0);
    let crc = crc32cUpdate(0, this.header, 4, RECORD_HEADER_BYTES);
    for (const p of parts) crc = crc32cUpdate(crc, p);
    putFixed32(this.header, 0, maskCrc(crc));
    const offset = this.size;
    writeAllSync(this.fd, [this.header, ...parts], this.path);
    this.size += RECORD_HEADER_BYTES + length;
    return offset;
  }

  /** fdatasync on the thread pool, so the event loop keeps collecting the next group. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.fd, (err) => {
        if (err) reject(new IOError(`fdatasync failed: ${err.message}`, this.path, { cause: err }));
        else resolve();
      });
    });
  }

  syncNow(): void {
    try {
      fs.fdatasyncSync(this.fd);
    } catch (err) {
      throw new IOError(`fdatasync failed: ${(err as Error).message}`, this.path, { cause: err });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

function writeAllSync(fd: number, parts: Uint8Array[], path: string): void {
  try {
    let remaining = 0;
    for (const p of parts) remaining += p.length;
    let written = fs.writevSync(fd, parts);
    // writev may write less than asked (signals, huge buffers): finish the rest part by part.
    if (written < remaining) {
      let skip = written;
      for (const p of parts) {
        if (skip >= p.length) {
          skip -= p.length;
          continue;
        }
        let off = skip;
        skip = 0;
        while (off < p.length) {
          const n = fs.writeSync(fd, p, off, p.length - off);
          off += n;
          written += n;
        }
      }
    }
  } catch (err) {
    throw new IOError(`write failed: ${(err as Error).message}`, path, { cause: err });
  }
}

export interface RecordLogContents {
  /** Payloads of every valid record, in order (views of one buffer holding the file). */
  records: Buffer[];
  /** Offset of each record in the file. */
  offsets: number[];
  /** Bytes covered by valid records; anything beyond is a torn tail. */
  validLength: number;
  fileSize: number;
}

export type TailPolicy = "lenient" | "strict";

/** Reads every record of a log file; throws CorruptionError on damage that is not a torn tail. */
export function readRecordLog(path: string, tail: TailPolicy): RecordLogContents {
  let data: Buffer;
  try {
    data = fs.readFileSync(path);
  } catch (err) {
    throw new IOError(`cannot read log file: ${(err as Error).message}`, path, { cause: err });
  }
  const records: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  while (offset < data.length) {
    const length = validRecordAt(data, offset);
    if (length < 0) {
      if (anyValidRecordAfter(data, offset + 1)) {
        throw new CorruptionError("log record checksum mismatch or bad length, with valid records after it", path, offset);
      }
      if (tail === "strict" && isCompleteRecordAt(data, offset)) {
        throw new CorruptionError("last log record is complete but fails its checksum", path, offset);
      }
      break;
    }
    records.push(data.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + length));
    offsets.push(offset);
    offset += RECORD_HEADER_BYTES + length;
  }
  return { records, offsets, validLength: offset, fileSize: data.length };
}

/** Whether a record header at `offset` claims a length that ends exactly at the end of the file. */
function isCompleteRecordAt(data: Buffer, offset: number): boolean {
  if (offset + RECORD_HEADER_BYTES > data.length) return false;
  return offset + RECORD_HEADER_BYTES + getFixed32(data, offset + 4) === data.length;
}

/** Payload length of the valid record at `offset`, or -1. */
function validRecordAt(data: Buffer, offset: number): number {
  if (offset + RECORD_HEADER_BYTES > data.length) return -1;
  if (getFixed32(data, offset + 8) !== offset >>> 0) return -1;
  const length = getFixed32(data, offset + 4);
  if (length > data.length - offset - RECORD_HEADER_BYTES) return -1;
  const expected = unmaskCrc(getFixed32(data, offset));
  const actual = crc32cUpdate(0, data, offset + 4, offset + RECORD_HEADER_BYTES + length);
  return expected === actual ? length : -1;
}

/**
 * Whether a valid record starts anywhere at or after `from`. Only runs when damage was found;
 * a candidate offset is rejected by its position field before any CRC is computed.
 */
function anyValidRecordAfter(data: Buffer, from: number): boolean {
  for (let off = from; off + RECORD_HEADER_BYTES <= data.length; off++) {
    if (validRecordAt(data, off) >= 0) return true;
  }
  return false;
}
