import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { PerformanceObserver, performance, type PerformanceEntry, type PerformanceObserverEntryList } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import fc from "fast-check";
import { LookupResult, Memtable, type MemtableShared } from "../../src/storage/memtable.js";
import { compareParts, MAX_SEQUENCE, ValueKind } from "../../src/storage/internal-key.js";
import { StorageError } from "../../src/storage/errors.js";
import type { InternalIterator } from "../../src/storage/internal-iterator.js";

interface Entry {
  key: Uint8Array;
  seq: number;
  kind: ValueKind;
  value: Uint8Array;
}

const bytes = (s: string): Buffer => Buffer.from(s, "latin1");
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function compareEntries(a: Entry, b: Entry): number {
  return compareParts(a.key, a.seq, a.kind, b.key, b.seq, b.kind);
}

/** What an iterator shows, in a form assert.deepEqual prints readably. */
function show(e: { key: Uint8Array; seq: number; kind: number; value: Uint8Array }): string {
  return `${hex(e.key)}@${e.seq}/${e.kind}=${hex(e.value)}`;
}

function current(it: InternalIterator): string {
  return show({ key: it.key(), seq: it.seq(), kind: it.kind(), value: it.value() });
}

function forward(memtable: Memtable): string[] {
  const out: string[] = [];
  const it = memtable.iterator();
  for (it.seekToFirst(); it.valid(); it.next()) out.push(current(it));
  it.close();
  return out;
}

function backward(memtable: Memtable): string[] {
  const out: string[] = [];
  const it = memtable.iterator();
  for (it.seekToLast(); it.valid(); it.prev()) out.push(current(it));
  it.close();
  return out;
}

/** The model's answer to get(key, maxSeq): the newest version with seq <= maxSeq. */
function modelGet(sorted: Entry[], key: Uint8Array, maxSeq: number): Entry | undefined {
  return sorted.find((e) => Buffer.compare(e.key, key) === 0 && e.seq <= maxSeq);
}

function lookup(memtable: Memtable, key: Uint8Array, maxSeq: number): string {
  const result = memtable.get(key, maxSeq);
  if (result === LookupResult.Found) return `found ${hex(memtable.lastValue())}`;
  return result === LookupResult.Deleted ? "deleted" : "not found";
}

function modelLookup(sorted: Entry[], key: Uint8Array, maxSeq: number): string {
  const e = modelGet(sorted, key, maxSeq);
  if (e === undefined) return "not found";
  return e.kind === ValueKind.Delete ? "deleted" : `found ${hex(e.value)}`;
}

test("an empty memtable has no entries", () => {
  const memtable = Memtable.create(4096);
  assert.equal(memtable.count(), 0);
  assert.equal(memtable.minSeq(), 0);
  assert.equal(memtable.maxSeq(), 0);
  assert.equal(memtable.get(bytes("a"), MAX_SEQUENCE), LookupResult.NotFound);
  const it = memtable.iterator();
  it.seekToFirst();
  assert.equal(it.valid(), false);
  it.seekToLast();
  assert.equal(it.valid(), false);
  it.seek(bytes("a"), MAX_SEQUENCE);
  assert.equal(it.valid(), false);
  it.seekForPrev(bytes("z"));
  assert.equal(it.valid(), false);
});

test("get returns the newest version visible at maxSeq, including tombstones", () => {
  const memtable = Memtable.create(1 << 16);
  memtable.add(10, ValueKind.Put, bytes("key"), bytes("v10"));
  memtable.add(20, ValueKind.Delete, bytes("key"), new Uint8Array(0));
  memtable.add(30, ValueKind.Put, bytes("key"), bytes("v30"));
  memtable.add(15, ValueKind.Put, bytes("kez"), bytes("other"));
  assert.equal(lookup(memtable, bytes("key"), 9), "not found");
  assert.equal(lookup(memtable, bytes("key"), 10), `found ${hex(bytes("v10"))}`);
  assert.equal(lookup(memtable, bytes("key"), 19), `found ${hex(bytes("v10"))}`);
  assert.equal(lookup(memtable, bytes("key"), 20), "deleted");
  assert.equal(lookup(memtable, bytes("key"), 29), "deleted");
  assert.equal(lookup(memtable, bytes("key"), MAX_SEQUENCE), `found ${hex(bytes("v30"))}`);
  assert.equal(lookup(memtable, bytes("ke"), MAX_SEQUENCE), "not found");
  assert.equal(lookup(memtable, bytes("keyy"), MAX_SEQUENCE), "not found");
  assert.equal(memtable.count(), 4);
  assert.equal(memtable.minSeq(), 10);
  assert.equal(memtable.maxSeq(), 30);
});

