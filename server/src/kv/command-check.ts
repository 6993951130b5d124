/**
 * Checks on commands that do not depend on the store's state.
 *
 * checkCommand is structural (keys, ranges, enum values, signs, a key written twice in one
 * branch) and depends on nothing but the command, so apply runs it and every member reaches the
 * same verdict. checkCommandLimits is admission control with the member's configured limits
 * (operations per transaction branch, request bytes): the API layer runs it before proposing.
 * Apply does not, because members may be configured differently and must still agree.
 */
import {
  DuplicateKeyError,
  InvalidArgumentError,
  LeaseTtlTooLargeError,
  RequestTooLargeError,
  TooManyOperationsError,
} from "./errors.js";
import { type KeyInterval, checkKey, inInterval, keyInterval } from "./key-range.js";
import { keyIdOf } from "./pending-writes.js";
import { checkRangeRequest } from "./range-query.js";
import {
  type Command,
  type Compare,
  CompareOperator,
  type DeleteRangeRequest,
  type PutRequest,
  type RequestOp,
  type TxnRequest,
} from "./types.js";

/** The longest lease TTL (lease.proto). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

export interface CommandLimits {
  /** Operations in one transaction branch, counting nested transactions' operations; also compares per transaction. */
  maxTxnOps: number;
  /** Bytes of one encoded command. */
  maxRequestBytes: number;
}

export const DEFAULT_COMMAND_LIMITS: CommandLimits = { maxTxnOps: 128, maxRequestBytes: 1.5 * 1024 * 1024 };

/** Throws the typed error for the first structural problem of `command`. */
export function checkCommand(command: Command): void {
  switch (command.type) {
    case "put":
      checkPut(command.request, "");
      return;
    case "deleteRange":
      checkDelete(command.request, "");
      return;
    case "txn":
      checkTxn(command.request, "");
      return;
    case "compact":
      if (!Number.isSafeInteger(command.revision) || command.revision <= 0) {
        throw new InvalidArgumentError(`must be positive, got ${command.revision}`, "revision");
      }
      return;
    case "leaseGrant":
      if (!Number.isSafeInteger(command.ttlSeconds) || command.ttlSeconds <= 0) {
        throw new InvalidArgumentError(`must be positive, got ${command.ttlSeconds}`, "ttl");
      }
      if (command.ttlSeconds > MAX_LEASE_TTL_SECONDS) throw new LeaseTtlTooLargeError(command.ttlSeconds, MAX_LEASE_TTL_SECONDS);
      if (command.id < 0n) throw new InvalidArgumentError(`must not be negative, got ${command.id}`, "id");
      return;
    case "leaseRevoke":
    case "leaseExpire":
    case "memberRemove":
      return;
    case "leaseKeepAlive":
      if (command.id <= 0n) throw new InvalidArgumentError(`must be positive, got ${command.id}`, "id");
      return;
    case "memberAdd":
      checkMemberName(command.name, "name");
      checkUrls(command.peerUrls, "peer_urls");
      return;
    case "memberAttributes":
      checkMemberName(command.name, "name");
      checkUrls(command.clientUrls, "client_urls");
      return;
  }
}

/** Bounds on what a member record holds, so one proposal cannot bloat every member's store. */
const MAX_MEMBER_NAME_BYTES = 256;
const MAX_MEMBER_URLS = 16;
const MAX_URL_BYTES = 512;

function checkMemberName(name: string, field: string): void {
  if (Buffer.byteLength(name) > MAX_MEMBER_NAME_BYTES) throw new InvalidArgumentError(`must be at most ${MAX_MEMBER_NAME_BYTES} bytes`, field);
}

function checkUrls(urls: readonly string[], field: string): void {
  if (urls.length > MAX_MEMBER_URLS) throw new InvalidArgumentError(`at most ${MAX_MEMBER_URLS} URLs, got ${urls.length}`, field);
  urls.forEach((u, i) => {
    if (Buffer.byteLength(u) > MAX_URL_BYTES) throw new InvalidArgumentError(`must be at most ${MAX_URL_BYTES} bytes`, `${field}[${i}]`);
    if (!/^https?:\/\/[^/\s]+$/.test(u)) throw new InvalidArgumentError(`must be http(s)://host:port, got "${u}"`, `${field}[${i}]`);
  });
}

/** Throws RequestTooLargeError or TooManyOperationsError when `command` exceeds `limits`. */
export function checkCommandLimits(command: Command, encoded: Uint8Array, limits: CommandLimits = DEFAULT_COMMAND_LIMITS): void {
  if (encoded.length > limits.maxRequestBytes) throw new RequestTooLargeError(encoded.length, limits.maxRequestBytes);
  if (command.type === "txn") checkTxnSize(command.request, "", limits.maxTxnOps);
}

