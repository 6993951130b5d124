// The peer server facing callers that are not well-behaved members of its cluster: a member of
// another cluster, a call meant for another member, a removed member (FAILED_PRECONDITION with a
// readable message); undecodable or misplaced bytes on every method (INVALID_ARGUMENT, and the
// server keeps serving); snapshot data that does not match its totals (DATA_LOSS, never staged).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import * as pb from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { Message } from "../../src/raft/index.js";
import { messageToProto, RAFT_PATHS } from "../../src/transport/index.js";
import { CLUSTER_ID, connectAll, envelopes, rawGrpcCall, type RawCallResult, startMember, type TestMember, waitUntil } from "./transport-harness.js";

const A = 1n;
const B = 2n;

function hello(init: Partial<MessageInitShape<typeof pb.PeerHelloSchema>> = {}): MessageInitShape<typeof pb.PeerHelloSchema> {
  return { clusterId: CLUSTER_ID, senderId: A, receiverId: B, ...init };
}

function appendRequest(init: MessageInitShape<typeof pb.AppendRequestSchema>): Uint8Array {
  return toBinary(pb.AppendRequestSchema, create(pb.AppendRequestSchema, init));
}

function heartbeat(from: bigint, to: bigint, context: number): Message {
  return { type: "heartbeat", from, to, term: 1, commit: 0, context };
}

function assertStatus(result: RawCallResult, code: Code, message: RegExp): void {
  assert.equal(result.httpStatus, 200);
  assert.equal(result.grpcStatus, code, `grpc-status ${result.grpcStatus} (${result.grpcMessage}), expected ${code}`);
  assert.match(result.grpcMessage, message);
}

