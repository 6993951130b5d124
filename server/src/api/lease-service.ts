/**
 * LeaseService. Grant, Revoke and keep-alives are writes through Raft (Revoke deletes the lease's
 * keys in one revision; a keep-alive restarts the TTL on every member, so the leader, which
 * alone decides expiry, hears of keep-alives sent to any member). TimeToLive and Leases read
 * this member's lease clock. Semantics in lease.proto.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { LeaseService, type KeepAliveRequest } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { InvalidArgumentError } from "../kv/index.js";
import { int64ToNumber } from "./convert.js";
import { KvOperations } from "./kv-operations.js";
import { type MemberContext, responseHeader } from "./member.js";
import { toConnectError } from "./status.js";
import type { ServiceRegistrar } from "./unary-method-table.js";

export function registerLeaseService(router: ServiceRegistrar, member: MemberContext): void {
  const ops = new KvOperations(member);
  // Answers KeepAlive and KeepAliveOnce alike (their responses have the same fields).
  const keepAlive = async (id: bigint) => {
    if (id <= 0n) throw new ConnectError(`id: must be positive, got ${id}`, Code.InvalidArgument);
    try {
      const { result, revision } = await ops.write({ type: "leaseKeepAlive", id }, "leaseKeepAlive");
      return { header: responseHeader(member, revision), id, ttl: BigInt(result.ttlSeconds) };
    } catch (err) {
      throw toConnectError(err);
    }
  };
  router.service(LeaseService, {
    async grant(req) {
      try {
        const ttlSeconds = int64ToNumber(req.ttl, "ttl");
        const { result, revision } = await ops.write({ type: "leaseGrant", id: req.id, ttlSeconds }, "leaseGrant");
        return { header: responseHeader(member, revision), id: result.id, ttl: BigInt(result.ttlSeconds) };
      } catch (err) {
        throw toConnectError(err);
      }
    },
    async revoke(req) {
      try {
        if (req.id <= 0n) throw new InvalidArgumentError(`must be positive, got ${req.id}`, "id");
        const { revision } = await ops.write({ type: "leaseRevoke", id: req.id }, "leaseRevoke");
        return { header: responseHeader(member, revision) };
      } catch (err) {
        throw toConnectError(err);
      }
    },
    async *keepAlive(requests: AsyncIterable<KeepAliveRequest>) {
      for await (const req of requests) yield keepAlive(req.id);
    },
    keepAliveOnce(req) {
      return keepAlive(req.id);
    },
    timeToLive(req) {
      const store = member.store;
      const info = store.timeToLive(req.id, { keys: req.keys });
      const header = responseHeader(member, store.revision());
      if (info === undefined) return { header, id: req.id, ttl: -1n, grantedTtl: 0n };
      return { header, id: req.id, ttl: BigInt(info.ttlSeconds), grantedTtl: BigInt(info.grantedTtlSeconds), keys: info.keys ?? [] };
    },
    leases() {
      const store = member.store;
      return {
        header: responseHeader(member, store.revision()),
        leases: store.leases().map((l) => ({ id: l.id, ttl: BigInt(l.ttlSeconds), grantedTtl: BigInt(l.grantedTtlSeconds) })),
      };
    },
  });
}
