/**
 * The block cache: verified, parsed data blocks shared by every table reader of an engine, keyed
 * by (table cacheId, block offset) and evicted least recently used first once the bytes held
 * exceed the capacity. A block is charged its size in bytes. Capacity 0 disables caching
 * (lookups miss, inserts are dropped).
 *
 * Blocks are immutable, so a block evicted while an iterator still reads it stays valid for that
 * iterator; eviction only drops the cache's reference.
 */

import type { Block } from "./block.js";
import { InvalidArgumentError } from "./errors.js";

interface CacheEntry {
  cacheId: number;
  offset: number;
  block: Block;
  charge: number;
  /** Neighbours in the recency list: `newer` toward the head (most recent). */
  newer: CacheEntry | undefined;
  older: CacheEntry | undefined;
}

export interface BlockCacheStats {
  capacityBytes: number;
  usedBytes: number;
  hits: number;
  misses: number;
  hitRate: number;
}

export class BlockCache {
  /** cacheId -> block offset -> entry; the two levels make evictTable cost only that table's blocks. */
  private readonly tables = new Map<number, Map<number, CacheEntry>>();
  private newest: CacheEntry | undefined;
  private oldest: CacheEntry | undefined;
  private usedBytes = 0;
  private hits = 0;
  private misses = 0;

  constructor(readonly capacityBytes: number) {
    if (!(capacityBytes >= 0)) {
      throw new InvalidArgumentError(`block cache capacity must be >= 0, got ${capacityBytes}`, "capacityBytes");
    }
  }

  lookup(cacheId: number, offset: number): Block | undefined {
    const entry = this.tables.get(cacheId)?.get(offset);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (entry !== this.newest) {
      this.unlink(entry);
      this.pushNewest(entry);
    }
    return entry.block;
  }

  /** Caches `block`, replacing any block cached under the same key. A block larger than the whole cache is not kept. */
  insert(cacheId: number, offset: number, block: Block): void {
    const charge = block.charge;
    if (charge > this.capacityBytes) return;
    let table = this.tables.get(cacheId);
    if (table === undefined) {
      table = new Map();
      this.tables.set(cacheId, table);
    }
    const previous = table.get(offset);
    if (previous !== undefined) {
      this.unlink(previous);
      this.usedBytes -= previous.charge;
    }
    const entry: CacheEntry = { cacheId, offset, block, charge, newer: undefined, older: undefined };
    table.set(offset, entry);
    this.pushNewest(entry);
    this.usedBytes += charge;
    while (this.usedBytes > this.capacityBytes) this.remove(this.oldest!);
  }

  /** Drops every block of one table (its file is gone or will not be read again). */
  evictTable(cacheId: number): void {
    const table = this.tables.get(cacheId);
    if (table === undefined) return;
    for (const entry of table.values()) {
      this.unlink(entry);
      this.usedBytes -= entry.charge;
    }
    this.tables.delete(cacheId);
  }

  stats(): BlockCacheStats {
    const lookups = this.hits + this.misses;
    return {
      capacityBytes: this.capacityBytes,
      usedBytes: this.usedBytes,
      hits: this.hits,
      misses: this.misses,
      hitRate: lookups === 0 ? 0 : this.hits / lookups,
    };
  }

  private remove(entry: CacheEntry): void {
    this.unlink(entry);
    this.usedBytes -= entry.charge;
    const table = this.tables.get(entry.cacheId)!;
    table.delete(entry.offset);
    if (table.size === 0) this.tables.delete(entry.cacheId);
  }

  private pushNewest(entry: CacheEntry): void {
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest !== undefined) this.newest.newer = entry;
    this.newest = entry;
    if (this.oldest === undefined) this.oldest = entry;
  }

  private unlink(entry: CacheEntry): void {
    if (entry.newer !== undefined) entry.newer.older = entry.older;
    else this.newest = entry.older;
    if (entry.older !== undefined) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    entry.newer = undefined;
    entry.older = undefined;
  }
}
