/**
 * The three KV requests a load run sends (Put, single-key Range, compare-and-put Txn), encoded
 * by hand as gRPC length-prefixed messages, for the h2-grpc drivers: no protobuf library and one
 * Buffer per call.
 *
 * A gRPC length-prefixed message (PROTOCOL-HTTP2.md): byte 0 the compressed flag (0 here),
 * bytes 1..4 the protobuf length as u32 big-endian, then the protobuf bytes.
 *
 * Protobuf (proto3): a field is varint(field << 3 | wire type) then its value; a varint holds 7
 * bits a byte, low bits first, the top bit set on every byte but the last; a length-delimited
 * field (bytes, sub-message) is its length as a varint then its bytes. Fields are written in
 * field-number order. Scalar fields at their default (empty bytes, false) are left out, as every
 * protobuf encoder does; sub-messages and oneof members are always written (their presence is
 * their meaning).
 *
 * SisyphusDB's KVService (proto/sisyphus/kv/v1/kv.proto) and etcd's KV
 * (loadtest/proto/etcd/etcdserverpb/rpc.proto) number PutRequest, RangeRequest, TxnRequest and
 * RequestOp's put alike; only Compare differs, so a KvWireSchema carries the service name and
 * Compare's fields. loadtest/test/h2-grpc-encoding.test.ts decodes these bytes with each
 * system's real schema.
 */

/** Far above any revision a run reaches. (Not 2^53 - 1: SisyphusDB's command encoding takes signed values up to 2^52 only.) */
export const TXN_MOD_REVISION_BOUND = 2 ** 48;

export const ENVELOPE_BYTES = 5;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** Field numbers both schemas share. */
const PUT_KEY = 1;
const PUT_VALUE = 2;
const RANGE_KEY = 1;
const RANGE_SERIALIZABLE = 7;
const TXN_COMPARE = 1;
const TXN_SUCCESS = 2;
const REQUEST_OP_PUT = 2;

/** One field of the Compare "mod_revision(key) < TXN_MOD_REVISION_BOUND": the key, a constant enum, or the bound. */
export type CompareField = { field: number; is: "key" } | { field: number; is: "enum"; value: number } | { field: number; is: "mod_revision" };

export interface KvWireSchema {
  /** The gRPC service's full name; its methods are Put, Range and Txn. */
  readonly service: string;
  /** Compare's fields in field-number order. */
  readonly compare: readonly CompareField[];
}

export const SISYPHUS_KV_SCHEMA: KvWireSchema = {
  service: "sisyphus.kv.v1.KVService",
  // Compare { key = 1; CompareOperator operator = 3 (COMPARE_OPERATOR_LESS = 3); oneof { int64 mod_revision = 7 } }
  compare: [
    { field: 1, is: "key" },
    { field: 3, is: "enum", value: 3 },
    { field: 7, is: "mod_revision" },
  ],
};

export const ETCD_KV_SCHEMA: KvWireSchema = {
  service: "etcdserverpb.KV",
  // Compare { CompareResult result = 1 (LESS = 2); CompareTarget target = 2 (MOD = 2); bytes key = 3; oneof { int64 mod_revision = 6 } }
  compare: [
    { field: 1, is: "enum", value: 2 },
    { field: 2, is: "enum", value: 2 },
    { field: 3, is: "key" },
    { field: 6, is: "mod_revision" },
  ],
};

/** Bytes of `n` (a non-negative safe integer) as a varint. Division, not shifts: values reach 2^48. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

const tagSize = (field: number): number => varintSize(field * 8);
const bytesFieldSize = (field: number, length: number): number => (length === 0 ? 0 : tagSize(field) + varintSize(length) + length);
const boolFieldSize = (field: number, value: boolean): number => (value ? tagSize(field) + 1 : 0);
const messageFieldSize = (field: number, length: number): number => tagSize(field) + varintSize(length) + length;

/** Writes fields into a Buffer sized beforehand; finish() checks the sizes agreed. */
class ProtoWriter {
  private readonly out: Buffer;
  private offset = ENVELOPE_BYTES;

