/**
 * CRC-32C: published test vectors (RFC 3720 appendix B.4, LevelDB's crc32c_test), the
 * slicing-by-8 loop against a bit-at-a-time reference on random buffers and ranges, and the
 * mask used for stored checksums. fast-check prints the seed of a failing run.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { crc32c, crc32cUpdate, maskCrc, unmaskCrc } from "../../src/storage/crc32c.js";

/** Bit-at-a-time CRC-32C (reflected polynomial 0x82F63B78): slow, obviously right. */
function referenceCrc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c ^= buf[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

describe("crc32c", () => {
  it("matches the published test vectors", () => {
    const vectors: [string, Uint8Array, number][] = [
      ["'123456789'", Buffer.from("123456789"), 0xe3069283],
      ["32 zero bytes", new Uint8Array(32), 0x8a9136aa],
      ["32 0xFF bytes", new Uint8Array(32).fill(0xff), 0x62a8ab43],
      ["bytes 0..31", Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
      ["bytes 31..0", Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
      [
        "iSCSI read command",
        Uint8Array.from([
          0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
          0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
          0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]),
        0xd9963a56,
      ],
      ["the empty string", new Uint8Array(0), 0],
      ["'a'", Buffer.from("a"), 0xc1d04330],
    ];
    for (const [name, bytes, expected] of vectors) {
      assert.equal(hex(crc32c(bytes)), hex(expected), `crc32c of ${name}`);
      assert.equal(hex(referenceCrc32c(bytes)), hex(expected), `reference crc32c of ${name}`);
    }
  });

  it("checksums buf[start, end) like a copy of those bytes", () => {
    const bytes = Buffer.from("xx123456789yyy");
    assert.equal(hex(crc32c(bytes, 2, 11)), hex(0xe3069283));
    assert.equal(crc32c(bytes, 5, 5), 0);
  });

  it("extends a checksum across pieces like one call over the whole", () => {
    assert.equal(crc32cUpdate(crc32c(Buffer.from("hello ")), Buffer.from("world")), crc32c(Buffer.from("hello world")));
  });

  it("equals the bitwise reference on random buffers, ranges and split points", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (bytes, a, b, c) => {
          const [start, split, end] = [a, b, c].map((x) => x % (bytes.length + 1)).sort((x, y) => x - y) as [
            number,
            number,
            number,
          ];
          const expected = referenceCrc32c(bytes, start, end);
          assert.equal(hex(crc32c(bytes, start, end)), hex(expected), `range [${start}, ${end}) of ${bytes.length}`);
          const pieces = crc32cUpdate(crc32cUpdate(0, bytes, start, split), bytes, split, end);
          assert.equal(hex(pieces), hex(expected), `split at ${split}`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("equals the bitwise reference on a large buffer at every alignment", () => {
    const bytes = new Uint8Array(64 * 1024 + 13);
    let state = 0x9e3779b9;
    for (let i = 0; i < bytes.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      bytes[i] = state >>> 24;
    }
    for (let start = 0; start < 8; start++) {
      assert.equal(hex(crc32c(bytes, start)), hex(referenceCrc32c(bytes, start)), `start ${start}`);
    }
  });

  it("masks like LevelDB and unmasks back", () => {
    assert.equal(hex(maskCrc(0)), hex(0xa282ead8));
    assert.equal(hex(maskCrc(1)), hex(0xa284ead8));
    assert.equal(hex(maskCrc(0x80000000)), hex(0xa283ead8));
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (crc) => {
        const masked = maskCrc(crc);
        assert.ok(masked >= 0 && masked <= 0xffffffff, `maskCrc(${hex(crc)}) = ${masked} is not a uint32`);
        assert.equal(unmaskCrc(masked), crc);
        assert.equal(unmaskCrc(unmaskCrc(maskCrc(masked))), crc);
      }),
      { numRuns: 2000 },
    );
    const crc = crc32c(Buffer.from("foo"));
    assert.notEqual(maskCrc(crc), crc);
    assert.notEqual(maskCrc(maskCrc(crc)), crc);
  });
});
