/**
 * The iterator contract shared by memtables, SSTable blocks, SSTables, levels and the merging
 * iterator. It walks internal entries (every version of every key, tombstones included) in
 * internal-key order: user key ascending, sequence descending.
 *
 * Synchronous on purpose: SSTable blocks are read with pread from the page cache (or served by
 * the block cache), which costs less than a round trip through libuv's thread pool; the async
 * user-facing iterator yields to the event loop between batches.
 *
 * Views returned by key() and value() are valid only until the iterator moves; a caller that
 * keeps one copies it.
 */
export interface InternalIterator {
  valid(): boolean;
  seekToFirst(): void;
  seekToLast(): void;
  /** Positions at the first entry >= (userKey, seq, kind=Put) in internal order. */
  seek(userKey: Uint8Array, seq: number): void;
  /** Positions at the last entry <= (userKey, seq=0, kind=Delete), i.e. the last with user key <= userKey. */
  seekForPrev(userKey: Uint8Array): void;
  next(): void;
  prev(): void;
  /** The user key (without trailer). */
  key(): Uint8Array;
  seq(): number;
  kind(): number;
  value(): Uint8Array;
  /** Releases resources (block pins, file references). Idempotent. */
  close(): void;
}
