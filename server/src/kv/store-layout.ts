/**
 * How the MVCC store lies in the storage engine. The engine holds only this layer's keys; the
 * first byte of every engine key says what it is. Integers in keys are big-endian so that byte
 * order is numeric order; record encodings (varint, int64) are those of byte-codec.ts.
 *
 *   "k" | ordered(userKey) | inv64(revision)  -> version record: one version of a key, written at
 *        `revision` (a put or a tombstone). inv64(r) = be64(2^64 - 1 - r), so the versions of a
 *        key sort newest first and "the newest version <= R of key K" is one seek to
 *        "k" | ordered(K) | inv64(R). A key changes at most once per revision, so the sub-revision
 *        is not needed here.
 *   "c" | userKey                            -> current record: the metadata of a key that
 *        exists at the current revision (absent once deleted). Reads at the current revision
 *        and the apply path's "does K exist, at which version" are point lookups here; values
 *        are stored once, in the "k" record named by modRevision.
 *   "r" | be64(revision) | be32(sub)         -> event record: the sub-th change of a revision
 *        (watch replay reads these in order; compaction finds superseded versions through them).
 *   "l" | be64(leaseId)                      -> lease record
 *   "a" | be64(leaseId) | userKey            -> empty: the key is attached to the lease
 *   "p" | be64(memberId)                     -> member record: one member of the cluster
 *   "m" "state"                              -> state record, written with every applied batch
 *   "m" "compacted"                          -> compaction progress: every event below this
 *        revision and every version it superseded has been physically removed
 *
 * ordered(key) escapes each 0x00 byte as 0x00 0xFF and ends with 0x00 0x01. It preserves
 * bytewise order and no encoding is a prefix of another, so the version suffix never mixes
 * into the comparison of two different keys ("a" < "a\0" < "a\1" stays true after encoding).
 *
 * Records:
 *   version record  = kind (0 tombstone, 1 put, 3 put with lease)
 *                     [put: varint createRevision | varint version | [int64 lease] | value (rest)]
 *   current record  = flags (bit 0: has lease) | varint modRevision | varint createRevision
 *                     | varint version | [int64 lease]
 *   event record    = kind (1 put, 2 delete) | userKey (rest)
 *   lease record    = varint ttlSeconds | varint grantedAtRevision
 *   member record   = flags (bit 0: learner) | bytes name | varint n | bytes peerUrl * n
 *                     | varint m | bytes clientUrl * m   (URLs and name UTF-8)
 *   state record    = varint appliedIndex | varint revision | varint compactRevision
 *   compacted       = varint revision
 */
import { ByteReader, ByteWriter } from "./byte-codec.js";
import { CorruptRecordError } from "./errors.js";

const CURRENT = 0x63; // "c"
const VERSION = 0x6b; // "k"
const EVENT = 0x72; // "r"
const LEASE = 0x6c; // "l"
const ATTACHMENT = 0x61; // "a"
const MEMBER = 0x70; // "p"

export const STATE_KEY: Uint8Array = Buffer.from("mstate");
export const COMPACTED_KEY: Uint8Array = Buffer.from("mcompacted");

/** Bounds of each key space, for iteration: [start, end). */
export const CURRENT_SPACE = { start: Buffer.from([CURRENT]), end: Buffer.from([CURRENT + 1]) };
export const VERSION_SPACE = { start: Buffer.from([VERSION]), end: Buffer.from([VERSION + 1]) };
export const LEASE_SPACE = { start: Buffer.from([LEASE]), end: Buffer.from([LEASE + 1]) };
export const ATTACHMENT_SPACE = { start: Buffer.from([ATTACHMENT]), end: Buffer.from([ATTACHMENT + 1]) };
export const MEMBER_SPACE = { start: Buffer.from([MEMBER]), end: Buffer.from([MEMBER + 1]) };

const TWO_32 = 2 ** 32;

// ------------------------------------------------------------------ ordered key encoding

function orderedLength(key: Uint8Array): number {
  let n = key.length + 2;
  for (let i = 0; i < key.length; i++) if (key[i] === 0) n++;
  return n;
}