test("add copies key and value: later changes to the caller's buffers do not show", () => {
  const memtable = Memtable.create(4096);
  const key = bytes("mutable-key-longer-than-24-bytes!");
  const value = bytes("value");
  memtable.add(1, ValueKind.Put, key, value);
  key.fill(0x7a);
  value.fill(0x7a);
  assert.deepEqual(forward(memtable), [show({ key: bytes("mutable-key-longer-than-24-bytes!"), seq: 1, kind: 1, value: bytes("value") })]);
});

test("iteration orders by user key bytewise, then seq descending, then kind descending", () => {
  const entries: Entry[] = [];
  const keys = ["", "a", "a\u0000", "ab", "abcdefgh", "abcdefgh\u0000", "abcdefghi", "abcdefgi", "b", "\u00ff", "\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff"];
  let seq = 1;
  for (const key of keys) {
    for (let v = 0; v < 3; v++) {
      entries.push({ key: bytes(key), seq: seq++, kind: v === 1 ? ValueKind.Delete : ValueKind.Put, value: bytes(`${key}#${v}`) });
    }
  }
  entries.push({ key: bytes("b"), seq: MAX_SEQUENCE, kind: ValueKind.Put, value: bytes("max") });
  entries.push({ key: bytes("b"), seq: 2 ** 40 + 3, kind: ValueKind.Delete, value: new Uint8Array(0) });
  const memtable = Memtable.create(1 << 16);
  // Insert in a scrambled order.
  const order = entries.map((_, i) => i).sort((a, b) => ((a * 7919) % 101) - ((b * 7919) % 101));
  for (const i of order) memtable.add(entries[i]!.seq, entries[i]!.kind, entries[i]!.key, entries[i]!.value);
  const sorted = [...entries].sort(compareEntries);
  assert.deepEqual(forward(memtable), sorted.map(show));
  assert.deepEqual(backward(memtable), sorted.map(show).reverse());
  assert.equal(memtable.maxSeq(), MAX_SEQUENCE);
  assert.equal(memtable.minSeq(), 1);
});

test("seek and seekForPrev position at the documented entries", () => {
  const memtable = Memtable.create(1 << 16);
  memtable.add(5, ValueKind.Put, bytes("b"), bytes("b5"));
  memtable.add(3, ValueKind.Put, bytes("b"), bytes("b3"));
  memtable.add(4, ValueKind.Put, bytes("d"), bytes("d4"));
  const it = memtable.iterator();
  it.seek(bytes("b"), 10);
  assert.equal(it.seq(), 5);
  it.seek(bytes("b"), 5);
  assert.equal(it.seq(), 5);
  it.seek(bytes("b"), 4);
  assert.equal(it.seq(), 3);
  it.seek(bytes("b"), 2);
  assert.equal(hex(it.key()), hex(bytes("d")));
  it.seek(bytes("e"), 100);
  assert.equal(it.valid(), false);
  it.seekForPrev(bytes("c"));
  assert.equal(hex(it.key()), hex(bytes("b")));
  assert.equal(it.seq(), 3, "the last entry of user key b is its oldest version");
  it.seekForPrev(bytes("d"));
  assert.equal(hex(it.key()), hex(bytes("d")));
  it.seekForPrev(bytes("a"));
  assert.equal(it.valid(), false);
  it.close();
  assert.equal(it.valid(), false);
});

test("an iterator keeps working while entries are added between its moves", () => {
  const memtable = Memtable.create(1 << 16);
  const model: Entry[] = [];
  const add = (key: string, seq: number): void => {
    const e = { key: bytes(key), seq, kind: ValueKind.Put, value: bytes(`${key}${seq}`) };
    model.push(e);
    model.sort(compareEntries);
    memtable.add(e.seq, e.kind, e.key, e.value);
  };
  for (const k of ["c", "g", "m"]) add(k, 1);
  const it = memtable.iterator();
  it.seekToFirst();
  assert.equal(current(it), show(model[0]!));
  add("a", 2); // before the position
  add("d", 3); // right after it
  it.next();
  assert.equal(current(it), show(model.find((e) => hex(e.key) === hex(bytes("d")))!));
  add("e", 4);
  add("c", 5); // a newer version of an entry already passed
  it.prev();
  assert.equal(current(it), show(model.find((e) => hex(e.key) === hex(bytes("c")) && e.seq === 1)!));
  it.prev();
  assert.equal(current(it), show(model.find((e) => e.seq === 5)!));
  const rest: string[] = [];
  for (; it.valid(); it.next()) {
    rest.push(current(it));
    if (rest.length === 2) add("z", 6);
  }
  assert.deepEqual(rest, model.slice(model.findIndex((e) => e.seq === 5)).map(show));
});

