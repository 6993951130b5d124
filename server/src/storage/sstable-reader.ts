/**
 * Reads an SSTable (format in sstable-format.ts). open() reads and verifies the footer, index,
 * metaindex, filter and properties blocks and keeps them in memory; data blocks are read on
 * demand with pread (fs.readSync at an offset), verified against their trailer on every read,
 * and shared through the BlockCache when one is given.
 *
 * The index is decoded once into flat arrays (separator keys back to back, block offsets and
 * sizes), so a point lookup is a binary search over the arrays, one block read (or cache hit) and
 * a binary search over that block's restart points, without allocating per lookup beyond the
 * returned value view.
 */

import fs from "node:fs";
import { Block, BlockIterator, compareInternalKeyTo } from "./block.js";
import type { BlockCache } from "./block-cache.js";
import { BloomFilter } from "./bloom.js";
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

/** The open file, its decoded index and the way to a data block (cache, else a verified read). */
class DataBlocks {
  fd: number;
  /** Decoded index: separator i is keys[keyStarts[i], keyStarts[i + 1]). */
  keys: Buffer = Buffer.alloc(0);
  keyStarts: Uint32Array = new Uint32Array(1);
  offsets: Float64Array = new Float64Array(0);
  sizes: Float64Array = new Float64Array(0);
  count = 0;
  /** File offset just past the last data block. */
  dataEnd = 0;

  constructor(
    readonly path: string,
    fd: number,
    readonly cacheId: number,
    readonly cache: BlockCache | undefined,
  ) {
    this.fd = fd;
  }

  /** Index of the first block whose separator is >= (userKey, trailer) (> when `after`); count if none. */
  search(userKey: Uint8Array, trailer: Uint8Array, after: boolean): number {
    const keys = this.keys;
    const starts = this.keyStarts;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareInternalKeyTo(keys, starts[mid], starts[mid + 1] - starts[mid], userKey, trailer);
      if (c < 0 || (after && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Data block `index`: from the cache, else read and verified. With `fillCache` (and a cache of
   * nonzero capacity) a read block goes into the cache in a buffer of its own; otherwise it is read
   * into `scratch` when given, which the next load overwrites.
   */
  load(index: number, fillCache: boolean, scratch: ReusableBuffer | undefined): Block {
    const offset = this.offsets[index];
    const cache = this.cache;
    if (cache !== undefined) {
      const cached = cache.lookup(this.cacheId, offset);
      if (cached !== undefined) return cached;
    }
    const insert = fillCache && cache !== undefined && cache.capacityBytes > 0;
    const size = this.sizes[index];
    const bytes = this.readBlock(offset, size, insert ? undefined : scratch);
    const block = new Block(bytes.subarray(0, size), this.path, offset);
    if (insert) cache.insert(this.cacheId, offset, block);
    return block;
  }

  /** Reads the block at `offset` of `size` bytes plus its trailer and verifies the trailer. */
  readBlock(offset: number, size: number, scratch: ReusableBuffer | undefined): Buffer {
    const total = size + BLOCK_TRAILER_BYTES;
    let buf: Buffer;
    if (scratch === undefined) {
      buf = Buffer.allocUnsafeSlow(total);
    } else {
      if (scratch.bytes.length < total) scratch.bytes = Buffer.allocUnsafeSlow(Math.max(total, scratch.bytes.length * 2));
      buf = scratch.bytes;
    }
    this.readFully(buf, total, offset);
    verifyBlockTrailer(buf, size, this.path, offset);
    return buf;
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
  private lastValueView: Uint8Array = EMPTY;

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
    const blocks = new DataBlocks(path, fd, cacheId, cache);
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
      blocks.readBlock(handle.offset, handle.size, undefined).subarray(0, handle.size);
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
    blocks.keys = keys;
    blocks.keyStarts = keyStarts;
    blocks.offsets = offsets;
    blocks.sizes = sizes;
    blocks.count = count;
    blocks.dataEnd = previousEnd;
  }

  /** Bloom check on the user key (true when the table has no filter). */
  mayContain(userKey: Uint8Array): boolean {
    if (this.filter === undefined) return true;
    this.bloomChecks++;
    if (this.filter.mayContain(userKey)) return true;
    this.bloomNegatives++;
    return false;
  }

  /**
   * Looks up the newest entry of userKey with seq <= maxSeq. The bloom filter is consulted before
   * any data block is read. After Found, lastValue() holds the value.
   */
  get(userKey: Uint8Array, maxSeq: number): TableLookup {
    if (!this.mayContain(userKey)) return TableLookup.FilteredOut;
    const blocks = this.blocks;
    const trailer = this.getTrailer;
    putTrailer(trailer, 0, maxSeq, ValueKind.Put);
    const cache = blocks.cache;
    // Values handed out must stay intact: blocks from a cache are never reused, blocks read into
    // the reader's scratch buffer are, so a value from one is copied.
    const scratch = cache !== undefined && cache.capacityBytes > 0 ? undefined : this.getScratch;
    const index = blocks.search(userKey, trailer, false);
    if (index === blocks.count) return TableLookup.NotFound;
    const iterator = this.getIterator;
    iterator.reset(blocks.load(index, true, scratch));
    iterator.seekTo(userKey, trailer, false);
    // If the block has no entry >= the target, the target lies between the block's last key and
    // its shortened separator, whose user key is below the next block's first user key: the
    // table holds no version of userKey at or below maxSeq.
    let result: TableLookup = TableLookup.NotFound;
    if (iterator.valid() && iterator.compareUserKey(userKey) === 0) {
      if (iterator.kind() === ValueKind.Delete) {
        result = TableLookup.Deleted;
      } else {
        result = TableLookup.Found;
        this.lastValueView = scratch === undefined ? iterator.value() : Buffer.from(iterator.value());
      }
    }
    iterator.reset(undefined);
    return result;
  }

  /** The value found by the last get() that returned Found; never mutated afterwards. */
  lastValue(): Uint8Array {
    return this.lastValueView;
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
