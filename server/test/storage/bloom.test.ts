import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bloomHash, BloomFilter, BloomFilterBuilder, bloomProbes } from "../../src/storage/bloom.js";

function keyOf(i: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(i);
  return key;
}

function buildFilter(keys: Buffer[], bitsPerKey: number): BloomFilter {
  const builder = new BloomFilterBuilder(bitsPerKey);
  for (const key of keys) builder.addKey(key);
  return new BloomFilter(builder.finish());
}

function falsePositiveRate(filter: BloomFilter, probes: number, offset: number): number {
  let positives = 0;
  for (let i = 0; i < probes; i++) if (filter.mayContain(keyOf(offset + i))) positives++;
  return positives / probes;
}

/** A filter in LevelDB's standard layout (bloom.cc), as tables written before the blocked layout hold. */
function standardFilter(keys: Buffer[], bitsPerKey: number): Buffer {
  const k = Math.round(bitsPerKey * Math.LN2);
  const bytes = Math.ceil(Math.max(64, keys.length * bitsPerKey) / 8);
  const bits = bytes * 8;
  const out = Buffer.alloc(bytes + 1);
  for (const key of keys) {
    let h = bloomHash(key);
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < k; j++) {
      const bit = h % bits;
      out[bit >>> 3] |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  out[bytes] = k;
  return out;
}

describe("bloom filter", () => {
  it("hashes like LevelDB's Hash() with the bloom seed", () => {
    // Test vectors of leveldb util/hash_test.cc (seed 0xbc9f1d34).
    assert.equal(bloomHash(Buffer.from([0x62])), 0xef1345c4);
    assert.equal(bloomHash(Buffer.from([0xc3, 0x97])), 0x5b663814);
    assert.equal(bloomHash(Buffer.from([0xe2, 0x99, 0xa5])), 0x323c078f);
    assert.equal(bloomHash(Buffer.from([0xe1, 0x80, 0xb9, 0x32])), 0xed21633a);
    assert.equal(bloomHash(Buffer.alloc(0)), 0xbc9f1d34);
  });

  it("hashes a subrange like the same bytes on their own", () => {
    const bytes = Buffer.from("xxhello worldyy");
    assert.equal(bloomHash(bytes, 2, 13), bloomHash(Buffer.from("hello world")));
  });

  it("picks RocksDB's probe counts for the cache-local layout", () => {
    assert.equal(bloomProbes(10), 6);
    assert.equal(bloomProbes(10.5), 7);
    assert.equal(bloomProbes(1), 1);
    assert.equal(bloomProbes(0.1), 1);
    assert.equal(bloomProbes(16), 9);
    assert.equal(bloomProbes(20), 11);
    assert.equal(bloomProbes(40), 18);
    assert.equal(bloomProbes(100), 24);
  });

  it("writes 64-byte blocks and a marker byte; an empty filter rules every key out", () => {
    const bytes = new BloomFilterBuilder(10).finish();
    assert.equal(bytes.length, 64 + 1);
    assert.equal(bytes[64], 0x80 | 6);
    assert.equal(new BloomFilter(bytes).mayContain(Buffer.from("hello")), false);
    const keys = Array.from({ length: 100 }, (_, i) => keyOf(i));
    assert.equal(buildFilter(keys, 10).byteLength(), 2 * 64 + 1, "ceil(100 * 10 / 512) blocks");
  });

  it("puts all probes of a key into one 64-byte block", () => {
    for (let i = 0; i < 200; i++) {
      const bytes = new BloomFilterBuilder(10);
      bytes.addKey(keyOf(i));
      const filter = bytes.finish();
      const touched = new Set<number>();
      for (let b = 0; b < filter.length - 1; b++) if (filter[b] !== 0) touched.add(Math.floor(b / 64));
      assert.equal(touched.size, 1, `key ${i} set bits in blocks ${[...touched].join(", ")}`);
    }
  });

  it("answers 'may contain' for a filter of an unknown encoding or no bits", () => {
    const bytes = new BloomFilterBuilder(10).finish();
    for (const marker of [31, 0x80, 0x80 | 31, 0xff]) {
      bytes[bytes.length - 1] = marker;
      assert.equal(new BloomFilter(bytes).mayContain(Buffer.from("x")), true, `marker ${marker}`);
    }
    const ragged = Buffer.concat([new BloomFilterBuilder(10).finish().subarray(0, 64), Buffer.from([0, 0x86])]);
    assert.equal(new BloomFilter(ragged).mayContain(Buffer.from("x")), true, "blocked filter of 65 bytes");
    assert.equal(new BloomFilter(new Uint8Array(0)).mayContain(Buffer.from("x")), true);
    assert.equal(new BloomFilter(new Uint8Array([7])).mayContain(Buffer.from("x")), true);
  });

  it("reads LevelDB's standard layout, which older tables hold", () => {
    const keys = Array.from({ length: 2000 }, (_, i) => keyOf(i));
    const filter = new BloomFilter(standardFilter(keys, 10));
    for (const key of keys) assert.equal(filter.mayContain(key), true, `false negative for key ${key.readUInt32LE()}`);
    const rate = falsePositiveRate(filter, 20_000, 1_000_000_000);
    assert.ok(rate > 0.002 && rate < 0.02, `false-positive rate ${rate}`);
    const empty = new BloomFilter(standardFilter([], 10));
    assert.equal(empty.mayContain(Buffer.from("hello")), false);
  });

  it("has no false negatives and about 1% false positives at 10 bits per key", () => {
    for (const n of [1, 10, 100, 1000, 10_000, 50_000]) {
      const keys = Array.from({ length: n }, (_, i) => keyOf(i));
      const filter = buildFilter(keys, 10);
      for (const key of keys) assert.equal(filter.mayContain(key), true, `false negative for key ${key.readUInt32LE()} (n=${n})`);
      assert.equal(filter.byteLength(), Math.max(1, Math.ceil((n * 10) / 512)) * 64 + 1, `filter size for n=${n}`);
      const rate = falsePositiveRate(filter, 20_000, 1_000_000_000);
      assert.ok(rate <= 0.02, `false-positive rate ${rate} above 2% for n=${n}`);
      if (n >= 1000) assert.ok(rate >= 0.002, `false-positive rate ${rate} implausibly low for n=${n}`);
    }
  });

  it("keys of many lengths: no false negatives; more bits per key, fewer false positives", () => {
    const keys = Array.from({ length: 5000 }, (_, i) => Buffer.from(`user-key-${i}-${"z".repeat(i % 37)}`));
    const absent = Array.from({ length: 20_000 }, (_, i) => Buffer.from(`absent-${i}-${"q".repeat(i % 41)}`));
    const rates: number[] = [];
    for (const bits of [5, 10, 20]) {
      const filter = buildFilter(keys, bits);
      for (const key of keys) assert.equal(filter.mayContain(key), true, `false negative for ${key.toString()}`);
      rates.push(absent.filter((key) => filter.mayContain(key)).length / absent.length);
    }
    assert.ok(rates[0] > rates[1] && rates[1] > rates[2], `rates should fall with bits per key: ${rates.join(", ")}`);
    assert.ok(rates[1] < 0.02, `10 bits per key: false-positive rate ${rates[1]}`);
  });
});