test("hasRoomFor turns false before add throws, and a failed add changes nothing", () => {
  const memtable = Memtable.create(4096);
  const value = new Uint8Array(50);
  let seq = 0;
  while (memtable.hasRoomFor(8, value.length)) {
    seq++;
    memtable.add(seq, ValueKind.Put, bytes(String(seq).padStart(8, "0")), value);
  }
  assert.ok(seq > 30, `only ${seq} entries of 58 bytes fit in 4096`);
  const before = forward(memtable);
  const bytesBefore = memtable.approximateBytes();
  assert.throws(() => memtable.add(seq + 1, ValueKind.Put, bytes("zzzzzzzz"), value), StorageError);
  assert.equal(memtable.count(), seq);
  assert.equal(memtable.approximateBytes(), bytesBefore);
  assert.deepEqual(forward(memtable), before);
  assert.equal(memtable.hasRoomFor(8, value.length), false);
});

test("node space never runs out before the arena, even with empty keys and values", () => {
  const memtable = Memtable.create(64 * 1024);
  const empty = new Uint8Array(0);
  let seq = 0;
  while (memtable.hasRoomFor(0, 0)) memtable.add(++seq, ValueKind.Put, empty, empty);
  assert.equal(seq, 4096, "every 16 bytes of arena take one empty entry");
  const it = memtable.iterator();
  it.seekToFirst();
  assert.equal(it.seq(), seq, "the newest version of the empty key comes first");
});

test("a memtable of bytesNeededFor(dataBytes, count) takes such a batch whole", () => {
  for (const [keyLength, valueLength, count] of [[1, 0, 100], [7, 9, 37], [16, 100, 500], [33, 1, 10]] as const) {
    const dataBytes = (keyLength + valueLength) * count;
    const memtable = Memtable.create(Memtable.bytesNeededFor(dataBytes, count));
    assert.ok(memtable.hasRoomForBatch(dataBytes, count));
    for (let i = 0; i < count; i++) {
      const key = new Uint8Array(keyLength).fill(i);
      memtable.add(i + 1, ValueKind.Put, key, new Uint8Array(valueLength));
    }
    assert.equal(memtable.count(), count);
    const batchFits = memtable.hasRoomForBatch(keyLength + valueLength, 1);
    assert.ok(!batchFits || memtable.hasRoomFor(keyLength, valueLength), "the batch bound is never looser than hasRoomFor");
  }
});

test("an entry larger than the whole arena does not fit", () => {
  const memtable = Memtable.create(1024);
  assert.equal(memtable.hasRoomFor(10, 2000), false);
  assert.throws(() => memtable.add(1, ValueKind.Put, bytes("k"), new Uint8Array(2000)), StorageError);
  assert.equal(memtable.count(), 0);
});

test("approximateBytes grows with every entry by at least its key and value", () => {
  const memtable = Memtable.create(1 << 16);
  let last = memtable.approximateBytes();
  for (let i = 0; i < 100; i++) {
    memtable.add(i + 1, ValueKind.Put, bytes(`key${i}`), new Uint8Array(i));
    const now = memtable.approximateBytes();
    assert.ok(now - last >= `key${i}`.length + i, `entry ${i}: ${last} -> ${now}`);
    last = now;
  }
});

