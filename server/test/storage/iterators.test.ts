/**
 * MergingIterator and DbIterator against models, over children that are sorted arrays of
 * internal entries. The array iterator hands out views of a scratch buffer it scrambles on
 * every move, as real iterators' views go stale, so a consumer that keeps a view without
 * copying it sees garbage. fast-check prints the seed of a failing run.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DbIterator, type UserBounds } from "../../src/storage/db-iterator.js";
import type { InternalIterator } from "../../src/storage/internal-iterator.js";
import { compareParts, MAX_SEQUENCE, ValueKind } from "../../src/storage/internal-key.js";
import { MergingIterator } from "../../src/storage/merging-iterator.js";

interface Entry {
  key: Buffer;
  seq: number;
  kind: ValueKind;
  value: Buffer;
}

const compareEntries = (a: Entry, b: Entry): number => compareParts(a.key, a.seq, a.kind, b.key, b.seq, b.kind);

/** Index of the first entry >= (key, seq, Put) in internal order; entries.length if none. */
function seekIndex(entries: readonly Entry[], key: Uint8Array, seq: number): number {
  const i = entries.findIndex((e) => compareParts(e.key, e.seq, e.kind, key, seq, ValueKind.Put) >= 0);
  return i < 0 ? entries.length : i;
}

/** Index of the last entry whose user key is <= key; -1 if none. */
function seekForPrevIndex(entries: readonly Entry[], key: Uint8Array): number {
  let i = entries.length - 1;
  while (i >= 0 && Buffer.compare(entries[i]!.key, key) > 0) i--;
  return i;
}

const STALE = 0xee;

/** An InternalIterator over a sorted array, strict about its contract. */
class ArrayIterator implements InternalIterator {
  private readonly entries: Entry[];
  private pos = -1;
  private readonly keyScratch: Buffer;
  private readonly valueScratch: Buffer;
  closed = false;

  constructor(entries: readonly Entry[]) {
    this.entries = [...entries].sort(compareEntries);
    this.keyScratch = Buffer.alloc(Math.max(1, ...entries.map((e) => e.key.length)));
    this.valueScratch = Buffer.alloc(Math.max(1, ...entries.map((e) => e.value.length)));
  }

  private moveTo(pos: number): void {
    this.pos = pos;
    this.keyScratch.fill(STALE);
    this.valueScratch.fill(STALE);
  }

  private current(): Entry {
    if (!this.valid()) throw new Error("ArrayIterator used while not valid");
    return this.entries[this.pos]!;
  }

  valid(): boolean {
    return this.pos >= 0 && this.pos < this.entries.length;
  }
  seekToFirst(): void {
    this.moveTo(0);
  }
  seekToLast(): void {
    this.moveTo(this.entries.length - 1);
  }
  seek(userKey: Uint8Array, seq: number): void {
    this.moveTo(seekIndex(this.entries, userKey, seq));
  }
  seekForPrev(userKey: Uint8Array): void {
    this.moveTo(seekForPrevIndex(this.entries, userKey));
  }
  next(): void {
    this.current();
    this.moveTo(this.pos + 1);
  }
  prev(): void {
    this.current();
    this.moveTo(this.pos - 1);
  }
  key(): Uint8Array {
    const e = this.current();
    e.key.copy(this.keyScratch);
    return this.keyScratch.subarray(0, e.key.length);
  }
  seq(): number {
    return this.current().seq;
  }
  kind(): number {
    return this.current().kind;
  }
  value(): Uint8Array {
    const e = this.current();
    e.value.copy(this.valueScratch);
    return this.valueScratch.subarray(0, e.value.length);
  }
  close(): void {
    this.closed = true;
  }
}

const put = (key: string, seq: number, value: string): Entry => ({
  key: Buffer.from(key),
  seq,
  kind: ValueKind.Put,
  value: Buffer.from(value),
});
const del = (key: string, seq: number): Entry => ({ key: Buffer.from(key), seq, kind: ValueKind.Delete, value: Buffer.alloc(0) });

const show = (e: { key: Uint8Array; seq: number; kind: number }): string =>
  `${Buffer.from(e.key).toString("latin1")}@${e.seq}${e.kind === ValueKind.Delete ? "(del)" : ""}`;

