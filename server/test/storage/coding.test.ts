/**
 * Byte encodings: LEB128 varints up to 2^53 - 1 and little-endian fixed32 / fixed64.
 * fast-check prints the seed of a failing run.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  ByteReader,
  getFixed32,
  getFixed64,
  putFixed32,
  putFixed64,
  putVarint,
  varintLength,
} from "../../src/storage/coding.js";

function encodeVarint(value: number): Buffer {
  const buf = Buffer.alloc(10);
  const end = putVarint(buf, 0, value);
  return buf.subarray(0, end);
}

/** Values around every 7-bit boundary, where the encoded length changes. */
const boundaries: number[] = [0, 1, Number.MAX_SAFE_INTEGER];
for (let bits = 7; bits <= 52; bits += 7) boundaries.push(2 ** bits - 1, 2 ** bits, 2 ** bits + 1);

describe("varint", () => {
  it("encodes known values as LEB128", () => {
    assert.deepEqual([...encodeVarint(0)], [0x00]);
    assert.deepEqual([...encodeVarint(127)], [0x7f]);
    assert.deepEqual([...encodeVarint(128)], [0x80, 0x01]);
    assert.deepEqual([...encodeVarint(300)], [0xac, 0x02]);
    assert.deepEqual([...encodeVarint(2 ** 32)], [0x80, 0x80, 0x80, 0x80, 0x10]);
    assert.deepEqual([...encodeVarint(Number.MAX_SAFE_INTEGER)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
  });

  it("round-trips values at every length boundary", () => {
    for (const value of boundaries) {
      const bytes = encodeVarint(value);
      assert.equal(bytes.length, varintLength(value), `varintLength(${value})`);
      assert.equal(bytes.length, Math.ceil(value.toString(2).length / 7), `encoded length of ${value}`);
      const r = new ByteReader(bytes);
      assert.equal(r.varint(), value);
      assert.equal(r.offset, bytes.length);
    }
  });

  it("round-trips any integer in [0, 2^53 - 1] at any offset", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.nat({ max: 16 }), (value, offset) => {
        const buf = Buffer.alloc(offset + 10, 0xee);
        const end = putVarint(buf, offset, value);
        assert.equal(end - offset, varintLength(value));
        assert.ok(buf.subarray(end).every((b) => b === 0xee), "putVarint wrote past its end");
        const r = new ByteReader(buf, offset);
        assert.equal(r.varint(), value);
        assert.equal(r.offset, end);
      }),
      { numRuns: 5000 },
    );
  });

  it("reads a sequence of varints back to back", () => {
    fc.assert(
      fc.property(fc.array(fc.maxSafeNat(), { maxLength: 20 }), (values) => {
        const buf = Buffer.alloc(values.length * 8);
        let end = 0;
        for (const v of values) end = putVarint(buf, end, v);
        const r = new ByteReader(buf, 0, end);
        for (const v of values) assert.equal(r.varint(), v);
        assert.equal(r.remaining(), 0);
      }),
    );
  });

  it("returns -1 for a truncated varint, whether the buffer or the reader's end cuts it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 128, max: Number.MAX_SAFE_INTEGER }), fc.nat(), (value, cut) => {
        const bytes = encodeVarint(value);
        const keep = cut % bytes.length; // 0 .. length - 1 bytes: always truncated
        assert.equal(new ByteReader(bytes.subarray(0, keep)).varint(), -1, `${value} cut to ${keep} bytes`);
        assert.equal(new ByteReader(bytes, 0, keep).varint(), -1, `${value} with end ${keep}`);
      }),
    );
    assert.equal(new ByteReader(new Uint8Array(0)).varint(), -1);
  });

  it("returns -1 for a varint longer than 8 bytes", () => {
    const nineBytes = Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert.equal(new ByteReader(nineBytes).varint(), -1);
  });

  it("reports the bytes remaining before the reader's end", () => {
    const r = new ByteReader(Buffer.from([0x05, 0xac, 0x02, 0x09]), 1, 3);
    assert.equal(r.remaining(), 2);
    assert.equal(r.varint(), 300);
    assert.equal(r.remaining(), 0);
    assert.equal(r.varint(), -1);
  });
});

describe("fixed32 / fixed64", () => {
  it("writes little-endian bytes", () => {
    const buf = Buffer.alloc(12);
    putFixed32(buf, 0, 0x12345678);
    putFixed64(buf, 4, 0x000e0d0c0b0a0908);
    assert.deepEqual([...buf.subarray(0, 4)], [0x78, 0x56, 0x34, 0x12]);
    assert.deepEqual([...buf.subarray(4)], [0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x00]);
    putFixed64(buf, 4, 2 ** 32);
    assert.deepEqual([...buf.subarray(4)], [0, 0, 0, 0, 1, 0, 0, 0]);
  });

  it("reads fixed32 as unsigned", () => {
    const buf = Buffer.alloc(4);
    putFixed32(buf, 0, 0xffffffff);
    assert.equal(getFixed32(buf, 0), 0xffffffff);
    putFixed32(buf, 0, 0x80000000);
    assert.equal(getFixed32(buf, 0), 0x80000000);
  });

  it("round-trips fixed32 and matches Buffer's own encoding", () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 8 }), (value, offset) => {
        const buf = Buffer.alloc(offset + 4);
        putFixed32(buf, offset, value);
        assert.equal(getFixed32(buf, offset), value);
        assert.equal(buf.readUInt32LE(offset), value);
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips fixed64 up to 2^53 - 1 and matches Buffer's own encoding", () => {
    for (const value of [...boundaries, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1]) {
      const buf = Buffer.alloc(8);
      putFixed64(buf, 0, value);
      assert.equal(getFixed64(buf, 0), value);
      assert.equal(buf.readBigUInt64LE(0), BigInt(value));
    }
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.nat({ max: 8 }), (value, offset) => {
        const buf = Buffer.alloc(offset + 8);
        putFixed64(buf, offset, value);
        assert.equal(getFixed64(buf, offset), value);
        assert.equal(buf.readBigUInt64LE(offset), BigInt(value));
      }),
      { numRuns: 2000 },
    );
  });
});
