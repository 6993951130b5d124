/**
 * The binary form of a Command, as stored in the Raft log. Primitives (varint, svarint, int64,
 * bytes) are defined in byte-codec.ts.
 *
 *   command      = format (1 byte, 1) | type (1 byte) | body          (the body ends the buffer)
 *   type 1 put          putBody
 *   type 2 deleteRange  deleteBody
 *   type 3 txn          txnBody
 *   type 4 compact      flags (bit 0 physical) | svarint revision
 *   type 5 leaseGrant   int64 id | svarint ttlSeconds
 *   type 6 leaseRevoke  int64 id
 *   type 7 leaseExpire  varint n | int64 id * n
 *   type 8 memberAdd         flags (bit 0 learner) | u64 id | string name | strings peerUrls
 *   type 9 memberRemove      u64 id
 *   type 10 memberAttributes u64 id | string name | strings clientUrls
 *   type 11 leaseKeepAlive   int64 id
 *     (u64 as int64 bits; string = bytes of UTF-8; strings = varint n | string * n)
 *
 *   putBody      = flags (bit 0 prevKv, 1 ignoreValue, 2 ignoreLease) | bytes key | bytes value | int64 lease
 *   deleteBody   = flags (bit 0 prevKv) | bytes key | bytes rangeEnd
 *   rangeBody    = flags (bit 0 keysOnly, 1 countOnly) | bytes key | bytes rangeEnd | svarint limit
 *                  | svarint revision | byte sortOrder | byte sortTarget | svarint minModRevision
 *                  | svarint maxModRevision | svarint minCreateRevision | svarint maxCreateRevision
 *   txnBody      = varint n | compare * n | varint n | op * n (success) | varint n | op * n (failure)
 *   compare      = byte operator | byte target (0 none, 1 value, 2 version, 3 createRevision,
 *                  4 modRevision, 5 lease) | bytes key | bytes rangeEnd
 *                  | [bytes value | svarint number | int64 lease, by target; nothing for none]
 *   op           = byte case (1 range, 2 put, 3 deleteRange, 4 txn) | its body
 *
 * Absent optional fields encode as their zero value (empty bytes, 0, false). Numbers are
 * encoded as given (negative ones included) so that apply, not the codec, rejects bad values
 * with the same errors a direct call would get. Unknown formats, types, cases and flag bits,
 * trailing bytes and nesting deeper than MAX_TXN_DEPTH are MalformedCommandError.
 */
