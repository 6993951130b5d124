/**
 * Which failures a call may retry, and how long it waits before the next attempt.
 *
 * A read can always be retried. A write (put, delete, txn, compact, lease grant/revoke) that
 * failed may or may not have been applied, and applying it twice is not the same as once, so it
 * is retried only when it certainly was not applied:
 *   - the server said so: UNAVAILABLE with error metadata `sisyphus-not-applied: 1` (set on
 *     errors raised before the write was proposed); the SDK sets the same marker on calls it
 *     never sent (queued on a Pipeline stream that failed);
 *   - the connection was never established (connection refused, unknown host): the request
 *     never left this process.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { RetryOptions } from "./options.js";

/** Error metadata (a trailer in gRPC) saying that a failed write was not applied. */
export const NOT_APPLIED_METADATA_KEY = "sisyphus-not-applied";

/** Error metadata of UNAVAILABLE errors naming the leader's member ID (decimal), when the member knows it. */
export const LEADER_METADATA_KEY = "sisyphus-leader";

/** Whether repeating a call could change the outcome: reads are safe, writes are not. */
export type CallSafety = "read" | "write";

/** Node.js error codes of connections that were never established: nothing was sent. */
const NOT_CONNECTED_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** Bound on the cause chain walked (chains are short; this guards against cycles). */
const CAUSE_DEPTH_MAX = 16;

function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && chain.length < CAUSE_DEPTH_MAX && !chain.includes(current)) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

/** The Node.js system error code (a string such as "ECONNRESET") of an error, if it has one. */
function systemErrorCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || !("code" in err)) return undefined;
  return typeof err.code === "string" ? err.code : undefined;
}

/** True when the server (or the SDK, for calls it never sent) marked the error as "not applied". */
export function isMarkedNotApplied(err: ConnectError): boolean {
  return err.code === Code.Unavailable && err.metadata.get(NOT_APPLIED_METADATA_KEY) === "1";
}

/** The leader an UNAVAILABLE error names (sisyphus-leader), or undefined when it names none or something unreadable. */
export function leaderHint(err: ConnectError): bigint | undefined {
  if (err.code !== Code.Unavailable) return undefined;
  const value = err.metadata.get(LEADER_METADATA_KEY);
  if (value === null || !/^[0-9]{1,20}$/.test(value)) return undefined;
  const id = BigInt(value);
  return id === 0n ? undefined : id;
}

/** True when the call failed because no connection could be made, so nothing was sent. */
export function isConnectionNotEstablished(err: unknown): boolean {
  return causeChain(err).some((e) => NOT_CONNECTED_CODES.has(systemErrorCode(e) ?? ""));
}

/**
 * True for failures of the connection rather than answers of the server: a Node.js system or
 * HTTP/2 error somewhere in the cause chain, or the TypeError with which fetch reports network
 * failures in browsers.
 */
export function isTransportFailure(err: unknown): boolean {
  return causeChain(err).some((e) => systemErrorCode(e) !== undefined || (e instanceof TypeError && /fetch|network/i.test(e.message)));
}

/** Whether a call of the given safety that failed with `err` may be attempted again. */
export function isRetryable(err: ConnectError, safety: CallSafety): boolean {
  if (isConnectionNotEstablished(err) || isMarkedNotApplied(err)) return true;
  if (safety === "write") return false;
  return err.code === Code.Unavailable || isTransportFailure(err);
}

/**
 * The wait before retry number `retry` (1 for the wait after the first attempt): the ceiling
 * doubles from initialBackoffMs up to maxBackoffMs, and the wait is uniform in [ceiling/2,
 * ceiling] so that clients failing together do not retry together.
 */
export function backoffMs(retry: number, policy: RetryOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(retry - 1, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** An UNAVAILABLE error carrying the not-applied marker: for calls the SDK itself never sent. */
export function notSentError(message: string, cause?: unknown): ConnectError {
  return new ConnectError(message, Code.Unavailable, { [NOT_APPLIED_METADATA_KEY]: "1" }, undefined, cause);
}
