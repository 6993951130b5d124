/**
 * Reading blocks in the shared block format (entries with prefix-compressed keys, then the
 * restart array; see sstable-format.ts for the layout).
 *
 * A Block is the verified, immutable bytes of one block; the block cache holds Blocks. A
 * BlockIterator walks one block at a time and is re-pointed at the next with reset(), so an
 * SSTable iterator keeps one for its whole life. Keys are decoded into a scratch buffer owned by
 * the iterator (grown when a longer key arrives), values are views into the block: moving the
 * iterator allocates nothing, and key()/value() allocate one view each, only when called.
 */

import { getFixed32 } from "./coding.js";
import { CorruptionError } from "./errors.js";
import type { InternalIterator } from "./internal-iterator.js";
import { putTrailer, TRAILER_BYTES, trailerSeq, ValueKind } from "./internal-key.js";

const EMPTY = Buffer.alloc(0);

/**
 * Compares a[aStart, aStart + aLength) with b[bStart, bStart + bLength) bytewise. A JS loop for
 * short keys (cheaper than crossing into native code), Buffer#compare for long ones.
 */
export function compareBytes(
  a: Buffer,
  aStart: number,
  aLength: number,
  b: Uint8Array,
  bStart: number,
  bLength: number,
): number {
  const n = aLength < bLength ? aLength : bLength;
  if (n > 48) {
    const c = a.compare(b, bStart, bStart + n, aStart, aStart + n);
    return c !== 0 ? c : aLength - bLength;
  }
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i] - b[bStart + i];
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/**
 * Compares the internal key buf[start, start + length) with the target (userKey, trailer):
 * user keys ascending, then trailers descending (newer first).
 */
export function compareInternalKeyTo(
  buf: Buffer,
  start: number,
  length: number,
  userKey: Uint8Array,
  trailer: Uint8Array,
): number {
  const userLength = length - TRAILER_BYTES;
  const c = compareBytes(buf, start, userLength, userKey, 0, userKey.length);
  if (c !== 0) return c;
  const t = start + userLength;
  for (let i = 0; i < TRAILER_BYTES; i++) {
    const d = buf[t + i] - trailer[i];
    if (d !== 0) return d > 0 ? -1 : 1;
  }
  return 0;
}

/** The verified contents of one block (without its trailer). Never mutated once built. */
export class Block {
  readonly restartsOffset: number;
  readonly restartCount: number;

  /** `file` and `offset` name the block in corruption errors raised while reading it. */
  constructor(
    readonly data: Buffer,
    readonly file: string,
    readonly offset: number,
  ) {
    const size = data.length;
    const count = size >= 4 ? getFixed32(data, size - 4) : 0;
    if (count === 0 || count > (size - 4) / 4) {
      throw new CorruptionError(`bad restart count ${count} in block of ${size} bytes`, file, offset);
    }
    this.restartCount = count;
    this.restartsOffset = size - 4 - count * 4;
    // An empty block has the single restart 0 == restartsOffset; otherwise every restart points
    // at an entry, in increasing order, starting with the first.
    let previous = -1;
    for (let i = 0; i < count; i++) {
      const restart = getFixed32(data, this.restartsOffset + i * 4);
      const first = i === 0 && restart === 0;
      if (!first && (restart <= previous || restart >= this.restartsOffset)) {
        throw new CorruptionError(`bad restart point ${restart} (#${i}) in block`, file, offset);
      }
      previous = restart;
    }
    if (this.restartsOffset === 0 && count !== 1) {
      throw new CorruptionError("empty block with more than one restart point", file, offset);
    }
  }

  /** Bytes the block cache charges for this block. */
  get charge(): number {
    return this.data.length;
  }

  restartPoint(index: number): number {
    return getFixed32(this.data, this.restartsOffset + index * 4);
  }
}

