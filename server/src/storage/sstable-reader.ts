/**
 * Reads an SSTable (format in sstable-format.ts). open() reads and verifies the footer, index,
 * metaindex, filter and properties blocks and keeps them in memory; data blocks are read on
 * demand with pread (fs.readSync at an offset), verified against their trailer on every read,
 * and shared through the BlockCache when one is given.
 *
 * The index is decoded once into flat arrays (separator keys back to back, a search word per
 * separator, block offsets and sizes). A point lookup: one bloom probe (one cache line), a binary
 * search over the index words, then the data block. A block enters the cache as read; once it is
 * hit twice in a turn of the CLOCK hand it is replaced by its expanded form (block.ts,
 * expandBlock), where the lookup is a binary search over per-entry words that lands on the entry
 * without decoding its neighbours. A lookup that hits the cache allocates nothing; the value is
 * handed out as a view (lastValue) or a copy (lastValueCopy).
 */

import fs from "node:fs";
import {
  Block,
  BlockIterator,
  compareInternalKeyTo,
  compareToSharedPrefix,
  expandBlock,
  FoundEntry,
  keyWord,
} from "./block.js";
import type { BlockCache, CachedTable } from "./block-cache.js";
import { BloomFilter, bloomHash } from "./bloom.js";
import { ByteReader } from "./coding.js";
import { ClosedError, CorruptionError, IOError, StorageError } from "./errors.js";
import type { InternalIterator } from "./internal-iterator.js";
import { MAX_SEQUENCE, putTrailer, TRAILER_BYTES, ValueKind } from "./internal-key.js";
import {
  BLOCK_TRAILER_BYTES,
  decodeFooter,
  decodeProperties,
  FILTER_BLOCK_NAME,
  FOOTER_BYTES,
  PROPERTIES_BLOCK_NAME,
  readBlockHandle,
  verifyBlockTrailer,
  type BlockHandle,
  type TableProperties,
} from "./sstable-format.js";

export type { TableProperties } from "./sstable-format.js";

export const enum TableLookup {
  NotFound = 0,
  Found = 1,
  Deleted = 2,
  FilteredOut = 3,
}

const EMPTY = new Uint8Array(0);

/** A read buffer an iterator reuses for blocks it does not put in the cache; grown on demand. */
interface ReusableBuffer {
  bytes: Buffer;
}

/**
 * Memory for blocks read into the cache. A buffer of its own per block costs about as much as the
 * pread itself (an ArrayBuffer and its backing store, then page faults on first touch), so such
 * blocks are carved one after another from 64 KiB slabs. Nothing is written to a slab where a
 * block lies, so a block stays intact for whoever still holds it, and a slab is freed by the
 * garbage collector once none of its blocks is referenced.
 *
 * A cached block leaves its slab when it is hit twice in one turn of the CLOCK hand
 * (DataBlocks.load swaps it for its expanded form, in a buffer of its own), so the blocks left in
 * slabs are ones hit at most once since the hand last passed them: the hand evicts them on its
 * next pass or the one after. Until then a slab keeps the space of its blocks that left, space
 * their expanded copies are charged for (those entered the ring later, behind the hand), so the
 * memory held stays within about twice the cache's capacity.
 */
class BlockSlab {
  private slab = Buffer.alloc(0);
  private used = 0;

  /**
   * `length` bytes for a read, of which the first `keep` stay reserved for the block (the rest,
   * its trailer, is reused). Blocks above a quarter of a slab get a buffer of their own.
   */
  take(length: number, keep: number): Buffer {
    if (length > SLAB_BYTES / 4) return Buffer.allocUnsafeSlow(length);
    if (this.slab.length - this.used < length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const buf = this.slab.subarray(this.used, this.used + length);
    this.used += keep;
    return buf;
  }
}

const SLAB_BYTES = 64 * 1024;

/** One slab allocator for every reader of the thread (reads are synchronous). */
const blockSlab = new BlockSlab();

/** The open file, its decoded index and the way to a data block (cache, else a verified read). */
class DataBlocks {
  fd: number;
  /** Decoded index: separator i is keys[keyStarts[i], keyStarts[i + 1]). */
  keys: Buffer = Buffer.alloc(0);
  keyStarts: Uint32Array = new Uint32Array(1);
  /**
   * keyWord of each separator's user key at `sharedPrefix`, the length of the user-key prefix
   * all separators share (the first separator's first bytes): the binary search compares words
   * and reads a separator only on a tie.
   */
  words: Int32Array = new Int32Array(0);
  sharedPrefix = 0;
  offsets: Float64Array = new Float64Array(0);
  sizes: Float64Array = new Float64Array(0);
  count = 0;
  /** File offset just past the last data block. */
  dataEnd = 0;
  /** This table's blocks in the block cache (undefined without a cache). */
  cached: CachedTable | undefined;

  constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Index of the first block whose separator is >= (userKey, trailer) (> when `after`); count if none. */
  search(userKey: Uint8Array, trailer: Uint8Array, after: boolean): number {
    const count = this.count;
    const keys = this.keys;
    const shared = this.sharedPrefix;
    const side = compareToSharedPrefix(userKey, keys, 0, shared);
    if (side !== 0) return side < 0 ? 0 : count;
    const target = keyWord(userKey, shared, userKey.length);
    const words = this.words;
    const starts = this.keyStarts;
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const word = words[mid];
      let below: boolean;
      if (word !== target) {
        below = word < target;
      } else {
        const c = compareInternalKeyTo(keys, starts[mid], starts[mid + 1] - starts[mid], userKey, trailer);
        below = c < 0 || (after && c === 0);
      }
      if (below) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether blocks loaded with fillCache are kept in the block cache. */
  caching(): boolean {
    return this.cached !== undefined && this.cached.accepting();
  }

  /**
   * Data block `index`: from the cache, else read and verified. A cached block hit a second time
   * since the CLOCK hand last passed it is swapped for its expanded form (expandBlock), so blocks
   * read again and again are searched without decoding entries. Expanding costs a few
   * microseconds (mostly the new buffer) and saves under one per lookup, so it waits until a
   * block has shown it is read more than once. With `fillCache` (and a cache that keeps blocks)
   * a block read from the file goes into the cache, in slab memory; otherwise it is read into
   * `scratch` when given, which the next load overwrites, else into a buffer of its own.
   */
  load(index: number, fillCache: boolean, scratch: ReusableBuffer | undefined): Block {
    const cached = this.cached;
    if (cached !== undefined) {
      const again = cached.hitSinceSweep(index);
      const block = cached.lookup(index);
      if (block !== undefined) {
        if (block.wordsOffset >= 0 || !again) return block;
        const expanded = expandBlock(block);
        if (expanded !== block) cached.replace(index, expanded);
        return expanded;
      }
    }
    const offset = this.offsets[index];
    const size = this.sizes[index];
    const total = size + BLOCK_TRAILER_BYTES;
    if (fillCache && cached !== undefined && cached.accepting()) {
      const block = new Block(this.readBlock(blockSlab.take(total, size), offset, size), this.path, offset);
      cached.insert(index, block);
      return block;
    }
    let buf: Buffer;
    if (scratch === undefined) {
      buf = Buffer.allocUnsafeSlow(total);
    } else {
      if (scratch.bytes.length < total) scratch.bytes = Buffer.allocUnsafeSlow(Math.max(total, scratch.bytes.length * 2));
      buf = scratch.bytes;
    }
    return new Block(this.readBlock(buf, offset, size), this.path, offset);
  }

  /**
   * Reads the block at `offset` of `size` bytes plus its trailer into the start of `buf`, verifies
   * the trailer and returns the block's bytes (a view of `buf`).
   */
  readBlock(buf: Buffer, offset: number, size: number): Buffer {
    this.readFully(buf, size + BLOCK_TRAILER_BYTES, offset);
    verifyBlockTrailer(buf, size, this.path, offset);
    return buf.subarray(0, size);
  }

  readFully(buf: Buffer, length: number, offset: number): void {
    if (this.fd < 0) throw new ClosedError(`table reader is closed (file ${this.path})`);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      } catch (err) {
        throw new IOError(`cannot read table file at offset ${offset}: ${(err as Error).message}`, this.path, {
          cause: err,
        });
      }
      if (n === 0) throw new CorruptionError(`truncated read: ${done} of ${length} bytes`, this.path, offset);
      done += n;
    }
  }
}

export class SSTableReader {
  /** Bloom filter consultations (get and mayContain) and how many ruled the key out. */
  bloomChecks = 0;
  bloomNegatives = 0;

  private readonly getIterator = new BlockIterator();
  private readonly getScratch: ReusableBuffer = { bytes: Buffer.alloc(0) };
  private readonly getTrailer = Buffer.alloc(TRAILER_BYTES);
  /** The sequence number getTrailer holds (lookups mostly repeat one read sequence). */
  private getTrailerSeq = -1;
  private readonly found = new FoundEntry();
  /** The value of the last get() that returned Found: lastValueData[offset, offset + length). */
  private lastValueData: Uint8Array = EMPTY;
  private lastValueOffset = 0;
  private lastValueLength = 0;

