/**
 * Writes one SSTable (format in sstable-format.ts) from entries given in internal-key order:
 * data blocks as they fill, then the filter, properties, metaindex and index blocks and the
 * footer. Output goes through a 64 KiB buffer with synchronous writes; finish() fsyncs, so a table
 * that finish() returned for is durable before the manifest names it.
 *
 * Per entry the writer copies the key into a scratch buffer and the entry into the open block;
 * it allocates nothing (buffers grow, rarely).
 */

import fs from "node:fs";
import { BlockBuilder } from "./block-builder.js";
import { BloomFilterBuilder } from "./bloom.js";
import { InvalidArgumentError, IOError, StorageError } from "./errors.js";
import {
  compareBytes,
  compareTrailersDesc,
  MAX_SEQUENCE,
  putTrailer,
  TRAILER_BYTES,
  trailerSeq,
  ValueKind,
} from "./internal-key.js";
import {
  BLOCK_TRAILER_BYTES,
  encodeFooter,
  encodeProperties,
  fillBlockTrailer,
  FILTER_BLOCK_NAME,
  MAX_BLOCK_HANDLE_BYTES,
  PROPERTIES_BLOCK_NAME,
  putBlockHandle,
  type BlockHandle,
} from "./sstable-format.js";

export interface SSTableWriterOptions {
  /** Target size of a data block before its restart array; a block is cut once it reaches it. */
  blockSizeBytes: number;
  /** Entries between restart points in a data block. */
  restartInterval: number;
  /** Bloom filter bits per user key; 0 writes no filter block. */
  bloomBitsPerKey: number;
}

export interface TableMeta {
  fileSize: number;
  entries: number;
  deletions: number;
  /** Encoded internal keys (user key ++ trailer) of the first and last entry; empty when entries is 0. */
  smallestKey: Buffer;
  largestKey: Buffer;
  /** Smallest and largest sequence number of any entry (0 when entries is 0). */
  smallestSeq: number;
  largestSeq: number;
}

const OUTPUT_BUFFER_BYTES = 64 * 1024;
const FILTER_NAME = Buffer.from(FILTER_BLOCK_NAME, "latin1");
const PROPERTIES_NAME = Buffer.from(PROPERTIES_BLOCK_NAME, "latin1");

type WriterState = "open" | "finished" | "failed" | "abandoned";

export class SSTableWriter {
  private fd: number;
  private state: WriterState = "open";
  private readonly out = Buffer.allocUnsafe(OUTPUT_BUFFER_BYTES);
  private outLength = 0;
  /** Bytes already handed to the file; the write position is flushedBytes + outLength. */
  private flushedBytes = 0;

  private readonly blockSizeBytes: number;
  private readonly dataBlock: BlockBuilder;
  private readonly indexBlock = new BlockBuilder(1);
  private readonly filter: BloomFilterBuilder | undefined;
  private readonly blockTrailer = Buffer.allocUnsafe(BLOCK_TRAILER_BYTES);
  private readonly handleBuf = Buffer.allocUnsafe(MAX_BLOCK_HANDLE_BYTES);

  /** The key being added and the previous one; swapped after each add instead of copied. */
  private key = Buffer.allocUnsafe(256);
  private lastKey = Buffer.allocUnsafe(256);
  private lastKeyLength = 0;
  private separator = Buffer.allocUnsafe(256);
  /** A data block was written but its index entry waits for the next key (to shorten the separator). */
  private pendingIndexEntry = false;
  private readonly pendingHandle: BlockHandle = { offset: 0, size: 0 };

  private entryCount = 0;
  private deletions = 0;
  private dataBytes = 0;
  private rawKeyBytes = 0;
  private rawValueBytes = 0;
  private smallestSeq = 0;
  private largestSeq = 0;
  private smallestKey: Buffer = Buffer.alloc(0);

  constructor(
    readonly path: string,
    options: SSTableWriterOptions,
  ) {
    const { blockSizeBytes, restartInterval, bloomBitsPerKey } = options;
    if (!Number.isInteger(blockSizeBytes) || blockSizeBytes < 1) {
      throw new InvalidArgumentError(`blockSizeBytes must be an integer >= 1, got ${blockSizeBytes}`, "blockSizeBytes");
    }
    if (!Number.isInteger(restartInterval) || restartInterval < 1) {
      throw new InvalidArgumentError(`restartInterval must be an integer >= 1, got ${restartInterval}`, "restartInterval");
    }
    if (!(bloomBitsPerKey >= 0 && bloomBitsPerKey <= 1000)) {
      throw new InvalidArgumentError(`bloomBitsPerKey must be in 0..1000, got ${bloomBitsPerKey}`, "bloomBitsPerKey");
    }
    this.blockSizeBytes = blockSizeBytes;
    this.dataBlock = new BlockBuilder(restartInterval);
    this.filter = bloomBitsPerKey > 0 ? new BloomFilterBuilder(bloomBitsPerKey) : undefined;
    try {
      this.fd = fs.openSync(path, "wx");
    } catch (err) {
      throw new IOError(`cannot create table file: ${(err as Error).message}`, path, { cause: err });
    }
  }