export class BlockIterator implements InternalIterator {
  private block: Block | undefined;
  private data: Buffer = EMPTY;
  private restartsOffset = 0;
  private restartCount = 0;
  /** Offset of the current entry; the iterator is valid iff current < restartsOffset. */
  private current = 0;
  private nextOffset = 0;
  /** The restart point at or before the current entry. */
  private restartIndex = 0;
  private keyBuf = Buffer.allocUnsafe(64);
  private keyLength = 0;
  private valueOffset = 0;
  private valueLength = 0;
  private keyView: Uint8Array | undefined;
  private valueView: Uint8Array | undefined;
  /** Trailer of the current seek target, reused across seeks. */
  private readonly targetTrailer = Buffer.alloc(TRAILER_BYTES);
  /** Where the last varintAt() stopped. */
  private cursor = 0;

  /**
   * @param minKeyLength shortest key the block may hold: TRAILER_BYTES for blocks of internal
   *   keys (data and index blocks), 0 for the metaindex whose keys are block names.
   */
  constructor(private readonly minKeyLength: number = TRAILER_BYTES) {}

  /** Points the iterator at `block` (unpositioned), or at nothing. */
  reset(block: Block | undefined): void {
    this.block = block;
    this.data = block === undefined ? EMPTY : block.data;
    this.restartsOffset = block === undefined ? 0 : block.restartsOffset;
    this.restartCount = block === undefined ? 0 : block.restartCount;
    this.invalidate();
  }

  valid(): boolean {
    return this.current < this.restartsOffset;
  }

  seekToFirst(): void {
    if (this.restartCount === 0) return;
    this.seekToRestart(0);
    this.parseNext();
  }

  seekToLast(): void {
    if (this.restartCount === 0) return;
    this.seekToRestart(this.restartCount - 1);
    while (this.parseNext() && this.nextOffset < this.restartsOffset) {
      // advance to the entry that ends at the restart array
    }
  }

  seek(userKey: Uint8Array, seq: number): void {
    putTrailer(this.targetTrailer, 0, seq, ValueKind.Put);
    this.seekTo(userKey, this.targetTrailer, false);
  }

  seekForPrev(userKey: Uint8Array): void {
    // The largest internal key of userKey is (userKey, 0, Delete): an all-zero trailer.
    this.targetTrailer.fill(0);
    this.seekTo(userKey, this.targetTrailer, true);
    if (this.valid()) this.prev();
    else this.seekToLast();
  }

  /**
   * Positions at the first entry > (userKey, trailer) when `after`, else >= it; invalid when there
   * is none in this block.
   */
  seekTo(userKey: Uint8Array, trailer: Uint8Array, after: boolean): void {
    if (this.restartCount === 0) return;
    // Binary search for the last restart point whose key is < the target (<= when `after`);
    // restart entries store whole keys, so they are compared in place in the block.
    let left = 0;
    let right = this.restartCount - 1;
    while (left < right) {
      const mid = (left + right + 1) >>> 1;
      const at = this.block!.restartPoint(mid);
      const shared = this.varintAt(at);
      const keyLength = this.varintAt(this.cursor);
      const valueLength = this.varintAt(this.cursor);
      const keyStart = this.cursor;
      if (
        shared !== 0 ||
        keyLength < this.minKeyLength ||
        valueLength < 0 ||
        keyStart + keyLength + valueLength > this.restartsOffset
      ) {
        this.corrupt(`bad restart entry at block offset ${at}`);
      }
      const c = compareInternalKeyTo(this.data, keyStart, keyLength, userKey, trailer);
      if (c < 0 || (after && c === 0)) left = mid;
      else right = mid - 1;
    }
    this.seekToRestart(left);
    while (this.parseNext()) {
      const c = compareInternalKeyTo(this.keyBuf, 0, this.keyLength, userKey, trailer);
      if (c > 0 || (!after && c === 0)) return;
    }
  }

  next(): void {
    if (this.valid()) this.parseNext();
  }

  prev(): void {
    if (!this.valid()) return;
    // Entries only link forward: back up to the restart point before the current entry and
    // decode forward to the entry just before it.
    const original = this.current;
    while (this.block!.restartPoint(this.restartIndex) >= original) {
      if (this.restartIndex === 0) {
        this.invalidate();
        return;
      }
      this.restartIndex--;
    }
    this.seekToRestart(this.restartIndex);
    while (this.parseNext() && this.nextOffset < original) {
      // advance to the entry that ends where the original one starts
    }
  }

