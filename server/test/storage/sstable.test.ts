import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { Block, BlockIterator, expandBlock, FoundEntry } from "../../src/storage/block.js";
import { BlockBuilder } from "../../src/storage/block-builder.js";
import { BlockCache } from "../../src/storage/block-cache.js";
import { ClosedError, CorruptionError, InvalidArgumentError, IOError, StorageError } from "../../src/storage/errors.js";
import type { InternalIterator } from "../../src/storage/internal-iterator.js";
import {
  compareParts,
  encodeInternalKey,
  MAX_SEQUENCE,
  putTrailer,
  TRAILER_BYTES,
  ValueKind,
} from "../../src/storage/internal-key.js";
import { decodeFooter, FOOTER_BYTES } from "../../src/storage/sstable-format.js";
import { SSTableReader, TableLookup } from "../../src/storage/sstable-reader.js";
import { SSTableWriter, type SSTableWriterOptions } from "../../src/storage/sstable-writer.js";

interface Entry {
  key: Buffer;
  seq: number;
  kind: ValueKind;
  value: Buffer;
}

let dir = "";
let fileCounter = 0;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sstable-test-"));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function newPath(): string {
  return path.join(dir, `${++fileCounter}.sst`);
}

const defaults: SSTableWriterOptions = { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10 };

function compareEntries(a: Entry, b: Entry): number {
  return compareParts(a.key, a.seq, a.kind, b.key, b.seq, b.kind);
}

/** Sorts and drops entries with a repeated (key, seq), as a table holds each at most once. */
function normalize(entries: Entry[]): Entry[] {
  const sorted = [...entries].sort(compareEntries);
  return sorted.filter((e, i) => i === 0 || !(sorted[i - 1].key.equals(e.key) && sorted[i - 1].seq === e.seq));
}

function writeTable(file: string, entries: Entry[], options: SSTableWriterOptions = defaults) {
  const writer = new SSTableWriter(file, options);
  for (const e of entries) writer.add(e.key, e.seq, e.kind, e.value);
  return writer.finish();
}

function current(it: InternalIterator): Entry {
  return { key: Buffer.from(it.key()), seq: it.seq(), kind: it.kind(), value: Buffer.from(it.value()) };
}

function describeEntry(e: Entry | undefined): string {
  return e === undefined ? "<end>" : `${e.key.toString("hex")}@${e.seq}/${e.kind}=${e.value.toString("hex")}`;
}

function assertAt(it: InternalIterator, model: Entry[], index: number, what: string): void {
  const expected = index >= 0 && index < model.length ? model[index] : undefined;
  const actual = it.valid() ? current(it) : undefined;
  assert.equal(describeEntry(actual), describeEntry(expected), what);
}

/** Steps over every entry from one end; fails (rather than looping forever) past `limit` steps. */
function scan(it: InternalIterator, direction: "forward" | "reverse", limit = 100_000): number {
  let n = 0;
  if (direction === "forward") it.seekToFirst();
  else it.seekToLast();
  for (; it.valid(); direction === "forward" ? it.next() : it.prev()) {
    if (++n > limit) assert.fail(`${direction} scan did not end after ${limit} steps`);
  }
  return n;
}

/** Index of the first model entry >= (key, seq, Put). */
function lowerBound(model: Entry[], key: Buffer, seq: number): number {
  let i = 0;
  while (i < model.length && compareParts(model[i].key, model[i].seq, model[i].kind, key, seq, ValueKind.Put) < 0) i++;
  return i;
}

/** Index of the last model entry whose user key is <= key (-1 if none). */
function lastAtOrBefore(model: Entry[], key: Buffer): number {
  let i = model.length - 1;
  while (i >= 0 && Buffer.compare(model[i].key, key) > 0) i--;
  return i;
}

function modelGet(model: Entry[], key: Buffer, maxSeq: number): { result: TableLookup; value?: Buffer } {
  const e = model.find((m) => m.key.equals(key) && m.seq <= maxSeq);
  if (e === undefined) return { result: TableLookup.NotFound };
  return e.kind === ValueKind.Delete ? { result: TableLookup.Deleted } : { result: TableLookup.Found, value: e.value };
}

