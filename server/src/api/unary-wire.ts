/**
 * The three unary wire formats the fast path speaks, each as a small codec: which requests it
 * takes, how the request body becomes a message, and how an answer or an error is written.
 *
 *   gRPC      HTTP/2 POST application/grpc[+proto]; body = one envelope (flag 0, u32 BE length,
 *             bytes); answer HEADERS(200) DATA(envelope) TRAILERS(grpc-status 0); error
 *             HEADERS(200) TRAILERS(grpc-status, grpc-message percent-encoded, metadata).
 *             (A "trailers-only" error would need HEADERS with END_STREAM, which node's
 *             compat writeHead()+end() does not send; grpc-js rejects the empty DATA frame it
 *             sends instead with "Call ended without gRPC status".)
 *   gRPC-Web  POST application/grpc-web[+proto], HTTP/1.1 or 2; body = one envelope; answer
 *             200, body = message envelope + trailer envelope (flag 0x80, "grpc-status: 0\r\n");
 *             error = 200 with only the trailer envelope (status, message, metadata).
 *   Connect   POST application/proto or application/json, HTTP/1.1 or 2; body = the message;
 *             answer 200 with the message in the same codec; error = the code's HTTP status
 *             and {"code": "...", "message": "..."}; metadata as headers.
 * None of them takes compressed bodies: those go to connect-node.
 */
import { fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelopes } from "../wire/index.js";
import { codeName } from "./status.js";

export interface IncomingHeaders {
  [name: string]: string | string[] | undefined;
}

/** The parts of a node http/http2 compat response the codecs write. */
export interface AnswerWriter {
  writeHead(status: number, headers: Record<string, string>): unknown;
  addTrailers(trailers: Record<string, string>): void;
  end(body?: Uint8Array | string): unknown;
}

export interface HandlerMetadata {
  headers: Headers | undefined;
  trailers: Headers | undefined;
}

function record(headers: Headers | undefined, into: Record<string, string>, prefix = ""): Record<string, string> {
  headers?.forEach((value, key) => {
    into[prefix + key] = value;
  });
  return into;
}

export interface UnaryWireCodec {
  readonly protocol: "grpc" | "grpc-web" | "connect";
  /** Bytes before the message in a request body (the envelope header), counted against no limit. */
  readonly framingBytes: number;
  /** The request deadline in ms from its headers, or undefined. */
  timeoutMs(headers: IncomingHeaders): number | undefined;
  decode(schema: DescMessage, body: Buffer): Message;
  /** Writes the answer, with the response headers and trailers the handler set, if any. */
  answer(res: AnswerWriter, schema: DescMessage, message: Message, extra: HandlerMetadata): void;
  fail(res: AnswerWriter, error: ConnectError): void;
}

const ENVELOPE_HEADER_BYTES = 5;
const TRAILER_FLAG = 0x80;
const GRPC_TIMEOUT_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The codec for a request, or undefined when the fast path should leave it to connect-node. */
export function codecFor(httpVersionMajor: number, headers: IncomingHeaders): UnaryWireCodec | undefined {
  const contentType = headers["content-type"];
  switch (contentType) {
    case "application/grpc":
    case "application/grpc+proto":
      if (httpVersionMajor !== 2 || !identity(headers["grpc-encoding"])) return undefined;
      return grpcCodec(contentType);
    case "application/grpc-web":
    case "application/grpc-web+proto":
      if (!identity(headers["grpc-encoding"])) return undefined;
      return grpcWebCodec(contentType);
    case "application/proto":
    case "application/json":
    case "application/json; charset=utf-8": {
      if (!identity(headers["content-encoding"])) return undefined;
      const version = headers["connect-protocol-version"];
      if (version !== undefined && version !== "1") return undefined;
      return contentType === "application/proto" ? CONNECT_PROTO : CONNECT_JSON;
    }
    default:
      return undefined;
  }
}

function identity(encoding: string | string[] | undefined): boolean {
  return encoding === undefined || encoding === "identity";
}

function decodeBinary(schema: DescMessage, bytes: Uint8Array): Message {
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    throw new ConnectError(`cannot decode message ${schema.typeName}: ${(err as Error).message}`, Code.InvalidArgument);
  }
}

function unwrapEnvelope(body: Buffer): Uint8Array {
  if (body.length < ENVELOPE_HEADER_BYTES) throw new ConnectError("the request holds no message", Code.InvalidArgument);
  if (body[0] !== 0) throw new ConnectError(`message flags ${body[0]} are not supported without grpc-encoding`, Code.InvalidArgument);
  const length = body.readUInt32BE(1);
  if (ENVELOPE_HEADER_BYTES + length !== body.length) {
    throw new ConnectError(`the envelope says ${length} bytes but the request carries ${body.length - ENVELOPE_HEADER_BYTES}`, Code.InvalidArgument);
  }
  return body.subarray(ENVELOPE_HEADER_BYTES);
}

