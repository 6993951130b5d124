// The generated public API (gen/, from proto/sisyphus/kv/v1): messages survive the binary and
// JSON encodings, and every service has the methods clients are written against. A broken or
// stale generation fails here (and check-proto fails first when gen/ drifts from proto/).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import type { DescMessage, DescService, MessageShape } from "@bufbuild/protobuf";
import { ClusterService } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import {
  CompareOperator,
  KVService,
  PipelineRequestSchema,
  PipelineResponseSchema,
  PutRequestSchema,
  SortOrder,
  SortTarget,
  TxnRequestSchema,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { LeaseService } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { MaintenanceService } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { WatchFilter, WatchRequestSchema, WatchService } from "../../../gen/sisyphus/kv/v1/watch_pb.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Encodes to binary and to JSON, decodes each, and asserts both copies equal the original. */
function assertRoundTrips<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void {
  const binary = toBinary(schema, message);
  const fromWire = fromBinary(schema, binary);
  assert.ok(equals(schema, message, fromWire), `${schema.typeName} changed through binary: ${JSON.stringify(toJson(schema, fromWire))}`);
  const json = toJson(schema, message);
  const fromText = fromJson(schema, json);
  assert.ok(equals(schema, message, fromText), `${schema.typeName} changed through JSON: ${JSON.stringify(json)}`);
}

describe("generated messages", () => {
  it("round-trips a Put and encodes it as documented in JSON", () => {
    const put = create(PutRequestSchema, { key: bytes("greeting"), value: bytes("hello"), lease: 7n, prevKv: true });
    assertRoundTrips(PutRequestSchema, put);
    // Bytes are base64 and 64-bit integers decimal strings in the JSON form (grpcurl, curl).
    assert.deepEqual(toJson(PutRequestSchema, put), { key: "Z3JlZXRpbmc=", value: "aGVsbG8=", lease: "7", prevKv: true });
    assert.equal(toBinary(PutRequestSchema, create(PutRequestSchema)).length, 0, "an empty Put encodes to no bytes");
  });

  it("round-trips a Txn with compares and nested operations", () => {
    const txn = create(TxnRequestSchema, {
      compare: [
        { key: bytes("lock"), operator: CompareOperator.EQUAL, target: { case: "version", value: 0n } },
        {
          key: bytes("cfg/"),
          rangeEnd: bytes("cfg0"),
          operator: CompareOperator.LESS,
          target: { case: "modRevision", value: 42n },
        },
        { key: bytes("owner"), operator: CompareOperator.NOT_EQUAL, target: { case: "value", value: bytes("me") } },
      ],
      success: [
        { request: { case: "put", value: { key: bytes("lock"), value: bytes("me"), lease: 9n } } },
        {
          request: {
            case: "txn",
            value: {
              compare: [{ key: bytes("epoch"), operator: CompareOperator.GREATER, target: { case: "lease", value: 0n } }],
              success: [
                {
                  request: {
                    case: "range",
                    value: {
                      key: bytes("\0"),
                      rangeEnd: bytes("\0"),
                      limit: 10n,
                      sortOrder: SortOrder.DESCEND,
                      sortTarget: SortTarget.MOD_REVISION,
                    },
                  },
                },
              ],
              failure: [{ request: { case: "deleteRange", value: { key: bytes("epoch"), prevKv: true } } }],
            },
          },
        },
      ],
      failure: [{ request: { case: "range", value: { key: bytes("lock"), keysOnly: true } } }],
    });
    assertRoundTrips(TxnRequestSchema, txn);

    const decoded = fromBinary(TxnRequestSchema, toBinary(TxnRequestSchema, txn));
    const nested = decoded.success[1]?.request;
    assert.equal(nested?.case, "txn");
    if (nested?.case !== "txn") return;
    const innerRead = nested.value.success[0]?.request;
    assert.equal(innerRead?.case, "range");
    if (innerRead?.case !== "range") return;
    assert.deepEqual([innerRead.value.limit, innerRead.value.sortOrder], [10n, SortOrder.DESCEND]);
    assert.equal(decoded.compare[1]?.target.case, "modRevision");
  });

  it("round-trips Pipeline requests and responses, including the full uint64 id range", () => {
    const request = create(PipelineRequestSchema, {
      id: 18446744073709551615n,
      request: {
        case: "txn",
        value: {
          compare: [{ key: bytes("k"), operator: CompareOperator.EQUAL, target: { case: "createRevision", value: 3n } }],
          success: [{ request: { case: "put", value: { key: bytes("k"), value: bytes("v") } } }],
        },
      },
    });
    assertRoundTrips(PipelineRequestSchema, request);
    assert.deepEqual(toJson(PipelineRequestSchema, request), {
      id: "18446744073709551615",
      txn: {
        compare: [{ key: "aw==", operator: "COMPARE_OPERATOR_EQUAL", createRevision: "3" }],
        success: [{ put: { key: "aw==", value: "dg==" } }],
      },
    });

    const responses = [
      create(PipelineResponseSchema, { id: 0n, response: { case: "ready", value: { maxInFlight: 1024 } } }),
      create(PipelineResponseSchema, {
        id: 1n,
        response: {
          case: "put",
          value: { header: { clusterId: 1n, memberId: 2n, revision: 5n, raftTerm: 3n }, prevKv: { key: bytes("k"), version: 1n } },
        },
      }),
      create(PipelineResponseSchema, { id: 2n, response: { case: "error", value: { code: 11, message: "revision 2 compacted" } } }),
    ];
    for (const response of responses) assertRoundTrips(PipelineResponseSchema, response);
  });

  it("round-trips a Watch create with filters", () => {
    const watch = create(WatchRequestSchema, {
      request: {
        case: "create",
        value: {
          key: bytes("a"),
          rangeEnd: bytes("b"),
          startRevision: 100n,
          filters: [WatchFilter.NO_DELETE],
          prevKv: true,
          watchId: 4n,
          fragment: true,
        },
      },
    });
    assertRoundTrips(WatchRequestSchema, watch);
  });
});

describe("generated services", () => {
  const expected: Array<[DescService, string, Record<string, string>]> = [
    [
      KVService,
      "sisyphus.kv.v1.KVService",
      {
        Range: "unary",
        Put: "unary",
        DeleteRange: "unary",
        Txn: "unary",
        Compact: "unary",
        Pipeline: "bidi_streaming",
      },
    ],
    [WatchService, "sisyphus.kv.v1.WatchService", { Watch: "bidi_streaming", Subscribe: "server_streaming" }],
    [
      LeaseService,
      "sisyphus.kv.v1.LeaseService",
      { Grant: "unary", Revoke: "unary", KeepAlive: "bidi_streaming", KeepAliveOnce: "unary", TimeToLive: "unary", Leases: "unary" },
    ],
    [
      ClusterService,
      "sisyphus.kv.v1.ClusterService",
      { MemberList: "unary", MemberAdd: "unary", MemberPromote: "unary", MemberRemove: "unary", MoveLeader: "unary" },
    ],
    [MaintenanceService, "sisyphus.kv.v1.MaintenanceService", { Status: "unary", Snapshot: "server_streaming" }],
  ];

  for (const [service, typeName, methods] of expected) {
    it(`${typeName} has exactly the expected methods`, () => {
      assert.equal(service.typeName, typeName);
      const actual = Object.fromEntries(service.methods.map((method) => [method.name, method.methodKind]));
      assert.deepEqual(actual, methods);
      for (const method of service.methods) {
        assert.equal(method.input.typeName, `sisyphus.kv.v1.${method.name}Request`, `${method.name} input`);
        assert.equal(method.output.typeName, `sisyphus.kv.v1.${method.name}Response`, `${method.name} output`);
      }
    });
  }
});
