/** gRPC envelopes: framing many messages in one buffer, and reading them back from any split into chunks. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ENVELOPE_HEADER_BYTES, EnvelopeError, EnvelopeReader, encodeEnvelopes } from "../src/grpc-envelope.js";

function frame(messages: Uint8Array[]): Buffer {
  return encodeEnvelopes(messages, messages.reduce((sum, m) => sum + ENVELOPE_HEADER_BYTES + m.length, 0));
}

/** Feeds `bytes` to a reader cut at `cuts` (sorted offsets) and returns the messages it read. */
function readInChunks(bytes: Buffer, cuts: number[]): { messages: Uint8Array[]; pendingBytes: number } {
  const reader = new EnvelopeReader();
  const messages: Uint8Array[] = [];
  let start = 0;
  for (const end of [...cuts, bytes.length]) {
    reader.push(bytes.subarray(start, end), (m) => messages.push(m.slice()));
    start = end;
  }
  return { messages, pendingBytes: reader.pendingBytes };
}

describe("gRPC envelopes", () => {
  it("frames each message behind flags 0 and its big-endian length", () => {
    const bytes = frame([Uint8Array.of(7, 8, 9), new Uint8Array(0), new Uint8Array(300).fill(1)]);
    assert.deepEqual([...bytes.subarray(0, 8)], [0, 0, 0, 0, 3, 7, 8, 9]);
    assert.deepEqual([...bytes.subarray(8, 13)], [0, 0, 0, 0, 0]);
    assert.deepEqual([...bytes.subarray(13, 18)], [0, 0, 0, 1, 44]);
    assert.equal(bytes.length, 18 + 300);
  });

  it("refuses a size that does not add up", () => {
    assert.throws(() => encodeEnvelopes([Uint8Array.of(1)], 5), RangeError);
  });

  it("reads back every message, in order, however the bytes are cut into chunks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 70_000 }), { maxLength: 12 }).chain((messages) => {
          const total = messages.reduce((sum, m) => sum + ENVELOPE_HEADER_BYTES + m.length, 0);
          return fc.tuple(fc.constant(messages), fc.uniqueArray(fc.integer({ min: 0, max: total }), { maxLength: 40 }));
        }),
        ([messages, cuts]) => {
          const { messages: read, pendingBytes } = readInChunks(frame(messages), cuts.sort((a, b) => a - b));
          assert.deepEqual(
            read.map((m) => [...m]),
            messages.map((m) => [...m]),
          );
          assert.equal(pendingBytes, 0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("reads the messages of one chunk as plain Uint8Array views of it (no copy, no Buffer)", () => {
    const bytes = frame([Uint8Array.of(1, 2), Uint8Array.of(3)]);
    const seen: Uint8Array[] = [];
    new EnvelopeReader().push(bytes, (m) => seen.push(m));
    assert.deepEqual(seen, [Uint8Array.of(1, 2), Uint8Array.of(3)]);
    assert.ok(seen.every((m) => m.buffer === bytes.buffer && !Buffer.isBuffer(m)));
  });

  it("holds a message cut short as pending bytes", () => {
    const bytes = frame([Uint8Array.of(1, 2, 3, 4)]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const reader = new EnvelopeReader();
      const seen: Uint8Array[] = [];
      reader.push(bytes.subarray(0, cut), (m) => seen.push(m));
      assert.equal(seen.length, 0);
      assert.equal(reader.pendingBytes, cut, `cut at ${cut}`);
    }
  });

  it("refuses compressed messages and unknown flags", () => {
    for (const flags of [0x01, 0x80]) {
      const bytes = frame([Uint8Array.of(1)]);
      bytes[0] = flags;
      assert.throws(
        () => new EnvelopeReader().push(bytes, () => assert.fail("no message may be delivered")),
        (err: unknown) => err instanceof EnvelopeError && err.flags === flags,
      );
    }
  });
});