function grpcTimeoutMs(headers: IncomingHeaders): number | undefined {
  const value = headers["grpc-timeout"];
  if (value === undefined) return undefined;
  const match = typeof value === "string" ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  if (match === null) throw new ConnectError(`malformed grpc-timeout header: ${String(value)}`, Code.InvalidArgument);
  return Number(match[1]) * GRPC_TIMEOUT_UNITS_MS[match[2]];
}

function errorTrailers(error: ConnectError): Record<string, string> {
  const trailers = record(error.metadata, {});
  trailers["grpc-status"] = String(error.code);
  trailers["grpc-message"] = encodeURIComponent(error.rawMessage);
  return trailers;
}

function grpcCodec(contentType: string): UnaryWireCodec {
  return {
    protocol: "grpc",
    framingBytes: ENVELOPE_HEADER_BYTES,
    timeoutMs: grpcTimeoutMs,
    decode: (schema, body) => decodeBinary(schema, unwrapEnvelope(body)),
    answer(res, schema, message, extra) {
      res.writeHead(200, record(extra.headers, { "content-type": contentType }));
      res.addTrailers(record(extra.trailers, { "grpc-status": "0" }));
      res.end(encodeEnvelopes([toBinary(schema, message)]));
    },
    fail(res, error) {
      res.writeHead(200, { "content-type": contentType });
      res.addTrailers(errorTrailers(error));
      res.end();
    },
  };
}

function grpcWebTrailer(trailers: Record<string, string>): Buffer {
  const text = Object.entries(trailers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return encodeEnvelopes([Buffer.from(text, "latin1")], TRAILER_FLAG);
}

function grpcWebCodec(contentType: string): UnaryWireCodec {
  return {
    protocol: "grpc-web",
    framingBytes: ENVELOPE_HEADER_BYTES,
    timeoutMs: grpcTimeoutMs,
    decode: (schema, body) => decodeBinary(schema, unwrapEnvelope(body)),
    answer(res, schema, message, extra) {
      res.writeHead(200, record(extra.headers, { "content-type": contentType }));
      res.end(Buffer.concat([encodeEnvelopes([toBinary(schema, message)]), grpcWebTrailer(record(extra.trailers, { "grpc-status": "0" }))]));
    },
    fail(res, error) {
      res.writeHead(200, { "content-type": contentType });
      res.end(grpcWebTrailer(errorTrailers(error)));
    },
  };
}

/** The HTTP status of each code in the Connect protocol. */
const CONNECT_HTTP_STATUS: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

function connectTimeoutMs(headers: IncomingHeaders): number | undefined {
  const value = headers["connect-timeout-ms"];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^\d{1,10}$/.test(value)) throw new ConnectError(`malformed connect-timeout-ms header: ${String(value)}`, Code.InvalidArgument);
  return Number(value);
}

/** Connect unary sends trailers as headers prefixed "trailer-". */
function connectAnswerHeaders(contentType: string, extra: HandlerMetadata): Record<string, string> {
  return record(extra.trailers, record(extra.headers, { "content-type": contentType }), "trailer-");
}

function connectFail(res: AnswerWriter, error: ConnectError): void {
  const headers = record(error.metadata, {});
  headers["content-type"] = "application/json";
  res.writeHead(CONNECT_HTTP_STATUS[error.code] ?? 500, headers);
  res.end(JSON.stringify({ code: codeName(error.code), message: error.rawMessage }));
}

const CONNECT_PROTO: UnaryWireCodec = {
  protocol: "connect",
  framingBytes: 0,
  timeoutMs: connectTimeoutMs,
  decode: decodeBinary,
  answer(res, schema, message, extra) {
    res.writeHead(200, connectAnswerHeaders("application/proto", extra));
    res.end(toBinary(schema, message));
  },
  fail: connectFail,
};

const CONNECT_JSON: UnaryWireCodec = {
  protocol: "connect",
  framingBytes: 0,
  timeoutMs: connectTimeoutMs,
  decode(schema, body) {
    try {
      return fromJsonString(schema, body.toString("utf8"), { ignoreUnknownFields: true });
    } catch (err) {
      // protobuf-es already says "cannot decode message X from JSON: ...".
      throw new ConnectError((err as Error).message, Code.InvalidArgument);
    }
  },
  answer(res, schema, message, extra) {
    res.writeHead(200, connectAnswerHeaders("application/json", extra));
    res.end(toJsonString(schema, message));
  },
  fail: connectFail,
};
