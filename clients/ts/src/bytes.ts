/**
 * Keys and values: callers pass strings (encoded as UTF-8) or bytes; key ranges follow the
 * conventions of kv.proto ("Key ranges"): an empty range_end names one key, "\0" means "to the
 * end of the key space", and a prefix P is the range [P, prefixEnd(P)).
 */
import { InvalidArgumentError } from "./errors.js";

/** A key or value as callers give it: a string (UTF-8 encoded on the wire) or raw bytes. */
export type Bytes = string | Uint8Array;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The single zero byte that, as range_end, means "every key >= key". */
export const END_OF_KEYSPACE: Uint8Array = Uint8Array.of(0);

/** `input` as bytes: strings UTF-8 encoded, byte arrays as they are (not copied). */
export function toBytes(input: Bytes): Uint8Array {
  return typeof input === "string" ? encoder.encode(input) : input;
}

/** `bytes` decoded as UTF-8; invalid sequences become U+FFFD. */
export function bytesToString(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * The end of the range of keys that start with `prefix`: drop the trailing 0xff bytes, then add
 * one to the last byte left ("ab" -> "ac", "a\xff" -> "b"). A prefix of only 0xff bytes (or an
 * empty one) has no such end: every key >= prefix matches, which is range_end "\0".
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i];
    if (byte < 0xff) {
      // A copy: Buffer#slice (and subarray) return views, and the caller's key must not change.
      const end = new Uint8Array(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return END_OF_KEYSPACE;
}

/** How a call names its keys beyond the first one; at most one of these may be set. */
export interface RangeSelector {
  /** The end of the range, exclusive (see kv.proto "Key ranges"). */
  rangeEnd?: Bytes;
  /** Every key that starts with the key. */
  prefix?: boolean;
  /** Every key >= the key. */
  fromKey?: boolean;
}

/** A resolved key range as the wire carries it. */
export interface KeyRange {
  key: Uint8Array;
  rangeEnd: Uint8Array;
}

/**
 * The (key, range_end) pair for a key and a selector. An empty key with `prefix` or `fromKey`
 * means every key: the server rejects empty keys, so it becomes ("\0", "\0"), as etcd's clients do.
 */
export function resolveRange(key: Bytes, selector: RangeSelector = {}): KeyRange {
  const chosen = [selector.rangeEnd !== undefined, selector.prefix === true, selector.fromKey === true].filter(Boolean).length;
  if (chosen > 1) throw new InvalidArgumentError("rangeEnd, prefix and fromKey are exclusive: set at most one");
  const keyBytes = toBytes(key);
  if (selector.prefix === true) {
    if (keyBytes.length === 0) return { key: END_OF_KEYSPACE, rangeEnd: END_OF_KEYSPACE };
    return { key: keyBytes, rangeEnd: prefixEnd(keyBytes) };
  }
  if (selector.fromKey === true) {
    return { key: keyBytes.length === 0 ? END_OF_KEYSPACE : keyBytes, rangeEnd: END_OF_KEYSPACE };
  }
  return { key: keyBytes, rangeEnd: selector.rangeEnd === undefined ? new Uint8Array(0) : toBytes(selector.rangeEnd) };
}
