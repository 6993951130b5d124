// The peer protocol is plain gRPC: @grpc/grpc-js, with the RaftService definition loaded by
// @grpc/proto-loader (from the descriptor of proto/sisyphus/raft/v1/raft.proto that buf compiled
// into gen/), calls Vote on a member's peer server, which hands the vote to its core; and a caller
// from another cluster gets FAILED_PRECONDITION with its reason, as grpc-js reports statuses.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { file_sisyphus_raft_v1_raft } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import { CLUSTER_ID, startMember, type TestMember, WAIT_MS } from "./transport-harness.js";

const A = 1n;
const B = 2n;

type UnaryMethod = (request: object, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: object) => void) => grpc.ClientUnaryCall;

/** A grpc-js client of sisyphus.raft.v1.RaftService. */
function raftServiceClient(address: string): grpc.Client & { Vote: UnaryMethod } {
  const descriptorSet = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [file_sisyphus_raft_v1_raft.proto] }));
  // Field names as in the .proto (snake_case), uint64 fields as decimal strings, enums by name.
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(descriptorSet), { longs: String, enums: String, defaults: true, oneofs: true });
  const service = definition["sisyphus.raft.v1.RaftService"] as grpc.ServiceDefinition;
  const Client = grpc.makeGenericClientConstructor(service, "RaftService");
  return new Client(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Vote: UnaryMethod };
}

function vote(client: { Vote: UnaryMethod }, request: object): Promise<object> {
  return new Promise((resolve, reject) => {
    client.Vote(request, { deadline: Date.now() + WAIT_MS }, (err, response) => (err === null ? resolve(response ?? {}) : reject(err)));
  });
}

describe("grpc-js interop", () => {
  let a: TestMember;
  let b: TestMember;
  let client: grpc.Client & { Vote: UnaryMethod };

  before(async () => {
    [a, b] = await Promise.all([startMember(A), startMember(B)]);
    b.transport.setPeers(new Map([[A, a.server.url]]));
    client = raftServiceClient(`127.0.0.1:${b.server.port}`);
  });

  after(async () => {
    client?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("calls Vote, and the member's core gets the vote", async () => {
    const response = await vote(client, {
      hello: { cluster_id: String(CLUSTER_ID), sender_id: "1", receiver_id: "2" },
      message: { from: "1", to: "2", term: "5", vote: { last_index: "10", last_term: "4", transfer: true } },
    });
    assert.deepStrictEqual(response, {});
    assert.deepStrictEqual(b.recorder.delivered, [{ type: "vote", from: A, to: B, term: 5, lastIndex: 10, lastTerm: 4, transfer: true }]);
  });

  it("sees FAILED_PRECONDITION with the reason when calling from another cluster", async () => {
    await assert.rejects(
      vote(client, {
        hello: { cluster_id: "999", sender_id: "1", receiver_id: "2" },
        message: { from: "1", to: "2", term: "5", pre_vote: { last_index: "10", last_term: "4" } },
      }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
        assert.equal(err.details, `member 1 belongs to cluster 999, but member 2 belongs to cluster ${CLUSTER_ID}`);
        return true;
      },
    );
  });
});