function checkGet(reader: SSTableReader, model: Entry[], key: Buffer, maxSeq: number): void {
  const expected = modelGet(model, key, maxSeq);
  const actual = reader.get(key, maxSeq);
  const what = `get(${key.toString("hex")}, ${maxSeq})`;
  if (actual === TableLookup.FilteredOut) {
    assert.ok(!model.some((m) => m.key.equals(key)), `${what}: filtered out a key the table holds`);
    return;
  }
  assert.equal(actual, expected.result, what);
  if (actual === TableLookup.Found) assert.equal(Buffer.from(reader.lastValue()).toString("hex"), expected.value!.toString("hex"), what);
}

const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 5 }).map((a) => Buffer.from(a.map((b) => 0x61 + (b % 4)))) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 90 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xff]), Buffer.from([0xff, 0xff, 0x00]), Buffer.from([0x00])) },
);
const seqArb = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: MAX_SEQUENCE }));
const entryArb = fc.record({
  key: keyArb,
  seq: seqArb,
  kind: fc.constantFrom(ValueKind.Put, ValueKind.Delete),
  value: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
});
const optionsArb = fc.record({
  blockSizeBytes: fc.integer({ min: 1, max: 600 }),
  restartInterval: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(16)),
  bloomBitsPerKey: fc.constantFrom(0, 3, 10),
});
type Step = "next" | "prev";
const queryArb = fc.record({
  pick: fc.nat(),
  useTableKey: fc.boolean(),
  key: keyArb,
  seq: seqArb,
  start: fc.constantFrom("seek", "seekForPrev", "first", "last"),
  walk: fc.array(fc.constantFrom<Step>("next", "prev"), { maxLength: 12, size: "max" }),
});

