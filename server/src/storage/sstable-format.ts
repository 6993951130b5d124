/**
 * The SSTable file format: block handles, the block trailer, the properties block and the footer.
 *
 * A table file is a sequence of blocks followed by a fixed-size footer:
 *
 *   [data block 1] ... [data block N] [filter block]? [properties block] [metaindex block]
 *   [index block] [footer]
 *
 * Every block on disk is followed by a 5-byte block trailer:
 *
 *   compression type   1 byte    0 = none (the only type; blocks are never compressed)
 *   checksum           fixed32   masked CRC32C of the block bytes followed by the type byte
 *
 * The trailer is verified on every read of a block; a mismatch is a CorruptionError naming the file
 * and the block's offset. A block handle locates a block: varint offset, varint size, where size
 * counts the block's bytes without its trailer.
 *
 * Data, index and metaindex blocks share one block format (block-builder.ts writes it, block.ts
 * reads it): a run of entries, then the restart array.
 *
 *   entry      varint shared | varint unshared | varint valueLength | unshared key bytes | value
 *   restarts   fixed32 offset of each restart entry, in order | fixed32 restart count
 *
 * `shared` is the length of the prefix the key has in common with the previous entry's key. Every
 * `restartInterval` entries (default 16; 1 in index and metaindex blocks) an entry is a restart
 * point: it stores its whole key (shared = 0), so a reader can binary search the restart array and
 * decode forward from any restart point. A block holds at least one restart point (offset 0).
 *
 * - Data blocks: key = internal key (user key ++ 8-byte trailer, see internal-key.ts), value = the
 *   value (empty for a Delete). Entries are in strictly increasing internal-key order, across
 *   blocks as well. A block is cut once its encoded size reaches the target block size, so a block
 *   may exceed it by one entry.
 * - Filter block (absent when bloom bits per key is 0): one bloom filter over the distinct USER
 *   keys of the whole table (bloom.ts builds and reads it) in RocksDB's cache-local layout: 64-byte
 *   blocks, n = max(1, ceil(keys * bitsPerKey / 512)) of them (bit b = byte b>>3, mask 1 << (b&7)),
 *   then one marker byte 0x80 | k, k = probes (RocksDB's choice for the bits per key, 6 at 10).
 *   A key's hash h (LevelDB's murmur-like Hash(), seed 0xbc9f1d34) picks block floor(h * n / 2^32);
 *   with g0 = m * 0x85ebca6b mod 2^32 for m = h ^ (h >>> 16), g0 ^= g0 >>> 13, and
 *   g(i+1) = g(i) * 0x9e3779b9 mod 2^32, probe i tests bit g(i) >>> 23 of that block.
 *   Tables written before this layout hold LevelDB's standard filter (the bit array, then one byte
 *   k <= 30; probe i tests bit (h + i * rotr(h, 17)) mod 2^32 mod bits), which readers accept.
 *   A reader treats any other last byte as an unknown encoding and lets every key through.
 * - Properties block: not in block format but a list of varints: a field count F, then F
 *   varints in this order: entries, deletions, dataBytes, indexBytes, filterBytes, smallestSeq,
 *   largestSeq, rawKeyBytes, rawValueBytes. A reader requires at least these 9 fields and ignores
 *   any it does not know that follow (room for later versions). Byte counts of blocks include
 *   their trailers; dataBytes is the sum over all data blocks; rawKeyBytes sums the encoded
 *   internal-key lengths (user key + 8) and rawValueBytes the value lengths, before prefix
 *   compression. smallestSeq / largestSeq are the smallest and largest sequence numbers of any
 *   entry (both 0 in a table with no entries).
 * - Metaindex block: key = block name ("filter.bloom", "properties"), value = block handle.
 * - Index block: one entry per data block, in order: key = an internal key >= every key of that
 *   block and < every key of the next block (the writer shortens it where it can, in the manner
 *   of LevelDB's FindShortestSeparator: a user key between the two blocks' boundary user keys,
 *   with trailer (MAX_SEQUENCE, Put); otherwise the block's last key), value = the block handle.
 *
 * Footer (56 bytes, at the end of the file):
 *
 *   handles   40 bytes   metaindex handle ++ index handle (4 varints), zero padded to 40 bytes
 *   version   fixed32    format version, 1
 *   checksum  fixed32    masked CRC32C of the 44 bytes before it
 *   magic     8 bytes    ASCII "SISYSST1" (53 49 53 59 53 53 54 31)
 *
 * A bad magic number or footer checksum is a CorruptionError naming the file. All fixed-width
 * integers are little-endian; varints are unsigned LEB128 (coding.ts).
 */

import { ByteReader, getFixed32, putFixed32, putVarint } from "./coding.js";
import { crc32c, crc32cUpdate, maskCrc, unmaskCrc } from "./crc32c.js";
import { CorruptionError } from "./errors.js";

export const BLOCK_TRAILER_BYTES = 5;
export const COMPRESSION_NONE = 0;

/** Largest encoding of a block handle: two varints of up to 8 bytes (values < 2^53). */
export const MAX_BLOCK_HANDLE_BYTES = 16;

const FOOTER_HANDLES_BYTES = 40;
export const FOOTER_BYTES = FOOTER_HANDLES_BYTES + 4 + 4 + 8;
const FORMAT_VERSION = 1;
const TABLE_MAGIC = Buffer.from("SISYSST1", "latin1");

export const FILTER_BLOCK_NAME = "filter.bloom";
export const PROPERTIES_BLOCK_NAME = "properties";

