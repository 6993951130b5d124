// The peer protocol's message codec: every core Message survives encode -> binary -> decode
// unchanged (property test over all variants), and bytes that do not describe a core message
// (unknown or missing type, an unknown entry type, an index the core cannot hold) are refused
// with a MessageCodecError naming the field, never turned into a wrong message.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import * as pb from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { Entry, Message, ProposeResult, SnapshotMeta } from "../../src/raft/index.js";
import { decodeMessage, encodeMessage, MessageCodecError, messageToProto } from "../../src/transport/index.js";
import { forwardResponseFromProto, forwardResponseToProto } from "../../src/transport/propose-result-codec.js";

const nodeId = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const u53 = fc.maxSafeNat();
// Records with an ordinary prototype, as the core builds its messages (deepStrictEqual compares prototypes).
const plain = { noNullPrototype: true } as const;
const entry: fc.Arbitrary<Entry> = fc.record(
  {
    term: u53,
    index: u53,
    type: fc.constantFrom("normal" as const, "confChange" as const),
    data: fc.uint8Array({ maxLength: 48 }),
  },
  plain,
);
const snapshotMeta: fc.Arbitrary<SnapshotMeta> = fc.record(
  {
    index: u53,
    term: u53,
    conf: fc.record({ voters: fc.array(nodeId, { maxLength: 5 }), learners: fc.array(nodeId, { maxLength: 3 }) }, plain),
  },
  plain,
);
const base = { from: nodeId, to: nodeId, term: u53 };

/** Every variant of the core's Message union, with every field drawn over its whole range. */
const anyMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ ...base, type: fc.constant("append" as const), prevIndex: u53, prevTerm: u53, entries: fc.array(entry, { maxLength: 4 }), commit: u53 }, plain),
  fc.record({ ...base, type: fc.constant("appendResponse" as const), index: u53, reject: fc.boolean(), rejectHint: u53, hintTerm: u53 }, plain),
  fc.record({ ...base, type: fc.constant("heartbeat" as const), commit: u53, context: u53 }, plain),
  fc.record({ ...base, type: fc.constant("heartbeatResponse" as const), context: u53 }, plain),
  fc.record({ ...base, type: fc.constantFrom("vote" as const, "preVote" as const), lastIndex: u53, lastTerm: u53, transfer: fc.boolean() }, plain),
  fc.record({ ...base, type: fc.constantFrom("voteResponse" as const, "preVoteResponse" as const), reject: fc.boolean() }, plain),
  fc.record({ ...base, type: fc.constant("snapshot" as const), snapshot: snapshotMeta }, plain),
  fc.record({ ...base, type: fc.constant("timeoutNow" as const) }, plain),
  fc.record({ ...base, type: fc.constant("readIndex" as const), context: u53 }, plain),
  fc.record({ ...base, type: fc.constant("readIndexResponse" as const), context: u53, index: u53, reject: fc.boolean() }, plain),
);

/** A Message's bytes followed by extra raw Protobuf bytes (fields this version may not know). */
function withExtraBytes(message: pb.Message, extra: number[]): Uint8Array {
  return Uint8Array.from([...toBinary(pb.MessageSchema, message), ...extra]);
}

function assertRefused(bytes: Uint8Array, field: string): void {
  assert.throws(
    () => decodeMessage(bytes),
    (err: unknown) => err instanceof MessageCodecError && err.field === field,
    `expected a MessageCodecError on field ${field}`,
  );
}