describe("SSTable round trip", () => {
  it("iterates, seeks and gets like a sorted array of the entries (property)", () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { maxLength: 300, size: "max" }),
        optionsArb,
        fc.constantFrom<number | undefined>(undefined, 0, 200, 1 << 20),
        fc.boolean(),
        fc.array(queryArb, { maxLength: 40, size: "max" }),
        (raw, options, cacheBytes, fillCache, queries) => {
          const model = normalize(raw);
          const file = newPath();
          const meta = writeTable(file, model, options);
          const cache = cacheBytes === undefined ? undefined : new BlockCache(cacheBytes);
          const reader = SSTableReader.open(file, fileCounter, cache);
          try {
            assert.equal(meta.entries, model.length);
            assert.equal(reader.properties.entries, model.length);
            assert.equal(meta.fileSize, fs.statSync(file).size);
            const it = reader.iterator({ fillCache });
            it.seekToFirst();
            for (let i = 0; i < model.length; i++, it.next()) assertAt(it, model, i, `forward scan at ${i}`);
            assertAt(it, model, model.length, "forward scan at the end");
            it.seekToLast();
            for (let i = model.length - 1; i >= 0; i--, it.prev()) assertAt(it, model, i, `reverse scan at ${i}`);
            assertAt(it, model, -1, "reverse scan at the start");

            for (const q of queries) {
              const tableKey = model.length > 0 && q.useTableKey ? model[q.pick % model.length] : undefined;
              const key = tableKey?.key ?? q.key;
              const seq = tableKey !== undefined && q.pick % 3 === 0 ? tableKey.seq : q.seq;
              let index: number;
              switch (q.start) {
                case "seek":
                  it.seek(key, seq);
                  index = lowerBound(model, key, seq);
                  break;
                case "seekForPrev":
                  it.seekForPrev(key);
                  index = lastAtOrBefore(model, key);
                  break;
                case "first":
                  it.seekToFirst();
                  index = 0;
                  break;
                default:
                  it.seekToLast();
                  index = model.length - 1;
              }
              const what = `${q.start}(${key.toString("hex")}, ${seq})`;
              assertAt(it, model, index, what);
              for (const [n, step] of q.walk.entries()) {
                if (!it.valid()) break;
                if (step === "next") it.next();
                else it.prev();
                index += step === "next" ? 1 : -1;
                assertAt(it, model, index, `${what} then step ${n} ${step}`);
              }
              checkGet(reader, model, key, seq);
              checkGet(reader, model, key, MAX_SEQUENCE);
            }
            it.close();
            assert.equal(it.valid(), false);
          } finally {
            reader.close();
            fs.unlinkSync(file);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reports meta and properties of what was written", () => {
    const entries: Entry[] = [];
    let seq = 100_000;
    for (let i = 0; i < 3000; i++) {
      const key = Buffer.from(`key-${String(i).padStart(6, "0")}`);
      for (let v = 0; v < (i % 3) + 1; v++) {
        const kind = (i + v) % 5 === 0 ? ValueKind.Delete : ValueKind.Put;
        entries.push({ key, seq: seq--, kind, value: kind === ValueKind.Delete ? Buffer.alloc(0) : Buffer.from(`value-${i}-${v}`) });
      }
    }
    const model = normalize(entries);
    const file = newPath();
    const writer = new SSTableWriter(file, defaults);
    let lastEstimate = 0;
    for (const e of model) {
      writer.add(e.key, e.seq, e.kind, e.value);
      assert.ok(writer.estimatedFileSize() >= lastEstimate, "estimatedFileSize never shrinks");
      lastEstimate = writer.estimatedFileSize();
    }
    assert.equal(writer.entries(), model.length);
    const meta = writer.finish();
    const first = model[0];
    const last = model[model.length - 1];
    const seqs = model.map((e) => e.seq);
    assert.deepEqual(meta.smallestKey, encodeInternalKey(first.key, first.seq, first.kind));
    assert.deepEqual(meta.largestKey, encodeInternalKey(last.key, last.seq, last.kind));
    assert.equal(meta.smallestSeq, Math.min(...seqs));
    assert.equal(meta.largestSeq, Math.max(...seqs));
    assert.equal(meta.entries, model.length);
    assert.equal(meta.deletions, model.filter((e) => e.kind === ValueKind.Delete).length);
    assert.equal(meta.fileSize, fs.statSync(file).size);
    assert.ok(lastEstimate <= meta.fileSize);

    const reader = SSTableReader.open(file, 1, undefined);
    const p = reader.properties;
    assert.equal(reader.fileSize, meta.fileSize);
    assert.equal(reader.path, file);
    assert.equal(p.entries, meta.entries);
    assert.equal(p.deletions, meta.deletions);
    assert.equal(p.smallestSeq, meta.smallestSeq);
    assert.equal(p.largestSeq, meta.largestSeq);
    assert.equal(p.rawKeyBytes, model.reduce((n, e) => n + e.key.length + 8, 0));
    assert.equal(p.rawValueBytes, model.reduce((n, e) => n + e.value.length, 0));
    assert.ok(p.dataBytes > 10 * 4096 && p.indexBytes > 0 && p.filterBytes >= 3000 * 10 / 8);
    assert.ok(p.dataBytes + p.indexBytes + p.filterBytes + FOOTER_BYTES < meta.fileSize);
    assert.ok(reader.approximateOffsetOf(Buffer.from("key-001500")) > p.dataBytes / 3);
    assert.ok(reader.approximateOffsetOf(Buffer.from("key-001500")) < (p.dataBytes * 2) / 3);
    assert.equal(reader.approximateOffsetOf(Buffer.from("zzz")), p.dataBytes);
    assert.equal(reader.approximateOffsetOf(Buffer.from("")), 0);
    reader.close();
    reader.close();
  });

  it("finds keys that fall between a block's last key and its shortened index separator", () => {
    const file = newPath();
    const model = normalize([
      { key: Buffer.from("apple"), seq: 5, kind: ValueKind.Put, value: Buffer.from("1") },
      { key: Buffer.from("cherry"), seq: 6, kind: ValueKind.Put, value: Buffer.from("2") },
      { key: Buffer.from("cherrz"), seq: 7, kind: ValueKind.Delete, value: Buffer.alloc(0) },
    ]);
    writeTable(file, model, { blockSizeBytes: 1, restartInterval: 16, bloomBitsPerKey: 0 });
    const reader = SSTableReader.open(file, 1, new BlockCache(1 << 20));
    // One entry per block; the separator between "apple" and "cherry" is "b".
    const it = reader.iterator();
    for (const [target, index] of [["applf", 1], ["b", 1], ["az", 1], ["cherry", 1], ["cherryy", 2], ["d", 3]] as const) {
      it.seek(Buffer.from(target), MAX_SEQUENCE);
      assertAt(it, model, index, `seek ${target}`);
      it.seekForPrev(Buffer.from(target));
      assertAt(it, model, lastAtOrBefore(model, Buffer.from(target)), `seekForPrev ${target}`);
      checkGet(reader, model, Buffer.from(target), MAX_SEQUENCE);
    }
    assert.equal(reader.get(Buffer.from("cherry"), 5), TableLookup.NotFound);
    assert.equal(reader.get(Buffer.from("cherrz"), 7), TableLookup.Deleted);
    assert.equal(reader.get(Buffer.from("apple"), 5), TableLookup.Found);
    assert.equal(Buffer.from(reader.lastValue()).toString(), "1");
    reader.close();
  });

  it("round-trips values larger than a block and than the write buffer, and long keys", () => {
    const file = newPath();
    const big = Buffer.alloc(200_000, 7);
    const model = normalize([
      { key: Buffer.alloc(3000, 0x61), seq: 1, kind: ValueKind.Put, value: big },
      { key: Buffer.alloc(3000, 0x62), seq: 2, kind: ValueKind.Put, value: Buffer.from("small") },
      { key: Buffer.from("c"), seq: 3, kind: ValueKind.Put, value: Buffer.alloc(70_000, 9) },
    ]);
    writeTable(file, model, { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10 });
    for (const cache of [undefined, new BlockCache(0), new BlockCache(1 << 20)]) {
      const reader = SSTableReader.open(file, 2, cache);
      const it = reader.iterator();
      it.seekToFirst();
      for (let i = 0; i < model.length; i++, it.next()) assertAt(it, model, i, `scan at ${i}`);
      assertAt(it, model, model.length, "scan at the end");
      for (let round = 0; round < 3; round++) {
        assert.equal(reader.get(Buffer.alloc(3000, 0x61), 10), TableLookup.Found);
        assert.ok(Buffer.from(reader.lastValue()).equals(big));
        assert.ok(reader.lastValueCopy().equals(big));
      }
      reader.close();
    }
  });

  it("an empty table opens and iterates as empty", () => {
    const file = newPath();
    const meta = writeTable(file, []);
    assert.equal(meta.entries, 0);
    assert.equal(meta.smallestKey.length, 0);
    const reader = SSTableReader.open(file, 3, new BlockCache(1000));
    const it = reader.iterator();
    it.seekToFirst();
    assert.equal(it.valid(), false);
    it.seekToLast();
    assert.equal(it.valid(), false);
    it.seek(Buffer.from("a"), 1);
    assert.equal(it.valid(), false);
    it.seekForPrev(Buffer.from("a"));
    assert.equal(it.valid(), false);
    assert.notEqual(reader.get(Buffer.from("a"), 1), TableLookup.Found);
    reader.close();
  });
});

