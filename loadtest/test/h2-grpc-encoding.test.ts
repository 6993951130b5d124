/**
 * The h2-grpc drivers' hand-encoded requests (kv-grpc-messages.ts) against each system's real
 * schema: every request is one well-formed gRPC length-prefixed message whose protobuf decodes
 * to the intended fields (SisyphusDB's with our generated @bufbuild/protobuf code, etcd's with
 * @grpc/proto-loader over loadtest/proto/etcd), and to the same message the grpc-js drivers
 * send for the same call. Keys and values hold 0x00 and 0xff bytes; value lengths sit on the
 * varint boundaries (0, 1, 127, 128, 300, 70,000 bytes).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import * as protoLoader from "@grpc/proto-loader";
import { CompareOperator, PutRequestSchema, RangeRequestSchema, TxnRequestSchema } from "../../gen/sisyphus/kv/v1/kv_pb.js";
import { ETCD_GRPC_JS_REQUESTS, ETCD_PROTO_DIR, ETCD_RPC_PROTO, type GrpcJsKvRequests, SISYPHUS_GRPC_JS_REQUESTS } from "../src/drivers.js";
import { ENVELOPE_BYTES, ETCD_KV_SCHEMA, type KvWireSchema, SISYPHUS_KV_SCHEMA, TXN_MOD_REVISION_BOUND, encodePutRequest, encodeRangeRequest, encodeTxnRequest } from "../src/kv-grpc-messages.js";
import { repoRoot } from "../src/repo-paths.js";

const VALUE_LENGTHS = [0, 1, 127, 128, 300, 70_000];

/** `length` bytes cycling through 0x00, 0xff and the rest, so both extremes occur. */
function bytesOf(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = i % 3 === 0 ? 0x00 : i % 3 === 1 ? 0xff : (i * 31 + seed) & 0xff;
  return out;
}

const KEYS: Buffer[] = [Buffer.alloc(0), Buffer.from([0x00]), Buffer.from([0xff]), Buffer.from([0xff, 0x00, 0xff]), Buffer.from("key/00000042"), bytesOf(200, 7)];
const VALUES: Buffer[] = VALUE_LENGTHS.map((n) => bytesOf(n, 3));

/** The protobuf inside one gRPC length-prefixed message, after checking the envelope. */
function unframe(frame: Buffer): Buffer {
  assert.ok(frame.length >= ENVELOPE_BYTES, `frame of ${frame.length} bytes`);
  assert.equal(frame[0], 0, "compressed flag");
  assert.equal(frame.readUInt32BE(1), frame.length - ENVELOPE_BYTES, "envelope length vs bytes that follow");
  return frame.subarray(ENVELOPE_BYTES);
}

const describeBytes = (b: Uint8Array): string => (b.length <= 8 ? `[${Buffer.from(b).toString("hex")}]` : `${b.length} bytes`);

/**
 * A system's Put, Range and Txn request (de)serializers from its .proto, via proto-loader
 * with defaults filled in: a field an encoder leaves out at its default and one written
 * explicitly (grpc-js writes `serializable: false`) decode alike.
 */
interface Codec {
  Put: protoLoader.MethodDefinition<object, object>;
  Range: protoLoader.MethodDefinition<object, object>;
  Txn: protoLoader.MethodDefinition<object, object>;
}

function codecOf(protoFile: string, includeDir: string, service: string): Codec {
  const definition = protoLoader.loadSync(protoFile, { longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [includeDir] });
  return definition[service] as unknown as Codec;
}

const SYSTEMS: { name: string; schema: KvWireSchema; grpcJs: GrpcJsKvRequests; codec: Codec }[] = [
  { name: "SisyphusDB", schema: SISYPHUS_KV_SCHEMA, grpcJs: SISYPHUS_GRPC_JS_REQUESTS, codec: codecOf("sisyphus/kv/v1/kv.proto", path.join(repoRoot(), "proto"), "sisyphus.kv.v1.KVService") },
  { name: "etcd", schema: ETCD_KV_SCHEMA, grpcJs: ETCD_GRPC_JS_REQUESTS, codec: codecOf(ETCD_RPC_PROTO, path.join(repoRoot(), ...ETCD_PROTO_DIR), "etcdserverpb.KV") },
];

