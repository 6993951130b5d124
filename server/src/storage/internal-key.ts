/**
 * Internal keys: every version of a user key the engine stores is identified by
 * (user key, sequence number, kind). Sequence numbers grow with every write, so a snapshot is
 * just a sequence number: it sees, for each user key, the newest entry with seq <= snapshot.
 *
 * Order: user key ascending (bytewise), then sequence descending, then kind descending. A seek
 * for (key, snapshotSeq) therefore lands on the newest version visible to that snapshot.
 *
 * Encoded form (SSTable block keys): user key bytes followed by an 8-byte trailer,
 * seq as a 56-bit big-endian integer in bytes 0..6 and the kind in byte 7.
 */

export const enum ValueKind {
  Delete = 0,
  Put = 1,
}

/** Largest sequence number: 2^53 - 1 (exact in a JS number; 56 bits are reserved on disk). */
export const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

export const TRAILER_BYTES = 8;

/** Limits on what callers may write (checked at the API). */
export const MAX_KEY_BYTES = 64 * 1024;
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;

/** Writes the trailer for (seq, kind) at `offset`. */
export function putTrailer(buf: Uint8Array, offset: number, seq: number, kind: ValueKind): void {
  const hi = Math.floor(seq / 0x1000000); // top 29 bits of a 53-bit number, stored in 4 bytes
  const lo = seq % 0x1000000; // low 24 bits
  buf[offset] = (hi >>> 24) & 0xff;
  buf[offset + 1] = (hi >>> 16) & 0xff;
  buf[offset + 2] = (hi >>> 8) & 0xff;
  buf[offset + 3] = hi & 0xff;
  buf[offset + 4] = (lo >>> 16) & 0xff;
  buf[offset + 5] = (lo >>> 8) & 0xff;
  buf[offset + 6] = lo & 0xff;
  buf[offset + 7] = kind;
}

/** Reads the sequence number from a trailer at `offset`. */
export function trailerSeq(buf: Uint8Array, offset: number): number {
  const hi = ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
  const lo = (buf[offset + 4]! << 16) | (buf[offset + 5]! << 8) | buf[offset + 6]!;
  return hi * 0x1000000 + lo;
}

export function trailerKind(buf: Uint8Array, offset: number): ValueKind {
  return buf[offset + 7]! as ValueKind;
}

/** Encodes (userKey, seq, kind) as one buffer: userKey ++ trailer. */
export function encodeInternalKey(userKey: Uint8Array, seq: number, kind: ValueKind): Buffer {
  const out = Buffer.allocUnsafe(userKey.length + TRAILER_BYTES);
  out.set(userKey, 0);
  putTrailer(out, userKey.length, seq, kind);
  return out;
}

/** Runs shorter than this are compared in JavaScript; longer ones by native Buffer#compare. */
const NATIVE_COMPARE_MIN_BYTES = 48;
const nativeCompare = Buffer.prototype.compare;

/**
 * Compares a[aStart, aStart + aLength) with b[bStart, bStart + bLength) bytewise; only the sign
 * of the result means anything. Typical keys are tens of bytes, for which a JS loop beats the
 * call into native code; views are never made, so comparing against part of a buffer (a file
 * bound, a key inside a block) allocates nothing. Every bytewise key comparison of the engine
 * goes through here.
 */
export function compareBytes(
  a: Uint8Array,
  aStart: number,
  aLength: number,
  b: Uint8Array,
  bStart: number,
  bLength: number,
): number {
  const n = aLength < bLength ? aLength : bLength;
  if (n >= NATIVE_COMPARE_MIN_BYTES) {
    const c = nativeCompare.call(a, b, bStart, bStart + n, aStart, aStart + n);
    return c !== 0 ? c : aLength - bLength;
  }
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/** Compares two user keys bytewise. */
export function compareUserKeys(a: Uint8Array, b: Uint8Array): number {
  return compareBytes(a, 0, a.length, b, 0, b.length);
}

/** Compares two encoded internal keys (user key ++ trailer). */
export function compareInternalKeys(a: Uint8Array, b: Uint8Array): number {
  const c = compareBytes(a, 0, a.length - TRAILER_BYTES, b, 0, b.length - TRAILER_BYTES);
  if (c !== 0) return c;
  return compareTrailersDesc(a, a.length - TRAILER_BYTES, b, b.length - TRAILER_BYTES);
}

/** Orders trailers newest first: a larger (seq, kind) sorts earlier. */
export function compareTrailersDesc(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): number {
  for (let i = 0; i < TRAILER_BYTES; i++) {
    const d = b[bOff + i]! - a[aOff + i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Compares (userKey, seq, kind) given as parts with an entry given as parts; the form used by
 * iterators, which keep user key and trailer separately to avoid concatenating buffers.
 */
export function compareParts(
  aKey: Uint8Array,
  aSeq: number,
  aKind: number,
  bKey: Uint8Array,
  bSeq: number,
  bKind: number,
): number {
  const c = compareUserKeys(aKey, bKey);
  if (c !== 0) return c;
  if (aSeq !== bSeq) return aSeq > bSeq ? -1 : 1;
  if (aKind !== bKind) return aKind > bKind ? -1 : 1;
  return 0;
}
