// BatchWriter, against a sink that records frames: what is queued in one turn goes out as one
// AppendRequest (a valid gRPC envelope holding the messages in order), batches respect
// maxBatchBytes, nothing is written while the sink waits for drain (and all of it is written
// after), and past maxQueuedBytes the oldest appends are dropped first.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pb from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { Message } from "../../src/raft/index.js";
import { BatchWriter } from "../../src/transport/batch-writer.js";
import { encodeMessage, messageFromProto } from "../../src/transport/index.js";
import { decodeProto } from "../../src/transport/message-codec.js";
import { GrpcEnvelopeReader } from "../../src/wire/index.js";

const MESSAGES_FIELD = pb.AppendRequestSchema.field.messages.number;

class RecordingSink {
  readonly frames: Buffer[] = [];
  /** write() returns false once this many frames were written. */
  acceptFrames = Infinity;
  write(frame: Uint8Array): boolean {
    this.frames.push(Buffer.from(frame));
    return this.frames.length < this.acceptFrames;
  }

  /** The messages of every frame, per frame, checking each is exactly one envelope. */
  batches(): Message[][] {
    return this.frames.map((frame) => {
      const payloads: Uint8Array[] = [];
      new GrpcEnvelopeReader(1 << 30).push(frame, (bytes) => {
        payloads.push(bytes);
        return true;
      });
      assert.equal(payloads.length, 1, "a frame is one envelope");
      return decodeProto(pb.AppendRequestSchema, payloads[0]).messages.map(messageFromProto);
    });
  }
}

function heartbeat(context: number): Message {
  return { type: "heartbeat", from: 1n, to: 2n, term: 1, commit: 0, context };
}

function append(index: number, dataBytes: number): Message {
  return { type: "append", from: 1n, to: 2n, term: 1, prevIndex: index - 1, prevTerm: 1, commit: 0, entries: [{ term: 1, index, type: "normal", data: new Uint8Array(dataBytes).fill(index & 0xff) }] };
}

const microtasksDone = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("BatchWriter", () => {
  it("writes what was queued in one turn as one AppendRequest, in order", async () => {
    const sink = new RecordingSink();
    const writer = new BatchWriter(MESSAGES_FIELD, { maxBatchBytes: 1 << 20, maxQueuedBytes: 1 << 22 }, () => assert.fail("no overflow expected"));
    writer.attach(sink);
    const sent = Array.from({ length: 500 }, (_, i) => heartbeat(i + 1));
    for (const m of sent) writer.push(encodeMessage(m), false);
    assert.equal(sink.frames.length, 0, "nothing is written before the turn ends");
    await microtasksDone();
    assert.deepStrictEqual(sink.batches(), [sent]);
    assert.deepStrictEqual({ ...writer.counters }, { batches: 1, messages: 500, bytes: sink.frames[0].length, dropped: 0 });
  });

  it("cuts batches at maxBatchBytes, sending a single larger message alone", async () => {
    const sink = new RecordingSink();
    const maxBatchBytes = 1_000;
    const writer = new BatchWriter(MESSAGES_FIELD, { maxBatchBytes, maxQueuedBytes: 1 << 20 }, () => assert.fail("no overflow expected"));
    writer.attach(sink);
    const sent = [append(1, 300), append(2, 300), append(3, 300), append(4, 2_000), append(5, 10), heartbeat(6)];
    for (const m of sent) writer.push(encodeMessage(m), true);
    await microtasksDone();
    const batches = sink.batches();
    assert.deepStrictEqual(batches.flat(), sent, "every message, in order");
    assert.deepStrictEqual(batches.map((b) => b.length), [3, 1, 2]);
    for (const [i, frame] of sink.frames.entries()) {
      if (batches[i].length > 1) assert.ok(frame.length - 5 <= maxBatchBytes, `batch ${i} has ${frame.length - 5} bytes`);
    }
  });

  it("holds everything while waiting for drain, then sends it in as few batches as fit", async () => {
    const sink = new RecordingSink();
    sink.acceptFrames = 1;
    const writer = new BatchWriter(MESSAGES_FIELD, { maxBatchBytes: 1 << 20, maxQueuedBytes: 1 << 22 }, () => assert.fail("no overflow expected"));
    writer.attach(sink);
    writer.push(encodeMessage(heartbeat(1)), false);
    await microtasksDone();
    assert.equal(sink.frames.length, 1);
    for (let i = 2; i <= 100; i++) {
      writer.push(encodeMessage(heartbeat(i)), false);
      await microtasksDone();
    }
    assert.equal(sink.frames.length, 1, "nothing is written until drain");
    assert.equal(writer.queuedMessages, 99);
    sink.acceptFrames = Infinity;
    writer.drained();
    assert.deepStrictEqual(sink.batches().map((b) => b.map((m) => (m.type === "heartbeat" ? m.context : -1))), [[1], Array.from({ length: 99 }, (_, i) => i + 2)]);
  });

  it("queues while detached and discards the queue on detach", async () => {
    const sink = new RecordingSink();
    const writer = new BatchWriter(MESSAGES_FIELD, { maxBatchBytes: 1 << 20, maxQueuedBytes: 1 << 22 }, () => {});
    writer.push(encodeMessage(heartbeat(1)), false);
    await microtasksDone();
    writer.attach(sink);
    await microtasksDone();
    assert.equal(sink.batches().flat().length, 1, "queued before attach, written after");
    sink.acceptFrames = 0;
    writer.push(encodeMessage(heartbeat(2)), false);
    await microtasksDone();
    writer.push(encodeMessage(heartbeat(3)), false);
    assert.equal(writer.detach(), 1);
    assert.equal(writer.queuedBytes, 0);
    assert.equal(writer.counters.dropped, 1);
  });

  it("past maxQueuedBytes drops the oldest appends first and reports the overflow", async () => {
    let overflows = 0;
    const writer = new BatchWriter(MESSAGES_FIELD, { maxBatchBytes: 1 << 20, maxQueuedBytes: 2_000 }, () => overflows++);
    // Not attached: everything stays queued.
    writer.push(encodeMessage(heartbeat(1)), false);
    for (let i = 1; i <= 5; i++) writer.push(encodeMessage(append(i, 500)), true);
    writer.push(encodeMessage(heartbeat(2)), false);
    assert.ok(overflows > 0, "the overflow was reported");
    assert.ok(writer.queuedBytes <= 2_000, `${writer.queuedBytes} bytes queued`);
    const sink = new RecordingSink();
    writer.attach(sink);
    await microtasksDone();
    // Each append is ~525 bytes framed: the queue holds three of them and the two heartbeats.
    const kept = sink.batches().flat();
    assert.deepStrictEqual(
      kept.map((m) => (m.type === "append" ? `append ${m.entries[0].index}` : m.type)),
      ["heartbeat", "append 3", "append 4", "append 5", "heartbeat"],
    );
    assert.equal(writer.counters.dropped, 2);
  });
});