describe("SSTable reads and the block cache", () => {
  const keys = Array.from({ length: 5000 }, (_, i) => Buffer.from(`k${String(i * 2).padStart(7, "0")}`));
  const file = () => {
    const f = newPath();
    writeTable(
      f,
      keys.map((key, i) => ({ key, seq: i + 1, kind: ValueKind.Put, value: Buffer.alloc(50, i) })),
    );
    return f;
  };

  it("get consults the bloom filter before reading any data block", () => {
    const f = file();
    const cache = new BlockCache(1 << 20);
    const reader = SSTableReader.open(f, 10, cache);
    let filtered = 0;
    for (let i = 0; i < 2000; i++) {
      const absent = Buffer.from(`k${String(i * 2 + 1).padStart(7, "0")}`);
      const before = cache.stats();
      const result = reader.get(absent, MAX_SEQUENCE);
      const reads = cache.stats().hits + cache.stats().misses - before.hits - before.misses;
      if (result === TableLookup.FilteredOut) {
        filtered++;
        assert.equal(reads, 0, "a filtered-out get read a data block");
      } else {
        assert.equal(result, TableLookup.NotFound);
        assert.ok(reads >= 1);
      }
    }
    assert.equal(reader.bloomChecks, 2000);
    assert.equal(reader.bloomNegatives, filtered);
    assert.ok(filtered > 1900, `only ${filtered} of 2000 absent keys filtered out`);
    for (const key of keys) assert.equal(reader.get(key, MAX_SEQUENCE), TableLookup.Found);
    assert.equal(reader.bloomChecks, 7000);
    assert.equal(reader.mayContain(keys[0]), true);
    reader.close();
  });

  it("a table written without a filter answers every key as possibly present", () => {
    const f = newPath();
    writeTable(f, [{ key: Buffer.from("a"), seq: 1, kind: ValueKind.Put, value: Buffer.alloc(0) }], {
      ...defaults,
      bloomBitsPerKey: 0,
    });
    const reader = SSTableReader.open(f, 11, undefined);
    assert.equal(reader.properties.filterBytes, 0);
    assert.equal(reader.mayContain(Buffer.from("zzz")), true);
    assert.equal(reader.get(Buffer.from("zzz"), 5), TableLookup.NotFound);
    assert.equal(reader.bloomChecks, 0);
    reader.close();
  });

  it("serves repeated reads from the cache; fillCache=false leaves the cache alone", () => {
    const f = file();
    const cache = new BlockCache(1 << 20);
    const reader = SSTableReader.open(f, 12, cache);
    const scanner = reader.iterator({ fillCache: false });
    assert.equal(scan(scanner, "forward"), keys.length);
    assert.equal(cache.stats().usedBytes, 0, "a fillCache=false scan cached blocks");

    const it = reader.iterator();
    assert.equal(scan(it, "forward"), keys.length);
    const filled = cache.stats();
    assert.ok(filled.usedBytes > 50 * keys.length, `cache holds ${filled.usedBytes} bytes after a full scan`);
    assert.equal(scan(it, "reverse"), keys.length);
    for (const key of keys) reader.get(key, MAX_SEQUENCE);
    const after = cache.stats();
    assert.equal(after.misses, filled.misses, "blocks read again after they were cached");
    assert.ok(after.hits > filled.hits);

    cache.evictTable(12);
    assert.equal(cache.stats().usedBytes, 0);
    reader.close();
  });

  it("keeps a block hit twice in one turn of the clock in its expanded form", () => {
    const f = file();
    const cache = new BlockCache(1 << 20);
    const reader = SSTableReader.open(f, 15, cache);
    const dataBytes = reader.properties.dataBytes;
    assert.equal(scan(reader.iterator(), "forward"), keys.length);
    const asRead = cache.stats();
    assert.ok(asRead.usedBytes > 0.9 * dataBytes && asRead.usedBytes < dataBytes, `${asRead.usedBytes} bytes cached as read`);
    // The first get in a block is its first hit, the second expands it: an index word, a restart
    // offset and the shared key bytes per entry make it larger than the block as read.
    for (let round = 0; round < 2; round++) {
      for (const [i, key] of keys.entries()) {
        assert.equal(reader.get(key, MAX_SEQUENCE), TableLookup.Found, `round ${round} key ${i}`);
        assert.ok(Buffer.from(reader.lastValue()).equals(Buffer.alloc(50, i)), `round ${round} value ${i}`);
      }
      const stats = cache.stats();
      assert.equal(stats.misses, asRead.misses, "blocks read again");
      assert.ok(stats.usedBytes > dataBytes, `round ${round}: ${stats.usedBytes} bytes cached, expanded`);
    }
    assert.equal(scan(reader.iterator(), "reverse"), keys.length, "iterators read expanded blocks");
    reader.close();
  });

  it("values returned by get stay intact after later reads, with or without a cache", () => {
    const f = file();
    for (const cache of [undefined, new BlockCache(0), new BlockCache(5000)]) {
      const reader = SSTableReader.open(f, 13, cache);
      const held: [number, Uint8Array][] = [];
      // Later rounds read the blocks the first one cached: as read, then expanded (third round).
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < keys.length; i += 97) {
          assert.equal(reader.get(keys[i], MAX_SEQUENCE), TableLookup.Found);
          held.push([i, reader.lastValue()]);
          const copy = reader.lastValueCopy();
          assert.ok(copy.equals(Buffer.alloc(50, i)), `copy of value ${i}`);
          copy.fill(0xee);
          assert.ok(Buffer.from(reader.lastValue()).equals(Buffer.alloc(50, i)), `value ${i} after its copy changed`);
        }
      }
      for (const [i, value] of held) assert.ok(Buffer.from(value).equals(Buffer.alloc(50, i)), `value ${i}`);
      reader.close();
    }
  });

  it("reads after close fail with ClosedError", () => {
    const f = file();
    const reader = SSTableReader.open(f, 14, undefined);
    const it = reader.iterator();
    reader.close();
    assert.throws(() => reader.get(keys[0], MAX_SEQUENCE), ClosedError);
    assert.throws(() => it.seekToFirst(), ClosedError);
  });
});