  private constructor(
    readonly path: string,
    readonly fileSize: number,
    readonly properties: TableProperties,
    private readonly blocks: DataBlocks,
    private readonly filter: BloomFilter | undefined,
  ) {}

  /**
   * Opens the file and reads + verifies footer, index, metaindex, filter and properties.
   * `cacheId` keys this table's blocks in `cache` (the engine uses the file number).
   */
  static open(path: string, cacheId: number, cache: BlockCache | undefined): SSTableReader {
    let fd: number;
    try {
      fd = fs.openSync(path, "r");
    } catch (err) {
      throw new IOError(`cannot open table file: ${(err as Error).message}`, path, { cause: err });
    }
    try {
      return SSTableReader.load(path, fd, cacheId, cache);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  private static load(path: string, fd: number, cacheId: number, cache: BlockCache | undefined): SSTableReader {
    const fileSize = fs.fstatSync(fd).size;
    const blocks = new DataBlocks(path, fd);
    if (fileSize < FOOTER_BYTES) {
      throw new CorruptionError(`file of ${fileSize} bytes is too short to be an SSTable`, path, 0);
    }
    const footerOffset = fileSize - FOOTER_BYTES;
    const footerBytes = Buffer.allocUnsafe(FOOTER_BYTES);
    blocks.readFully(footerBytes, FOOTER_BYTES, footerOffset);
    const footer = decodeFooter(footerBytes, path, footerOffset);
    const checkHandle = (handle: BlockHandle, what: string, at: number): void => {
      if (handle.offset + handle.size + BLOCK_TRAILER_BYTES > footerOffset) {
        throw new CorruptionError(
          `${what} handle (offset ${handle.offset}, size ${handle.size}) points past the blocks`,
          path,
          at,
        );
      }
    };
    checkHandle(footer.index, "index block", footerOffset);
    checkHandle(footer.metaindex, "metaindex block", footerOffset);

    const readBlock = (handle: BlockHandle): Buffer =>
      blocks.readBlock(Buffer.allocUnsafeSlow(handle.size + BLOCK_TRAILER_BYTES), handle.offset, handle.size);
    SSTableReader.decodeIndex(blocks, new Block(readBlock(footer.index), path, footer.index.offset), footerOffset);

    const meta = new Map<string, BlockHandle>();
    const metaIterator = new BlockIterator(0);
    metaIterator.reset(new Block(readBlock(footer.metaindex), path, footer.metaindex.offset));
    for (metaIterator.seekToFirst(); metaIterator.valid(); metaIterator.next()) {
      const handle = readBlockHandle(new ByteReader(metaIterator.value()));
      const name = Buffer.from(metaIterator.rawKey()).toString("latin1");
      if (handle === undefined) throw new CorruptionError(`bad handle of meta block "${name}"`, path, footer.metaindex.offset);
      checkHandle(handle, `meta block "${name}"`, footer.metaindex.offset);
      meta.set(name, handle);
    }

    const propertiesHandle = meta.get(PROPERTIES_BLOCK_NAME);
    if (propertiesHandle === undefined) {
      throw new CorruptionError("no properties block in metaindex", path, footer.metaindex.offset);
    }
    const properties = decodeProperties(readBlock(propertiesHandle), path, propertiesHandle.offset);
    const filterHandle = meta.get(FILTER_BLOCK_NAME);
    const filter = filterHandle === undefined ? undefined : new BloomFilter(readBlock(filterHandle));
    blocks.cached = cache?.table(cacheId, blocks.count);
    return new SSTableReader(path, fileSize, properties, blocks, filter);
  }

  /** Decodes the index block into the flat arrays of `blocks`, checking every handle. */
  private static decodeIndex(blocks: DataBlocks, index: Block, limit: number): void {
    const iterator = new BlockIterator();
    iterator.reset(index);
    let count = 0;
    let keyBytes = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
      count++;
      keyBytes += iterator.rawKey().length;
    }
    const keys = Buffer.allocUnsafe(keyBytes);
    const keyStarts = new Uint32Array(count + 1);
    const offsets = new Float64Array(count);
    const sizes = new Float64Array(count);
    const reader = new ByteReader(EMPTY);
    let i = 0;
    let previousEnd = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next(), i++) {
      const key = iterator.rawKey();
      keys.set(key, keyStarts[i]);
      keyStarts[i + 1] = keyStarts[i] + key.length;
      const value = iterator.value();
      reader.buf = value;
      reader.offset = 0;
      reader.end = value.length;
      const handle = readBlockHandle(reader);
      if (handle === undefined || handle.offset < previousEnd || handle.offset + handle.size + BLOCK_TRAILER_BYTES > limit) {
        throw new CorruptionError(`bad data block handle in index entry ${i}`, blocks.path, index.offset);
      }
      offsets[i] = handle.offset;
      sizes[i] = handle.size;
      previousEnd = handle.offset + handle.size + BLOCK_TRAILER_BYTES;
    }
    let shared = 0;
    if (count > 0) {
      // Separators are sorted, so the prefix the first and last share is shared by all.
      const last = keyStarts[count - 1];
      const limit = Math.min(keyStarts[1], keyStarts[count] - last) - TRAILER_BYTES;
      while (shared < limit && keys[shared] === keys[last + shared]) shared++;
    }
    const words = new Int32Array(count);
    for (let j = 0; j < count; j++) words[j] = keyWord(keys, keyStarts[j] + shared, keyStarts[j + 1] - TRAILER_BYTES);
    blocks.keys = keys;
    blocks.keyStarts = keyStarts;
    blocks.words = words;
    blocks.sharedPrefix = shared;
    blocks.offsets = offsets;
    blocks.sizes = sizes;
    blocks.count = count;
    blocks.dataEnd = previousEnd;
  }

