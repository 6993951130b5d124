/**
 * Reading blocks in the shared block format (entries with prefix-compressed keys, then the
 * restart array; see sstable-format.ts for the layout).
 *
 * A Block is the verified, immutable bytes of one block; the block cache holds Blocks, those read
 * again and again in their expanded form (expandBlock: every entry whole and a restart point,
 * plus a search index of one word per entry). A BlockIterator walks one block at a time, either
 * form, and is re-pointed at the next with reset(), so an SSTable iterator keeps one for its
 * whole life. Keys are decoded into a scratch buffer owned by
 * the iterator (grown when a longer key arrives), values are views into the block: moving the
 * iterator allocates nothing, and key()/value() allocate one view each, only when called.
 */

import { getFixed32, putFixed32, putVarint, varintLength } from "./coding.js";
import { CorruptionError } from "./errors.js";
import type { InternalIterator } from "./internal-iterator.js";
import { compareBytes, putTrailer, TRAILER_BYTES, trailerSeq, ValueKind } from "./internal-key.js";

const EMPTY = Buffer.alloc(0);

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

/**
 * Big-endian word of key[from, from + 4) with the bytes at or past `end` read as 0, sign bit
 * flipped so that signed comparison orders words as unsigned. For two keys that share their
 * first `from` bytes, differing words order the keys as bytewise comparison does (a key that runs
 * out reads zeros, and a key ending inside a word is a prefix of the other, hence smaller); equal
 * words decide nothing.
 */
export function keyWord(key: Uint8Array, from: number, end: number): number {
  if (from + 4 <= end) {
    return ((key[from] << 24) | (key[from + 1] << 16) | (key[from + 2] << 8) | key[from + 3]) ^ SIGN_BIT;
  }
  let word = 0;
  for (let i = 0; i < 4; i++) word = (word << 8) | (from + i < end ? key[from + i] : 0);
  return word ^ SIGN_BIT;
}

const SIGN_BIT = 0x80000000 | 0;

/**
 * Where userKey falls against the prefix bytes[at, at + length) that every key of a sorted run
 * shares: -1 below every key, 1 above every key, 0 when userKey starts with the prefix (its word
 * at `length` then places it).
 */