  /** A writer for one length-prefixed message whose protobuf is `messageBytes` long. */
  constructor(messageBytes: number) {
    this.out = Buffer.allocUnsafe(ENVELOPE_BYTES + messageBytes);
    this.out[0] = 0;
    this.out.writeUInt32BE(messageBytes, 1);
  }

  private varint(n: number): void {
    while (n >= 0x80) {
      this.out[this.offset++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.out[this.offset++] = n;
  }

  /** A varint field, always written (enums and oneof members here). */
  varintField(field: number, n: number): void {
    this.varint(field * 8 + WIRE_VARINT);
    this.varint(n);
  }

  boolField(field: number, value: boolean): void {
    if (value) this.varintField(field, 1);
  }

  bytesField(field: number, data: Uint8Array): void {
    if (data.length === 0) return;
    this.varint(field * 8 + WIRE_LEN);
    this.varint(data.length);
    this.out.set(data, this.offset);
    this.offset += data.length;
  }

  /** The tag and length of a sub-message; its fields follow. */
  messageHeader(field: number, length: number): void {
    this.varint(field * 8 + WIRE_LEN);
    this.varint(length);
  }

  finish(): Buffer {
    if (this.offset !== this.out.length) throw new Error(`protobuf encoder bug: wrote ${this.offset} of ${this.out.length} bytes`);
    return this.out;
  }
}

const putRequestSize = (key: Uint8Array, value: Uint8Array): number => bytesFieldSize(PUT_KEY, key.length) + bytesFieldSize(PUT_VALUE, value.length);

function writePutRequest(w: ProtoWriter, key: Uint8Array, value: Uint8Array): void {
  w.bytesField(PUT_KEY, key);
  w.bytesField(PUT_VALUE, value);
}

/** PutRequest { key, value }. */
export function encodePutRequest(key: Uint8Array, value: Uint8Array): Buffer {
  const w = new ProtoWriter(putRequestSize(key, value));
  writePutRequest(w, key, value);
  return w.finish();
}

/** RangeRequest { key, serializable }: a single-key read. */
export function encodeRangeRequest(key: Uint8Array, serializable: boolean): Buffer {
  const w = new ProtoWriter(bytesFieldSize(RANGE_KEY, key.length) + boolFieldSize(RANGE_SERIALIZABLE, serializable));
  w.bytesField(RANGE_KEY, key);
  w.boolField(RANGE_SERIALIZABLE, serializable);
  return w.finish();
}

function compareSize(schema: KvWireSchema, key: Uint8Array): number {
  let size = 0;
  for (const f of schema.compare) {
    if (f.is === "key") size += bytesFieldSize(f.field, key.length);
    else size += tagSize(f.field) + varintSize(f.is === "enum" ? f.value : TXN_MOD_REVISION_BOUND);
  }
  return size;
}

/** TxnRequest { compare: [mod_revision(key) < TXN_MOD_REVISION_BOUND], success: [RequestOp { put: PutRequest { key, value } }] }. */
export function encodeTxnRequest(schema: KvWireSchema, key: Uint8Array, value: Uint8Array): Buffer {
  const compare = compareSize(schema, key);
  const put = putRequestSize(key, value);
  const requestOp = messageFieldSize(REQUEST_OP_PUT, put);
  const w = new ProtoWriter(messageFieldSize(TXN_COMPARE, compare) + messageFieldSize(TXN_SUCCESS, requestOp));
  w.messageHeader(TXN_COMPARE, compare);
  for (const f of schema.compare) {
    if (f.is === "key") w.bytesField(f.field, key);
    else w.varintField(f.field, f.is === "enum" ? f.value : TXN_MOD_REVISION_BOUND);
  }
  w.messageHeader(TXN_SUCCESS, requestOp);
  w.messageHeader(REQUEST_OP_PUT, put);
  writePutRequest(w, key, value);
  return w.finish();
}