/** Writes ordered(key) at `offset` of `out`; returns the offset after it. */
function writeOrdered(out: Uint8Array, offset: number, key: Uint8Array): number {
  for (let i = 0; i < key.length; i++) {
    const b = key[i]!;
    out[offset++] = b;
    if (b === 0) out[offset++] = 0xff;
  }
  out[offset++] = 0;
  out[offset++] = 1;
  return offset;
}

export function encodeOrdered(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(orderedLength(key));
  writeOrdered(out, 0, key);
  return out;
}

/** Decodes ordered(key) starting at `offset`; returns the key and the offset after the terminator. */
export function decodeOrdered(buf: Uint8Array, offset: number): { key: Uint8Array; end: number } {
  const bytes: number[] = [];
  let i = offset;
  while (i < buf.length) {
    const b = buf[i++]!;
    if (b !== 0) {
      bytes.push(b);
      continue;
    }
    const next = buf[i++];
    if (next === 0xff) bytes.push(0);
    else if (next === 1) return { key: Uint8Array.from(bytes), end: i };
    else break;
  }
  throw new CorruptRecordError("badly escaped user key", buf);
}

// ------------------------------------------------------------------ engine keys

function writeBe64(out: Uint8Array, offset: number, n: number): void {
  const hi = Math.floor(n / TWO_32);
  const lo = n >>> 0;
  out[offset] = hi >>> 24;
  out[offset + 1] = (hi >>> 16) & 0xff;
  out[offset + 2] = (hi >>> 8) & 0xff;
  out[offset + 3] = hi & 0xff;
  out[offset + 4] = lo >>> 24;
  out[offset + 5] = (lo >>> 16) & 0xff;
  out[offset + 6] = (lo >>> 8) & 0xff;
  out[offset + 7] = lo & 0xff;
}

