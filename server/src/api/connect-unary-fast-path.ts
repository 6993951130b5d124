/**
 * The Connect-protocol counterpart of grpc-unary-fast-path.ts for the hot KV methods: unary POST
 * with a binary (application/proto) or JSON (application/json) body, over HTTP/1.1 or HTTP/2,
 * as curl, vegeta and Connect clients send it. Same reasons and guarantees as the gRPC path
 * (read its header); anything else (compressed bodies, GET requests, an unknown
 * Connect-Protocol-Version, other methods) goes to connect-node.
 *
 * Wire (connectrpc.com/docs/protocol): success = 200 with the response message in the request's
 * codec; failure = the HTTP status of the code and a JSON body {"code": "invalid_argument",
 * "message": "..."}; error metadata as response headers; deadline from connect-timeout-ms.
 */
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { checkTimeout, type FastMethod, type FastPathLimits, type NodeRequest, type NodeResponse, readBody } from "./fast-path-methods.js";
import type { CallObserver } from "./observe-interceptor.js";
import { codeName, toConnectError } from "./status.js";

/** The HTTP status of each code in the Connect protocol. */
const HTTP_STATUS: Record<Code, number> = {
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

type Codec = "proto" | "json";

export class ConnectUnaryFastPath {
  constructor(
    private readonly methods: Map<string, FastMethod>,
    private readonly observer: CallObserver,
    private readonly limits: FastPathLimits,
  ) {}

  /** Serves the call if it is a plain Connect unary POST of a fast method; false leaves it to connect-node. */
  handle(req: NodeRequest, res: NodeResponse): boolean {
    if (req.method !== "POST") return false;
    const method = this.methods.get(req.url ?? "");
    if (method === undefined) return false;
    const codec = codecOf(req.headers["content-type"]);
    if (codec === undefined) return false;
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const version = req.headers["connect-protocol-version"];
    if (version !== undefined && version !== "1") return false;
    void this.serve(method, codec, req, res);
    return true;
  }

  private async serve(method: FastMethod, codec: Codec, req: NodeRequest, res: NodeResponse): Promise<void> {
    const finish = this.observer.start(method.name);
    let timer: NodeJS.Timeout | undefined;
    let answered = false;
    const answer = (body: Uint8Array | string | ConnectError): void => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      finish(body instanceof ConnectError ? body : undefined);
      if (res.writableEnded || res.destroyed) return;
      if (body instanceof ConnectError) {
        const headers: Record<string, string> = {};
        body.metadata.forEach((value, key) => {
          headers[key] = value;
        });
        headers["content-type"] = "application/json";
        res.writeHead(HTTP_STATUS[body.code] ?? 500, headers);
        res.end(JSON.stringify({ code: codeName(body.code), message: body.rawMessage }));
        return;
      }
      res.writeHead(200, { "content-type": codec === "json" ? "application/json" : "application/proto" });
      res.end(body);
    };
    try {
      const timeoutMs = checkTimeout(parseConnectTimeout(req.headers["connect-timeout-ms"]), this.limits.maxTimeoutMs);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => answer(new ConnectError(`the deadline of ${timeoutMs} ms passed`, Code.DeadlineExceeded)), timeoutMs);
      }
      const body = await readBody(req, this.limits.maxRequestBytes, this.limits.maxRequestBytes);
      let request;
      try {
        request =
          codec === "json"
            ? fromJsonString(method.input, body.toString("utf8"), { ignoreUnknownFields: true })
            : fromBinary(method.input, body);
      } catch (err) {
        // protobuf-es errors already say what failed to decode ("cannot decode message X from JSON: ...").
        const reason = (err as Error).message;
        const message = reason.startsWith("cannot decode") ? reason : `cannot decode message ${method.input.typeName}: ${reason}`;
        throw new ConnectError(message, Code.InvalidArgument);
      }
      const response = create(method.output, await method.call(request));
      answer(codec === "json" ? toJsonString(method.output, response) : toBinary(method.output, response));
    } catch (err) {
      req.resume();
      answer(toConnectError(err));
    }
  }
}

function codecOf(contentType: string | undefined): Codec | undefined {
  if (contentType === "application/proto") return "proto";
  if (contentType === "application/json" || contentType === "application/json; charset=utf-8") return "json";
  return undefined;
}

function parseConnectTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^\d{1,10}$/.test(value)) throw new ConnectError(`malformed connect-timeout-ms header: ${String(value)}`, Code.InvalidArgument);
  return Number(value);
}