import { ByteReader, ByteWriter } from "./byte-codec.js";
import { InvalidArgumentError, MalformedCommandError } from "./errors.js";
import type {
  Command,
  Compare,
  CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "./types.js";

const FORMAT = 1;
/** Nested transactions deeper than this do not decode (bounds recursion on hostile input). */
export const MAX_TXN_DEPTH = 32;

const enum CommandType {
  Put = 1,
  DeleteRange = 2,
  Txn = 3,
  Compact = 4,
  LeaseGrant = 5,
  LeaseRevoke = 6,
  LeaseExpire = 7,
  MemberAdd = 8,
  MemberRemove = 9,
  MemberAttributes = 10,
  LeaseKeepAlive = 11,
}

const enum OpCase {
  Range = 1,
  Put = 2,
  DeleteRange = 3,
  Txn = 4,
}

const TARGET_CASES = [undefined, "value", "version", "createRevision", "modRevision", "lease"] as const;
const EMPTY = new Uint8Array(0);

/** Encodes a command; throws InvalidArgumentError for values the format cannot carry (e.g. 1.5 as a revision). */
export function encodeCommand(command: Command): Uint8Array {
  const w = new ByteWriter(128);
  w.byte(FORMAT);
  switch (command.type) {
    case "put":
      w.byte(CommandType.Put);
      writePut(w, command.request, "put");
      break;
    case "deleteRange":
      w.byte(CommandType.DeleteRange);
      writeDelete(w, command.request, "delete_range");
      break;
    case "txn":
      w.byte(CommandType.Txn);
      writeTxn(w, command.request, "txn", 1);
      break;
    case "compact":
      w.byte(CommandType.Compact).byte(command.physical === true ? 1 : 0);
      w.svarint(safeInteger(command.revision, "revision"));
      break;
    case "leaseGrant":
      w.byte(CommandType.LeaseGrant).int64(int64(command.id, "id"));
      w.svarint(safeInteger(command.ttlSeconds, "ttl"));
      break;
    case "leaseRevoke":
      w.byte(CommandType.LeaseRevoke).int64(int64(command.id, "id"));
      break;
    case "leaseExpire":
      w.byte(CommandType.LeaseExpire).varint(command.ids.length);
      command.ids.forEach((id, i) => w.int64(int64(id, `ids[${i}]`)));
      break;
    case "memberAdd":
      w.byte(CommandType.MemberAdd).byte(command.learner ? 1 : 0).int64(BigInt.asIntN(64, command.id));
      writeString(w, command.name);
      writeStrings(w, command.peerUrls);
      break;
    case "memberRemove":
      w.byte(CommandType.MemberRemove).int64(BigInt.asIntN(64, command.id));
      break;
    case "leaseKeepAlive":
      w.byte(CommandType.LeaseKeepAlive).int64(int64(command.id, "id"));
      break;
    case "memberAttributes":
      w.byte(CommandType.MemberAttributes).int64(BigInt.asIntN(64, command.id));
      writeString(w, command.name);
      writeStrings(w, command.clientUrls);
      break;
    default:
      throw new InvalidArgumentError(`unknown command type ${JSON.stringify((command as { type: unknown }).type)}`, "type");
  }
  return w.finish();
}

/** Decodes a command; keys and values are copies, independent of `bytes`. */
export function decodeCommand(bytes: Uint8Array): Command {
  const r = new ByteReader(bytes, (message, offset) => {
    throw new MalformedCommandError(message, offset);
  });
  const format = r.byte();
  if (format !== FORMAT) throw new MalformedCommandError(`unknown command format ${format}`, 0);
  const type = r.byte();
  let command: Command;
  switch (type) {
    case CommandType.Put:
      command = { type: "put", request: readPut(r) };
      break;
    case CommandType.DeleteRange:
      command = { type: "deleteRange", request: readDelete(r) };
      break;
    case CommandType.Txn:
      command = { type: "txn", request: readTxn(r, 1) };
      break;
    case CommandType.Compact: {
      const flags = readFlags(r, 0b1);
      command = { type: "compact", revision: r.svarint(), physical: (flags & 1) !== 0 };
      break;
    }
    case CommandType.LeaseGrant:
      command = { type: "leaseGrant", id: r.int64(), ttlSeconds: r.svarint() };
      break;
    case CommandType.LeaseRevoke:
      command = { type: "leaseRevoke", id: r.int64() };
      break;
    case CommandType.LeaseExpire: {
      const n = readCount(r, 8);
      const ids: bigint[] = [];
      for (let i = 0; i < n; i++) ids.push(r.int64());
      command = { type: "leaseExpire", ids };
      break;
    }
    case CommandType.MemberAdd: {
      const learner = (readFlags(r, 0b1) & 1) !== 0;
      command = { type: "memberAdd", learner, id: BigInt.asUintN(64, r.int64()), name: readString(r), peerUrls: readStrings(r) };
      break;
    }
    case CommandType.MemberRemove:
      command = { type: "memberRemove", id: BigInt.asUintN(64, r.int64()) };
      break;
    case CommandType.LeaseKeepAlive:
      command = { type: "leaseKeepAlive", id: r.int64() };
      break;
    case CommandType.MemberAttributes:
      command = { type: "memberAttributes", id: BigInt.asUintN(64, r.int64()), name: readString(r), clientUrls: readStrings(r) };
      break;
    default:
      throw new MalformedCommandError(`unknown command type ${type}`, 1);
  }
  if (!r.done()) throw new MalformedCommandError(`${r.remaining()} trailing bytes`, r.offset);
  return command;
}

// ------------------------------------------------------------------ writers

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

function writeString(w: ByteWriter, text: string): void {
  w.bytes(utf8.encode(text));
}

function writeStrings(w: ByteWriter, texts: readonly string[]): void {
  w.varint(texts.length);
  for (const t of texts) writeString(w, t);
}

function readString(r: ByteReader): string {
  const offset = r.offset;
  try {
    return fromUtf8.decode(r.bytes());
  } catch (err) {
    if (err instanceof MalformedCommandError) throw err;
    throw new MalformedCommandError("a string that is not UTF-8", offset);
  }
}

function readStrings(r: ByteReader): string[] {
  const out: string[] = [];
  for (let n = readCount(r, 1); n > 0; n--) out.push(readString(r));
  return out;
}

function writePut(w: ByteWriter, p: PutRequest, field: string): void {
  w.byte(flag(p.prevKv, 1) | flag(p.ignoreValue, 2) | flag(p.ignoreLease, 4));
  w.bytes(bytesField(p.key, `${field}.key`)).bytes(bytesField(p.value, `${field}.value`));
  w.int64(int64(p.lease ?? 0n, `${field}.lease`));
}

function writeDelete(w: ByteWriter, d: DeleteRangeRequest, field: string): void {
  w.byte(flag(d.prevKv, 1));
  w.bytes(bytesField(d.key, `${field}.key`)).bytes(bytesField(d.rangeEnd ?? EMPTY, `${field}.range_end`));
}

function writeRange(w: ByteWriter, q: RangeRequest, field: string): void {
  w.byte(flag(q.keysOnly, 1) | flag(q.countOnly, 2));
  w.bytes(bytesField(q.key, `${field}.key`)).bytes(bytesField(q.rangeEnd ?? EMPTY, `${field}.range_end`));
  w.svarint(safeInteger(q.limit ?? 0, `${field}.limit`));
  w.svarint(safeInteger(q.revision ?? 0, `${field}.revision`));
  w.byte(byteField(q.sortOrder ?? 0, `${field}.sort_order`));
  w.byte(byteField(q.sortTarget ?? 0, `${field}.sort_target`));
  w.svarint(safeInteger(q.minModRevision ?? 0, `${field}.min_mod_revision`));
  w.svarint(safeInteger(q.maxModRevision ?? 0, `${field}.max_mod_revision`));
  w.svarint(safeInteger(q.minCreateRevision ?? 0, `${field}.min_create_revision`));
  w.svarint(safeInteger(q.maxCreateRevision ?? 0, `${field}.max_create_revision`));
}

function writeTxn(w: ByteWriter, t: TxnRequest, field: string, depth: number): void {
  if (depth > MAX_TXN_DEPTH) throw new InvalidArgumentError(`transactions nested deeper than ${MAX_TXN_DEPTH}`, field);
  w.varint(t.compare.length);
  t.compare.forEach((c, i) => writeCompare(w, c, `${field}.compare[${i}]`));
  w.varint(t.success.length);
  t.success.forEach((op, i) => writeOp(w, op, `${field}.success[${i}]`, depth));
  w.varint(t.failure.length);
  t.failure.forEach((op, i) => writeOp(w, op, `${field}.failure[${i}]`, depth));
}

function writeCompare(w: ByteWriter, c: Compare, field: string): void {
  const target = c.target ?? { case: undefined };
  const caseIndex = TARGET_CASES.indexOf(target.case);
  if (caseIndex < 0) throw new InvalidArgumentError(`unknown target ${JSON.stringify(target.case)}`, `${field}.target`);
  w.byte(byteField(c.operator, `${field}.operator`)).byte(caseIndex);
  w.bytes(bytesField(c.key, `${field}.key`)).bytes(bytesField(c.rangeEnd ?? EMPTY, `${field}.range_end`));
  switch (target.case) {
    case "value":
      w.bytes(bytesField(target.value, `${field}.value`));
      break;
    case "version":
    case "createRevision":
    case "modRevision":
      w.svarint(safeInteger(target.value, `${field}.${target.case}`));
      break;
    case "lease":
      w.int64(int64(target.value, `${field}.lease`));
      break;
    case undefined:
      break;
  }
}

function writeOp(w: ByteWriter, op: RequestOp, field: string, depth: number): void {
  switch (op.case) {
    case "range":
      w.byte(OpCase.Range);
      writeRange(w, op.value, `${field}.range`);
      break;
    case "put":
      w.byte(OpCase.Put);
      writePut(w, op.value, `${field}.put`);
      break;
    case "deleteRange":
      w.byte(OpCase.DeleteRange);
      writeDelete(w, op.value, `${field}.delete_range`);
      break;
    case "txn":
      w.byte(OpCase.Txn);
      writeTxn(w, op.value, `${field}.txn`, depth + 1);
      break;
    default:
      throw new InvalidArgumentError("an operation must be set", field);
  }
}

function flag(value: boolean | undefined, bit: number): number {
  return value === true ? bit : 0;
}

function bytesField(value: Uint8Array, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError("must be bytes", field);
  return value;
}

function safeInteger(value: number, field: string): number {
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(`must be an integer, got ${value}`, field);
  return value;
}

function byteField(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 255) throw new InvalidArgumentError(`unknown value ${value}`, field);
  return value;
}

