/**
 * Checks the ResponseHeader of every message a client receives (unary responses and each
 * message of a stream, nested ones included: Txn responses, Pipeline results, Subscribe
 * responses): cluster_id and member_id are non-zero and the same on every call to one server.
 * Installed as a client interceptor, so no test can forget it; a bad header fails the call.
 */
import type { Interceptor, StreamResponse } from "@connectrpc/connect";

const HEADER_TYPE = "sisyphus.kv.v1.ResponseHeader";

interface HeaderLike {
  clusterId: bigint;
  memberId: bigint;
}

export class HeaderCheck {
  clusterId: bigint | undefined;
  memberId: bigint | undefined;
  /** Headers checked so far (a test can assert the check ran). */
  checked = 0;

  readonly interceptor: Interceptor = (next) => async (req) => {
    const res = await next(req);
    if (!res.stream) {
      this.checkMessage(res.message, req.method.name);
      return res;
    }
    const check = (message: unknown): void => this.checkMessage(message, req.method.name);
    return { ...res, message: checked(res as StreamResponse, check) } as typeof res;
  };

  private checkMessage(message: unknown, method: string): void {
    const typeName = (message as { $typeName?: string }).$typeName ?? "";
    if (!typeName.startsWith("sisyphus.kv.v1.")) return;
    const headers: HeaderLike[] = [];
    collectHeaders(message, headers, 0);
    // A Pipeline stream's ready message and its per-call errors carry no header, by design.
    const pipelineCase = typeName === "sisyphus.kv.v1.PipelineResponse" ? (message as { response: { case?: string } }).response.case : undefined;
    if (headers.length === 0 && pipelineCase !== "ready" && pipelineCase !== "error") throw new Error(`${method}: response ${typeName} carries no ResponseHeader`);
    for (const header of headers) this.checkHeader(header, method);
  }

  private checkHeader(header: HeaderLike, method: string): void {
    this.checked++;
    if (header.clusterId === 0n || header.memberId === 0n) {
      throw new Error(`${method}: response header has cluster_id ${header.clusterId} and member_id ${header.memberId}; both must be non-zero`);
    }
    this.clusterId ??= header.clusterId;
    this.memberId ??= header.memberId;
    if (header.clusterId !== this.clusterId || header.memberId !== this.memberId) {
      throw new Error(
        `${method}: response header changed identity: cluster_id ${header.clusterId} member_id ${header.memberId}, ` +
          `earlier responses had ${this.clusterId} / ${this.memberId}`,
      );
    }
  }
}

async function* checked<T>(res: StreamResponse, check: (message: unknown) => void): AsyncGenerator<T> {
  for await (const message of res.message) {
    check(message);
    yield message as T;
  }
}

/** Finds every ResponseHeader inside a message (bounded depth: nested Txns are at most a few levels). */
function collectHeaders(value: unknown, out: HeaderLike[], depth: number): void {
  if (depth > 64 || value === null || typeof value !== "object" || value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    for (const item of value) collectHeaders(item, out, depth + 1);
    return;
  }
  if ((value as { $typeName?: string }).$typeName === HEADER_TYPE) {
    out.push(value as HeaderLike);
    return;
  }
  for (const child of Object.values(value)) collectHeaders(child, out, depth + 1);
}