describe("Expanded blocks (the form cached blocks take once hit)", () => {
  const prefixArb = fc.constantFrom("", "p", "tenant-0042/", "x".repeat(150));
  const blockEntryArb = fc.record({
    key: keyArb,
    seq: seqArb,
    kind: fc.constantFrom(ValueKind.Put, ValueKind.Delete),
    value: fc.oneof(
      { weight: 5, arbitrary: fc.uint8Array({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 400 }) },
    ).map((a) => Buffer.from(a)),
  });
  const targetArb = fc.record({
    pick: fc.nat(),
    useBlockKey: fc.boolean(),
    key: keyArb,
    seq: seqArb,
    kind: fc.constantFrom(ValueKind.Put, ValueKind.Delete),
    after: fc.boolean(),
  });

  function entriesOf(block: Block, reverse: boolean): string[] {
    const it = new BlockIterator();
    it.reset(block);
    const out: string[] = [];
    for (reverse ? it.seekToLast() : it.seekToFirst(); it.valid(); reverse ? it.prev() : it.next()) {
      out.push(describeEntry(current(it)));
    }
    return out;
  }

  it("read, seek and get like the block they were expanded from (property)", () => {
    fc.assert(
      fc.property(
        prefixArb,
        fc.array(blockEntryArb, { maxLength: 60 }),
        fc.integer({ min: 1, max: 16 }),
        fc.array(targetArb, { maxLength: 30 }),
        (prefix, raw, restartInterval, targets) => {
          const model = normalize(raw.map((e) => ({ ...e, key: Buffer.concat([Buffer.from(prefix), e.key]) })));
          const builder = new BlockBuilder(restartInterval);
          for (const e of model) {
            const key = encodeInternalKey(e.key, e.seq, e.kind);
            builder.add(key, key.length, e.value);
          }
          const plain = new Block(Buffer.from(builder.finish()), "t.sst", 7);
          const expanded = expandBlock(plain);
          if (model.length === 0) {
            assert.equal(expanded, plain);
            return;
          }
          assert.ok(expanded.wordsOffset >= 0);
          assert.equal(expanded.restartCount, model.length, "every entry is a restart point");
          const expected = model.map(describeEntry);
          assert.deepEqual(entriesOf(expanded, false), expected);
          assert.deepEqual(entriesOf(expanded, true), [...expected].reverse());

          const plainIt = new BlockIterator();
          plainIt.reset(plain);
          const expandedIt = new BlockIterator();
          expandedIt.reset(expanded);
          const trailer = Buffer.alloc(TRAILER_BYTES);
          const found = new FoundEntry();
          for (const t of targets) {
            const blockKey = t.useBlockKey ? model[t.pick % model.length] : undefined;
            const key = blockKey?.key ?? Buffer.concat([Buffer.from(prefix.slice(0, t.pick % (prefix.length + 1))), t.key]);
            const seq = blockKey !== undefined && t.pick % 3 === 0 ? blockKey.seq : t.seq;
            putTrailer(trailer, 0, seq, t.kind);
            const what = `seekTo(${key.toString("hex")}, ${seq}/${t.kind}, after=${t.after})`;
            let index = 0;
            while (index < model.length) {
              const m = model[index];
              const c = compareParts(m.key, m.seq, m.kind, key, seq, t.kind);
              if (c > 0 || (c === 0 && !t.after)) break;
              index++;
            }
            plainIt.seekTo(key, trailer, t.after);
            expandedIt.seekTo(key, trailer, t.after);
            assertAt(plainIt, model, index, `plain ${what}`);
            assertAt(expandedIt, model, index, `expanded ${what}`);
            if (t.after) continue;
            const hit = index < model.length && model[index].key.equals(key);
            assert.equal(expanded.getEntry(key, trailer, found), hit, `getEntry ${what}`);
            if (hit) {
              assert.equal(found.kind, model[index].kind, `kind of ${what}`);
              const value = expanded.data.subarray(found.valueOffset, found.valueOffset + found.valueLength);
              assert.ok(value.equals(model[index].value), `value of ${what}`);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it("rejects a malformed entry, naming the file and the block's offset", () => {
    const builder = new BlockBuilder(16);
    for (const k of ["a", "ab", "abc"]) {
      const key = encodeInternalKey(Buffer.from(k), 1, ValueKind.Put);
      builder.add(key, key.length, Buffer.from("v"));
    }
    const bytes = Buffer.from(builder.finish());
    bytes[3 + 9 + 1] = 100; // the second entry claims to share 100 bytes with a 9-byte key
    assert.throws(
      () => expandBlock(new Block(bytes, "t.sst", 4096)),
      (err: unknown) => err instanceof CorruptionError && err.file === "t.sst" && err.offset === 4096,
    );
  });
});

describe("SSTableWriter", () => {
  it("rejects entries out of internal-key order and repeated entries", () => {
    const file = newPath();
    const writer = new SSTableWriter(file, defaults);
    writer.add(Buffer.from("b"), 5, ValueKind.Put, Buffer.alloc(0));
    assert.throws(() => writer.add(Buffer.from("a"), 9, ValueKind.Put, Buffer.alloc(0)), StorageError);
    assert.throws(() => writer.add(Buffer.from("b"), 5, ValueKind.Put, Buffer.alloc(0)), StorageError);
    assert.throws(() => writer.add(Buffer.from("b"), 6, ValueKind.Put, Buffer.alloc(0)), StorageError, "newer after older");
    writer.add(Buffer.from("b"), 5, ValueKind.Delete, Buffer.alloc(0));
    writer.add(Buffer.from("b"), 4, ValueKind.Put, Buffer.alloc(0));
    writer.add(Buffer.from("c"), 9, ValueKind.Put, Buffer.alloc(0));
    assert.throws(() => writer.add(Buffer.from("d"), -1, ValueKind.Put, Buffer.alloc(0)), InvalidArgumentError);
    assert.throws(() => writer.add(Buffer.from("d"), 1.5, ValueKind.Put, Buffer.alloc(0)), InvalidArgumentError);
    assert.equal(writer.finish().entries, 4);
    assert.throws(() => writer.add(Buffer.from("e"), 1, ValueKind.Put, Buffer.alloc(0)), StorageError);
    assert.throws(() => writer.finish(), StorageError);
  });

  it("refuses to overwrite an existing file", () => {
    const file = newPath();
    fs.writeFileSync(file, "precious");
    assert.throws(() => new SSTableWriter(file, defaults), (err: unknown) => err instanceof IOError && err.file === file);
    assert.equal(fs.readFileSync(file, "utf8"), "precious");
  });

  it("abandon closes and deletes the partial file", () => {
    const file = newPath();
    const writer = new SSTableWriter(file, { ...defaults, blockSizeBytes: 64 });
    for (let i = 0; i < 5000; i++) writer.add(Buffer.from(`k${String(i).padStart(6, "0")}`), 1, ValueKind.Put, Buffer.alloc(20));
    assert.ok(fs.existsSync(file));
    writer.abandon();
    writer.abandon();
    assert.equal(fs.existsSync(file), false);
    assert.throws(() => writer.add(Buffer.from("z"), 1, ValueKind.Put, Buffer.alloc(0)), StorageError);
  });

  it("validates its options", () => {
    for (const bad of [
      { ...defaults, blockSizeBytes: 0 },
      { ...defaults, restartInterval: 0 },
      { ...defaults, restartInterval: 1.5 },
      { ...defaults, bloomBitsPerKey: -1 },
    ]) {
      assert.throws(() => new SSTableWriter(newPath(), bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });
});

describe("SSTable corruption", () => {
  const model = normalize(
    Array.from({ length: 400 }, (_, i) => ({
      key: Buffer.from(`key${String(i).padStart(5, "0")}`),
      seq: 1000 - i,
      kind: i % 7 === 0 ? ValueKind.Delete : ValueKind.Put,
      value: Buffer.from(`v${i}`.repeat(3)),
    })),
  );
  const options = { blockSizeBytes: 512, restartInterval: 4, bloomBitsPerKey: 10 };

  function tableWith(flip: (bytes: Buffer) => void): string {
    const file = newPath();
    writeTable(file, model, options);
    const bytes = fs.readFileSync(file);
    flip(bytes);
    fs.writeFileSync(file, bytes);
    return file;
  }

  function footerOf(file: string) {
    const bytes = fs.readFileSync(file);
    return decodeFooter(bytes.subarray(bytes.length - FOOTER_BYTES), file, bytes.length - FOOTER_BYTES);
  }

  function isCorruption(file: string, offset?: number) {
    return (err: unknown): boolean => {
      assert.ok(err instanceof CorruptionError, `expected CorruptionError, got ${String(err)}`);
      assert.equal(err.file, file);
      assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
      if (offset !== undefined) {
        assert.equal(err.offset, offset, err.message);
        assert.ok(err.message.includes(`offset ${offset}`), `message names the offset: ${err.message}`);
      }
      return true;
    };
  }

  it("a flipped byte in a data block fails the read that touches it, naming file and block offset", () => {
    const clean = newPath();
    writeTable(clean, model, options);
    const probe = SSTableReader.open(clean, 20, undefined);
    const target = model[200].key;
    const blockOffset = probe.approximateOffsetOf(target);
    probe.close();
    assert.ok(blockOffset > 0);

    for (const at of [blockOffset + 3, blockOffset]) {
      const file = tableWith((bytes) => (bytes[at] ^= 0x40));
      const reader = SSTableReader.open(file, 21, new BlockCache(1 << 20));
      assert.throws(() => reader.get(target, MAX_SEQUENCE), isCorruption(file, blockOffset));
      const it = reader.iterator();
      assert.throws(() => it.seek(target, MAX_SEQUENCE), isCorruption(file, blockOffset));
      assert.throws(() => scan(it, "forward"), isCorruption(file, blockOffset));
      assert.equal(reader.get(model[1].key, MAX_SEQUENCE), TableLookup.Found, "other blocks still read");
      reader.close();
    }
  });

  it("a flipped byte in the index block fails open, naming file and offset", () => {
    const clean = newPath();
    writeTable(clean, model, options);
    const { index } = footerOf(clean);
    const file = tableWith((bytes) => (bytes[index.offset + 5] ^= 1));
    assert.throws(() => SSTableReader.open(file, 22, undefined), isCorruption(file, index.offset));
  });

  it("a bad magic number, footer checksum or truncation fails open, naming the file", () => {
    let file = tableWith((bytes) => (bytes[bytes.length - 1] ^= 0xff));
    assert.throws(() => SSTableReader.open(file, 23, undefined), (err: unknown) => isCorruption(file)(err) && /magic/.test((err as Error).message));
    file = tableWith((bytes) => (bytes[bytes.length - FOOTER_BYTES + 1] ^= 0x10));
    assert.throws(() => SSTableReader.open(file, 24, undefined), (err: unknown) => isCorruption(file)(err) && /checksum/.test((err as Error).message));
    const truncated = newPath();
    writeTable(truncated, model, options);
    fs.truncateSync(truncated, fs.statSync(truncated).size - 10);
    assert.throws(() => SSTableReader.open(truncated, 25, undefined), isCorruption(truncated));
    fs.truncateSync(truncated, 20);
    assert.throws(() => SSTableReader.open(truncated, 26, undefined), isCorruption(truncated, 0));
  });

  it("every single flipped byte anywhere in a table is detected, never returned as data", () => {
    const small = model.slice(0, 40);
    const clean = newPath();
    writeTable(clean, small, { blockSizeBytes: 128, restartInterval: 2, bloomBitsPerKey: 10 });
    const original = fs.readFileSync(clean);
    const file = newPath();
    for (let at = 0; at < original.length; at++) {
      const bytes = Buffer.from(original);
      bytes[at] ^= 1 << (at % 8);
      fs.writeFileSync(file, bytes);
      assert.throws(
        () => {
          const reader = SSTableReader.open(file, 1000 + at, undefined);
          try {
            scan(reader.iterator(), "forward");
          } finally {
            reader.close();
          }
        },
        isCorruption(file),
        `flipping byte ${at} of ${original.length} went unnoticed`,
      );
    }
  });
});