  /** Entries must arrive in strictly increasing internal-key order. */
  add(userKey: Uint8Array, seq: number, kind: ValueKind, value: Uint8Array): void {
    if (this.state !== "open") throw new StorageError(`table writer is ${this.state} (file ${this.path})`);
    if (!(seq >= 0 && seq <= MAX_SEQUENCE) || !Number.isInteger(seq)) {
      throw new InvalidArgumentError(`sequence number out of range: ${seq}`, "seq");
    }
    if (kind !== ValueKind.Put && kind !== ValueKind.Delete) {
      throw new InvalidArgumentError(`unknown value kind ${kind as number}`, "kind");
    }
    const userLength = userKey.length;
    const keyLength = userLength + TRAILER_BYTES;
    if (keyLength > this.key.length) this.key = Buffer.allocUnsafe(Math.max(keyLength, this.key.length * 2));
    const key = this.key;
    if (userLength > 32) key.set(userKey, 0);
    else for (let i = 0; i < userLength; i++) key[i] = userKey[i];
    putTrailer(key, userLength, seq, kind);

    let newUserKey = true;
    if (this.entryCount > 0) {
      const lastUserLength = this.lastKeyLength - TRAILER_BYTES;
      let c = compareBytes(key, 0, userLength, this.lastKey, 0, lastUserLength);
      newUserKey = c !== 0;
      if (c === 0) c = compareTrailersDesc(key, userLength, this.lastKey, lastUserLength);
      if (c <= 0) {
        throw new StorageError(
          `table entries out of order: (seq ${seq}, kind ${kind}) after (seq ${trailerSeq(this.lastKey, lastUserLength)}) ` +
            `(file ${this.path})`,
        );
      }
    } else {
      this.smallestKey = Buffer.from(key.subarray(0, keyLength));
      this.smallestSeq = seq;
      this.largestSeq = seq;
    }

    if (this.pendingIndexEntry) this.addIndexEntry(key, keyLength);
    if (newUserKey && this.filter !== undefined) this.filter.addKey(userKey);
    this.dataBlock.add(key, keyLength, value);

    this.entryCount++;
    if (kind === ValueKind.Delete) this.deletions++;
    this.rawKeyBytes += keyLength;
    this.rawValueBytes += value.length;
    if (seq < this.smallestSeq) this.smallestSeq = seq;
    if (seq > this.largestSeq) this.largestSeq = seq;
    this.key = this.lastKey;
    this.lastKey = key;
    this.lastKeyLength = keyLength;

    if (this.dataBlock.estimatedSize() >= this.blockSizeBytes) this.flushDataBlock();
  }

  /** Bytes written so far plus the open block, for splitting output files at a target size. */
  estimatedFileSize(): number {
    return this.position() + (this.dataBlock.empty() ? 0 : this.dataBlock.estimatedSize());
  }

  entries(): number {
    return this.entryCount;
  }

  /** Writes filter, properties, metaindex, index and footer; fsyncs and closes the file. */
  finish(): TableMeta {
    if (this.state !== "open") throw new StorageError(`table writer is ${this.state} (file ${this.path})`);
    try {
      this.flushDataBlock();
      if (this.pendingIndexEntry) this.addIndexEntry(undefined, 0);
      const filterContents = this.filter?.finish();
      const indexContents = this.indexBlock.finish();

      const metaindex = new BlockBuilder(1);
      if (filterContents !== undefined) {
        const handle = this.writeBlock(filterContents);
        metaindex.add(FILTER_NAME, FILTER_NAME.length, this.encodeHandle(handle.offset, handle.size));
      }
      const properties = encodeProperties({
        entries: this.entryCount,
        deletions: this.deletions,
        dataBytes: this.dataBytes,
        indexBytes: indexContents.length + BLOCK_TRAILER_BYTES,
        filterBytes: filterContents === undefined ? 0 : filterContents.length + BLOCK_TRAILER_BYTES,
        smallestSeq: this.smallestSeq,
        largestSeq: this.largestSeq,
        rawKeyBytes: this.rawKeyBytes,
        rawValueBytes: this.rawValueBytes,
      });
      const propertiesHandle = this.writeBlock(properties);
      metaindex.add(
        PROPERTIES_NAME,
        PROPERTIES_NAME.length,
        this.encodeHandle(propertiesHandle.offset, propertiesHandle.size),
      );
      const metaindexHandle = this.writeBlock(metaindex.finish());
      const indexHandle = this.writeBlock(indexContents);
      this.append(encodeFooter(metaindexHandle, indexHandle));
      this.flushOutput();
      fs.fsyncSync(this.fd);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      this.state = "failed";
      throw new IOError(`cannot write table file: ${(err as Error).message}`, this.path, { cause: err });
    }
    const fileSize = this.position();
    this.state = "finished";
    this.closeFd();
    return {
      fileSize,
      entries: this.entryCount,
      deletions: this.deletions,
      smallestKey: this.smallestKey,
      largestKey: Buffer.from(this.lastKey.subarray(0, this.lastKeyLength)),
      smallestSeq: this.smallestSeq,
      largestSeq: this.largestSeq,
    };
  }

