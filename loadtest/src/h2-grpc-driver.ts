/**
 * A lean unary gRPC client for load generation: node:http2 directly, requests encoded by hand
 * (kv-grpc-messages.ts), responses checked for shape but not decoded.
 *
 * Why: @grpc/grpc-js costs about 280 µs of client CPU per call on the 2-core bench machine, so
 * at 64 concurrent calls the generator, not the server, sets the figure (etcd 3.4: ~3,300
 * puts/s through grpc-js, ~11,800 through h2load with the same request bytes). This client does
 * per call one HTTP/2 stream, one request Buffer and one deadline timer.
 *
 * Per call (gRPC over HTTP/2, PROTOCOL-HTTP2.md), on the driver's one connection (h2c, prior
 * knowledge):
 *   request   HEADERS :method POST, :path /<service>/<Method>, content-type application/grpc,
 *                     te trailers, grpc-timeout <n>m when the driver has a deadline;
 *             DATA    one length-prefixed message, END_STREAM.
 *   response  HEADERS :status 200, then DATA (one length-prefixed message), then trailers
 *                     grpc-status and grpc-message (percent-encoded); or "trailers-only": one
 *                     HEADERS with grpc-status and END_STREAM.
 * grpc-status 0 with one well-formed message resolves; anything else rejects with a
 * GrpcCallError whose numeric `code` error-codes.ts names: the server's grpc-status; for a
 * non-200 HTTP status without one, gRPC's HTTP-to-status mapping; for a reset stream, grpc-js's
 * RST_STREAM mapping; UNAVAILABLE for a failed or lost connection; DEADLINE_EXCEEDED when the
 * client's own deadline fires (the stream is then reset with CANCEL).
 *
 * The connection is opened by the first call and after any loss, lazily, by the next call.
 * Calls wait for the server's first SETTINGS before opening streams: until then nghttp2 does not
 * know the server's stream limit and streams beyond it are refused; after it, nghttp2 queues
 * streams beyond the limit itself.
 */
import http2 from "node:http2";
import net from "node:net";
import type { DriverOptions, KvDriver } from "./drivers.js";
import { errorCodeName } from "./error-codes.js";
import { type KvWireSchema, ENVELOPE_BYTES, encodePutRequest, encodeRangeRequest, encodeTxnRequest } from "./kv-grpc-messages.js";

/** The gRPC status codes this client produces itself. */
const Status = {
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY } = http2.constants;

/** Receive windows, per stream and for the connection: far above what 256 concurrent small responses need, so none waits for a WINDOW_UPDATE. */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** close() waits this long for open calls to finish before destroying the connection. */
const CLOSE_GRACE_MS = 5_000;
/** grpc-timeout's value has at most 8 digits. */
const GRPC_TIMEOUT_MAX_DIGITS_VALUE = 99_999_999;

export class GrpcCallError extends Error {
  constructor(
    /** The gRPC status code (1..16). */
    readonly code: number,
    readonly grpcMessage: string,
    readonly path: string,
    readonly endpoint: string,
    options?: ErrorOptions,
  ) {
    super(`${path} on ${endpoint}: ${errorCodeName({ code })}${grpcMessage === "" ? "" : `: ${grpcMessage}`}`, options);
    this.name = "GrpcCallError";
  }
}

/** The grpc-timeout header value for a deadline of `ms` milliseconds. */
export function grpcTimeoutHeader(ms: number): string {
  const millis = Math.ceil(ms);
  return millis <= GRPC_TIMEOUT_MAX_DIGITS_VALUE ? `${millis}m` : `${Math.ceil(millis / 1000)}S`;
}

/** gRPC's mapping of an HTTP status that came without grpc-status (http-grpc-status-mapping.md). */
function statusForHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

