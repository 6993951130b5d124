/**
 * 64-bit integers at the API boundary. The generated code carries int64/uint64 fields as bigint;
 * the SDK returns revisions, versions, counts and sizes as numbers (they stay far below 2^53 in
 * practice) and checks that each one fits, and keeps IDs (leases, members, clusters), which are
 * arbitrary 64-bit values, as bigint.
 */
import { InvalidArgumentError, UnsafeIntegerError } from "./errors.js";

/** `value` as a number; UnsafeIntegerError (naming `field`) when it is not exactly representable. */
export function toSafeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new UnsafeIntegerError(field, value);
  }
  return Number(value);
}

/** A caller's integer argument as the bigint the generated code wants; InvalidArgumentError for 1.5, NaN or 2^60 as a number. */
export function toInt64(value: number | bigint, field: string): bigint {
  if (typeof value === "bigint") return value;
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(`${field} must be a safe integer, got ${value}`);
  return BigInt(value);
}