  key(): Uint8Array {
    return (this.keyView ??= this.keyBuf.subarray(0, this.keyLength - TRAILER_BYTES));
  }

  /** The whole stored key (for internal keys: user key ++ trailer). */
  rawKey(): Uint8Array {
    return this.keyBuf.subarray(0, this.keyLength);
  }

  seq(): number {
    return trailerSeq(this.keyBuf, this.keyLength - TRAILER_BYTES);
  }

  kind(): number {
    return this.keyBuf[this.keyLength - 1];
  }

  value(): Uint8Array {
    return (this.valueView ??= this.data.subarray(this.valueOffset, this.valueOffset + this.valueLength));
  }

  /** Compares the current entry's user key with `userKey` without allocating. */
  compareUserKey(userKey: Uint8Array): number {
    return compareBytes(this.keyBuf, 0, this.keyLength - TRAILER_BYTES, userKey, 0, userKey.length);
  }

  close(): void {
    this.reset(undefined);
  }

  private invalidate(): void {
    this.current = this.restartsOffset;
    this.nextOffset = this.restartsOffset;
    this.restartIndex = this.restartCount;
    this.keyLength = 0;
    this.keyView = undefined;
    this.valueView = undefined;
  }

  private seekToRestart(index: number): void {
    this.keyLength = 0;
    this.restartIndex = index;
    this.nextOffset = this.block!.restartPoint(index);
  }

  /** Decodes the entry at nextOffset into the current position; false at the end of the block. */
  private parseNext(): boolean {
    const data = this.data;
    const limit = this.restartsOffset;
    const at = this.nextOffset;
    if (at >= limit) {
      this.invalidate();
      return false;
    }
    this.current = at;
    let p = at;
    let shared: number;
    let unshared: number;
    let valueLength: number;
    if (p + 3 <= limit && (data[p] | data[p + 1] | data[p + 2]) < 0x80) {
      // Fast path: all three lengths fit in one byte each, the common case.
      shared = data[p];
      unshared = data[p + 1];
      valueLength = data[p + 2];
      p += 3;
    } else {
      shared = this.varintAt(p);
      unshared = this.varintAt(this.cursor);
      valueLength = this.varintAt(this.cursor);
      p = this.cursor;
    }
    const keyLength = shared + unshared;
    if (
      shared < 0 ||
      unshared < 0 ||
      valueLength < 0 ||
      shared > this.keyLength ||
      keyLength < this.minKeyLength ||
      p + unshared + valueLength > limit
    ) {
      this.corrupt(`bad entry at block offset ${at}`);
    }
    if (keyLength > this.keyBuf.length) {
      const grown = Buffer.allocUnsafe(Math.max(keyLength, this.keyBuf.length * 2));
      this.keyBuf.copy(grown, 0, 0, shared);
      this.keyBuf = grown;
    }
    const keyBuf = this.keyBuf;
    if (unshared > 32) data.copy(keyBuf, shared, p, p + unshared);
    else for (let i = 0; i < unshared; i++) keyBuf[shared + i] = data[p + i];
    this.keyLength = keyLength;
    this.valueOffset = p + unshared;
    this.valueLength = valueLength;
    this.nextOffset = this.valueOffset + valueLength;
    this.keyView = undefined;
    this.valueView = undefined;
    while (this.restartIndex + 1 < this.restartCount && this.block!.restartPoint(this.restartIndex + 1) <= at) {
      this.restartIndex++;
    }
    return true;
  }

  /** Decodes a varint at `at` (sets `cursor` after it); -1 if it runs into the restart array. */
  private varintAt(at: number): number {
    const data = this.data;
    const limit = this.restartsOffset;
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 8 && at < limit; i++) {
      const b = data[at++];
      result += (b & 0x7f) * multiplier;
      if (b < 0x80) {
        this.cursor = at;
        return result;
      }
      multiplier *= 128;
    }
    this.cursor = at;
    return -1;
  }

  private corrupt(what: string): never {
    const block = this.block!;
    throw new CorruptionError(`${what} in block of ${block.data.length} bytes`, block.file, block.offset);
  }
}