function entryOf(it: InternalIterator): Entry {
  return { key: Buffer.from(it.key()), seq: it.seq(), kind: it.kind(), value: Buffer.from(it.value()) };
}

function drainForward(it: InternalIterator): string[] {
  const out: string[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) out.push(show(entryOf(it)));
  return out;
}

function drainReverse(it: InternalIterator): string[] {
  const out: string[] = [];
  for (it.seekToLast(); it.valid(); it.prev()) out.push(show(entryOf(it)));
  return out;
}

/** Keys over a 3-letter alphabet, 1 or 2 bytes long: many shared user keys and prefixes. */
const keyArb = fc.array(fc.integer({ min: 0x61, max: 0x63 }), { minLength: 1, maxLength: 2 }).map((b) => Buffer.from(b));

/** Entries with distinct sequence numbers (as in the database), each assigned to one of `children` children. */
function entriesArb(children: number): fc.Arbitrary<{ entry: Entry; child: number }[]> {
  return fc.uniqueArray(
    fc.record({
      entry: fc.record({
        key: keyArb,
        seq: fc.integer({ min: 1, max: 120 }),
        kind: fc.constantFrom(ValueKind.Put, ValueKind.Delete),
        value: fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b)),
      }),
      child: fc.nat({ max: children - 1 }),
    }),
    { selector: (x) => x.entry.seq, maxLength: 60 },
  );
}

function split(items: readonly { entry: Entry; child: number }[], children: number): Entry[][] {
  const out: Entry[][] = Array.from({ length: children }, () => []);
  for (const { entry, child } of items) out[child]!.push(entry);
  return out;
}

type Command =
  | { op: "seekToFirst" }
  | { op: "seekToLast" }
  | { op: "seek"; key: Buffer; seq: number }
  | { op: "seekForPrev"; key: Buffer }
  | { op: "next" }
  | { op: "prev" };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Command>({ op: "seekToFirst" }) },
  { weight: 1, arbitrary: fc.constant<Command>({ op: "seekToLast" }) },
  { weight: 2, arbitrary: fc.record({ key: keyArb, seq: fc.integer({ min: 0, max: 125 }) }).map((c): Command => ({ op: "seek", ...c })) },
  { weight: 2, arbitrary: keyArb.map((key): Command => ({ op: "seekForPrev", key })) },
  { weight: 6, arbitrary: fc.constant<Command>({ op: "next" }) },
  { weight: 6, arbitrary: fc.constant<Command>({ op: "prev" }) },
);

const describeCommand = (c: Command): string =>
  c.op === "seek" ? `seek(${c.key.toString("latin1")}, ${c.seq})` : c.op === "seekForPrev" ? `seekForPrev(${c.key.toString("latin1")})` : `${c.op}()`;