  /**
   * Bloom check on the user key (true when the table has no filter). A caller asking several
   * tables about one key computes its bloomHash once and passes it.
   */
  mayContain(userKey: Uint8Array, hash: number = bloomHash(userKey)): boolean {
    if (this.filter === undefined) return true;
    this.bloomChecks++;
    if (this.filter.mayContainHash(hash)) return true;
    this.bloomNegatives++;
    return false;
  }

  /**
   * Looks up the newest entry of userKey with seq <= maxSeq. The bloom filter is consulted before
   * any data block is read (`hash` as for mayContain). After Found, lastValue() holds the value.
   */
  get(userKey: Uint8Array, maxSeq: number, hash: number = bloomHash(userKey)): TableLookup {
    if (!this.mayContain(userKey, hash)) return TableLookup.FilteredOut;
    const blocks = this.blocks;
    const trailer = this.getTrailer;
    if (maxSeq !== this.getTrailerSeq) {
      putTrailer(trailer, 0, maxSeq, ValueKind.Put);
      this.getTrailerSeq = maxSeq;
    }
    const index = blocks.search(userKey, trailer, false);
    if (index === blocks.count) return TableLookup.NotFound;
    // Values handed out must stay intact: cached blocks are never reused, blocks read into the
    // reader's scratch buffer are, so a value from one is copied.
    const scratch = blocks.caching() ? undefined : this.getScratch;
    const block = blocks.load(index, true, scratch);
    // If the block has no entry >= the target, the target lies between the block's last key and
    // its shortened separator, whose user key is below the next block's first user key: the
    // table holds no version of userKey at or below maxSeq.
    if (block.wordsOffset >= 0) {
      const found = this.found;
      if (!block.getEntry(userKey, trailer, found)) return TableLookup.NotFound;
      if (found.kind === ValueKind.Delete) return TableLookup.Deleted;
      this.lastValueData = block.data;
      this.lastValueOffset = found.valueOffset;
      this.lastValueLength = found.valueLength;
      return TableLookup.Found;
    }
    const iterator = this.getIterator;
    iterator.reset(block);
    iterator.seekTo(userKey, trailer, false);
    let result: TableLookup = TableLookup.NotFound;
    if (iterator.valid() && iterator.compareUserKey(userKey) === 0) {
      if (iterator.kind() === ValueKind.Delete) {
        result = TableLookup.Deleted;
      } else {
        result = TableLookup.Found;
        const value = scratch === undefined ? iterator.value() : Buffer.from(iterator.value());
        this.lastValueData = value;
        this.lastValueOffset = 0;
        this.lastValueLength = value.length;
      }
    }
    iterator.reset(undefined);
    return result;
  }

  /** The value found by the last get() that returned Found; never mutated afterwards. */
  lastValue(): Uint8Array {
    return this.lastValueData.subarray(this.lastValueOffset, this.lastValueOffset + this.lastValueLength);
  }

  /**
   * A copy of lastValue() in a buffer of its own, for a caller that hands the value out. Cheaper
   * than copying lastValue(): a view of a cached block reads its ArrayBuffer object, a cache miss
   * of its own, where copying bytes only reads the block.
   */
  lastValueCopy(): Buffer {
    const data = this.lastValueData;
    const start = this.lastValueOffset;
    const length = this.lastValueLength;
    const out = Buffer.allocUnsafe(length);
    if (length > 256) out.set(data.subarray(start, start + length));
    else for (let i = 0; i < length; i++) out[i] = data[start + i];
    return out;
  }

