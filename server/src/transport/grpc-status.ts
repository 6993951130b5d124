/**
 * gRPC call status on both sides of the peer protocol: what an error ends a call with, how the
 * status is written (grpc-status and a percent-encoded grpc-message, as the gRPC HTTP/2 spec
 * says), and how a client reads it back from trailers or from a trailers-only response.
 */
import type http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { TransportError } from "./errors.js";

export interface GrpcStatus {
  readonly code: Code;
  readonly message: string;
}

/** Code 0; Connect's enum has no member for it. */
export const GRPC_OK = 0 as Code;

export const OK_STATUS: GrpcStatus = { code: GRPC_OK, message: "" };

/** The status a call ends with when `err` is raised while serving it. */
export function statusOf(err: unknown): GrpcStatus {
  if (err instanceof TransportError) return { code: err.code, message: err.message };
  if (err instanceof ConnectError) return { code: err.code, message: err.rawMessage };
  return { code: Code.Internal, message: err instanceof Error ? err.message : String(err) };
}

export function statusTrailers(status: GrpcStatus): Record<string, string> {
  const trailers: Record<string, string> = { "grpc-status": String(status.code) };
  if (status.message !== "") trailers["grpc-message"] = percentEncode(status.message);
  return trailers;
}

/**
 * grpc-message's encoding (gRPC over HTTP/2, "Responses"): the UTF-8 bytes, each byte outside
 * printable ASCII (0x20-0x7E) and "%" itself as %XX. Clients decode exactly these escapes;
 * encodeURIComponent escapes more (",", " "), which grpc-js would show undecoded.
 */
export function percentEncode(text: string): string {
  let encoded = "";
  for (const byte of Buffer.from(text, "utf8")) {
    encoded += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}

/** The status in `trailers`, or else in `headers` (a trailers-only response); undefined if neither has one. */
export function readStatus(headers: http2.IncomingHttpHeaders, trailers: http2.IncomingHttpHeaders): GrpcStatus | undefined {
  const source = trailers["grpc-status"] !== undefined ? trailers : headers["grpc-status"] !== undefined ? headers : undefined;
  if (source === undefined) return undefined;
  const code = Number(source["grpc-status"]);
  const raw = source["grpc-message"];
  const message = typeof raw === "string" ? decodeMessage(raw) : "";
  if (!Number.isInteger(code) || code < 0 || code > 16) return { code: Code.Unknown, message: `invalid grpc-status ${String(source["grpc-status"])}: ${message}` };
  return { code: code as Code, message };
}

/** The code a non-200 HTTP status stands for (gRPC's http-grpc-status-mapping.md). */
export function codeForHttpStatus(httpStatus: number): Code {
  switch (httpStatus) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/** "FAILED_PRECONDITION: message", for logs and errors. */
export function describeStatus(status: GrpcStatus): string {
  const name = status.code === GRPC_OK ? "OK" : (Code[status.code] ?? String(status.code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return status.message === "" ? name : `${name}: ${status.message}`;
}

function decodeMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
