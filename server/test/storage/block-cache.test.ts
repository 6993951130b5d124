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
    const block = blockOfSize(100);
    assert.equal(cache.lookup(1, 0), undefined);
    cache.insert(1, 0, block);
    assert.equal(cache.lookup(1, 0), block);
    assert.equal(cache.lookup(1, 0), block);
    assert.equal(cache.lookup(2, 0), undefined, "another table's block at the same offset is a different key");
    assert.equal(cache.lookup(1, 100), undefined);
    assert.deepEqual(cache.stats(), { capacityBytes: 1000, usedBytes: 100, hits: 2, misses: 3, hitRate: 2 / 5 });
  });

  it("evicts least recently used blocks once the bytes exceed the capacity", () => {
    const cache = new BlockCache(300);
    const a = blockOfSize(100);
    const b = blockOfSize(100);
    const c = blockOfSize(100);
    cache.insert(1, 0, a);
    cache.insert(1, 100, b);
    cache.insert(1, 200, c);
    assert.equal(cache.stats().usedBytes, 300);
    cache.lookup(1, 0); // a becomes the most recently used; b is now the oldest
    cache.insert(2, 0, blockOfSize(150));
    assert.equal(cache.lookup(1, 100), undefined, "b (least recently used) evicted");
    assert.equal(cache.lookup(1, 200), undefined, "c evicted too: 100 bytes were not enough room");
    assert.equal(cache.lookup(1, 0), a);
    assert.notEqual(cache.lookup(2, 0), undefined);
    assert.equal(cache.stats().usedBytes, 250);
  });

  it("replaces a block inserted twice under one key without double-charging", () => {
    const cache = new BlockCache(1000);
    cache.insert(1, 0, blockOfSize(100));
    const replacement = blockOfSize(200);
    cache.insert(1, 0, replacement);
    assert.equal(cache.lookup(1, 0), replacement);
    assert.equal(cache.stats().usedBytes, 200);
  });

  it("does not keep a block larger than the whole cache", () => {
    const cache = new BlockCache(100);
    const small = blockOfSize(60);
    cache.insert(1, 0, small);
    cache.insert(1, 60, blockOfSize(101));
    assert.equal(cache.lookup(1, 60), undefined);
    assert.equal(cache.lookup(1, 0), small, "an oversized insert evicts nothing");
  });

  it("with capacity 0 caches nothing", () => {
    const cache = new BlockCache(0);
    cache.insert(1, 0, blockOfSize(16));
    assert.equal(cache.lookup(1, 0), undefined);
    assert.deepEqual(cache.stats(), { capacityBytes: 0, usedBytes: 0, hits: 0, misses: 1, hitRate: 0 });
  });

  it("evictTable drops exactly that table's blocks", () => {
    const cache = new BlockCache(10_000);
    for (let i = 0; i < 10; i++) {
      cache.insert(7, i * 100, blockOfSize(100));
      cache.insert(8, i * 100, blockOfSize(50));
    }
    cache.evictTable(7);
    cache.evictTable(99);
    assert.equal(cache.stats().usedBytes, 500);
    for (let i = 0; i < 10; i++) {
      assert.equal(cache.lookup(7, i * 100), undefined);
      assert.notEqual(cache.lookup(8, i * 100), undefined);
    }
    // The recency list stays consistent: filling the cache evicts table 8's blocks in LRU order.
    cache.insert(9, 0, blockOfSize(9_600));
    assert.equal(cache.stats().usedBytes, 10_000);
    assert.equal(cache.lookup(8, 0), undefined);
    assert.equal(cache.lookup(8, 100), undefined);
    assert.notEqual(cache.lookup(8, 200), undefined);
  });

  it("keeps usedBytes equal to the sum of cached blocks under random use", () => {
    const seed = Date.now() % 100_000;
    let state = seed;
    const random = (n: number): number => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state % n;
    };
    const cache = new BlockCache(5_000);
    const model = new Map<string, number>(); // key -> size, in LRU order (oldest first)
    for (let step = 0; step < 5_000; step++) {
      const table = random(4);
      const offset = random(20) * 1000;
      const key = `${table}:${offset}`;
      if (random(3) === 0) {
        const size = 8 + random(1500);
        cache.insert(table, offset, blockOfSize(size));
        model.delete(key);
        model.set(key, size);
        let used = [...model.values()].reduce((a, b) => a + b, 0);
        for (const [k, s] of model) {
          if (used <= 5_000) break;
          model.delete(k);
          used -= s;
        }
      } else {
        const hit = cache.lookup(table, offset) !== undefined;
        assert.equal(hit, model.has(key), `seed ${seed} step ${step}: lookup ${key}`);
        if (hit) {
          const size = model.get(key)!;
          model.delete(key);
          model.set(key, size);
        }
      }
      const used = [...model.values()].reduce((a, b) => a + b, 0);
      assert.equal(cache.stats().usedBytes, used, `seed ${seed} step ${step}: usedBytes`);
    }
  });

  it("rejects a negative capacity", () => {
    assert.throws(() => new BlockCache(-1), InvalidArgumentError);
  });
});