test("property: a memtable agrees with a sorted-array model", () => {
  // A small alphabet and a shared 8-byte stem make prefix ties and equal user keys common.
  const keyArb = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 10, min: 0, max: 3 }),
    fc.uint8Array({ minLength: 0, maxLength: 6, min: 0, max: 3 }).map((tail) => Buffer.concat([bytes("stemstem"), tail])),
  );
  const entryArb = fc.record({
    key: keyArb,
    kind: fc.constantFrom(ValueKind.Put, ValueKind.Delete),
    value: fc.uint8Array({ maxLength: 40 }),
  });
  const seqArb = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 2 ** 31 - 10, max: MAX_SEQUENCE }));
  fc.assert(
    fc.property(
      fc.array(entryArb, { maxLength: 120 }),
      fc.array(seqArb, { minLength: 120, maxLength: 120 }),
      fc.array(fc.tuple(keyArb, seqArb), { maxLength: 30 }),
      fc.constantFrom("as drawn", "ascending", "descending"),
      (drafts, seqPool, probes, order) => {
        // The engine never repeats a sequence number; draw them distinct.
        const used = new Set<number>();
        const entries: Entry[] = drafts.map((d, i) => {
          let seq = seqPool[i]!;
          while (used.has(seq)) seq = seq === MAX_SEQUENCE ? 1 : seq + 1;
          used.add(seq);
          return { ...d, seq };
        });
        // Sorted insert orders exercise the insert path that reuses the previous splice.
        if (order !== "as drawn") entries.sort((a, b) => (order === "ascending" ? 1 : -1) * compareEntries(a, b));
        const memtable = Memtable.create(1 << 16);
        for (const [i, e] of entries.entries()) {
          memtable.add(e.seq, e.kind, e.key, e.value);
          // A lookup between inserts replaces the remembered splice.
          if (i % 7 === 3) memtable.get(entries[i >> 1]!.key, MAX_SEQUENCE);
        }
        const sorted = [...entries].sort(compareEntries);
        assert.equal(memtable.count(), entries.length);
        assert.deepEqual(forward(memtable), sorted.map(show));
        assert.deepEqual(backward(memtable), sorted.map(show).reverse());
        const it = memtable.iterator();
        const probeKeys = [...probes, ...entries.slice(0, 10).map((e) => [e.key, e.seq] as const)];
        for (const [key, seq] of probeKeys) {
          assert.equal(lookup(memtable, key, seq), modelLookup(sorted, key, seq), `get(${hex(key)}, ${seq})`);
          const target: Entry = { key, seq, kind: ValueKind.Put, value: new Uint8Array(0) };
          const atOrAfter = sorted.find((e) => compareEntries(e, target) >= 0);
          it.seek(key, seq);
          assert.equal(it.valid() ? current(it) : "end", atOrAfter ? show(atOrAfter) : "end", `seek(${hex(key)}, ${seq})`);
          const atOrBefore = [...sorted].reverse().find((e) => Buffer.compare(e.key, key) <= 0);
          it.seekForPrev(key);
          assert.equal(it.valid() ? current(it) : "end", atOrBefore ? show(atOrBefore) : "end", `seekForPrev(${hex(key)})`);
        }
        it.close();
      },
    ),
    { numRuns: 300 },
  );
});

test("attach() in a worker thread reads every entry added before the handoff", async () => {
  const memtable = Memtable.create(1 << 20);
  const entries: Entry[] = [];
  for (let i = 0; i < 2000; i++) {
    const key = bytes(`user:${(i * 7919) % 2000}`.padEnd(4 + (i % 13), "x"));
    entries.push({ key, seq: i + 1, kind: i % 5 === 0 ? ValueKind.Delete : ValueKind.Put, value: bytes(`value-${i}`) });
    memtable.add(i + 1, entries[i]!.kind, key, entries[i]!.value);
  }
  const sorted = [...entries].sort(compareEntries);
  const moduleUrl = new URL("../../src/storage/memtable.js", import.meta.url).href;
  const workerSource = `
    const { parentPort, workerData } = require("node:worker_threads");
    import(workerData.moduleUrl).then(({ Memtable }) => {
      const memtable = Memtable.attach(workerData.shared);
      const hex = (b) => Buffer.from(b).toString("hex");
      const rows = [];
      const it = memtable.iterator();
      for (it.seekToFirst(); it.valid(); it.next()) rows.push(hex(it.key()) + "@" + it.seq() + "/" + it.kind() + "=" + hex(it.value()));
      const gets = workerData.probes.map((k) => {
        const r = memtable.get(Buffer.from(k, "hex"), Number.MAX_SAFE_INTEGER);
        return r === 1 ? "found " + hex(memtable.lastValue()) : r === 2 ? "deleted" : "not found";
      });
      let addError = "";
      try { memtable.add(1, 1, Buffer.from("x"), Buffer.from("y")); } catch (e) { addError = e.name; }
      parentPort.postMessage({ rows, gets, count: memtable.count(), maxSeq: memtable.maxSeq(), addError });
    });
  `;
  const probes = [entries[0]!.key, entries[1]!.key, entries[17]!.key, bytes("absent")].map(hex);
  const shared: MemtableShared = memtable.shared();
  const worker = new Worker(workerSource, { eval: true, workerData: { moduleUrl, shared, probes } });
  const reply = await new Promise<{ rows: string[]; gets: string[]; count: number; maxSeq: number; addError: string }>(
    (resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    },
  );
  await worker.terminate();
  assert.equal(reply.count, entries.length);
  assert.equal(reply.maxSeq, entries.length);
  assert.deepEqual(reply.rows, sorted.map(show));
  assert.deepEqual(
    reply.gets,
    probes.map((k) => modelLookup(sorted, Buffer.from(k, "hex"), MAX_SEQUENCE)),
  );
  assert.equal(reply.addError, "StorageError");
});