export function compareToSharedPrefix(userKey: Uint8Array, bytes: Uint8Array, at: number, length: number): number {
  const userLength = userKey.length;
  const n = userLength < length ? userLength : length;
  for (let i = 0; i < n; i++) {
    const d = userKey[i] - bytes[at + i];
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  // A proper prefix of the shared prefix is shorter than, so below, every key.
  return userLength < length ? -1 : 0;
}

/** The verified contents of one block (without its trailer). Never mutated once built. */
export class Block {
  readonly restartsOffset: number;
  readonly restartCount: number;
  /**
   * Expanded blocks: copies of search-index bytes kept in the object, which a lookup has loaded
   * anyway, so its first steps touch no cache line of the block: the shared prefix as a keyWord
   * (when it is at most 4 bytes) and the words of the entries the binary search probes first
   * (the middle one, then the middle of the lower or upper half).
   */
  private readonly prefixWord: number = 0;
  private readonly middleWord: number = 0;
  private readonly lowerWord: number = 0;
  private readonly upperWord: number = 0;

  /**
   * `file` and `offset` name the block in corruption errors raised while reading it. The block's
   * bytes are data[0, size); an expanded block (built only by expandBlock) holds its search index
   * after them: `wordsOffset` locates it and `sharedPrefix` is the length of the user-key prefix
   * every key shares. A block as read from disk has wordsOffset -1; its restart array is checked.
   */
  constructor(
    readonly data: Buffer,
    readonly file: string,
    readonly offset: number,
    readonly size: number = data.length,
    readonly wordsOffset: number = -1,
    readonly sharedPrefix: number = 0,
  ) {
    const count = size >= 4 ? getFixed32(data, size - 4) : 0;
    if (count === 0 || count > (size - 4) / 4) {
      throw new CorruptionError(`bad restart count ${count} in block of ${size} bytes`, file, offset);
    }
    this.restartCount = count;
    this.restartsOffset = size - 4 - count * 4;
    if (wordsOffset >= 0) {
      const middle = count >>> 1;
      this.prefixWord = keyWord(data, wordsOffset + count * 4, wordsOffset + count * 4 + Math.min(sharedPrefix, 4));
      this.middleWord = this.word(middle);
      if (middle > 0) this.lowerWord = this.word(middle >>> 1);
      if (middle + 1 < count) this.upperWord = this.word((middle + 1 + count) >>> 1);
      return;
    }
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

  /** Bytes the block cache charges for this block (search index included). */
  get charge(): number {
    return this.data.length;
  }

  restartPoint(index: number): number {
    return getFixed32(this.data, this.restartsOffset + index * 4);
  }

  /**
   * Expanded blocks only: the number of the first entry >= (userKey, trailer) (> when `after`),
   * restartCount when there is none. Every entry is a restart point, so the answer is found by a
   * binary search over the entries' words alone, reading a key only when the words tie.
   */
  findEntry(userKey: Uint8Array, trailer: Uint8Array, after: boolean): number {
    const count = this.restartCount;
    const shared = this.sharedPrefix;
    const userLength = userKey.length;
    let side: number;
    if (shared <= 4 && userLength >= shared) {
      // Both words are the p prefix bytes zero padded alike: they compare as the bytes do.
      const word = keyWord(userKey, 0, shared);
      side = word === this.prefixWord ? 0 : word < this.prefixWord ? -1 : 1;
    } else {
      side = compareToSharedPrefix(userKey, this.data, this.wordsOffset + count * 4, shared);
    }
    if (side !== 0) return side < 0 ? 0 : count;
    const target = keyWord(userKey, shared, userLength);
    let lo = 0;
    let hi = count;
    let mid = count >>> 1;
    if (this.below(mid, this.middleWord, target, userKey, trailer, after)) {
      lo = mid + 1;
      if (lo < hi) {
        mid = (lo + hi) >>> 1;
        if (this.below(mid, this.upperWord, target, userKey, trailer, after)) lo = mid + 1;
        else hi = mid;
      }
    } else {
      hi = mid;
      if (lo < hi) {
        mid = hi >>> 1;
        if (this.below(mid, this.lowerWord, target, userKey, trailer, after)) lo = mid + 1;
        else hi = mid;
      }
    }
    while (lo < hi) {
      mid = (lo + hi) >>> 1;
      if (this.below(mid, this.word(mid), target, userKey, trailer, after)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The search word of entry `index` of an expanded block. */
  private word(index: number): number {
    const data = this.data;
    const at = this.wordsOffset + index * 4;
    return ((data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]) ^ SIGN_BIT;
  }

  /** Whether entry `index`, whose word is `word`, is below the target (at or below when `after`). */
  private below(
    index: number,
    word: number,
    target: number,
    userKey: Uint8Array,
    trailer: Uint8Array,
    after: boolean,
  ): boolean {
    if (word !== target) return word < target;
    const c = this.compareEntry(this.restartPoint(index), userKey, trailer);
    return c < 0 || (after && c === 0);
  }

  /**
   * Expanded blocks only, for a point lookup: when the first entry >= (userKey, trailer) has user
   * key `userKey`, fills `found` with its kind and value and returns true; false when the block
   * holds no such entry.
   */
  getEntry(userKey: Uint8Array, trailer: Uint8Array, found: FoundEntry): boolean {
    const entry = this.findEntry(userKey, trailer, false);
    if (entry === this.restartCount) return false;
    const data = this.data;
    header.decode(data, this.restartPoint(entry), this.restartsOffset);
    const keyStart = header.keyStart;
    const keyLength = header.unshared;
    if (compareBytes(data, keyStart, keyLength - TRAILER_BYTES, userKey, 0, userKey.length) !== 0) return false;
    found.kind = data[keyStart + keyLength - 1];
    found.valueOffset = keyStart + keyLength;
    found.valueLength = header.valueLength;
    return true;
  }

  /** Compares the whole key of the entry at `at` (stored with shared = 0) with (userKey, trailer). */
  private compareEntry(at: number, userKey: Uint8Array, trailer: Uint8Array): number {
    header.decode(this.data, at, this.restartsOffset);
    return compareInternalKeyTo(this.data, header.keyStart, header.unshared, userKey, trailer);
  }
}

/** The entry Block.getEntry found: its kind and where its value lies in the block's data. */
export class FoundEntry {
  kind = 0;
  valueOffset = 0;
  valueLength = 0;
}

/** The decoded header of one entry: `decode` fills the fields; one instance serves the module. */
class EntryHeader {
  shared = 0;
  unshared = 0;
  valueLength = 0;
  keyStart = 0;

  /** Decodes the header at `at` of an entry that must end by `limit`; false when it is malformed. */
  decode(data: Buffer, at: number, limit: number): boolean {
    if (at + 3 <= limit && (data[at] | data[at + 1] | data[at + 2]) < 0x80) {
      this.shared = data[at];
      this.unshared = data[at + 1];
      this.valueLength = data[at + 2];
      this.keyStart = at + 3;
    } else {
      const shared = readVarint(data, at, limit);
      const unshared = readVarint(data, varintEnd, limit);
      const valueLength = readVarint(data, varintEnd, limit);
      if (shared < 0 || unshared < 0 || valueLength < 0) return false;
      this.shared = shared;
      this.unshared = unshared;
      this.valueLength = valueLength;
      this.keyStart = varintEnd;
    }
    return this.keyStart + this.unshared + this.valueLength <= limit;
  }
}

const header = new EntryHeader();

/** Where the last readVarint stopped. */
let varintEnd = 0;

/** Decodes a varint at `at` (sets varintEnd after it); -1 if it runs past `limit` or 8 bytes. */
function readVarint(data: Buffer, at: number, limit: number): number {
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 8 && at < limit; i++) {
    const b = data[at++];
    result += (b & 0x7f) * multiplier;
    if (b < 0x80) {
      varintEnd = at;
      return result;
    }
    multiplier *= 128;
  }
  varintEnd = at;
  return -1;
}

/**
 * The expanded form of a data block, which the block cache holds for blocks read again and again:
 * the same entries in block format, but each stored with its whole key (shared = 0) and
 * each a restart point, followed by a search index:
 *
 *   block    entries | fixed32 offset of every entry | fixed32 entry count
 *   words    4 bytes per entry: bytes [p, p + 4) of the entry's user key, zero padded
 *   prefix   p bytes: the user-key prefix every key of the block shares
 *
 * A point lookup then binary-searches the words (a few cache lines, see Block.findEntry) instead
 * of binary-searching the restart points and decoding up to a restart interval of entries one by
 * one. The cost is memory, charged to the cache: the shared prefixes spelled out plus 8 bytes per
 * entry (about 8% with 16-byte keys and 100-byte values). Iterators read it as any other block.
 *
 * `raw` is a verified block as read from disk; its entries are checked here (CorruptionError
 * naming its file and offset). A block without entries is returned as it is.
 */
export function expandBlock(raw: Block): Block {
  const data = raw.data;
  const limit = raw.restartsOffset;
  const corrupt = (at: number): never => {
    throw new CorruptionError(`bad entry at block offset ${at} in block of ${raw.size} bytes`, raw.file, raw.offset);
  };
  // Pass 1: check every entry, count them, size the output, find the shared user-key prefix.
  let count = 0;
  let entryBytes = 0;
  let previousKeyLength = 0;
  let prefix = 0;
  for (let at = 0; at < limit; count++) {
    if (!header.decode(data, at, limit)) corrupt(at);
    const keyLength = header.shared + header.unshared;
    if (header.shared > previousKeyLength || keyLength < TRAILER_BYTES) corrupt(at);
    const userLength = keyLength - TRAILER_BYTES;
    prefix = count === 0 ? userLength : Math.min(prefix, header.shared, userLength);
    entryBytes += 1 + varintLength(keyLength) + varintLength(header.valueLength) + keyLength + header.valueLength;
    previousKeyLength = keyLength;
    at = header.keyStart + header.unshared + header.valueLength;
  }
  if (count === 0) return raw;

  // Pass 2: write the entries whole, the restart array, the words and the prefix.
  const restartsOffset = entryBytes;
  const blockSize = restartsOffset + count * 4 + 4;
  const wordsOffset = blockSize;
  const out = Buffer.allocUnsafeSlow(wordsOffset + count * 4 + prefix);
  const from = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const to = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = 0;
  let dst = 0;
  let previousKeyAt = 0;
  for (let i = 0; i < count; i++) {
    header.decode(data, at, limit);
    const { shared, unshared, valueLength, keyStart } = header;
    const keyLength = shared + unshared;
    putFixed32(out, restartsOffset + i * 4, dst);
    out[dst++] = 0;
    dst = putVarint(out, dst, keyLength);
    dst = putVarint(out, dst, valueLength);
    const keyAt = dst;
    for (let j = 0; j < shared; j++) out[keyAt + j] = out[previousKeyAt + j];
    // The unshared key bytes and the value are contiguous in both forms: one copy.
    at = keyStart + unshared + valueLength;
    copyBytes(data, from, keyStart, at, out, to, keyAt + shared);
    const userEnd = keyAt + keyLength - TRAILER_BYTES;
    const wordAt = wordsOffset + i * 4;
    for (let j = 0; j < 4; j++) {
      const k = keyAt + prefix + j;
      out[wordAt + j] = k < userEnd ? out[k] : 0;
    }
    dst = keyAt + keyLength + valueLength;
    previousKeyAt = keyAt;
  }
  putFixed32(out, restartsOffset + count * 4, count);
  header.decode(out, 0, restartsOffset);
  out.copy(out, wordsOffset + count * 4, header.keyStart, header.keyStart + prefix);
  return new Block(out, raw.file, raw.offset, blockSize, wordsOffset, prefix);
}

/**
 * Copies src[start, end) to dst at `at`. Short runs go 4 bytes at a time through DataViews:
 * Buffer#copy costs about as much as 250 bytes of that loop before it moves a byte.
 */
function copyBytes(src: Buffer, from: DataView, start: number, end: number, dst: Buffer, to: DataView, at: number): void {
  if (end - start > 256) {
    src.copy(dst, at, start, end);
    return;
  }
  let i = start;
  for (; i + 4 <= end; i += 4, at += 4) to.setInt32(at, from.getInt32(i));
  for (; i < end; i++) dst[at++] = src[i];
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
    const block = this.block!;
    if (block.wordsOffset >= 0) {
      const entry = block.findEntry(userKey, trailer, after);
      if (entry === this.restartCount) {
        this.invalidate();
        return;
      }
      this.seekToRestart(entry);
      this.parseNext();
      return;
    }
    // Binary search for the last restart point whose key is < the target (<= when `after`);
    // restart entries store whole keys, so they are compared in place in the block.
    let left = 0;
    let right = this.restartCount - 1;
    while (left < right) {
      const mid = (left + right + 1) >>> 1;
      const at = block.restartPoint(mid);
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
    throw new CorruptionError(`${what} in block of ${block.size} bytes`, block.file, block.offset);
  }
}