  /** Closes and deletes the partial file. Safe to call in any state but "finished". */
  abandon(): void {
    if (this.state === "finished") throw new StorageError(`cannot abandon a finished table (file ${this.path})`);
    if (this.state === "abandoned") return;
    this.state = "abandoned";
    this.closeFd();
    try {
      fs.unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new IOError(`cannot delete abandoned table file: ${(err as Error).message}`, this.path, { cause: err });
      }
    }
  }

  private position(): number {
    return this.flushedBytes + this.outLength;
  }

  /**
   * Adds the index entry of the block just written. Its key must be >= the block's last key
   * (lastKey) and < the next block's first key (`next`): a short user key between the two when
   * one exists, else the last key itself.
   */
  private addIndexEntry(next: Buffer | undefined, nextLength: number): void {
    let separator = this.lastKey;
    let separatorLength = this.lastKeyLength;
    if (next !== undefined) {
      const last = this.lastKey;
      const n = Math.min(this.lastKeyLength, nextLength) - TRAILER_BYTES;
      let i = 0;
      while (i < n && last[i] === next[i]) i++;
      if (i < n && last[i] < 0xff && last[i] + 1 < next[i]) {
        // (shortUserKey, MAX_SEQUENCE, Put) is the smallest internal key of shortUserKey, and
        // lastUserKey < shortUserKey < nextUserKey.
        separatorLength = i + 1 + TRAILER_BYTES;
        if (separatorLength > this.separator.length) this.separator = Buffer.allocUnsafe(separatorLength);
        separator = this.separator;
        last.copy(separator, 0, 0, i);
        separator[i] = last[i] + 1;
        putTrailer(separator, i + 1, MAX_SEQUENCE, ValueKind.Put);
      }
    }
    this.indexBlock.add(
      separator,
      separatorLength,
      this.encodeHandle(this.pendingHandle.offset, this.pendingHandle.size),
    );
    this.pendingIndexEntry = false;
  }

  private flushDataBlock(): void {
    if (this.dataBlock.empty()) return;
    const handle = this.writeBlock(this.dataBlock.finish());
    this.dataBytes += handle.size + BLOCK_TRAILER_BYTES;
    this.pendingHandle.offset = handle.offset;
    this.pendingHandle.size = handle.size;
    this.pendingIndexEntry = true;
    this.dataBlock.reset();
  }

  private encodeHandle(offset: number, size: number): Buffer {
    return this.handleBuf.subarray(0, putBlockHandle(this.handleBuf, 0, offset, size));
  }

  /** Writes `contents` and its trailer; returns its handle. */
  private writeBlock(contents: Uint8Array): BlockHandle {
    const handle = { offset: this.position(), size: contents.length };
    fillBlockTrailer(this.blockTrailer, contents, 0, contents.length);
    this.append(contents);
    this.append(this.blockTrailer);
    return handle;
  }

  private append(bytes: Uint8Array): void {
    if (bytes.length <= this.out.length - this.outLength) {
      this.out.set(bytes, this.outLength);
      this.outLength += bytes.length;
      return;
    }
    this.flushOutput();
    if (bytes.length >= this.out.length) {
      this.writeFully(bytes, bytes.length);
    } else {
      this.out.set(bytes, 0);
      this.outLength = bytes.length;
    }
  }

  private flushOutput(): void {
    if (this.outLength === 0) return;
    const length = this.outLength;
    this.outLength = 0;
    this.writeFully(this.out, length);
  }

  private writeFully(bytes: Uint8Array, length: number): void {
    let done = 0;
    try {
      while (done < length) {
        done += fs.writeSync(this.fd, bytes, done, length - done, this.flushedBytes + done);
      }
    } catch (err) {
      this.state = "failed";
      throw new IOError(`cannot write table file: ${(err as Error).message}`, this.path, { cause: err });
    }
    this.flushedBytes += length;
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      fs.closeSync(fd);
    } catch (err) {
      if (this.state !== "abandoned") {
        throw new IOError(`cannot close table file: ${(err as Error).message}`, this.path, { cause: err });
      }
    }
  }
}