describe("message codec", () => {
  it("round-trips every message variant through its binary form", () => {
    fc.assert(
      fc.property(anyMessage, (message) => {
        const bytes = encodeMessage(message);
        assert.deepStrictEqual(decodeMessage(bytes), message);
      }),
      { numRuns: 2_000 },
    );
  });

  it("names the oneof case after the core's message type", () => {
    fc.assert(
      fc.property(anyMessage, (message) => {
        assert.equal(messageToProto(message).body.case, message.type);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses a message of a type it does not know (an unknown oneof field)", () => {
    // Field 99, length-delimited, empty: what a newer member's new message type would look like here.
    const bytes = withExtraBytes(create(pb.MessageSchema, { from: 1n, to: 2n, term: 3n }), [0x9a, 0x06, 0x00]);
    assertRefused(bytes, "body");
  });

  it("refuses a message without a body", () => {
    assertRefused(toBinary(pb.MessageSchema, create(pb.MessageSchema, { from: 1n, to: 2n, term: 3n })), "body");
  });

  it("refuses indexes and terms above 2^53 - 1, wherever they are", () => {
    const tooBig = 2n ** 53n;
    const append = (value: MessageInitShape<typeof pb.Message_AppendSchema>, term = 1n): Uint8Array =>
      toBinary(pb.MessageSchema, create(pb.MessageSchema, { from: 1n, to: 2n, term, body: { case: "append", value } }));
    assertRefused(append({}, tooBig), "term");
    assertRefused(append({ prevIndex: tooBig }), "append.prev_index");
    assertRefused(append({ commit: 2n ** 64n - 1n }), "append.commit");
    const entries = [create(pb.EntrySchema, { term: 1n, index: 1n, type: pb.EntryType.NORMAL }), create(pb.EntrySchema, { term: 1n, index: tooBig, type: pb.EntryType.NORMAL })];
    assertRefused(append({ entries }), "append.entries[1].index");
    const snapshot = toBinary(
      pb.MessageSchema,
      create(pb.MessageSchema, { from: 1n, to: 2n, term: 1n, body: { case: "snapshot", value: { snapshot: { index: tooBig, term: 1n } } } }),
    );
    assertRefused(snapshot, "snapshot.snapshot.index");
    // 2^53 - 1 itself is fine.
    const max = decodeMessage(append({ prevIndex: 2n ** 53n - 1n }));
    assert.equal(max.type === "append" && max.prevIndex, Number.MAX_SAFE_INTEGER);
  });

  it("refuses entries of unknown or unspecified type", () => {
    for (const type of [pb.EntryType.UNSPECIFIED, 7 as pb.EntryType]) {
      const bytes = toBinary(
        pb.MessageSchema,
        create(pb.MessageSchema, { from: 1n, to: 2n, term: 1n, body: { case: "append", value: { entries: [{ term: 1n, index: 1n, type }] } } }),
      );
      assertRefused(bytes, "append.entries[0].type");
    }
  });

  it("refuses a snapshot message without its metadata", () => {
    const bytes = toBinary(pb.MessageSchema, create(pb.MessageSchema, { from: 1n, to: 2n, term: 1n, body: { case: "snapshot", value: {} } }));
    assertRefused(bytes, "snapshot.snapshot");
  });

  it("refuses bytes that are not a Message at all", () => {
    for (const garbage of [[0xff], [0x0a, 0x05, 0x01], [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]) {
      assert.throws(() => decodeMessage(Uint8Array.from(garbage)), MessageCodecError, `bytes ${garbage.join(",")}`);
    }
  });
});

describe("forward response codec", () => {
  const results: ProposeResult[] = [
    { ok: true, index: 17, term: 3 },
    { ok: true, index: Number.MAX_SAFE_INTEGER, term: 0 },
    ...(["notLeader", "transferring", "confChangePending", "invalidConfChange", "tooLarge"] as const).map(
      (reason): ProposeResult => ({ ok: false, reason, leaderId: 2n ** 63n + 5n }),
    ),
  ];

  it("round-trips every ProposeResult and a failure", () => {
    for (const result of results) {
      const bytes = toBinary(pb.ForwardResponseSchema, forwardResponseToProto(9n, { result }));
      assert.deepStrictEqual(forwardResponseFromProto(fromBinary(pb.ForwardResponseSchema, bytes)), { result });
    }
    const failed = toBinary(pb.ForwardResponseSchema, forwardResponseToProto(9n, { failed: "shutting down" }));
    assert.deepStrictEqual(forwardResponseFromProto(fromBinary(pb.ForwardResponseSchema, failed)), { failed: "shutting down" });
  });

  it("refuses an unknown refusal reason and a missing result", () => {
    const unknown = create(pb.ForwardResponseSchema, { id: 1n, result: { case: "refused", value: { reason: 42 as pb.ProposeRefusal } } });
    assert.throws(() => forwardResponseFromProto(unknown), (err: unknown) => err instanceof MessageCodecError && err.field === "refused.reason");
    assert.throws(() => forwardResponseFromProto(create(pb.ForwardResponseSchema, { id: 1n })), MessageCodecError);
  });
});
