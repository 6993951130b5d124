/**
 * WriteBatch: the encoded record round-trips through forEachBatchOp, malformed records are
 * refused, and keys / values are validated with InvalidArgumentErrors a caller can act on.
 * fast-check prints the seed of a failing run.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InvalidArgumentError } from "../../src/storage/errors.js";
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, ValueKind } from "../../src/storage/internal-key.js";
import {
  BATCH_HEADER_BYTES,
  batchCount,
  batchSequence,
  checkKey,
  checkValue,
  forEachBatchOp,
  WriteBatch,
} from "../../src/storage/write-batch.js";

interface Op {
  kind: ValueKind;
  key: Buffer;
  value: Buffer;
}

interface DecodedOp extends Op {
  seq: number;
}

function batchOf(ops: readonly Op[]): WriteBatch {
  const batch = new WriteBatch();
  for (const op of ops) {
    if (op.kind === ValueKind.Put) batch.put(op.key, op.value);
    else batch.delete(op.key);
  }
  return batch;
}

/** Decodes a record into copies; undefined when forEachBatchOp reports it malformed. */
function decode(record: Uint8Array): DecodedOp[] | undefined {
  const out: DecodedOp[] = [];
  const ok = forEachBatchOp(record, (seq, kind, key, value) => {
    out.push({ seq, kind, key: Buffer.from(key), value: Buffer.from(value) });
  });
  return ok ? out : undefined;
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc
    .record({ key: fc.uint8Array({ minLength: 1, maxLength: 40 }), value: fc.uint8Array({ maxLength: 300 }) })
    .map(({ key, value }) => ({ kind: ValueKind.Put, key: Buffer.from(key), value: Buffer.from(value) })),
  fc
    .uint8Array({ minLength: 1, maxLength: 40 })
    .map((key) => ({ kind: ValueKind.Delete, key: Buffer.from(key), value: Buffer.alloc(0) })),
);

const sampleOps: Op[] = [
  { kind: ValueKind.Put, key: Buffer.from("alpha"), value: Buffer.from("1") },
  { kind: ValueKind.Delete, key: Buffer.from("beta"), value: Buffer.alloc(0) },
  { kind: ValueKind.Put, key: Buffer.from("gamma"), value: Buffer.alloc(0) },
];

describe("WriteBatch encoding", () => {
  it("round-trips any list of puts and deletes, numbering ops from the record's sequence", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 30 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 100 }),
        (ops, sequence) => {
          const batch = batchOf(ops);
          assert.equal(batch.length, ops.length);
          const record = batch.encode(sequence);
          assert.equal(record.length, batch.byteLength);
          assert.equal(batchSequence(record), sequence);
          assert.equal(batchCount(record), ops.length);
          const expected = ops.map((op, i) => ({ seq: sequence + i, ...op }));
          assert.deepEqual(decode(record), expected);
          assert.deepEqual(decode(Buffer.from(record)), expected, "a copy of the record decodes the same");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("has the documented byte layout", () => {
    const record = batchOf(sampleOps.slice(0, 2)).encode(2 ** 32 + 5);
    const expected = Buffer.concat([
      Buffer.from([5, 0, 0, 0, 1, 0, 0, 0]), // sequence, fixed64 little-endian
      Buffer.from([2, 0, 0, 0]), // count, fixed32
      Buffer.from([ValueKind.Put, 5]),
      Buffer.from("alpha"),
      Buffer.from([1]),
      Buffer.from("1"),
      Buffer.from([ValueKind.Delete, 4]),
      Buffer.from("beta"),
    ]);
    assert.deepEqual(record, expected);
  });

  it("encodes an empty batch as a bare header", () => {
    const batch = new WriteBatch();
    const record = batch.encode(7);
    assert.equal(record.length, BATCH_HEADER_BYTES);
    assert.deepEqual(decode(record), []);
  });

  it("grows past its initial buffer for large values and long batches", () => {
    const big = Buffer.alloc(100_000, 0x5a);
    const ops: Op[] = [{ kind: ValueKind.Put, key: Buffer.from("big"), value: big }];
    for (let i = 0; i < 1000; i++) ops.push({ kind: ValueKind.Delete, key: Buffer.from(`k${i}`), value: Buffer.alloc(0) });
    const decoded = decode(batchOf(ops).encode(1));
    assert.ok(decoded !== undefined, "the record decodes");
    assert.equal(decoded.length, ops.length);
    assert.deepEqual(decoded[0]!.value, big);
    assert.deepEqual(decoded[1000]!.key, Buffer.from("k999"));
  });

  it("starts over after clear() and can be re-stamped with another sequence", () => {
    const batch = batchOf(sampleOps);
    batch.clear();
    assert.equal(batch.length, 0);
    assert.equal(batch.byteLength, BATCH_HEADER_BYTES);
    batch.put(Buffer.from("x"), Buffer.from("y"));
    assert.deepEqual(decode(batch.encode(10)), [{ seq: 10, kind: ValueKind.Put, key: Buffer.from("x"), value: Buffer.from("y") }]);
    assert.equal(decode(batch.encode(20))?.[0]?.seq, 20);
  });
});

