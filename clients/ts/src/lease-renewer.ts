/**
 * How a lease is renewed once: over the client's one LeaseService.KeepAlive bidi stream (Node,
 * HTTP/2), or with a unary KeepAliveOnce call (browsers, HTTP/1.1). Both answer with the lease's
 * new TTL in seconds (0 when the lease is gone). A renewer that fails moves the client to the next
 * endpoint, so the next attempt goes elsewhere.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { KeepAliveRequestSchema, KeepAliveResponse } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { AsyncQueue } from "./async-queue.js";
import type { Endpoint, EndpointPool } from "./endpoint-pool.js";

export interface LeaseRenewer {
  /** Renews lease `id` once; resolves with its TTL in seconds from now (0n: the lease no longer exists). */
  renew(id: bigint, signal: AbortSignal): Promise<bigint>;
  /** Ends what the renewer holds open (its stream); renewals in progress fail with `reason`. */
  close(reason: ConnectError): void;
  /** Called when no lease is kept alive any more. */
  closeIdle(): void;
}

/** True when the renewal was aborted by its time limit (rather than by a closing keep-alive). */
function timedOut(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof ConnectError && signal.reason.code === Code.DeadlineExceeded;
}

type KeepAliveRequestInit = MessageInitShape<typeof KeepAliveRequestSchema>;

interface Waiter {
  resolve(ttl: bigint): void;
  reject(err: unknown): void;
  abandoned: boolean;
}

/**
 * One KeepAlive stream. The server answers each request with one response, in request order, so
 * the responses for one lease id answer that id's requests first to last.
 */
class KeepAliveStream {
  private readonly outbound = new AsyncQueue<KeepAliveRequestInit>();
  private readonly waiters = new Map<bigint, Waiter[]>();
  private readonly controller = new AbortController();
  private ended = false;

  constructor(
    readonly endpoint: Endpoint,
    open: (requests: AsyncIterable<KeepAliveRequestInit>, signal: AbortSignal) => AsyncIterable<KeepAliveResponse>,
  ) {
    void this.readResponses(open);
  }

  get usable(): boolean {
    return !this.ended;
  }

  renew(id: bigint, signal: AbortSignal): Promise<bigint> {
    if (this.ended) return Promise.reject(new ConnectError("the keep-alive stream has ended", Code.Unavailable));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        waiter.abandoned = true;
        reject(signal.reason);
      };
      const waiter: Waiter = {
        resolve: (ttl) => {
          signal.removeEventListener("abort", onAbort);
          if (!waiter.abandoned) resolve(ttl);
        },
        reject: (err) => {
          signal.removeEventListener("abort", onAbort);
          if (!waiter.abandoned) reject(err);
        },
        abandoned: false,
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const list = this.waiters.get(id);
      if (list === undefined) this.waiters.set(id, [waiter]);
      else list.push(waiter);
      this.outbound.push({ id });
    });
  }

  close(reason: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.controller.abort(reason);
    this.outbound.end();
    const lists = [...this.waiters.values()];
    this.waiters.clear();
    for (const list of lists) for (const waiter of list) waiter.reject(reason);
  }

  private async readResponses(open: (requests: AsyncIterable<KeepAliveRequestInit>, signal: AbortSignal) => AsyncIterable<KeepAliveResponse>): Promise<void> {
    try {
      for await (const response of open(this.outbound, this.controller.signal)) {
        const list = this.waiters.get(response.id);
        const waiter = list?.shift();
        if (list !== undefined && list.length === 0) this.waiters.delete(response.id);
        waiter?.resolve(response.ttl);
      }
      this.close(new ConnectError("the keep-alive stream ended", Code.Unavailable));
    } catch (err) {
      this.close(ConnectError.from(err, Code.Unavailable));
    }
  }
}

/** Renews over one KeepAlive stream shared by every lease of the client, reopened after failures. */
export class StreamLeaseRenewer implements LeaseRenewer {
  private stream: KeepAliveStream | undefined;

  constructor(private readonly pool: EndpointPool) {}

  async renew(id: bigint, signal: AbortSignal): Promise<bigint> {
    if (this.stream === undefined || !this.stream.usable) {
      const endpoint = this.pool.current();
      this.stream = new KeepAliveStream(endpoint, (requests, streamSignal) => endpoint.lease.keepAlive(requests, { signal: streamSignal }));
    }
    const stream = this.stream;
    try {
      return await stream.renew(id, signal);
    } catch (err) {
      // A renewal that timed out suggests a stuck stream: drop it (the other leases' pending
      // renewals fail too and are retried) and try the next endpoint. (A renewal aborted because
      // its lease's keep-alive was closed says nothing about the stream.)
      if (timedOut(signal)) stream.close(signal.reason);
      if (!stream.usable) this.pool.markFailed(stream.endpoint);
      throw err;
    }
  }

  /** Ends the stream once no lease is kept alive (so an idle client holds no stream open); the next renewal opens a new one. */
  closeIdle(): void {
    this.stream?.close(new ConnectError("no leases to keep alive", Code.Canceled));
    this.stream = undefined;
  }

  close(reason: ConnectError): void {
    this.stream?.close(reason);
    this.stream = undefined;
  }
}

/** Renews with one unary KeepAliveOnce call per renewal. */
export class UnaryLeaseRenewer implements LeaseRenewer {
  constructor(private readonly pool: EndpointPool) {}

  async renew(id: bigint, signal: AbortSignal): Promise<bigint> {
    const endpoint = this.pool.current();
    try {
      const response = await endpoint.lease.keepAliveOnce({ id }, { signal });
      return response.ttl;
    } catch (err) {
      if (!signal.aborted || timedOut(signal)) this.pool.markFailed(endpoint);
      throw err;
    }
  }

  close(): void {
    // Unary calls hold nothing open.
  }

  closeIdle(): void {
    // Unary calls hold nothing open.
  }
}
