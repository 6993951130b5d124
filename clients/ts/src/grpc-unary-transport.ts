/**
 * Unary gRPC calls written directly on node:http2, for the Node entry (gRPC over HTTP/2): a
 * Connect Transport whose `unary` sends each call as one HTTP/2 stream on the endpoint's
 * Http2SessionManager and whose `stream` is connect-node's. Node-only.
 *
 * Why: connect-node's client spends 250-450 µs of CPU per unary call on this machine (bench:api,
 * "SDK unary gRPC"), five times the server's cost, so the Node client, not the server, limited
 * unary throughput. This path encodes the request, writes one envelope and ends the stream,
 * splits the response into envelopes as it arrives, and reads the status exactly as
 * grpc-pipeline-stream.ts does (connect's findTrailerError, so statuses and metadata such as
 * sisyphus-not-applied are the same). Deadlines are sent as grpc-timeout and also enforced here;
 * an aborted signal resets the stream (CANCEL). Connection failures become UNAVAILABLE caused by
 * the Node.js error, so the retry policy still recognizes ECONNREFUSED and the like.
 */
import * as http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { codeFromHttpStatus, findTrailerError } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { ENVELOPE_HEADER_BYTES, EnvelopeReader, encodeEnvelopes } from "./grpc-envelope.js";
import { GRPC_CONTENT_TYPE, unavailable, USER_AGENT, webHeaders } from "./grpc-pipeline-stream.js";

/** `streams` for streaming calls, lean unary calls on `sessionManager` (whose origin must be baseUrl's). */
export function leanGrpcUnaryTransport(streams: Transport, sessionManager: Http2SessionManager, baseUrl: string): Transport {
  const url = new URL(baseUrl);
  if (url.origin !== sessionManager.authority) throw new RangeError(`${baseUrl} is not on the session manager's origin ${sessionManager.authority}`);
  const prefix = url.pathname.replace(/\/+$/, "");
  return {
    stream: (...args) => streams.stream(...args),
    unary: <I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
    ): Promise<UnaryResponse<I, O>> => unaryCall(sessionManager, `${prefix}/${method.parent.typeName}/${method.name}`, method, signal, timeoutMs, header, input),
  };
}

function unaryCall<I extends DescMessage, O extends DescMessage>(
  sessionManager: Http2SessionManager,
  path: string,
  method: DescMethodUnary<I, O>,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  header: HeadersInit | undefined,
  input: MessageInitShape<I>,
): Promise<UnaryResponse<I, O>> {
  const headers: http2.OutgoingHttpHeaders = { "content-type": "application/grpc", te: "trailers", "user-agent": USER_AGENT };
  new Headers(header).forEach((value, key) => {
    headers[key] = value;
  });
  if (timeoutMs !== undefined && timeoutMs > 0) headers["grpc-timeout"] = `${Math.ceil(timeoutMs)}m`;
  const body = toBinary(method.input, create(method.input, input));
  return new Promise((resolve, reject) => {
    let stream: http2.ClientHttp2Stream | undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    let message: MessageShape<O> | undefined;
    let messages = 0;
    const reader = new EnvelopeReader();
    const onAbort = (): void => fail(ConnectError.from(signal?.reason ?? new ConnectError("the call was canceled", Code.Canceled)), true);
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (error: ConnectError, reset: boolean): void => {
      if (settled) return;
      done();
      if (reset && stream !== undefined && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(error);
    };
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => fail(new ConnectError(`the deadline of ${timeoutMs} ms passed`, Code.DeadlineExceeded), true), timeoutMs);
    }
    sessionManager.request("POST", path, headers, {}).then(
      (opened) => {
        stream = opened;
        if (settled) {
          opened.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        opened.on("response", (h) => {
          responseHeaders = h;
          const status = h[":status"] ?? 0;
          if (status !== 200) fail(new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status), webHeaders(h)), true);
          else if (h["grpc-status"] === undefined && !GRPC_CONTENT_TYPE.test(h["content-type"] ?? "")) {
            fail(new ConnectError(`unsupported content type ${h["content-type"] ?? ""}`, Code.Unknown, webHeaders(h)), true);
          }
        });
        opened.on("trailers", (t) => {
          trailers = t;
        });
        opened.on("data", (chunk: Buffer) => {
          if (settled) return;
          sessionManager.notifyResponseByteRead(opened);
          try {
            reader.push(chunk, (bytes) => {
              messages++;
              message = fromBinary(method.output, bytes);
            });
          } catch (err) {
            fail(new ConnectError(`protocol error: ${err instanceof Error ? err.message : String(err)}`, Code.Internal, undefined, undefined, err), true);
          }
        });
        opened.on("end", () => {
          if (settled) return;
          const statusIn = trailers?.["grpc-status"] !== undefined ? trailers : responseHeaders["grpc-status"] !== undefined ? responseHeaders : undefined;
          if (statusIn === undefined) return; // a reset or a broken connection: 'close' reports it
          const error = findTrailerError(webHeaders(statusIn));
          if (error !== undefined) {
            if (statusIn === trailers) webHeaders(responseHeaders).forEach((value, key) => error.metadata.append(key, value));
            fail(error, false);
          } else if (messages !== 1 || message === undefined || reader.pendingBytes > 0) {
            fail(new ConnectError(`protocol error: a unary response carried ${messages} messages`, Code.Unimplemented), false);
          } else {
            done();
            resolve({
              stream: false,
              service: method.parent,
              method,
              header: webHeaders(responseHeaders),
              message,
              trailer: webHeaders(trailers ?? {}),
            });
          }
        });
        opened.on("error", (err) => fail(unavailable(`the call to ${path} failed`, err), false));
        opened.on("close", () => {
          const code = opened.rstCode ?? http2.constants.NGHTTP2_NO_ERROR;
          if (code !== http2.constants.NGHTTP2_NO_ERROR) fail(new ConnectError(`the call to ${path} was reset (HTTP/2 error code ${code})`, Code.Unavailable), false);
          else fail(new ConnectError(`protocol error: the call to ${path} ended without a status`, Code.Internal), false);
        });
        opened.end(encodeEnvelopes([body], ENVELOPE_HEADER_BYTES + body.length));
      },
      (err: unknown) => fail(unavailable(`the call to ${path} could not be sent`, err), false),
    );
  });
}