/** grpc-js's mapping of a stream reset before any grpc-status. */
function statusForReset(rstCode: number): number {
  switch (rstCode) {
    case NGHTTP2_REFUSED_STREAM:
      return Status.UNAVAILABLE;
    case NGHTTP2_CANCEL:
      return Status.CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return Status.RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY:
      return Status.PERMISSION_DENIED;
    default:
      return Status.INTERNAL;
  }
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The status in `headers` (trailers, or the headers of a trailers-only response): the code (UNKNOWN if malformed) and message; undefined without grpc-status. */
function grpcStatusOf(headers: http2.IncomingHttpHeaders): { code: number; message: string } | undefined {
  const status = headers["grpc-status"];
  if (status === undefined) return undefined;
  const code = typeof status === "string" && /^\d{1,2}$/.test(status) ? Number(status) : Status.UNKNOWN;
  const message = headers["grpc-message"];
  return { code, message: typeof message === "string" ? percentDecode(message) : "" };
}

/**
 * The response body's shape, fed chunk by chunk: a unary response is exactly one uncompressed
 * length-prefixed message (no compression was offered, so the flag must be 0).
 */
export class ResponseEnvelope {
  private received = 0;
  private flag = 0;
  private declaredBytes = 0;

  add(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length && this.received + i < ENVELOPE_BYTES; i++) {
      if (this.received + i === 0) this.flag = chunk[i];
      else this.declaredBytes = this.declaredBytes * 256 + chunk[i];
    }
    this.received += chunk.length;
  }

  /** What is wrong with the body received so far as a complete response; undefined when well formed. */
  problem(): string | undefined {
    if (this.received < ENVELOPE_BYTES) return `response body of ${this.received} bytes, shorter than a message envelope`;
    if (this.flag !== 0) return `response message flag ${this.flag}, expected 0 (uncompressed)`;
    if (this.received !== ENVELOPE_BYTES + this.declaredBytes) return `response body of ${this.received} bytes for one message of ${this.declaredBytes}`;
    return undefined;
  }
}

/** One HTTP/2 connection and what the calls need to know about it. */
interface Connection {
  readonly session: http2.ClientHttp2Session;
  /** Resolves on the server's first SETTINGS; rejects (UNAVAILABLE) if the connection ends before. */
  readonly ready: Promise<void>;
  settingsReceived: boolean;
  /** The session's error, if any, for the messages of the calls it ends. */
  error: Error | undefined;
}

/** Unary gRPC calls to one endpoint over one HTTP/2 connection. */
export class H2GrpcChannel {
  private connection: Connection | undefined;
  private readonly endpoint: URL;

  constructor(
    endpoint: string,
    /** Deadline of each call in ms; <= 0 for none. */
    private readonly timeoutMs: number,
  ) {
    this.endpoint = new URL(endpoint);
  }

  /** The request headers of `method` (e.g. "/etcdserverpb.KV/Put"), built once and reused by every call (node copies them). */
  headersFor(path: string): http2.OutgoingHttpHeaders {
    return {
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...(this.timeoutMs > 0 ? { "grpc-timeout": grpcTimeoutHeader(this.timeoutMs) } : {}),
    };
  }

