/**
 * The (key, range_end) convention of the API (kv.proto, "Key ranges"), turned into a half-open
 * interval of user keys:
 *   range_end empty      -> the single key: [key, key + "\0")
 *   range_end = "\0"     -> every key >= key: [key, unbounded)
 *   otherwise            -> [key, range_end), range_end must be greater than key
 * Keys are 1 to MAX_KEY_BYTES bytes.
 */
import { InvalidArgumentError, KeyTooLargeError } from "./errors.js";

/** The longest key the API accepts (kv.proto). */
export const MAX_KEY_BYTES = 4096;

export interface KeyInterval {
  start: Uint8Array;
  /** Exclusive; undefined = no upper bound. */
  end: Uint8Array | undefined;
  /** The interval holds exactly `start`. */
  single: boolean;
}

/** Checks a key: present, 1 to MAX_KEY_BYTES bytes. */
export function checkKey(key: Uint8Array, field: string): void {
  if (!(key instanceof Uint8Array)) throw new InvalidArgumentError("must be bytes", field);
  if (key.length === 0) throw new InvalidArgumentError("key must not be empty", field);
  if (key.length > MAX_KEY_BYTES) throw new KeyTooLargeError(field, key.length, MAX_KEY_BYTES);
}

/** Validates (key, rangeEnd) and returns the interval; `field` prefixes the names in errors. */
export function keyInterval(key: Uint8Array, rangeEnd: Uint8Array | undefined, field: string): KeyInterval {
  checkKey(key, `${field}key`);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { start: key, end: successor(key), single: true };
  if (!(rangeEnd instanceof Uint8Array)) throw new InvalidArgumentError("must be bytes", `${field}range_end`);
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: key, end: undefined, single: false };
  if (rangeEnd.length > MAX_KEY_BYTES) throw new KeyTooLargeError(`${field}range_end`, rangeEnd.length, MAX_KEY_BYTES);
  if (compareBytes(rangeEnd, key) <= 0) throw new InvalidArgumentError("range_end must be greater than key", `${field}range_end`);
  return { start: key, end: rangeEnd, single: false };
}

export function inInterval(interval: KeyInterval, key: Uint8Array): boolean {
  if (compareBytes(key, interval.start) < 0) return false;
  return interval.end === undefined || compareBytes(key, interval.end) < 0;
}

/** Bytewise (unsigned) comparison. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** The smallest key greater than `key`: key + "\0". */
function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}
