import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Block } from "../../src/storage/block.js";
import { BlockCache } from "../../src/storage/block-cache.js";
import { putFixed32 } from "../../src/storage/coding.js";
import { InvalidArgumentError } from "../../src/storage/errors.js";

/** A structurally valid block of exactly `size` bytes (one restart point at 0). */
function blockOfSize(size: number): Block {
  const data = Buffer.alloc(size);
  putFixed32(data, size - 8, 0);
  putFixed32(data, size - 4, 1);
  return new Block(data, "test.sst", 0);
}

describe("BlockCache", () => {
  it("returns what was inserted and counts hits and misses", () => {
    const cache = new BlockCache(1000);
    const one = cache.table(1, 4);
    const two = cache.table(2, 4);
    const block = blockOfSize(100);
    assert.equal(one.lookup(0), undefined);
    one.insert(0, block);
    assert.equal(one.lookup(0), block);
    assert.equal(one.lookup(0), block);
    assert.equal(two.lookup(0), undefined, "another table's block with the same number is a different block");
    assert.equal(one.lookup(1), undefined);
    assert.deepEqual(cache.stats(), { capacityBytes: 1000, usedBytes: 100, hits: 2, misses: 3, hitRate: 2 / 5 });
  });

  it("gives a block hit since the hand last passed a second chance", () => {
    const cache = new BlockCache(300);
    const t = cache.table(1, 4);
    const a = blockOfSize(100);
    t.insert(0, a);
    t.insert(1, blockOfSize(100));
    t.insert(2, blockOfSize(100));
    assert.equal(cache.stats().usedBytes, 300);
    t.lookup(0); // a is referenced: the hand passes over it once
    const d = blockOfSize(150);
    t.insert(3, d);
    assert.equal(t.lookup(1), undefined, "b (oldest unreferenced) evicted");
    assert.equal(t.lookup(2), undefined, "c evicted too: 100 bytes were not enough room");
    assert.equal(t.lookup(0), a);
    assert.equal(t.lookup(3), d);
    assert.equal(cache.stats().usedBytes, 250);
  });

  it("tells whether a block was hit since the hand last passed it", () => {
    const cache = new BlockCache(200);
    const t = cache.table(1, 3);
    t.insert(0, blockOfSize(100));
    t.insert(1, blockOfSize(100));
    assert.equal(t.hitSinceSweep(0), false, "a new block");
    t.lookup(0);
    assert.equal(t.hitSinceSweep(0), true);
    assert.equal(t.hitSinceSweep(1), false);
    t.insert(2, blockOfSize(100)); // the hand clears 0's bit and evicts 1
    assert.equal(t.hitSinceSweep(0), false);
    assert.equal(t.lookup(1), undefined);
  });

  it("evicts blocks never hit before blocks that were, however recent", () => {
    const cache = new BlockCache(300);
    const t = cache.table(1, 5);
    for (let i = 0; i < 3; i++) t.insert(i, blockOfSize(100));
    t.lookup(0);
    t.lookup(1);
    t.insert(3, blockOfSize(100)); // the newest block, 2, was never read: it goes
    assert.equal(t.lookup(2), undefined);
    assert.notEqual(t.lookup(0), undefined);
    assert.notEqual(t.lookup(1), undefined);
    assert.notEqual(t.lookup(3), undefined);
    // All three were hit since: the hand goes round once clearing bits, then evicts the first
    // block it reaches again, the oldest (0).
    t.insert(4, blockOfSize(100));
    assert.equal(t.lookup(0), undefined);
    assert.notEqual(t.lookup(1), undefined);
    assert.notEqual(t.lookup(3), undefined);
    assert.notEqual(t.lookup(4), undefined);
    assert.equal(cache.stats().usedBytes, 300);
  });

  it("replaces a block inserted twice under one number without double-charging", () => {
    const cache = new BlockCache(1000);
    const t = cache.table(1, 1);
    t.insert(0, blockOfSize(100));
    const replacement = blockOfSize(200);
    t.insert(0, replacement);
    assert.equal(t.lookup(0), replacement);
    assert.equal(cache.stats().usedBytes, 200);
  });

  it("replace swaps a block for another form of it, charged its own size and still referenced", () => {
    const cache = new BlockCache(300);
    const t = cache.table(1, 3);
    t.insert(0, blockOfSize(100));
    t.insert(1, blockOfSize(100));
    t.lookup(0);
    const expanded = blockOfSize(150);
    t.replace(0, expanded);
    assert.equal(cache.stats().usedBytes, 250);
    assert.equal(t.hitSinceSweep(0), true);
    t.insert(2, blockOfSize(100)); // room for 100 more: the unreferenced block 1 goes, not 0
    assert.equal(t.lookup(0), expanded);
    assert.equal(t.lookup(1), undefined);
  });

  it("does not keep a block larger than the whole cache", () => {
    const cache = new BlockCache(100);
    const t = cache.table(1, 2);
    const small = blockOfSize(60);
    t.insert(0, small);
    t.insert(1, blockOfSize(101));
    assert.equal(t.lookup(1), undefined);
    assert.equal(t.lookup(0), small, "an oversized insert evicts nothing");
  });

  it("with capacity 0 caches nothing", () => {
    const cache = new BlockCache(0);
    const t = cache.table(1, 1);
    assert.equal(t.accepting(), false);
    t.insert(0, blockOfSize(16));
    assert.equal(t.lookup(0), undefined);
    assert.deepEqual(cache.stats(), { capacityBytes: 0, usedBytes: 0, hits: 0, misses: 1, hitRate: 0 });
  });

  it("rejects a block number outside the table", () => {
    const t = new BlockCache(1000).table(1, 2);
    assert.throws(() => t.insert(2, blockOfSize(16)), RangeError);
    assert.throws(() => t.insert(-1, blockOfSize(16)), RangeError);
  });

  it("evictTable drops exactly that table's blocks and detaches it", () => {
    const cache = new BlockCache(10_000);
    const seven = cache.table(7, 10);
    const eight = cache.table(8, 10);
    for (let i = 0; i < 10; i++) {
      seven.insert(i, blockOfSize(100));
      eight.insert(i, blockOfSize(50));
    }
    cache.evictTable(7);
    cache.evictTable(99);
    assert.equal(cache.stats().usedBytes, 500);
    for (let i = 0; i < 10; i++) {
      assert.equal(seven.lookup(i), undefined);
      assert.notEqual(eight.lookup(i), undefined);
    }
    seven.insert(0, blockOfSize(100));
    assert.equal(seven.lookup(0), undefined, "a detached table caches nothing");
    assert.equal(seven.accepting(), false);
    assert.notEqual(cache.table(7, 10), seven, "the id can be registered afresh");
    // The ring stays consistent: filling the cache evicts table 8's blocks oldest first (their
    // bits, set by the lookups above, are cleared on the first pass).
    const nine = cache.table(9, 1);
    nine.insert(0, blockOfSize(9_600));
    assert.equal(cache.stats().usedBytes, 10_000);
    assert.equal(eight.lookup(0), undefined);
    assert.equal(eight.lookup(1), undefined);
    assert.notEqual(eight.lookup(2), undefined);
  });

  it("table() returns one handle per id and block count; a new count replaces the table", () => {
    const cache = new BlockCache(1000);
    const t = cache.table(3, 4);
    assert.equal(cache.table(3, 4), t);
    t.insert(0, blockOfSize(100));
    const other = cache.table(3, 5);
    assert.notEqual(other, t);
    assert.equal(other.lookup(0), undefined);
    assert.equal(t.lookup(0), undefined);
    assert.equal(cache.stats().usedBytes, 0);
  });

  it("matches a model of CLOCK under random use", () => {
    const seed = Date.now() % 100_000;
    let state = seed;
    const random = (n: number): number => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state % n;
    };
    const capacity = 5_000;
    const cache = new BlockCache(capacity);
    const tables = [0, 1, 2, 3].map((id) => cache.table(id, 20));
    // The ring from the hand on: the hand is ring[0], a new block goes at the end.
    const ring: { key: string; size: number; referenced: boolean }[] = [];
    const used = (): number => ring.reduce((sum, e) => sum + e.size, 0);
    for (let step = 0; step < 5_000; step++) {
      const table = random(4);
      const index = random(20);
      const key = `${table}:${index}`;
      const at = ring.findIndex((e) => e.key === key);
      if (random(3) === 0) {
        const size = 8 + random(1500);
        tables[table]!.insert(index, blockOfSize(size));
        if (at >= 0) ring.splice(at, 1);
        while (used() + size > capacity) {
          const hand = ring.shift()!;
          if (hand.referenced) {
            hand.referenced = false;
            ring.push(hand);
          }
        }
        ring.push({ key, size, referenced: false });
      } else {
        const hit = tables[table]!.lookup(index) !== undefined;
        assert.equal(hit, at >= 0, `seed ${seed} step ${step}: lookup ${key}`);
        if (hit) ring[at]!.referenced = true;
      }
      assert.equal(cache.stats().usedBytes, used(), `seed ${seed} step ${step}: usedBytes`);
    }
  });

  it("rejects a negative capacity", () => {
    assert.throws(() => new BlockCache(-1), InvalidArgumentError);
  });
});
