/** The lease calls: grant, revoke, keep alive, inspect, list. */
import { ClientClosedError, InvalidArgumentError } from "./errors.js";
import type { CallRunner } from "./call-runner.js";
import { toInt64, toSafeNumber } from "./integers.js";
import { headerFromMessage, type ResponseHeader } from "./key-value.js";
import { LeaseKeepAlive } from "./lease-keepalive.js";
import type { LeaseRenewer } from "./lease-renewer.js";
import type { CallOptions, RetryOptions } from "./options.js";

/** A granted lease. */
export interface LeaseGrant {
  id: bigint;
  /** The TTL granted in seconds (at least the one asked for). */
  ttl: number;
  header: ResponseHeader;
}

/** How long a lease has left. */
export interface LeaseTimeToLive {
  id: bigint;
  /** Seconds left; -1 when the lease does not exist. */
  ttl: number;
  /** The TTL it was granted, in seconds; 0 when it does not exist. */
  grantedTtl: number;
  /** The keys attached to it, when asked for. */
  keys: Uint8Array[];
  header: ResponseHeader;
}

/** One lease in a listing. */
export interface LeaseStatus {
  id: bigint;
  ttl: number;
  grantedTtl: number;
}

export class LeaseClient {
  private readonly keepAlives = new Set<LeaseKeepAlive>();

  constructor(
    private readonly runner: CallRunner,
    private readonly renewer: LeaseRenewer,
    private readonly retry: RetryOptions,
    private readonly renewalTimeoutMs: number,
  ) {}

  /** Creates a lease of `ttlSeconds` (the server may raise it); `id` asks for a specific ID. A write: retried only when not applied. */
  async grant(ttlSeconds: number, options?: CallOptions & { id?: bigint }): Promise<LeaseGrant> {
    const request = { ttl: toInt64(ttlSeconds, "ttl"), id: options?.id ?? 0n };
    const response = await this.runner.run("write", options, (endpoint, context) => endpoint.lease.grant(request, context));
    return { id: response.id, ttl: toSafeNumber(response.ttl, "grant.ttl"), header: headerFromMessage(response.header) };
  }

  /** Ends a lease now, deleting its keys. A write: retried only when not applied. */
  async revoke(id: bigint, options?: CallOptions): Promise<{ revision: number; header: ResponseHeader }> {
    const response = await this.runner.run("write", options, (endpoint, context) => endpoint.lease.revoke({ id }, context));
    const header = headerFromMessage(response.header);
    return { revision: header.revision, header };
  }

  /**
   * Keeps a lease alive in the background until the handle is closed (see LeaseKeepAlive). In
   * Node over HTTP/2 all of a client's leases share one KeepAlive stream; elsewhere each
   * renewal is a KeepAliveOnce call.
   */
  keepAlive(id: bigint): LeaseKeepAlive {
    this.runner.assertOpen();
    if (id <= 0n) throw new InvalidArgumentError(`lease id must be positive, got ${id}`);
    const keepAlive = new LeaseKeepAlive(id, this.renewer, this.retry, this.renewalTimeoutMs, (ended) => {
      this.keepAlives.delete(ended);
      if (this.keepAlives.size === 0) this.renewer.closeIdle();
    });
    this.keepAlives.add(keepAlive);
    return keepAlive;
  }

  /** Renews a lease once; returns its new TTL in seconds (0 when it no longer exists). Retried like a read. */
  async keepAliveOnce(id: bigint, options?: CallOptions): Promise<{ id: bigint; ttl: number; header: ResponseHeader }> {
    const response = await this.runner.run("read", options, (endpoint, context) => endpoint.lease.keepAliveOnce({ id }, context));
    return { id: response.id, ttl: toSafeNumber(response.ttl, "keep_alive.ttl"), header: headerFromMessage(response.header) };
  }

  /** How long a lease has left, and optionally its keys; ttl -1 when it does not exist. */
  async timeToLive(id: bigint, options?: CallOptions & { keys?: boolean }): Promise<LeaseTimeToLive> {
    const request = { id, keys: options?.keys === true };
    const response = await this.runner.run("read", options, (endpoint, context) => endpoint.lease.timeToLive(request, context));
    return {
      id: response.id,
      ttl: toSafeNumber(response.ttl, "time_to_live.ttl"),
      grantedTtl: toSafeNumber(response.grantedTtl, "time_to_live.granted_ttl"),
      keys: response.keys,
      header: headerFromMessage(response.header),
    };
  }

  /** Every lease that exists, by ascending ID. */
  async list(options?: CallOptions): Promise<{ leases: LeaseStatus[]; header: ResponseHeader }> {
    const response = await this.runner.run("read", options, (endpoint, context) => endpoint.lease.leases({}, context));
    return {
      leases: response.leases.map((l) => ({ id: l.id, ttl: toSafeNumber(l.ttl, "lease.ttl"), grantedTtl: toSafeNumber(l.grantedTtl, "lease.granted_ttl") })),
      header: headerFromMessage(response.header),
    };
  }

  /** Ends every keep-alive with ClientClosedError. */
  close(): void {
    for (const keepAlive of [...this.keepAlives]) keepAlive.fail(new ClientClosedError());
    this.keepAlives.clear();
  }
}