describe("h2-grpc request encoding", () => {
  it("the services are the ones the grpc-js drivers call", () => {
    assert.equal(SISYPHUS_KV_SCHEMA.service, "sisyphus.kv.v1.KVService");
    assert.equal(ETCD_KV_SCHEMA.service, "etcdserverpb.KV");
  });

  describe("SisyphusDB, decoded with our generated schema (gen/sisyphus/kv/v1/kv_pb)", () => {
    it("PutRequest: key and value, no unknown fields", () => {
      for (const key of KEYS) {
        for (const value of VALUES) {
          const put = fromBinary(PutRequestSchema, unframe(encodePutRequest(key, value)));
          const what = `key ${describeBytes(key)}, value ${describeBytes(value)}`;
          assert.deepEqual(Buffer.from(put.key), key, what);
          assert.deepEqual(Buffer.from(put.value), value, what);
          assert.equal(put.lease, 0n, what);
          assert.equal(put.$unknown, undefined, `${what}: unknown fields`);
        }
      }
    });

    it("RangeRequest: a single key, serializable true and false", () => {
      for (const key of KEYS) {
        for (const serializable of [true, false]) {
          const range = fromBinary(RangeRequestSchema, unframe(encodeRangeRequest(key, serializable)));
          const what = `key ${describeBytes(key)}, serializable ${serializable}`;
          assert.deepEqual(Buffer.from(range.key), key, what);
          assert.equal(range.rangeEnd.length, 0, `${what}: range_end`);
          assert.equal(range.serializable, serializable, what);
          assert.equal(range.$unknown, undefined, `${what}: unknown fields`);
        }
      }
    });

    it("TxnRequest: [mod_revision(key) < 2^48] then put(key, value), nothing on failure", () => {
      for (const key of KEYS) {
        for (const value of VALUES) {
          const txn = fromBinary(TxnRequestSchema, unframe(encodeTxnRequest(SISYPHUS_KV_SCHEMA, key, value)));
          const what = `key ${describeBytes(key)}, value ${describeBytes(value)}`;
          assert.equal(txn.compare.length, 1, what);
          const [compare] = txn.compare;
          assert.deepEqual(Buffer.from(compare.key), key, what);
          assert.equal(compare.operator, CompareOperator.LESS, what);
          assert.deepEqual(compare.target, { case: "modRevision", value: BigInt(TXN_MOD_REVISION_BOUND) }, what);
          assert.equal(txn.success.length, 1, what);
          const op = txn.success[0].request;
          assert.equal(op.case, "put", what);
          assert.deepEqual(Buffer.from(op.value?.key ?? []), key, what);
          assert.deepEqual(Buffer.from(op.value?.value ?? []), value, what);
          assert.equal(txn.failure.length, 0, what);
          assert.equal(txn.$unknown, undefined, `${what}: unknown fields`);
        }
      }
    });
  });

  describe("etcd, decoded with etcd's schema (loadtest/proto/etcd)", () => {
    const etcd = SYSTEMS[1].codec;

    it("PutRequest, RangeRequest and TxnRequest carry the intended fields", () => {
      for (const key of KEYS) {
        for (const value of VALUES) {
          const what = `key ${describeBytes(key)}, value ${describeBytes(value)}`;
          assert.deepEqual(etcd.Put.requestDeserialize(unframe(encodePutRequest(key, value))), { key, value, lease: "0", prevKv: false, ignoreValue: false, ignoreLease: false }, what);
          const txn = etcd.Txn.requestDeserialize(unframe(encodeTxnRequest(ETCD_KV_SCHEMA, key, value))) as {
            compare: Record<string, unknown>[];
            success: { request: string; requestPut: { key: Buffer; value: Buffer } }[];
            failure: unknown[];
          };
          assert.equal(txn.compare.length, 1, what);
          assert.equal(txn.compare[0].result, "LESS", what);
          assert.equal(txn.compare[0].target, "MOD", what);
          assert.deepEqual(txn.compare[0].key, key, what);
          assert.equal(txn.compare[0].targetUnion, "modRevision", what);
          assert.equal(txn.compare[0].modRevision, String(TXN_MOD_REVISION_BOUND), what);
          assert.equal(txn.success.length, 1, what);
          assert.equal(txn.success[0].request, "requestPut", what);
          assert.deepEqual(txn.success[0].requestPut.key, key, what);
          assert.deepEqual(txn.success[0].requestPut.value, value, what);
          assert.equal(txn.failure.length, 0, what);
        }
        for (const serializable of [true, false]) {
          const range = etcd.Range.requestDeserialize(unframe(encodeRangeRequest(key, serializable))) as { key: Buffer; rangeEnd: Buffer; serializable: boolean };
          assert.deepEqual(range.key, key, `key ${describeBytes(key)}`);
          assert.equal(range.rangeEnd.length, 0);
          assert.equal(range.serializable, serializable, `key ${describeBytes(key)}, serializable ${serializable}`);
        }
      }
    });
  });

  for (const system of SYSTEMS) {
    it(`${system.name}: every request decodes to the message the grpc-js driver sends for the same call`, () => {
      const { codec, grpcJs, schema } = system;
      const same = (method: keyof Codec, ours: Buffer, theirs: object, what: string): void =>
        assert.deepEqual(codec[method].requestDeserialize(unframe(ours)), codec[method].requestDeserialize(codec[method].requestSerialize(theirs)), `${system.name} ${method}, ${what}`);
      for (const key of KEYS) {
        for (const value of VALUES) {
          const what = `key ${describeBytes(key)}, value ${describeBytes(value)}`;
          same("Put", encodePutRequest(key, value), grpcJs.put(key, value), what);
          same("Txn", encodeTxnRequest(schema, key, value), grpcJs.txn(key, value), what);
        }
        for (const serializable of [true, false]) same("Range", encodeRangeRequest(key, serializable), grpcJs.range(key, serializable), `key ${describeBytes(key)}, serializable ${serializable}`);
      }
    });
  }
});