function checkTxnSize(txn: TxnRequest, field: string, max: number): void {
  if (txn.compare.length > max) throw new TooManyOperationsError(`${field}compare`, txn.compare.length, max);
  for (const branch of ["success", "failure"] as const) {
    const n = countOps(txn[branch]);
    if (n > max) throw new TooManyOperationsError(`${field}${branch}`, n, max);
  }
}

/** Operations of a branch, each nested transaction counting for itself plus both its branches. */
function countOps(ops: RequestOp[]): number {
  let n = 0;
  for (const op of ops) {
    n++;
    if (op.case === "txn") n += countOps(op.value.success) + countOps(op.value.failure);
  }
  return n;
}

function checkPut(p: PutRequest, field: string): void {
  checkKey(p.key, `${field}key`);
  if (!(p.value instanceof Uint8Array)) throw new InvalidArgumentError("must be bytes", `${field}value`);
  const lease = p.lease ?? 0n;
  if (lease < 0n) throw new InvalidArgumentError(`must not be negative, got ${lease}`, `${field}lease`);
  if (p.ignoreValue === true && p.value.length > 0) {
    throw new InvalidArgumentError("value must be empty when ignore_value is set", `${field}value`);
  }
  if (p.ignoreLease === true && lease !== 0n) {
    throw new InvalidArgumentError("lease must be 0 when ignore_lease is set", `${field}lease`);
  }
}

function checkDelete(d: DeleteRangeRequest, field: string): KeyInterval {
  return keyInterval(d.key, d.rangeEnd, field);
}

function checkCompare(c: Compare, field: string): void {
  keyInterval(c.key, c.rangeEnd, field);
  if (c.operator === CompareOperator.Unspecified || CompareOperator[c.operator] === undefined) {
    throw new InvalidArgumentError(`a compare needs an operator, got ${c.operator}`, `${field}operator`);
  }
  switch (c.target.case) {
    case undefined:
      throw new InvalidArgumentError("a compare needs a target", `${field}target`);
    case "value":
      if (!(c.target.value instanceof Uint8Array)) throw new InvalidArgumentError("must be bytes", `${field}value`);
      return;
    case "lease":
      if (typeof c.target.value !== "bigint") throw new InvalidArgumentError("must be a bigint", `${field}lease`);
      return;
    default:
      if (!Number.isSafeInteger(c.target.value)) {
        throw new InvalidArgumentError(`must be an integer, got ${c.target.value}`, `${field}${c.target.case}`);
      }
  }
}

function checkTxn(t: TxnRequest, field: string): void {
  t.compare.forEach((c, i) => checkCompare(c, `${field}compare[${i}].`));
  checkBranch(t.success, `${field}success`);
  checkBranch(t.failure, `${field}failure`);
}

/** The keys a branch may write: puts exactly, deletes by interval. */
interface WriteSet {
  puts: Map<string, Uint8Array>;
  deletes: KeyInterval[];
}

/**
 * Checks each operation of a branch, and that no two operations of it write the same key: a key
 * put twice, or put and inside a deleted range. Overlapping deletes are allowed (the second
 * deletes nothing the first did). The two branches of a nested transaction exclude each other,
 * so they may write the same keys; each is checked on its own.
 */
function checkBranch(ops: RequestOp[], field: string): WriteSet {
  const written: WriteSet = { puts: new Map(), deletes: [] };
  ops.forEach((op, i) => {
    const opField = `${field}[${i}].`;
    let writes: WriteSet;
    switch (op.case) {
      case "range":
        checkRangeRequest(op.value, `${opField}range.`);
        return;
      case "put":
        checkPut(op.value, `${opField}put.`);
        writes = { puts: new Map([[keyIdOf(op.value.key), op.value.key]]), deletes: [] };
        break;
      case "deleteRange":
        writes = { puts: new Map(), deletes: [checkDelete(op.value, `${opField}delete_range.`)] };
        break;
      case "txn": {
        op.value.compare.forEach((c, j) => checkCompare(c, `${opField}txn.compare[${j}].`));
        const then = checkBranch(op.value.success, `${opField}txn.success`);
        const otherwise = checkBranch(op.value.failure, `${opField}txn.failure`);
        writes = { puts: new Map([...then.puts, ...otherwise.puts]), deletes: [...then.deletes, ...otherwise.deletes] };
        break;
      }
      default:
        throw new InvalidArgumentError("an operation must be set", `${opField.slice(0, -1)}`);
    }
    for (const [id, key] of writes.puts) {
      if (written.puts.has(id) || written.deletes.some((d) => inInterval(d, key))) {
        throw new DuplicateKeyError("the branch writes this key more than once", `${opField.slice(0, -1)}`);
      }
    }
    for (const d of writes.deletes) {
      for (const key of written.puts.values()) {
        if (inInterval(d, key)) throw new DuplicateKeyError("the branch writes a key in this range more than once", `${opField.slice(0, -1)}`);
      }
    }
    for (const [id, key] of writes.puts) written.puts.set(id, key);
    written.deletes.push(...writes.deletes);
  });
  return written;
}