  /**
   * An iterator over all entries. fillCache=false (compaction) does not put the blocks it reads
   * into the block cache, so a one-off scan does not evict the working set.
   */
  iterator(options?: { fillCache?: boolean }): InternalIterator {
    return new TableIterator(this.blocks, options?.fillCache ?? true);
  }

  /** Approximate file offset of the first entry with user key >= userKey (for size estimates). */
  approximateOffsetOf(userKey: Uint8Array): number {
    const blocks = this.blocks;
    putTrailer(this.getTrailer, 0, MAX_SEQUENCE, ValueKind.Put);
    this.getTrailerSeq = MAX_SEQUENCE;
    const i = blocks.search(userKey, this.getTrailer, false);
    return i < blocks.count ? blocks.offsets[i] : blocks.dataEnd;
  }

  /** Closes the file. Idempotent; the engine guarantees no iterator is used afterwards. */
  close(): void {
    const fd = this.blocks.fd;
    if (fd < 0) return;
    this.blocks.fd = -1;
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw new StorageError(`cannot close table file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Two-level iteration: a position in the index (a data block) and a BlockIterator within it. */
class TableIterator implements InternalIterator {
  private readonly blockIterator = new BlockIterator();
  /** Index of the block loaded into blockIterator, -1 for none. */
  private blockIndex = -1;
  private readonly scratch: ReusableBuffer = { bytes: Buffer.alloc(0) };
  private readonly trailer = Buffer.alloc(TRAILER_BYTES);
  private closed = false;

  constructor(
    private readonly blocks: DataBlocks,
    private readonly fillCache: boolean,
  ) {}

  valid(): boolean {
    return this.blockIterator.valid();
  }

  seekToFirst(): void {
    if (!this.loadBlock(0)) return;
    this.blockIterator.seekToFirst();
    this.skipEmptyForward();
  }

  seekToLast(): void {
    if (!this.loadBlock(this.blocks.count - 1)) return;
    this.blockIterator.seekToLast();
    this.skipEmptyBackward();
  }

  seek(userKey: Uint8Array, seq: number): void {
    putTrailer(this.trailer, 0, seq, ValueKind.Put);
    this.seekTo(userKey, false);
  }

  seekForPrev(userKey: Uint8Array): void {
    // Step back from the first entry after (userKey, 0, Delete), the largest internal key of userKey.
    this.trailer.fill(0);
    this.seekTo(userKey, true);
    if (this.valid()) this.prev();
    else this.seekToLast();
  }

  next(): void {
    if (!this.blockIterator.valid()) return;
    this.blockIterator.next();
    if (!this.blockIterator.valid()) this.skipEmptyForward();
  }

  prev(): void {
    if (!this.blockIterator.valid()) return;
    this.blockIterator.prev();
    if (!this.blockIterator.valid()) this.skipEmptyBackward();
  }

  key(): Uint8Array {
    return this.blockIterator.key();
  }

  seq(): number {
    return this.blockIterator.seq();
  }

  kind(): number {
    return this.blockIterator.kind();
  }

  value(): Uint8Array {
    return this.blockIterator.value();
  }

  close(): void {
    this.closed = true;
    this.blockIndex = -1;
    this.blockIterator.reset(undefined);
  }

  private seekTo(userKey: Uint8Array, after: boolean): void {
    if (!this.loadBlock(this.blocks.search(userKey, this.trailer, after))) return;
    this.blockIterator.seekTo(userKey, this.trailer, after);
    this.skipEmptyForward();
  }

  /** Moves to following blocks until an entry is found or the blocks run out. */
  private skipEmptyForward(): void {
    while (!this.blockIterator.valid()) {
      if (!this.loadBlock(this.blockIndex + 1)) return;
      this.blockIterator.seekToFirst();
    }
  }

  private skipEmptyBackward(): void {
    while (!this.blockIterator.valid()) {
      if (!this.loadBlock(this.blockIndex - 1)) return;
      this.blockIterator.seekToLast();
    }
  }

  /** Points the block iterator at block `index`; false (and invalid) when there is no such block. */
  private loadBlock(index: number): boolean {
    if (this.closed) throw new ClosedError(`table iterator is closed (file ${this.blocks.path})`);
    if (index < 0 || index >= this.blocks.count) {
      this.blockIndex = -1;
      this.blockIterator.reset(undefined);
      return false;
    }
    if (index !== this.blockIndex) {
      this.blockIterator.reset(this.blocks.load(index, this.fillCache, this.scratch));
      this.blockIndex = index;
    }
    return true;
  }
}
