/**
 * The leases and their attached keys, in memory. The durable form is the "l" and "a" records
 * (store-layout.ts), loaded at open; apply keeps both in step. Deadlines are local and never
 * replicated: a lease's deadline is set from the clock when it is granted, loaded or kept alive,
 * so after a restart or a leader change every lease gets its full TTL again (as in etcd). Apply
 * never reads deadlines: expiry is decided by expired() outside apply and proposed as a command.
 */
import { compareBytes } from "./key-range.js";

export interface Lease {
  readonly id: bigint;
  readonly ttlSeconds: number;
  readonly grantedAtRevision: number;
  /** Attached keys by keyId (latin1). */
  readonly keys: Map<string, Uint8Array>;
  deadlineMs: number;
}

const MASK_63 = (1n << 63n) - 1n;

export class LeaseTable {
  private readonly leases = new Map<bigint, Lease>();

  constructor(private readonly clock: () => number) {}

  get size(): number {
    return this.leases.size;
  }

  has(id: bigint): boolean {
    return this.leases.has(id);
  }

  get(id: bigint): Lease | undefined {
    return this.leases.get(id);
  }

  grant(id: bigint, ttlSeconds: number, grantedAtRevision: number): void {
    this.leases.set(id, { id, ttlSeconds, grantedAtRevision, keys: new Map(), deadlineMs: this.clock() + ttlSeconds * 1000 });
  }

  remove(id: bigint): void {
    this.leases.delete(id);
  }

  attach(id: bigint, keyId: string, key: Uint8Array): void {
    this.leases.get(id)?.keys.set(keyId, key);
  }

  detach(id: bigint, keyId: string): void {
    this.leases.get(id)?.keys.delete(keyId);
  }

  /** The lease's keys in key order (empty for an unknown lease). */
  sortedKeys(id: bigint): Uint8Array[] {
    const lease = this.leases.get(id);
    return lease === undefined ? [] : [...lease.keys.values()].sort(compareBytes);
  }

  /** Restarts the lease's TTL; returns the TTL in seconds, or 0 if the lease does not exist. */
  /** keepAlive at this table's clock's now. */
  keepAliveNow(id: bigint): number {
    return this.keepAlive(id, this.clock());
  }

  keepAlive(id: bigint, nowMs: number): number {
    const lease = this.leases.get(id);
    if (lease === undefined) return 0;
    lease.deadlineMs = nowMs + lease.ttlSeconds * 1000;
    return lease.ttlSeconds;
  }

  /** Up to `limit` leases whose deadline is at or before nowMs, earliest deadline first. */
  expired(nowMs: number, limit: number): bigint[] {
    const due: Lease[] = [];
    for (const lease of this.leases.values()) if (lease.deadlineMs <= nowMs) due.push(lease);
    due.sort((a, b) => a.deadlineMs - b.deadlineMs || (a.id < b.id ? -1 : 1));
    return due.slice(0, limit).map((l) => l.id);
  }

  all(): Lease[] {
    return [...this.leases.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * A fresh lease ID derived from the log index alone (splitmix64, 63 bits, never 0), then the
   * next free one: every member picks the same ID without randomness in apply.
   */
  pickId(index: number): bigint {
    let z = BigInt.asUintN(64, BigInt(index) * 0x9e3779b97f4a7c15n);
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    let id = (z ^ (z >> 31n)) & MASK_63;
    while (id === 0n || this.leases.has(id)) id = (id + 1n) & MASK_63;
    return id;
  }
}

/** Whole seconds left before the deadline (the lease expires in less than this + 1 s). */
export function remainingSeconds(lease: Lease, nowMs: number): number {
  return Math.max(0, Math.floor((lease.deadlineMs - nowMs) / 1000));
}
