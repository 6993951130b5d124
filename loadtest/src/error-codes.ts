/**
 * Names failures the way gRPC and Connect do, so errors from both client libraries are counted
 * under the same keys: grpc-js ServiceErrors and Connect's ConnectErrors both carry the numeric
 * status code (the two share the numbering 1..16). A failure without a status code (a bug in a
 * driver, a refused connection before any HTTP exchange) is CLIENT_ERROR; a request the open
 * loop could not send because too many were outstanding is DROPPED.
 */
const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

export const DROPPED = "DROPPED";
export const CLIENT_ERROR = "CLIENT_ERROR";

export function errorCodeName(err: unknown): string {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code === "number" && Number.isInteger(code) && code > 0 && code < CODE_NAMES.length) return CODE_NAMES[code];
  return CLIENT_ERROR;
}
