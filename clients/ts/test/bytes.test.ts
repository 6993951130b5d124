import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Code, ConnectError } from "@connectrpc/connect";
import { prefixEnd, resolveRange } from "../src/bytes.js";
import { ClientClosedError, InvalidArgumentError, SisyphusClientError, UnsafeIntegerError, WatchCompactedError } from "../src/errors.js";
import { toInt64, toSafeNumber } from "../src/integers.js";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  return key.length >= prefix.length && prefix.every((b, i) => key[i] === b);
}

/** Whether key is in [first, end) with kv.proto's convention that end "\0" means no upper bound. */
function inRange(first: Uint8Array, end: Uint8Array, key: Uint8Array): boolean {
  if (compareBytes(key, first) < 0) return false;
  return end.length === 1 && end[0] === 0 ? true : compareBytes(key, end) < 0;
}

describe("prefixEnd", () => {
  it("adds one to the last byte below 0xff and drops the 0xff bytes after it", () => {
    assert.deepEqual(prefixEnd(text("ab")), text("ac"));
    assert.deepEqual(prefixEnd(bytes(0x61, 0xff)), text("b"));
    assert.deepEqual(prefixEnd(bytes(0x01, 0xfe, 0xff, 0xff)), bytes(0x01, 0xff));
  });

  it('is "\\0" (no upper bound) for an empty or all-0xff prefix', () => {
    assert.deepEqual(prefixEnd(bytes()), bytes(0));
    assert.deepEqual(prefixEnd(bytes(0xff)), bytes(0));
    assert.deepEqual(prefixEnd(bytes(0xff, 0xff, 0xff)), bytes(0));
  });

  it("does not modify its argument", () => {
    const prefix = text("ab");
    prefixEnd(prefix);
    assert.deepEqual(prefix, text("ab"));
  });

  it("does not modify a Node Buffer argument (whose slice is a view)", () => {
    const prefix = Buffer.from("pre");
    assert.deepEqual(prefixEnd(prefix), text("prf"));
    assert.equal(prefix.toString(), "pre");
  });

  it("[P, prefixEnd(P)) holds exactly the keys that start with P (property, brute force)", () => {
    // Bytes near the edges (0x00, 0xfe, 0xff) are where a wrong prefix end goes wrong.
    const edgyByte = fc.oneof(fc.constantFrom(0x00, 0x01, 0x7f, 0xfe, 0xff), fc.integer({ min: 0, max: 255 }));
    const edgyBytes = (maxLength: number) => fc.array(edgyByte, { maxLength }).map((a) => Uint8Array.from(a));
    fc.assert(
      fc.property(
        edgyBytes(4).filter((p) => p.length > 0),
        fc.array(edgyBytes(6), { maxLength: 20 }),
        fc.array(edgyBytes(3), { maxLength: 10 }),
        (prefix, randomKeys, suffixes) => {
          const end = prefixEnd(prefix);
          const keys = [...randomKeys, ...suffixes.map((s) => Uint8Array.from([...prefix, ...s])), prefix, end];
          for (const key of keys) {
            assert.equal(inRange(prefix, end, key), startsWith(key, prefix), `prefix ${Buffer.from(prefix).toString("hex")} end ${Buffer.from(end).toString("hex")} key ${Buffer.from(key).toString("hex")}`);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe("resolveRange", () => {
  it("names a single key by default", () => {
    assert.deepEqual(resolveRange("k"), { key: text("k"), rangeEnd: bytes() });
  });

  it("computes the prefix end, and every key for an empty prefix", () => {
    assert.deepEqual(resolveRange("ab", { prefix: true }), { key: text("ab"), rangeEnd: text("ac") });
    assert.deepEqual(resolveRange("", { prefix: true }), { key: bytes(0), rangeEnd: bytes(0) });
  });

  it('uses range end "\\0" for fromKey', () => {
    assert.deepEqual(resolveRange("m", { fromKey: true }), { key: text("m"), rangeEnd: bytes(0) });
    assert.deepEqual(resolveRange("", { fromKey: true }), { key: bytes(0), rangeEnd: bytes(0) });
  });

  it("passes rangeEnd through, and rejects more than one selector", () => {
    assert.deepEqual(resolveRange("a", { rangeEnd: "c" }), { key: text("a"), rangeEnd: text("c") });
    assert.throws(() => resolveRange("a", { rangeEnd: "c", prefix: true }), InvalidArgumentError);
  });
});

describe("integers", () => {
  it("converts safe bigints to numbers and refuses larger ones with UnsafeIntegerError", () => {
    assert.equal(toSafeNumber(42n, "x"), 42);
    assert.equal(toSafeNumber(BigInt(Number.MAX_SAFE_INTEGER), "x"), Number.MAX_SAFE_INTEGER);
    assert.throws(
      () => toSafeNumber(BigInt(Number.MAX_SAFE_INTEGER) + 1n, "header.revision"),
      (err: unknown) => err instanceof UnsafeIntegerError && err.field === "header.revision" && err.code === Code.OutOfRange,
    );
  });

  it("refuses non-integer arguments", () => {
    assert.equal(toInt64(7, "revision"), 7n);
    assert.equal(toInt64(7n, "revision"), 7n);
    assert.throws(() => toInt64(1.5, "revision"), InvalidArgumentError);
    assert.throws(() => toInt64(Number.NaN, "revision"), InvalidArgumentError);
  });
});

describe("errors", () => {
  it("are ConnectErrors with codes, and instanceof tells them apart", () => {
    const compacted = new WatchCompactedError(10, 3);
    assert.ok(compacted instanceof ConnectError);
    assert.ok(compacted instanceof SisyphusClientError);
    assert.ok(compacted instanceof WatchCompactedError);
    assert.ok(!(compacted instanceof ClientClosedError));
    assert.equal(compacted.code, Code.OutOfRange);
    assert.equal(compacted.compactRevision, 10);
    assert.equal(ConnectError.from(compacted), compacted);
    const plain = new ConnectError("x", Code.OutOfRange);
    assert.ok(!(plain instanceof SisyphusClientError));
    assert.ok(!(plain instanceof WatchCompactedError));
    assert.equal(new ClientClosedError().code, Code.Canceled);
  });
});