  /** Sends `body` (one length-prefixed message) with `headers`; resolves on grpc-status 0. */
  unary(headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<void> {
    const path = String(headers[":path"]);
    return new Promise((resolve, reject) => {
      let settled = false;
      let stream: http2.ClientHttp2Stream | undefined;
      let timer: NodeJS.Timeout | undefined;
      const settle = (err: GrpcCallError | undefined): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      // Checked before building the error: every stream's 'close' calls this, also after success.
      const fail = (code: number, message: string, cause?: unknown): void => {
        if (!settled) settle(new GrpcCallError(code, message, path, this.endpoint.origin, cause === undefined ? undefined : { cause }));
      };
      if (this.timeoutMs > 0) {
        timer = setTimeout(() => {
          fail(Status.DEADLINE_EXCEEDED, `client deadline of ${this.timeoutMs} ms exceeded`);
          stream?.close(NGHTTP2_CANCEL);
        }, this.timeoutMs);
      }

      const start = (connection: Connection): void => {
        if (settled) return;
        try {
          stream = connection.session.request(headers);
        } catch (err) {
          fail(Status.UNAVAILABLE, `cannot open a stream: ${(err as Error).message}`, err);
          return;
        }
        const s = stream;
        const envelope = new ResponseEnvelope();
        s.on("response", (responseHeaders) => {
          const status = grpcStatusOf(responseHeaders);
          if (status !== undefined) {
            // Trailers-only: the status is all there is.
            settle(status.code === 0 ? undefined : new GrpcCallError(status.code, status.message, path, this.endpoint.origin));
            return;
          }
          const httpStatus = Number(responseHeaders[":status"]);
          if (httpStatus !== 200) {
            fail(statusForHttp(httpStatus), `HTTP status ${httpStatus} without grpc-status`);
            s.close(NGHTTP2_CANCEL);
          }
        });
        s.on("data", (chunk: Buffer) => envelope.add(chunk));
        s.on("trailers", (trailers) => {
          const status = grpcStatusOf(trailers);
          if (status === undefined) return fail(Status.UNKNOWN, "trailers without grpc-status");
          if (status.code !== 0) return fail(status.code, status.message);
          const problem = envelope.problem();
          if (problem === undefined) settle(undefined);
          else fail(Status.INTERNAL, problem);
        });
        s.on("error", (err: NodeJS.ErrnoException) => {
          if (err.code === "ERR_HTTP2_STREAM_ERROR") fail(statusForReset(s.rstCode), err.message, err);
          else fail(Status.UNAVAILABLE, `connection: ${err.message}`, err);
        });
        // Every stream closes, also when its connection is lost: the catch-all for a call nothing else ended.
        s.on("close", () => {
          const lost = connection.error;
          if (lost !== undefined) fail(Status.UNAVAILABLE, `connection: ${lost.message}`, lost);
          else if (connection.session.destroyed) fail(Status.UNAVAILABLE, "connection closed before the response");
          else fail(statusForReset(s.rstCode), `stream closed (RST_STREAM code ${s.rstCode}) without grpc-status`);
        });
        s.end(body);
      };

      const connection = this.connect();
      if (connection.settingsReceived) start(connection);
      else
        connection.ready.then(
          () => start(connection),
          (err: unknown) => fail(Status.UNAVAILABLE, (err as Error).message, err),
        );
    });
  }

  /** The current connection, or a new one when there is none or it is going away. */
  private connect(): Connection {
    const current = this.connection;
    if (current !== undefined && !current.session.closed && !current.session.destroyed) return current;
    const host = this.endpoint.hostname.replace(/^\[|\]$/g, "");
    const port = Number(this.endpoint.port || 80);
    const session = http2.connect(this.endpoint.origin, {
      settings: { initialWindowSize: STREAM_WINDOW_BYTES, enablePush: false },
      // Small requests and responses: send each as soon as it is written.
      createConnection: () => net.connect({ host, port, noDelay: true }),
    });
    let resolveReady: () => void = () => {};
    let rejectReady: (err: Error) => void = () => {};
    const connection: Connection = {
      session,
      ready: new Promise<void>((resolve, reject) => {
        resolveReady = resolve;
        rejectReady = reject;
      }),
      settingsReceived: false,
      error: undefined,
    };
    // A connection that fails before any call waits on it must not be an unhandled rejection.
    connection.ready.catch(() => {});
    session.once("connect", () => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
    session.once("remoteSettings", () => {
      connection.settingsReceived = true;
      resolveReady();
    });
    session.on("error", (err: Error) => {
      connection.error = err;
    });
    const forget = (): void => {
      if (this.connection === connection) this.connection = undefined;
    };
    session.once("goaway", forget);
    session.once("close", () => {
      forget();
      rejectReady(new Error(`connection to ${this.endpoint.origin} ended before the server's SETTINGS${connection.error === undefined ? "" : `: ${connection.error.message}`}`));
    });
    this.connection = connection;
    return connection;
  }

  /** Closes the connection once its open calls finish (destroying it after CLOSE_GRACE_MS). */
  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection === undefined || connection.session.destroyed) return;
    const { session } = connection;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => session.destroy(), CLOSE_GRACE_MS);
      session.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      session.close();
    });
  }
}

/** A KvDriver for the KV API `schema` describes (SisyphusDB's or etcd's), on one H2GrpcChannel. */
export function h2GrpcDriver(name: string, url: string, schema: KvWireSchema, options: Partial<DriverOptions> = {}): KvDriver {
  const channel = new H2GrpcChannel(url, options.timeoutMs ?? 0);
  const put = channel.headersFor(`/${schema.service}/Put`);
  const range = channel.headersFor(`/${schema.service}/Range`);
  const txn = channel.headersFor(`/${schema.service}/Txn`);
  return {
    name,
    put: (key, value) => channel.unary(put, encodePutRequest(key, value)),
    get: (key, getOptions) => channel.unary(range, encodeRangeRequest(key, getOptions?.serializable === true)),
    txn: (key, value) => channel.unary(txn, encodeTxnRequest(schema, key, value)),
    close: () => channel.close(),
  };
}