describe("MergingIterator", () => {
  const children = (): ArrayIterator[] => [
    new ArrayIterator([put("a", 3, "a3"), put("c", 9, "c9"), del("e", 2)]),
    new ArrayIterator([]),
    new ArrayIterator([put("a", 7, "a7"), put("b", 1, "b1"), put("e", 8, "e8")]),
    new ArrayIterator([del("a", 5), put("c", 4, "c4"), put("d", 6, "d6")]),
  ];
  const forward = ["a@7", "a@5(del)", "a@3", "b@1", "c@9", "c@4", "d@6", "e@8", "e@2(del)"];

  it("yields the union of its children in internal key order, both ways", () => {
    assert.deepEqual(drainForward(new MergingIterator(children())), forward);
    assert.deepEqual(drainReverse(new MergingIterator(children())), [...forward].reverse());
  });

  it("seeks to the first entry at or after (key, seq) and back to the last entry at or before a key", () => {
    const it = new MergingIterator(children());
    it.seek(Buffer.from("a"), 6);
    assert.equal(show(entryOf(it)), "a@5(del)");
    it.seek(Buffer.from("c"), 3);
    assert.equal(show(entryOf(it)), "d@6");
    it.seek(Buffer.from("f"), MAX_SEQUENCE);
    assert.equal(it.valid(), false);
    it.seekForPrev(Buffer.from("c"));
    assert.equal(show(entryOf(it)), "c@4");
    it.seekForPrev(Buffer.from("bz"));
    assert.equal(show(entryOf(it)), "b@1");
    it.seekForPrev(Buffer.from("0"));
    assert.equal(it.valid(), false);
  });

  it("turns around in the middle: prev after next and next after prev", () => {
    const it = new MergingIterator(children());
    it.seek(Buffer.from("c"), MAX_SEQUENCE);
    assert.equal(show(entryOf(it)), "c@9");
    it.prev();
    assert.equal(show(entryOf(it)), "b@1");
    it.prev();
    assert.equal(show(entryOf(it)), "a@3");
    it.next();
    assert.equal(show(entryOf(it)), "b@1");
    it.next();
    assert.equal(show(entryOf(it)), "c@9");
    it.next();
    assert.equal(show(entryOf(it)), "c@4");
  });

  it("closes every child", () => {
    const kids = children();
    new MergingIterator(kids).close();
    assert.ok(kids.every((k) => k.closed));
  });

  it("matches a sorted model under random seeks and direction changes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(fc.constant(n), entriesArb(n))),
        fc.array(commandArb, { minLength: 1, maxLength: 80 }),
        ([n, items], commands) => {
          const model = items.map((x) => x.entry).sort(compareEntries);
          const it = new MergingIterator(split(items, n).map((entries) => new ArrayIterator(entries)));
          let pos = -1;
          const history: string[] = [];
          for (const c of commands) {
            const modelValid = pos >= 0 && pos < model.length;
            if ((c.op === "next" || c.op === "prev") && !modelValid) continue;
            history.push(describeCommand(c));
            switch (c.op) {
              case "seekToFirst":
                it.seekToFirst();
                pos = 0;
                break;
              case "seekToLast":
                it.seekToLast();
                pos = model.length - 1;
                break;
              case "seek":
                it.seek(c.key, c.seq);
                pos = seekIndex(model, c.key, c.seq);
                break;
              case "seekForPrev":
                it.seekForPrev(c.key);
                pos = seekForPrevIndex(model, c.key);
                break;
              case "next":
                it.next();
                pos++;
                break;
              case "prev":
                it.prev();
                pos--;
                break;
            }
            const expected = pos >= 0 && pos < model.length ? model[pos]! : undefined;
            const context = `after ${history.join(" ")}`;
            assert.equal(it.valid(), expected !== undefined, `valid() ${context}`);
            if (expected !== undefined) {
              assert.equal(show(entryOf(it)), show(expected), context);
              assert.deepEqual(Buffer.from(it.value()), expected.value, `value ${context}`);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

/** What a DbIterator should yield: the newest visible entry of each key, puts only, in bounds. */
function modelScan(entries: readonly Entry[], sequence: number, bounds: UserBounds, reverse: boolean): string[] {
  const newest = new Map<string, Entry>();
  for (const e of entries) {
    if (e.seq > sequence) continue;
    const id = e.key.toString("hex");
    const seen = newest.get(id);
    if (seen === undefined || e.seq > seen.seq) newest.set(id, e);
  }
  const inBounds = (k: Buffer): boolean => {
    if (bounds.lower !== undefined) {
      const c = Buffer.compare(k, bounds.lower);
      if (bounds.lowerInclusive ? c < 0 : c <= 0) return false;
    }
    if (bounds.upper !== undefined) {
      const c = Buffer.compare(k, bounds.upper);
      if (bounds.upperInclusive ? c > 0 : c >= 0) return false;
    }
    return true;
  };
  const out = [...newest.values()]
    .filter((e) => e.kind === ValueKind.Put && inBounds(e.key))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map((e) => `${e.key.toString("latin1")}=${e.value.toString("hex")}`);
  return reverse ? out.reverse() : out;
}

/** Drains a DbIterator, checking at the end that the keys and values it returned were not overwritten. */
function scan(it: DbIterator): string[] {
  const returned: [Buffer, Buffer][] = [];
  const seen: string[] = [];
  while (it.step()) {
    returned.push([it.key, it.value]);
    seen.push(`${it.key.toString("latin1")}=${it.value.toString("hex")}`);
  }
  assert.equal(it.step(), false, "step() after the end stays false");
  const afterwards = returned.map(([k, v]) => `${k.toString("latin1")}=${v.toString("hex")}`);
  assert.deepEqual(afterwards, seen, "keys and values returned earlier changed later: they are not copies");
  return seen;
}

const noBounds: UserBounds = { lowerInclusive: true, upperInclusive: true };

describe("DbIterator", () => {
  // a: put@1, put@3, del@5, put@7   b: put@2   c: del@4   d: put@6, del@8
  const entries = [
    put("a", 1, "a1"),
    put("a", 3, "a3"),
    del("a", 5),
    put("a", 7, "a7"),
    put("b", 2, "b2"),
    del("c", 4),
    put("d", 6, "d6"),
    del("d", 8),
  ];
  const open = (sequence: number, bounds: UserBounds, reverse: boolean): DbIterator =>
    new DbIterator(
      new MergingIterator([new ArrayIterator(entries.slice(0, 4)), new ArrayIterator(entries.slice(4))]),
      sequence,
      bounds,
      reverse,
    );
  const both = (sequence: number, bounds: UserBounds): string[] => {
    const forward = scan(open(sequence, bounds, false));
    assert.deepEqual(scan(open(sequence, bounds, true)), [...forward].reverse(), "reverse is forward backwards");
    return forward.map((s) => s.split("=")[0]!);
  };

  it("shows each key's newest entry at the read sequence and hides deleted keys", () => {
    assert.deepEqual(both(MAX_SEQUENCE, noBounds), ["a", "b"]);
    assert.deepEqual(both(7, noBounds), ["a", "b", "d"]);
    assert.deepEqual(both(6, noBounds), ["b", "d"]);
    assert.deepEqual(both(4, noBounds), ["a", "b"]);
    assert.deepEqual(both(1, noBounds), ["a"]);
    assert.deepEqual(both(0, noBounds), []);
    assert.deepEqual(scan(open(4, noBounds, false)), ["a=" + Buffer.from("a3").toString("hex"), "b=" + Buffer.from("b2").toString("hex")]);
  });

  it("applies inclusive and exclusive bounds", () => {
    const b = (lower: string | undefined, lowerInclusive: boolean, upper: string | undefined, upperInclusive: boolean): UserBounds => ({
      lower: lower === undefined ? undefined : Buffer.from(lower),
      lowerInclusive,
      upper: upper === undefined ? undefined : Buffer.from(upper),
      upperInclusive,
    });
    assert.deepEqual(both(7, b("a", true, "d", true)), ["a", "b", "d"]);
    assert.deepEqual(both(7, b("a", false, "d", false)), ["b"]);
    assert.deepEqual(both(7, b("b", true, "b", true)), ["b"]);
    assert.deepEqual(both(7, b("b", false, "b", true)), []);
    assert.deepEqual(both(7, b("aa", true, undefined, false)), ["b", "d"]);
    assert.deepEqual(both(7, b(undefined, true, "c", false)), ["a", "b"]);
    assert.deepEqual(both(7, b("e", true, undefined, true)), []);
  });

  it("closes the internal iterator", () => {
    const children = [new ArrayIterator(entries)];
    const it = new DbIterator(new MergingIterator(children), MAX_SEQUENCE, noBounds, false);
    assert.equal(it.step(), true);
    it.close();
    assert.equal(it.step(), false);
    assert.ok(children[0]!.closed);
  });

  it("matches a model for random histories, snapshots and bounds, forward and reverse", () => {
    const boundArb = fc.option(keyArb, { nil: undefined });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }).chain((n) => fc.tuple(fc.constant(n), entriesArb(n))),
        fc.oneof(fc.integer({ min: 0, max: 125 }), fc.constant(MAX_SEQUENCE)),
        fc.record({ lower: boundArb, lowerInclusive: fc.boolean(), upper: boundArb, upperInclusive: fc.boolean() }, { noNullPrototype: true }),
        fc.boolean(),
        ([n, items], sequence, bounds, reverse) => {
          const all = items.map((x) => x.entry);
          const it = new DbIterator(
            new MergingIterator(split(items, n).map((entries) => new ArrayIterator(entries))),
            sequence,
            bounds,
            reverse,
          );
          assert.deepEqual(scan(it), modelScan(all, sequence, bounds, reverse));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