describe("forEachBatchOp on malformed records", () => {
  const record = Buffer.from(batchOf(sampleOps).encode(100));

  it("accepts the intact record", () => {
    assert.equal(decode(record)?.length, 3);
  });

  it("refuses a record shorter than the header", () => {
    for (let n = 0; n < BATCH_HEADER_BYTES; n++) assert.equal(decode(record.subarray(0, n)), undefined, `${n} bytes`);
  });

  it("refuses every truncation of the ops", () => {
    for (let n = BATCH_HEADER_BYTES; n < record.length; n++) {
      assert.equal(decode(record.subarray(0, n)), undefined, `record cut to ${n} of ${record.length} bytes`);
    }
  });

  it("refuses trailing bytes after the last op", () => {
    assert.equal(decode(Buffer.concat([record, Buffer.from([0])])), undefined);
  });

  it("refuses a count that disagrees with the ops", () => {
    const more = Buffer.from(record);
    more.writeUInt32LE(4, 8);
    assert.equal(decode(more), undefined, "count above the ops present");
    const fewer = Buffer.from(record);
    fewer.writeUInt32LE(2, 8);
    assert.equal(decode(fewer), undefined, "count below the ops present");
  });

  it("refuses an unknown op kind", () => {
    const bad = Buffer.from(record);
    bad[BATCH_HEADER_BYTES] = 2;
    assert.equal(decode(bad), undefined);
  });

  it("refuses a key or value length beyond the record", () => {
    const keyTooLong = Buffer.from(record);
    keyTooLong[BATCH_HEADER_BYTES + 1] = 0x7f;
    assert.equal(decode(keyTooLong), undefined);
    const valueTooLong = Buffer.from(record);
    valueTooLong[BATCH_HEADER_BYTES + 2 + 5] = 0x7f; // value length of the first put
    assert.equal(decode(valueTooLong), undefined);
    const endlessVarint = Buffer.concat([record.subarray(0, BATCH_HEADER_BYTES + 1), Buffer.alloc(9, 0xff)]);
    assert.equal(decode(endlessVarint), undefined);
  });

  it("never throws on a damaged byte, and keeps the op count when it accepts the record", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 8 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (ops, at, xor) => {
        const damaged = Buffer.from(batchOf(ops).encode(1));
        const i = BATCH_HEADER_BYTES + (at % (damaged.length - BATCH_HEADER_BYTES));
        damaged[i]! ^= xor;
        const decoded = decode(damaged);
        if (decoded === undefined) return;
        assert.equal(decoded.length, ops.length);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("key and value checks", () => {
  function assertInvalid(fn: () => unknown, argument: string, message: RegExp): void {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
      assert.equal(err.argument, argument);
      assert.match(err.message, message);
      return true;
    });
  }

  it("rejects keys that are not byte arrays, empty, or over 64 KiB", () => {
    assertInvalid(() => checkKey("abc"), "key", /^key must be a Uint8Array, got string$/);
    assertInvalid(() => checkKey(null), "key", /^key must be a Uint8Array, got null$/);
    assertInvalid(() => checkKey(undefined), "key", /^key must be a Uint8Array, got undefined$/);
    assertInvalid(() => checkKey([1, 2]), "key", /^key must be a Uint8Array, got Array$/);
    assertInvalid(() => checkKey(new ArrayBuffer(4)), "key", /^key must be a Uint8Array, got ArrayBuffer$/);
    assertInvalid(() => checkKey(Object.create(null)), "key", /^key must be a Uint8Array, got object$/);
    assertInvalid(() => checkKey(new Uint8Array(0)), "key", /^key must not be empty$/);
    assertInvalid(
      () => checkKey(new Uint8Array(MAX_KEY_BYTES + 1)),
      "key",
      /^key is 65537 bytes, more than the limit of 65536 bytes \(64 KiB\)$/,
    );
  });

  it("accepts keys of 1 byte to exactly 64 KiB, Buffers included", () => {
    checkKey(new Uint8Array(1));
    checkKey(Buffer.alloc(MAX_KEY_BYTES));
  });

  it("rejects values that are not byte arrays or over 64 MiB, and accepts empty ones", () => {
    assertInvalid(() => checkValue("v"), "value", /^value must be a Uint8Array, got string$/);
    assertInvalid(() => checkValue(42), "value", /^value must be a Uint8Array, got number$/);
    assertInvalid(
      () => checkValue(Buffer.allocUnsafe(MAX_VALUE_BYTES + 1)),
      "value",
      /^value is 67108865 bytes, more than the limit of 67108864 bytes \(64 MiB\)$/,
    );
    checkValue(new Uint8Array(0));
  });

  it("leaves the batch unchanged when put or delete is refused", () => {
    const batch = batchOf(sampleOps);
    const before = Buffer.from(batch.encode(1));
    assert.throws(() => batch.put(new Uint8Array(0), Buffer.from("v")), InvalidArgumentError);
    assert.throws(() => batch.put(Buffer.from("k"), "v" as unknown as Uint8Array), InvalidArgumentError);
    assert.throws(() => batch.delete(new Uint8Array(MAX_KEY_BYTES + 1)), InvalidArgumentError);
    assert.equal(batch.length, sampleOps.length);
    assert.deepEqual(batch.encode(1), before);
  });
});