/** The kinds of the GC events that start while `body` runs (entries arrive on a later turn). */
async function gcEventsDuring(body: () => void): Promise<string[]> {
  const kinds: string[] = [];
  let start = 0;
  let end = 0;
  const collect = (list: PerformanceObserverEntryList | PerformanceEntry[]): void => {
    const entries = Array.isArray(list) ? list : list.getEntries();
    for (const e of entries) {
      if (e.startTime >= start && e.startTime <= end) kinds.push(`kind ${(e as { detail?: { kind?: number } }).detail?.kind} at +${(e.startTime - start).toFixed(1)} ms`);
    }
  };
  const observer = new PerformanceObserver(collect);
  observer.observe({ entryTypes: ["gc"] });
  start = performance.now();
  end = Infinity;
  body();
  end = performance.now();
  await nextTurn();
  await nextTurn();
  collect(observer.takeRecords());
  observer.disconnect();
  return kinds;
}

/**
 * Inserts n 16-byte keys with 100-byte values, allocating nothing itself: random keys, or
 * ascending keys that share their first 8 bytes (every comparison then reads the arena).
 */
function insertKeys(memtable: Memtable, n: number, seed: number, ascending: boolean): void {
  const key = new Uint8Array(16).fill(0x61);
  const value = new Uint8Array(100);
  let x = seed | 0;
  for (let i = 0; i < n; i++) {
    for (let j = ascending ? 8 : 0; j < 16; j += 4) {
      if (ascending) {
        x = j === 8 ? seed + Math.floor(i / 0x10000) : i & 0xffff;
      } else {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
      }
      key[j] = x >>> 24;
      key[j + 1] = x >>> 16;
      key[j + 2] = x >>> 8;
      key[j + 3] = x;
    }
    memtable.add(i + 1, ValueKind.Put, key, value);
  }
}

test("inserting 1,000,000 entries after warm-up causes no garbage collection", async () => {
  const n = 1_000_000;
  insertKeys(Memtable.create(30_000 * 136), 30_000, 7, false);
  insertKeys(Memtable.create(30_000 * 136), 30_000, 7, true);
  const random = Memtable.create(n * 136);
  assert.deepEqual(await gcEventsDuring(() => insertKeys(random, n, 42, false)), [], `GC events during ${n} random inserts`);
  assert.equal(random.count(), n);
  const ascending = Memtable.create((n / 4) * 136);
  assert.deepEqual(await gcEventsDuring(() => insertKeys(ascending, n / 4, 42, true)), [], `GC events during ${n / 4} ascending inserts`);
  const it = ascending.iterator();
  it.seekToFirst();
  let previous = Buffer.from(it.key());
  let ordered = 0;
  for (it.next(); it.valid(); it.next()) {
    if (Buffer.compare(previous, it.key()) < 0) ordered++;
    previous = Buffer.from(it.key());
  }
  assert.equal(ordered, n / 4 - 1, "ascending keys iterate in order");
  // The observer does see collections when there is garbage.
  const control = await gcEventsDuring(() => {
    let keep: unknown[] = [];
    for (let i = 0; i < 2_000_000; i++) keep = [keep.length, i];
    assert.ok(keep.length > 0);
  });
  assert.ok(control.length > 0, "the GC observer saw no collection while allocating 2,000,000 arrays");
});