function int64(value: bigint, field: string): bigint {
  if (typeof value !== "bigint" || BigInt.asIntN(64, value) !== value) {
    throw new InvalidArgumentError(`must be a 64-bit integer, got ${String(value)}`, field);
  }
  return value;
}

// ------------------------------------------------------------------ readers

function readFlags(r: ByteReader, allowed: number): number {
  const at = r.offset;
  const flags = r.byte();
  if ((flags & ~allowed) !== 0) throw new MalformedCommandError(`unknown flag bits 0x${flags.toString(16)}`, at);
  return flags;
}

/** A count of elements that each take at least `minBytes`: larger than the input allows is damage. */
function readCount(r: ByteReader, minBytes: number): number {
  const at = r.offset;
  const n = r.varint();
  if (n * minBytes > r.remaining()) throw new MalformedCommandError(`count ${n} exceeds the bytes left`, at);
  return n;
}

function readPut(r: ByteReader): PutRequest {
  const flags = readFlags(r, 0b111);
  const key = r.ownedBytes();
  const value = r.ownedBytes();
  return {
    key,
    value,
    lease: r.int64(),
    prevKv: (flags & 1) !== 0,
    ignoreValue: (flags & 2) !== 0,
    ignoreLease: (flags & 4) !== 0,
  };
}

