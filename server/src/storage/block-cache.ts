/**
 * The block cache: verified data blocks shared by every table reader of an engine, with a byte
 * budget. A block is charged its size in bytes (Block.charge). Capacity 0 disables caching
 * (lookups miss, inserts are dropped).
 *
 * A reader registers its table once (table()) and gets a CachedTable whose blocks are found by
 * block number in an array: a hit is one array load and one byte store, with no hashing and no
 * list to relink, because a point lookup that hits the cache should cost little more than the
 * search inside the block.
 *
 * Eviction is CLOCK (second chance), LRU's cheap approximation: cached blocks form a ring in
 * insertion order and a hit only sets the block's referenced bit. To make room, the hand walks
 * the ring from the oldest block: a referenced block loses its bit and is passed over, the first
 * unreferenced one is evicted. A new block enters the ring just behind the hand, so it gets a
 * full turn before it is considered, and enters unreferenced, so a block read once by a scan
 * goes before blocks that were hit.
 *
 * Blocks are immutable, so a block evicted while an iterator still reads it stays valid for that
 * iterator; eviction only drops the cache's reference.
 */

import type { Block } from "./block.js";
import { InvalidArgumentError } from "./errors.js";

/** One cached block's place in the ring; the block itself sits in its table's `blocks` array. */
class RingEntry {
  next: RingEntry = this;
  previous: RingEntry = this;

  constructor(
    readonly table: CachedTable,
    readonly index: number,
    readonly charge: number,
  ) {}
}

export interface BlockCacheStats {
  capacityBytes: number;
  usedBytes: number;
  hits: number;
  misses: number;
  hitRate: number;
}

/** The blocks one table has in the cache, by block number. */
export class CachedTable {
  /** Cached block by block number; undefined when not cached. */
  private readonly blocks: (Block | undefined)[];
  /** CLOCK referenced bit by block number (1 = hit since the hand last passed). */
  readonly referenced: Uint8Array;
  /** Each cached block's place in the ring, for BlockCache. */
  readonly entries: (RingEntry | undefined)[];
  /** Set by evictTable: the table's file is gone, nothing may be cached for it any more. */
  detached = false;

  constructor(
    private readonly cache: BlockCache,
    readonly cacheId: number,
    readonly blockCount: number,
  ) {
    this.blocks = new Array<Block | undefined>(blockCount).fill(undefined);
    this.entries = new Array<RingEntry | undefined>(blockCount).fill(undefined);
    this.referenced = new Uint8Array(blockCount);
  }

  lookup(index: number): Block | undefined {
    const block = this.blocks[index];
    if (block === undefined) {
      this.cache.misses++;
      return undefined;
    }
    this.cache.hits++;
    this.referenced[index] = 1;
    return block;
  }

  /** Whether block `index` was hit since the CLOCK hand last passed it (or since it was cached). */
  hitSinceSweep(index: number): boolean {
    return this.referenced[index] !== 0;
  }

  /** Caches `block` as block `index`, replacing any block cached there. A block larger than the whole cache is not kept. */
  insert(index: number, block: Block): void {
    if (!(index >= 0 && index < this.blockCount)) {
      throw new RangeError(`block ${index} of a table of ${this.blockCount} blocks`);
    }
    if (this.detached) return;
    this.cache.insert(this, index, block);
  }

  /**
   * Swaps the cached block `index`, just hit, for another form of it (an expanded block): the
   * new block is charged its own size and stays referenced.
   */
  replace(index: number, block: Block): void {
    this.insert(index, block);
    if (this.blocks[index] === block) this.referenced[index] = 1;
  }

  /** Whether inserted blocks may be kept (false for a cache of capacity 0 and after evictTable). */
  accepting(): boolean {
    return !this.detached && this.cache.capacityBytes > 0;
  }

  /** For BlockCache only: points slot `index` at `block` (undefined to empty it). */
  setSlot(index: number, block: Block | undefined, entry: RingEntry | undefined): void {
    this.blocks[index] = block;
    this.entries[index] = entry;
    this.referenced[index] = 0;
  }
}

export class BlockCache {
  private readonly tables = new Map<number, CachedTable>();
  /** The next eviction candidate; the ring's newest entry is hand.previous. Undefined when empty. */
  private hand: RingEntry | undefined;
  private usedBytes = 0;
  /** Counted by CachedTable.lookup. */
  hits = 0;
  misses = 0;

  constructor(readonly capacityBytes: number) {
    if (!(capacityBytes >= 0)) {
      throw new InvalidArgumentError(`block cache capacity must be >= 0, got ${capacityBytes}`, "capacityBytes");
    }
  }

  /**
   * The cache's slots for the table `cacheId` (one id names one file) of `blockCount` data
   * blocks. Asking again for the same id and count returns the same CachedTable; a different
   * count means the id now names another file, so the old table's blocks are dropped.
   */
  table(cacheId: number, blockCount: number): CachedTable {
    const existing = this.tables.get(cacheId);
    if (existing !== undefined) {
      if (existing.blockCount === blockCount) return existing;
      this.evictTable(cacheId);
    }
    const table = new CachedTable(this, cacheId, blockCount);
    this.tables.set(cacheId, table);
    return table;
  }

  /** For CachedTable.insert. */
  insert(table: CachedTable, index: number, block: Block): void {
    const charge = block.charge;
    if (charge > this.capacityBytes) return;
    const previous = table.entries[index];
    if (previous !== undefined) this.remove(previous);
    while (this.usedBytes + charge > this.capacityBytes) this.evictOne();
    const entry = new RingEntry(table, index, charge);
    const hand = this.hand;
    if (hand === undefined) {
      this.hand = entry;
    } else {
      entry.next = hand;
      entry.previous = hand.previous;
      hand.previous.next = entry;
      hand.previous = entry;
    }
    table.setSlot(index, block, entry);
    this.usedBytes += charge;
  }

  /** Drops every block of one table (its file is gone or will not be read again). */
  evictTable(cacheId: number): void {
    const table = this.tables.get(cacheId);
    if (table === undefined) return;
    for (const entry of table.entries) {
      if (entry !== undefined) this.remove(entry);
    }
    table.detached = true;
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

  /** Advances the hand to the first unreferenced block, clearing bits on the way, and evicts it. */
  private evictOne(): void {
    let entry = this.hand!;
    while (entry.table.referenced[entry.index] !== 0) {
      entry.table.referenced[entry.index] = 0;
      entry = entry.next;
    }
    this.hand = entry;
    this.remove(entry);
  }

  private remove(entry: RingEntry): void {
    if (entry.next === entry) {
      this.hand = undefined;
    } else {
      if (this.hand === entry) this.hand = entry.next;
      entry.previous.next = entry.next;
      entry.next.previous = entry.previous;
    }
    entry.table.setSlot(entry.index, undefined, undefined);
    this.usedBytes -= entry.charge;
  }
}