function readBe64(buf: Uint8Array, offset: number): number {
  const hi = ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
  const lo = ((buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!) >>> 0;
  return hi * TWO_32 + lo;
}

function writeInv64(out: Uint8Array, offset: number, n: number): void {
  writeBe64(out, offset, n);
  for (let i = offset; i < offset + 8; i++) out[i] = ~out[i]! & 0xff;
}

function readInv64(buf: Uint8Array, offset: number): number {
  const hi = ~((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
  const lo = ~((buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!) >>> 0;
  return hi * TWO_32 + lo;
}

export function currentKey(key: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(1 + key.length);
  out[0] = CURRENT;
  out.set(key, 1);
  return out;
}

/** The user key of a "c" engine key (a view). */
export function userKeyOfCurrent(engineKey: Uint8Array): Uint8Array {
  return engineKey.subarray(1);
}

/** "k" | ordered(key) | inv64(revision). */
export function versionKey(key: Uint8Array, revision: number): Uint8Array {
  const n = orderedLength(key);
  const out = Buffer.allocUnsafe(1 + n + 8);
  out[0] = VERSION;
  writeOrdered(out, 1, key);
  writeInv64(out, 1 + n, revision);
  return out;
}

/** "k" | ordered(key): every version of the key starts with it, and nothing else does. */
export function versionPrefix(key: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(1 + orderedLength(key));
  out[0] = VERSION;
  writeOrdered(out, 1, key);
  return out;
}

/** The revision of a "k" engine key. */
export function revisionOfVersionKey(engineKey: Uint8Array): number {
  return readInv64(engineKey, engineKey.length - 8);
}

/** The user key of a "k" engine key (a copy). */
export function userKeyOfVersion(engineKey: Uint8Array): Uint8Array {
  const { key, end } = decodeOrdered(engineKey, 1);
  if (end !== engineKey.length - 8) throw new CorruptRecordError("version key of the wrong length", engineKey);
  return key;
}

/** The two "k" engine keys are versions of the same user key. */
export function sameVersionedKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.compare(a.subarray(0, a.length - 8), b.subarray(0, b.length - 8)) === 0;
}

export function eventKey(revision: number, sub: number): Uint8Array {
  const out = Buffer.allocUnsafe(13);
  out[0] = EVENT;
  writeBe64(out, 1, revision);
  out.writeUInt32BE(sub, 9);
  return out;
}

/** The first event key of `revision`. */
export function eventKeyStart(revision: number): Uint8Array {
  return eventKey(revision, 0);
}

export function revisionOfEventKey(engineKey: Uint8Array): number {
  if (engineKey.length !== 13) throw new CorruptRecordError("event key of the wrong length", engineKey);
  return readBe64(engineKey, 1);
}

/** A key space byte followed by a 64-bit ID, big-endian (leases, members). */
function idKey(space: number, id: bigint): Uint8Array {
  const out = Buffer.allocUnsafe(9);
  out[0] = space;
  out.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
  return out;
}

export function leaseKey(id: bigint): Uint8Array {
  return idKey(LEASE, id);
}

export function leaseIdOfKey(engineKey: Uint8Array): bigint {
  if (engineKey.length < 9) throw new CorruptRecordError("lease key too short", engineKey);
  return Buffer.from(engineKey.buffer, engineKey.byteOffset, engineKey.length).readBigInt64BE(1);
}

export function memberKey(id: bigint): Uint8Array {
  return idKey(MEMBER, id);
}

export function memberIdOfKey(engineKey: Uint8Array): bigint {
  if (engineKey.length !== 9) throw new CorruptRecordError("member key of the wrong length", engineKey);
  return Buffer.from(engineKey.buffer, engineKey.byteOffset, engineKey.length).readBigUInt64BE(1);
}

export function attachmentKey(id: bigint, key: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(9 + key.length);
  out[0] = ATTACHMENT;
  out.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
  out.set(key, 9);
  return out;
}

export function userKeyOfAttachment(engineKey: Uint8Array): Uint8Array {
  return engineKey.subarray(9);
}

// ------------------------------------------------------------------ records

/** What a key looks like at one revision, without its value. */
export interface KeyMeta {
  modRevision: number;
  createRevision: number;
  version: number;
  lease: bigint;
}

/** A decoded version record. */
export type VersionRecord =
  | { deleted: true }
  | { deleted: false; createRevision: number; version: number; lease: bigint; value: Uint8Array };

export const TOMBSTONE_RECORD: Uint8Array = Uint8Array.of(0);

export function encodeVersionRecord(createRevision: number, version: number, lease: bigint, value: Uint8Array): Uint8Array {
  const w = new ByteWriter(24 + value.length);
  w.byte(lease === 0n ? 1 : 3).varint(createRevision).varint(version);
  if (lease !== 0n) w.int64(lease);
  return w.raw(value).finish();
}

export function decodeVersionRecord(record: Uint8Array, engineKey: Uint8Array): VersionRecord {
  const r = recordReader(record, engineKey);
  const kind = r.byte();
  if (kind === 0) {
    if (!r.done()) throw new CorruptRecordError("tombstone with trailing bytes", engineKey);
    return { deleted: true };
  }
  if (kind !== 1 && kind !== 3) throw new CorruptRecordError(`unknown version kind ${kind}`, engineKey);
  const createRevision = r.varint();
  const version = r.varint();
  const lease = kind === 3 ? r.int64() : 0n;
  return { deleted: false, createRevision, version, lease, value: r.raw(r.remaining()) };
}

export function encodeCurrentRecord(meta: KeyMeta): Uint8Array {
  const w = new ByteWriter(32);
  w.byte(meta.lease === 0n ? 0 : 1).varint(meta.modRevision).varint(meta.createRevision).varint(meta.version);
  if (meta.lease !== 0n) w.int64(meta.lease);
  return w.finish();
}

export function decodeCurrentRecord(record: Uint8Array, engineKey: Uint8Array): KeyMeta {
  const r = recordReader(record, engineKey);
  const flags = r.byte();
  if (flags > 1) throw new CorruptRecordError(`unknown current-record flags ${flags}`, engineKey);
  const modRevision = r.varint();
  const createRevision = r.varint();
  const version = r.varint();
  const lease = flags === 1 ? r.int64() : 0n;
  if (!r.done()) throw new CorruptRecordError("current record with trailing bytes", engineKey);
  return { modRevision, createRevision, version, lease };
}

export const EVENT_PUT = 1;
export const EVENT_DELETE = 2;

export function encodeEventRecord(kind: number, key: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(1 + key.length);
  out[0] = kind;
  out.set(key, 1);
  return out;
}

export function decodeEventRecord(record: Uint8Array, engineKey: Uint8Array): { kind: number; key: Uint8Array } {
  const kind = record[0];
  if ((kind !== EVENT_PUT && kind !== EVENT_DELETE) || record.length < 2) {
    throw new CorruptRecordError("malformed event record", engineKey);
  }
  return { kind, key: record.subarray(1) };
}

export function encodeLeaseRecord(ttlSeconds: number, grantedAtRevision: number): Uint8Array {
  return new ByteWriter(16).varint(ttlSeconds).varint(grantedAtRevision).finish();
}

export function decodeLeaseRecord(record: Uint8Array, engineKey: Uint8Array): { ttlSeconds: number; grantedAtRevision: number } {
  const r = recordReader(record, engineKey);
  const ttlSeconds = r.varint();
  const grantedAtRevision = r.varint();
  if (!r.done()) throw new CorruptRecordError("lease record with trailing bytes", engineKey);
  return { ttlSeconds, grantedAtRevision };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

export function encodeMemberRecord(m: { name: string; peerUrls: readonly string[]; clientUrls: readonly string[]; learner: boolean }): Uint8Array {
  const w = new ByteWriter(64).byte(m.learner ? 1 : 0).bytes(utf8.encode(m.name));
  w.varint(m.peerUrls.length);
  for (const u of m.peerUrls) w.bytes(utf8.encode(u));
  w.varint(m.clientUrls.length);
  for (const u of m.clientUrls) w.bytes(utf8.encode(u));
  return w.finish();
}

export function decodeMemberRecord(record: Uint8Array, engineKey: Uint8Array): { name: string; peerUrls: string[]; clientUrls: string[]; learner: boolean } {
  const r = recordReader(record, engineKey);
  try {
    const flags = r.byte();
    const name = fromUtf8.decode(r.bytes());
    const peerUrls = Array.from({ length: r.varint() }, () => fromUtf8.decode(r.bytes()));
    const clientUrls = Array.from({ length: r.varint() }, () => fromUtf8.decode(r.bytes()));
    if (!r.done() || flags > 1) throw new CorruptRecordError("malformed member record", engineKey);
    return { name, peerUrls, clientUrls, learner: flags === 1 };
  } catch (err) {
    if (err instanceof CorruptRecordError) throw err;
    throw new CorruptRecordError(`member record is not valid UTF-8: ${(err as Error).message}`, engineKey);
  }
}

export interface StoreState {
  appliedIndex: number;
  revision: number;
  compactRevision: number;
}

/** The state of a store that has never applied anything: revision 1, as in etcd. */
const EMPTY_STORE_STATE: StoreState = { appliedIndex: 0, revision: 1, compactRevision: 0 };

export function encodeStateRecord(state: StoreState): Uint8Array {
  return new ByteWriter(24).varint(state.appliedIndex).varint(state.revision).varint(state.compactRevision).finish();
}

export function decodeStateRecord(record: Uint8Array | undefined): StoreState {
  if (record === undefined) return EMPTY_STORE_STATE;
  const r = recordReader(record, STATE_KEY);
  const state = { appliedIndex: r.varint(), revision: r.varint(), compactRevision: r.varint() };
  if (!r.done()) throw new CorruptRecordError("state record with trailing bytes", STATE_KEY);
  return state;
}

export function encodeCompactedRecord(revision: number): Uint8Array {
  return new ByteWriter(10).varint(revision).finish();
}

export function decodeCompactedRecord(record: Uint8Array | undefined): number {
  if (record === undefined) return 0;
  const r = recordReader(record, COMPACTED_KEY);
  const revision = r.varint();
  if (!r.done()) throw new CorruptRecordError("compaction record with trailing bytes", COMPACTED_KEY);
  return revision;
}

function recordReader(record: Uint8Array, engineKey: Uint8Array): ByteReader {
  return new ByteReader(record, (message) => {
    throw new CorruptRecordError(message, engineKey);
  });
}
