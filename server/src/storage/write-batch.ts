/**
 * WriteBatch: puts and deletes applied atomically, in order. The batch keeps its operations in
 * the exact byte form the WAL stores, so committing a batch copies no entry:
 *
 *   batch record = sequence (fixed64) | count (fixed32) | op*
 *   op           = kind (1 byte: 0 delete, 1 put) | varint keyLength | key | [varint valueLength | value]
 *
 * The first 12 bytes are filled in by the engine when the batch is committed.
 */
import { ByteReader, getFixed32, getFixed64, putFixed32, putFixed64, putVarint, varintLength } from "./coding.js";
import { InvalidArgumentError } from "./errors.js";
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, ValueKind } from "./internal-key.js";

export const BATCH_HEADER_BYTES = 12;

export class WriteBatch {
  private buf: Buffer = Buffer.allocUnsafe(256);
  private end = BATCH_HEADER_BYTES;
  private ops = 0;

  /** Adds a put of `value` under `key`. */
  put(key: Uint8Array, value: Uint8Array): this {
    checkKey(key);
    checkValue(value);
    this.reserve(1 + varintLength(key.length) + key.length + varintLength(value.length) + value.length);
    this.buf[this.end++] = ValueKind.Put;
    this.end = putVarint(this.buf, this.end, key.length);
    this.buf.set(key, this.end);
    this.end += key.length;
    this.end = putVarint(this.buf, this.end, value.length);
    this.buf.set(value, this.end);
    this.end += value.length;
    this.ops++;
    return this;
  }

  /** Adds a delete of `key`. */
  delete(key: Uint8Array): this {
    checkKey(key);
    this.reserve(1 + varintLength(key.length) + key.length);
    this.buf[this.end++] = ValueKind.Delete;
    this.end = putVarint(this.buf, this.end, key.length);
    this.buf.set(key, this.end);
    this.end += key.length;
    this.ops++;
    return this;
  }

  /** Number of operations. */
  get length(): number {
    return this.ops;
  }

  /** Encoded size in bytes, header included. */
  get byteLength(): number {
    return this.end;
  }

  clear(): void {
    this.end = BATCH_HEADER_BYTES;
    this.ops = 0;
  }

  /**
   * The encoded record with `sequence` stamped into its header. A view of the batch's own
   * buffer: valid until the batch is changed.
   */
  encode(sequence: number): Buffer {
    putFixed64(this.buf, 0, sequence);
    putFixed32(this.buf, 8, this.ops);
    return this.buf.subarray(0, this.end);
  }

  private reserve(extra: number): void {
    if (this.end + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.end + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.end);
    this.buf = next;
  }
}

/** Receives decoded operations; views are valid only during the call. */
export interface BatchVisitor {
  (seq: number, kind: ValueKind, key: Uint8Array, value: Uint8Array): void;
}

const EMPTY = new Uint8Array(0);

/** Header fields of an encoded batch record. */
export function batchSequence(record: Uint8Array): number {
  return getFixed64(record, 0);
}

export function batchCount(record: Uint8Array): number {
  return getFixed32(record, 8);
}

/**
 * Calls `visit` for every operation of an encoded batch record, numbering them from the
 * record's sequence. Returns false if the record is malformed (the caller reports corruption).
 */
export function forEachBatchOp(record: Uint8Array, visit: BatchVisitor): boolean {
  if (record.length < BATCH_HEADER_BYTES) return false;
  const first = batchSequence(record);
  const count = batchCount(record);
  const r = new ByteReader(record, BATCH_HEADER_BYTES);
  for (let i = 0; i < count; i++) {
    if (r.remaining() < 1) return false;
    const kind = record[r.offset++]!;
    const keyLen = r.varint();
    if (keyLen < 0 || keyLen > r.remaining()) return false;
    const key = record.subarray(r.offset, r.offset + keyLen);
    r.offset += keyLen;
    if (kind === ValueKind.Put) {
      const valueLen = r.varint();
      if (valueLen < 0 || valueLen > r.remaining()) return false;
      const value = record.subarray(r.offset, r.offset + valueLen);
      r.offset += valueLen;
      visit(first + i, ValueKind.Put, key, value);
    } else if (kind === ValueKind.Delete) {
      visit(first + i, ValueKind.Delete, key, EMPTY);
    } else {
      return false;
    }
  }
  return r.offset === record.length;
}

export function checkKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) {
    throw new InvalidArgumentError(`key must be a Uint8Array, got ${describe(key)}`, "key");
  }
  if (key.length === 0) throw new InvalidArgumentError("key must not be empty", "key");
  if (key.length > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(
      `key is ${key.length} bytes, more than the limit of ${MAX_KEY_BYTES} bytes (64 KiB)`,
      "key",
    );
  }
}

export function checkValue(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidArgumentError(`value must be a Uint8Array, got ${describe(value)}`, "value");
  }
  if (value.length > MAX_VALUE_BYTES) {
    throw new InvalidArgumentError(
      `value is ${value.length} bytes, more than the limit of ${MAX_VALUE_BYTES} bytes (64 MiB)`,
      "value",
    );
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}