function readDelete(r: ByteReader): DeleteRangeRequest {
  const flags = readFlags(r, 0b1);
  const key = r.ownedBytes();
  return { key, rangeEnd: r.ownedBytes(), prevKv: (flags & 1) !== 0 };
}

function readRange(r: ByteReader): RangeRequest {
  const flags = readFlags(r, 0b11);
  const key = r.ownedBytes();
  const rangeEnd = r.ownedBytes();
  return {
    key,
    rangeEnd,
    keysOnly: (flags & 1) !== 0,
    countOnly: (flags & 2) !== 0,
    limit: r.svarint(),
    revision: r.svarint(),
    sortOrder: r.byte(),
    sortTarget: r.byte(),
    minModRevision: r.svarint(),
    maxModRevision: r.svarint(),
    minCreateRevision: r.svarint(),
    maxCreateRevision: r.svarint(),
  };
}

function readTxn(r: ByteReader, depth: number): TxnRequest {
  if (depth > MAX_TXN_DEPTH) throw new MalformedCommandError(`transactions nested deeper than ${MAX_TXN_DEPTH}`, r.offset);
  const compare: Compare[] = [];
  for (let n = readCount(r, 4); n > 0; n--) compare.push(readCompare(r));
  const success: RequestOp[] = [];
  for (let n = readCount(r, 2); n > 0; n--) success.push(readOp(r, depth));
  const failure: RequestOp[] = [];
  for (let n = readCount(r, 2); n > 0; n--) failure.push(readOp(r, depth));
  return { compare, success, failure };
}

function readCompare(r: ByteReader): Compare {
  const operator = r.byte();
  const at = r.offset;
  const caseIndex = r.byte();
  if (caseIndex >= TARGET_CASES.length) throw new MalformedCommandError(`unknown compare target ${caseIndex}`, at);
  const key = r.ownedBytes();
  const rangeEnd = r.ownedBytes();
  let target: CompareTarget;
  switch (TARGET_CASES[caseIndex]) {
    case "value":
      target = { case: "value", value: r.ownedBytes() };
      break;
    case "version":
      target = { case: "version", value: r.svarint() };
      break;
    case "createRevision":
      target = { case: "createRevision", value: r.svarint() };
      break;
    case "modRevision":
      target = { case: "modRevision", value: r.svarint() };
      break;
    case "lease":
      target = { case: "lease", value: r.int64() };
      break;
    default:
      target = { case: undefined };
  }
  return { key, rangeEnd, operator, target };
}

function readOp(r: ByteReader, depth: number): RequestOp {
  const at = r.offset;
  const opCase = r.byte();
  switch (opCase) {
    case OpCase.Range:
      return { case: "range", value: readRange(r) };
    case OpCase.Put:
      return { case: "put", value: readPut(r) };
    case OpCase.DeleteRange:
      return { case: "deleteRange", value: readDelete(r) };
    case OpCase.Txn:
      return { case: "txn", value: readTxn(r, depth + 1) };
    default:
      throw new MalformedCommandError(`unknown operation ${opCase}`, at);
  }
}