export interface BlockHandle {
  offset: number;
  size: number;
}

/** Writes `handle` at `at`; returns the offset after it. */
export function putBlockHandle(buf: Uint8Array, at: number, offset: number, size: number): number {
  return putVarint(buf, putVarint(buf, at, offset), size);
}

/** Reads a block handle at the reader's cursor; undefined when the bytes are not a valid handle. */
export function readBlockHandle(reader: ByteReader): BlockHandle | undefined {
  const offset = reader.varint();
  if (offset < 0) return undefined;
  const size = reader.varint();
  if (size < 0) return undefined;
  return { offset, size };
}

/** Fills `trailer` (5 bytes) for `block`: compression type none and the masked checksum. */
export function fillBlockTrailer(trailer: Uint8Array, block: Uint8Array, start: number, end: number): void {
  trailer[0] = COMPRESSION_NONE;
  const crc = crc32cUpdate(crc32c(block, start, end), trailer, 0, 1);
  putFixed32(trailer, 1, maskCrc(crc));
}

/**
 * Verifies the trailer that follows `size` block bytes at the start of `buf`.
 * Throws CorruptionError naming `file` and the block's `offset`.
 */
export function verifyBlockTrailer(buf: Uint8Array, size: number, file: string, offset: number): void {
  const stored = unmaskCrc(getFixed32(buf, size + 1));
  const actual = crc32c(buf, 0, size + 1);
  if (stored !== actual) {
    throw new CorruptionError(`block checksum mismatch (block of ${size} bytes)`, file, offset);
  }
  if (buf[size] !== COMPRESSION_NONE) {
    throw new CorruptionError(`unknown block compression type ${buf[size]}`, file, offset);
  }
}

export interface Footer {
  metaindex: BlockHandle;
  index: BlockHandle;
}

/** Encodes the footer into a new FOOTER_BYTES buffer. */
export function encodeFooter(metaindex: BlockHandle, index: BlockHandle): Buffer {
  const buf = Buffer.alloc(FOOTER_BYTES);
  putBlockHandle(buf, putBlockHandle(buf, 0, metaindex.offset, metaindex.size), index.offset, index.size);
  putFixed32(buf, FOOTER_HANDLES_BYTES, FORMAT_VERSION);
  putFixed32(buf, FOOTER_HANDLES_BYTES + 4, maskCrc(crc32c(buf, 0, FOOTER_HANDLES_BYTES + 4)));
  TABLE_MAGIC.copy(buf, FOOTER_HANDLES_BYTES + 8);
  return buf;
}

/** Decodes and verifies a footer read from `offset` of `file`. */
export function decodeFooter(buf: Uint8Array, file: string, offset: number): Footer {
  const magicAt = FOOTER_HANDLES_BYTES + 8;
  if (buf.length !== FOOTER_BYTES || TABLE_MAGIC.compare(buf, magicAt, magicAt + 8) !== 0) {
    throw new CorruptionError("bad table magic number (not an SSTable, or truncated)", file, offset);
  }
  const stored = unmaskCrc(getFixed32(buf, FOOTER_HANDLES_BYTES + 4));
  if (stored !== crc32c(buf, 0, FOOTER_HANDLES_BYTES + 4)) {
    throw new CorruptionError("footer checksum mismatch", file, offset);
  }
  const version = getFixed32(buf, FOOTER_HANDLES_BYTES);
  if (version !== FORMAT_VERSION) {
    throw new CorruptionError(`unsupported table format version ${version}`, file, offset);
  }
  const reader = new ByteReader(buf, 0, FOOTER_HANDLES_BYTES);
  const metaindex = readBlockHandle(reader);
  const index = readBlockHandle(reader);
  if (metaindex === undefined || index === undefined) {
    throw new CorruptionError("bad block handle in footer", file, offset);
  }
  return { metaindex, index };
}

export interface TableProperties {
  entries: number;
  deletions: number;
  dataBytes: number;
  indexBytes: number;
  filterBytes: number;
  smallestSeq: number;
  largestSeq: number;
  rawKeyBytes: number;
  rawValueBytes: number;
}

/** Field order on disk; appending a field is compatible, reordering is not. */
const PROPERTY_FIELDS = [
  "entries",
  "deletions",
  "dataBytes",
  "indexBytes",
  "filterBytes",
  "smallestSeq",
  "largestSeq",
  "rawKeyBytes",
  "rawValueBytes",
] as const satisfies readonly (keyof TableProperties)[];

export function encodeProperties(props: TableProperties): Buffer {
  const buf = Buffer.allocUnsafe(1 + PROPERTY_FIELDS.length * 8);
  let at = putVarint(buf, 0, PROPERTY_FIELDS.length);
  for (const field of PROPERTY_FIELDS) at = putVarint(buf, at, props[field]);
  return buf.subarray(0, at);
}

/** Decodes a properties block read from `offset` of `file`. */
export function decodeProperties(buf: Uint8Array, file: string, offset: number): TableProperties {
  const reader = new ByteReader(buf);
  const count = reader.varint();
  if (count < PROPERTY_FIELDS.length) {
    throw new CorruptionError(`properties block has ${count} fields, expected ${PROPERTY_FIELDS.length}`, file, offset);
  }
  const props = {} as TableProperties;
  for (const field of PROPERTY_FIELDS) {
    const value = reader.varint();
    if (value < 0) throw new CorruptionError(`properties block truncated at field ${field}`, file, offset);
    props[field] = value;
  }
  return props;
}
