/**
 * Calls that bypass every client library, to send bytes no generated client would: a gRPC call
 * over node:http2 with the 5-byte length prefix framed here, and a Connect unary call over
 * HTTP/1.1 with fetch. Each returns the status the server answered with; a connection that is
 * dropped or reset instead of answered, or a gRPC status outside the trailers, is an error
 * (RawCallDropped), never a status.
 */
import http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import { withDeadline } from "./streams.js";

/** What the server answered: code undefined means OK. */
export interface RawOutcome {
  code: Code | undefined;
  message: string;
  /** The response message bytes (gRPC) or body (Connect), for successful calls. */
  body: Buffer;
}

/** The server did not answer with a status: the stream or connection was reset or closed. */
export class RawCallDropped extends Error {
  override name = "RawCallDropped";
}

/** The 5-byte gRPC message prefix (flags 0: not compressed, then the big-endian length) and the message. */
export function grpcFrame(message: Uint8Array, declaredLength = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([prefix, message]);
}

/** An HTTP/2 connection for raw gRPC calls; close it when done. */
export function connectHttp2(baseUrl: string): http2.ClientHttp2Session {
  const session = http2.connect(baseUrl);
  // Errors surface on each call's stream; an unhandled session 'error' would crash the test process.
  session.on("error", () => {});
  return session;
}

/** Sends `body` (already framed) as a gRPC call to `path` ("/pkg.Service/Method"). */
export function grpcCall(session: http2.ClientHttp2Session, path: string, body: Uint8Array, timeoutMs: number): Promise<RawOutcome> {
  const call = new Promise<RawOutcome>((resolve, reject) => {
    if (session.closed || session.destroyed) {
      reject(new RawCallDropped(`the HTTP/2 session is closed before calling ${path}`));
      return;
    }
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc+proto", te: "trailers" });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let trailersOnly = false;
    const chunks: Buffer[] = [];
    stream.on("response", (h, flags) => {
      headers = h;
      trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", (err) => reject(new RawCallDropped(`${path}: stream error ${err.message}`)));
    stream.on("close", () => {
      // The status counts only where gRPC puts it: in trailers, or in a trailers-only response
      // (one HEADERS frame that ends the stream). Strict clients (grpc-js) ignore it elsewhere.
      const final = trailersOnly ? headers : trailers;
      const status = final["grpc-status"];
      if (status === undefined) {
        const misplaced = headers["grpc-status"] === undefined ? "" : ` (grpc-status ${headers["grpc-status"]} came in headers that did not end the stream)`;
        reject(new RawCallDropped(`${path}: stream closed (rst code ${stream.rstCode}, HTTP ${headers[":status"]}) without grpc-status${misplaced}`));
        return;
      }
      const message = decodeURIComponent(String(final["grpc-message"] ?? ""));
      const code = Number(status);
      const data = Buffer.concat(chunks);
      resolve({ code: code === 0 ? undefined : (code as Code), message, body: data.length >= 5 ? data.subarray(5) : data });
    });
    stream.end(body);
  });
  return withDeadline(call, timeoutMs, `gRPC ${path}`);
}

export type ConnectContentType = "application/proto" | "application/json";

/** Sends `body` as a Connect unary call over HTTP/1.1 (fetch). */
export async function connectCall(baseUrl: string, path: string, contentType: ConnectContentType, body: Uint8Array | string, timeoutMs: number): Promise<RawOutcome> {
  let response: Response;
  let data: Buffer;
  try {
    response = await fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": contentType, "connect-protocol-version": "1" },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    data = Buffer.from(await response.arrayBuffer());
  } catch (err) {
    throw new RawCallDropped(`Connect ${path}: no answer: ${(err as Error).message}`);
  }
  if (response.status === 200) return { code: undefined, message: "", body: data };
  let parsed: { code?: string; message?: string };
  try {
    parsed = JSON.parse(data.toString("utf8")) as { code?: string; message?: string };
  } catch {
    throw new Error(`Connect ${path}: HTTP ${response.status} with a body that is not a Connect error: ${data.toString("utf8").slice(0, 200)}`);
  }
  const code = codeFromString(parsed.code ?? "");
  if (code === undefined) throw new Error(`Connect ${path}: HTTP ${response.status} with unknown code ${JSON.stringify(parsed.code)}`);
  return { code, message: parsed.message ?? "", body: data };
}
