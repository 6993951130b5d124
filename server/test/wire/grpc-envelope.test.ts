// GrpcEnvelopeReader: a gRPC request body cut into chunks anywhere (byte by byte, many messages in
// one chunk, random cuts checked against the messages framed) gives back exactly its messages,
// in order; a bad flag byte or a length over the limit is refused when its header arrives.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { GrpcEnvelopeReader } from "../../src/wire/index.js";

function envelope(message: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame[0] = flags;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** Feeds `chunks` in order; returns the messages handed out (copied: views may alias the chunks). */
function readAll(reader: GrpcEnvelopeReader, chunks: Buffer[]): Buffer[] {
  const messages: Buffer[] = [];
  for (const chunk of chunks) {
    reader.push(chunk, (message) => {
      messages.push(Buffer.from(message));
      return true;
    });
  }
  return messages;
}

function cutAt(body: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, body.length]) {
    if (point > start) chunks.push(body.subarray(start, point));
    start = Math.max(start, point);
  }
  return chunks;
}

function assertConnectError(fn: () => void, code: Code, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`);
    assert.equal(Code[err.code], Code[code]);
    assert.match(err.rawMessage, pattern);
    return true;
  });
}

describe("GrpcEnvelopeReader", () => {
  it("hands out messages split byte by byte, empty messages included", () => {
    const messages = [Buffer.from("hello"), Buffer.alloc(0), Buffer.from("a longer message, split everywhere")];
    const body = Buffer.concat(messages.map((m) => envelope(m)));
    const reader = new GrpcEnvelopeReader(1024);
    const bytes = Array.from(body, (b) => Buffer.of(b));
    assert.deepEqual(readAll(reader, bytes), messages);
    assert.equal(reader.midMessage, false);
  });

  it("hands out 50 messages from one chunk as views of it", () => {
    const messages = Array.from({ length: 50 }, (_, i) => Buffer.from(`message ${i}`));
    const body = Buffer.concat(messages.map((m) => envelope(m)));
    const views: Uint8Array[] = [];
    new GrpcEnvelopeReader(1024).push(body, (message) => {
      views.push(message);
      return true;
    });
    assert.deepEqual(views.map((v) => Buffer.from(v)), messages);
    assert.ok(views.every((v) => v.buffer === body.buffer), "messages within a chunk are not copied");
  });

  it("gives back exactly the messages framed, however the body is cut", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (raw, cuts) => {
        const messages = raw.map((m) => Buffer.from(m));
        const body = Buffer.concat(messages.map((m) => envelope(m)));
        const reader = new GrpcEnvelopeReader(300);
        assert.deepEqual(readAll(reader, cutAt(body, cuts)), messages);
        assert.equal(reader.midMessage, false);
      }),
      { numRuns: 300 },
    );
  });

  it("says when the body stops inside a message", () => {
    const reader = new GrpcEnvelopeReader(1024);
    const frame = envelope(Buffer.from("abc"));
    assert.deepEqual(readAll(reader, [frame.subarray(0, 3)]), []);
    assert.equal(reader.midMessage, true);
    assert.deepEqual(readAll(reader, [frame.subarray(3, 7)]), []);
    assert.equal(reader.midMessage, true);
    assert.deepEqual(readAll(reader, [frame.subarray(7)]), [Buffer.from("abc")]);
    assert.equal(reader.midMessage, false);
  });

  it("stops handing out messages when told to", () => {
    const body = Buffer.concat([envelope(Buffer.from("1")), envelope(Buffer.from("2")), envelope(Buffer.from("3"))]);
    const seen: string[] = [];
    new GrpcEnvelopeReader(1024).push(body, (message) => {
      seen.push(Buffer.from(message).toString());
      return seen.length < 2;
    });
    assert.deepEqual(seen, ["1", "2"]);
  });

  it("refuses a flag byte other than 0 with INVALID_ARGUMENT", () => {
    assertConnectError(() => readAll(new GrpcEnvelopeReader(1024), [envelope(Buffer.from("x"), 1)]), Code.InvalidArgument, /flags 1/);
    // A flag byte arriving alone, after a complete message, is checked once the header is whole.
    const reader = new GrpcEnvelopeReader(1024);
    assert.deepEqual(readAll(reader, [Buffer.concat([envelope(Buffer.from("ok")), Buffer.of(0x80)])]), [Buffer.from("ok")]);
    assertConnectError(() => readAll(reader, [Buffer.of(0, 0, 0, 1)]), Code.InvalidArgument, /flags 128/);
  });

  it("refuses a length over the limit with RESOURCE_EXHAUSTED as soon as the header is in", () => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(1025, 1);
    assertConnectError(() => readAll(new GrpcEnvelopeReader(1024), [header]), Code.ResourceExhausted, /1025 bytes is larger than the limit of 1024/);
    const split = new GrpcEnvelopeReader(1024);
    readAll(split, [header.subarray(0, 2)]);
    assertConnectError(() => readAll(split, [header.subarray(2)]), Code.ResourceExhausted, /1025 bytes/);
    assert.deepEqual(readAll(new GrpcEnvelopeReader(1024), [envelope(Buffer.alloc(1024))]), [Buffer.alloc(1024)], "exactly the limit is accepted");
  });
});