describe("the peer server refuses callers that are not its peers", () => {
  let a: TestMember;
  let b: TestMember;

  before(async () => {
    [a, b] = await Promise.all([startMember(A), startMember(B)]);
    connectAll([a, b]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("refuses a hello from another cluster with FAILED_PRECONDITION", async () => {
    const result = await rawGrpcCall(b.server.url, RAFT_PATHS.append, envelopes(appendRequest({ hello: hello({ clusterId: 999n }) })));
    assertStatus(result, Code.FailedPrecondition, new RegExp(`member 1 belongs to cluster 999, but member 2 belongs to cluster ${CLUSTER_ID}`));
  });

  it("refuses a call meant for another member, and one without a hello", async () => {
    const misrouted = await rawGrpcCall(b.server.url, RAFT_PATHS.append, envelopes(appendRequest({ hello: hello({ receiverId: 3n }) })));
    assertStatus(misrouted, Code.FailedPrecondition, /called member 3, but this is member 2/);
    const anonymous = await rawGrpcCall(b.server.url, RAFT_PATHS.append, envelopes(appendRequest({ messages: [messageToProto(heartbeat(A, B, 1))] })));
    assertStatus(anonymous, Code.InvalidArgument, /no hello/);
  });

  it("is refused by a member of another cluster, and reports that member unreachable", async () => {
    const stranger = await startMember(5n, { clusterId: 999n });
    try {
      b.transport.addPeer(5n, stranger.server.url);
      stranger.transport.setPeers(new Map([[B, b.server.url]]));
      stranger.transport.send([heartbeat(5n, B, 1)]);
      await stranger.recorder.waitFor(
        () => stranger.recorder.logs.some((r) => r.level === "warn" && /FAILED_PRECONDITION: member 5 belongs to cluster 999/.test(JSON.stringify(r.fields))),
        "the stranger's warning naming the refusal",
      );
      await stranger.recorder.waitFor(() => stranger.recorder.unreachable.includes(B), "B reported unreachable at the stranger");
      assert.equal(b.recorder.delivered.filter((m) => m.from === 5n).length, 0, "nothing from the stranger reached B's core");
    } finally {
      b.transport.removePeer(5n);
      await stranger.stop();
    }
  });

  it("ends a removed member's streams and refuses its new calls", async () => {
    const c = await startMember(3n);
    try {
      connectAll([b, c]);
      await waitUntil(() => b.transport.stats().some((s) => s.id === 3n && s.inboundAppendStream), "C's Append stream open at B");
      b.transport.removePeer(3n);
      await c.recorder.waitFor(
        () => c.recorder.logs.some((r) => r.level === "warn" && /FAILED_PRECONDITION: member 3 was removed/.test(JSON.stringify(r.fields))),
        "C told it was removed",
      );
      const refused = await rawGrpcCall(b.server.url, RAFT_PATHS.append, envelopes(appendRequest({ hello: hello({ senderId: 3n }) })));
      assertStatus(refused, Code.FailedPrecondition, /member 3 is not a member of cluster .* as member 2 knows it/);
    } finally {
      await c.stop();
    }
  });
});

describe("the peer server refuses malformed calls and keeps serving", () => {
  let a: TestMember;
  let b: TestMember;

  before(async () => {
    [a, b] = await Promise.all([startMember(A), startMember(B, { limits: { maxMessageBytes: 8 * 1024 * 1024, maxBatchBytes: 4 * 1024 * 1024, maxQueuedBytes: 16 * 1024 * 1024 } })]);
    connectAll([a, b]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("answers garbage on the Append path with INVALID_ARGUMENT or RESOURCE_EXHAUSTED", async () => {
    const url = b.server.url;
    const cases: { what: string; body: Uint8Array; code: Code; message: RegExp }[] = [
      { what: "bytes that are no AppendRequest", body: envelopes(Uint8Array.of(0xff, 0xff, 0xff)), code: Code.InvalidArgument, message: /cannot decode a sisyphus.raft.v1.AppendRequest/ },
      { what: "a flag byte that is not 0", body: Uint8Array.of(0x42, 0, 0, 0, 1, 0), code: Code.InvalidArgument, message: /flags 66/ },
      { what: "a body ending inside a message", body: Uint8Array.of(0, 0, 0, 0, 100, 1, 2, 3), code: Code.InvalidArgument, message: /ended inside a message/ },
      { what: "a message over maxMessageBytes", body: Uint8Array.of(0, 0x7f, 0, 0, 0), code: Code.ResourceExhausted, message: /larger than the limit/ },
      {
        what: "a hello in a later request",
        body: envelopes(appendRequest({ hello: hello() }), appendRequest({ hello: hello() })),
        code: Code.InvalidArgument,
        message: /after the first carries a hello/,
      },
      {
        what: "a message from a member other than the caller",
        body: envelopes(appendRequest({ hello: hello(), messages: [messageToProto(heartbeat(3n, B, 1))] })),
        code: Code.InvalidArgument,
        message: /from 3 to 2 arrived on a call from 1 to 2/,
      },
      {
        what: "an index the core cannot hold",
        body: envelopes(appendRequest({ hello: hello(), messages: [{ from: A, to: B, term: 2n ** 60n, body: { case: "heartbeat", value: {} } }] })),
        code: Code.InvalidArgument,
        message: /term is 1152921504606846976, above 2\^53 - 1/,
      },
    ];
    for (const c of cases) {
      const result = await rawGrpcCall(url, RAFT_PATHS.append, c.body);
      assert.equal(result.grpcStatus, c.code, `${c.what}: grpc-status ${result.grpcStatus} (${result.grpcMessage})`);
      assert.match(result.grpcMessage, c.message, c.what);
    }
    // The calls above that said hello as A replaced A's own Append stream at B (the newest stream
    // from a member wins), so A reconnects: keep sending, as Raft does, until a heartbeat gets through.
    b.recorder.delivered.length = 0;
    await waitUntil(() => {
      a.transport.send([heartbeat(A, B, 42)]);
      return b.recorder.delivered.length > 0;
    }, "a heartbeat from A after the garbage");
    assert.deepStrictEqual(b.recorder.delivered[0], heartbeat(A, B, 42));
  });

  it("refuses a Vote that carries no vote message, or two requests", async () => {
    const vote = (message: Message): Uint8Array => toBinary(pb.VoteRequestSchema, create(pb.VoteRequestSchema, { hello: hello(), message: messageToProto(message) }));
    const wrongType = await rawGrpcCall(b.server.url, RAFT_PATHS.vote, envelopes(vote(heartbeat(A, B, 1))));
    assertStatus(wrongType, Code.InvalidArgument, /cannot carry a heartbeat message/);
    const preVote: Message = { type: "preVote", from: A, to: B, term: 3, lastIndex: 1, lastTerm: 1, transfer: false };
    const twice = await rawGrpcCall(b.server.url, RAFT_PATHS.vote, envelopes(vote(preVote), vote(preVote)));
    assertStatus(twice, Code.InvalidArgument, /more than one request/);
    const empty = await rawGrpcCall(b.server.url, RAFT_PATHS.timeoutNow, new Uint8Array(0));
    assertStatus(empty, Code.InvalidArgument, /carries no request/);
  });

  it("refuses snapshot parts out of order or short of done, and data that fails its totals, without staging it", async () => {
    const part = (init: MessageInitShape<typeof pb.InstallSnapshotRequestSchema>): Uint8Array =>
      toBinary(pb.InstallSnapshotRequestSchema, create(pb.InstallSnapshotRequestSchema, init));
    const snapshot: Message = { type: "snapshot", from: A, to: B, term: 4, snapshot: { index: 9, term: 3, conf: { voters: [A, B], learners: [] } } };
    const header = part({ part: { case: "header", value: { hello: hello(), message: messageToProto(snapshot) } } });
    const chunk = part({ part: { case: "chunk", value: Uint8Array.of(1, 2, 3) } });
    const path = RAFT_PATHS.installSnapshot;
    const staged = b.recorder.stagedSnapshots.length;

    assertStatus(await rawGrpcCall(b.server.url, path, envelopes(chunk)), Code.InvalidArgument, /chunk out of place/);
    assertStatus(await rawGrpcCall(b.server.url, path, envelopes(header, chunk)), Code.InvalidArgument, /ended before done/);
    const wrongTotals = part({ part: { case: "done", value: { totalBytes: 4n, crc32c: 0 } } });
    assertStatus(await rawGrpcCall(b.server.url, path, envelopes(header, chunk, wrongTotals)), Code.DataLoss, /received 3 bytes .* expected 4/);
    const notSnapshot = part({ part: { case: "header", value: { hello: hello(), message: messageToProto(heartbeat(A, B, 1)) } } });
    assertStatus(await rawGrpcCall(b.server.url, path, envelopes(notSnapshot)), Code.InvalidArgument, /carries a heartbeat message/);

    assert.equal(b.recorder.stagedSnapshots.length, staged, "nothing was staged");
    assert.equal(b.recorder.delivered.filter((m) => m.type === "snapshot").length, 0, "the core heard of none");
  });

  it("answers unknown methods with UNIMPLEMENTED and compressed calls with UNIMPLEMENTED", async () => {
    const unknown = await rawGrpcCall(b.server.url, "/sisyphus.raft.v1.RaftService/Gossip", envelopes(new Uint8Array(0)));
    assertStatus(unknown, Code.Unimplemented, /no method/);
    const compressed = await rawGrpcCall(b.server.url, RAFT_PATHS.append, Uint8Array.of(1, 0, 0, 0, 0), { "grpc-encoding": "gzip" });
    assertStatus(compressed, Code.Unimplemented, /grpc-encoding gzip is not supported/);
  });
});
