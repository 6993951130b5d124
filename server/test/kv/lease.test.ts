/**
 * Leases as a client sees them: grant, attach keys with put, revoke deleting every attached key
 * in one revision (with delete events), expiry decided outside apply from a clock and applied as
 * a leaseExpire command, keep-alive and time-to-live, typed errors, deterministic IDs, and the
 * whole lease state rebuilt after a reopen.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ApplyResult,
  EventType,
  LeaseExistsError,
  LeaseNotFoundError,
  LeaseTtlTooLargeError,
  MAX_LEASE_TTL_SECONDS,
} from "../../src/kv/index.js";
import { TestStore, b, plain, withStore, withTempDir } from "./kv-harness.js";

const text = (u: Uint8Array): string => Buffer.from(u).toString("latin1");

/** A clock the test moves by hand. */
function manualClock(startMs = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = startMs;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function rejection(r: ApplyResult): Error {
  assert.equal(r.status, "rejected", `expected a rejection, got ${r.status}`);
  return (r as ApplyResult & { status: "rejected" }).error;
}

describe("leases", () => {
  it("revoke deletes every attached key in one revision, with one delete event per key", async () => {
    await withStore("lease-revoke", async (store) => {
      const grant = await store.applyOk({ type: "leaseGrant", id: 7n, ttlSeconds: 30 });
      assert.deepStrictEqual(grant.result, { type: "leaseGrant", id: 7n, ttlSeconds: 30 });
      assert.equal(grant.revision, 1, "granting creates no revision");
      await store.applyOk({ type: "put", request: { key: b("b"), value: b("1"), lease: 7n } });
      await store.applyOk({ type: "put", request: { key: b("a"), value: b("1"), lease: 7n } });
      await store.applyOk({ type: "put", request: { key: b("c"), value: b("1") } });
      const ttl = store.kv.timeToLive(7n, { keys: true });
      assert.deepStrictEqual(ttl?.keys?.map(text), ["a", "b"]);
      const w = store.kv.watch({ key: b("\0"), rangeEnd: b("\0") });

      const revoke = await store.applyOk({ type: "leaseRevoke", id: 7n });
      assert.equal(revoke.revision, 5, "one revision for all the lease's keys");
      const events = (await w.next())!;
      assert.deepStrictEqual(
        events.map((e) => [e.type, text(e.kv.key), e.kv.modRevision]),
        [
          [EventType.Delete, "a", 5],
          [EventType.Delete, "b", 5],
        ],
      );
      const left = await store.kv.range({ key: b("\0"), rangeEnd: b("\0") });
      assert.deepStrictEqual(left.kvs.map((kv) => text(kv.key)), ["c"]);
      assert.equal(store.kv.timeToLive(7n), undefined);
      assert.ok(rejection(await store.apply({ type: "leaseRevoke", id: 7n })) instanceof LeaseNotFoundError);
    });
  });

  it("rejects a put with an unknown lease, a duplicate grant and a TTL out of range, with typed errors", async () => {
    await withStore("lease-errors", async (store) => {
      const unknown = rejection(await store.apply({ type: "put", request: { key: b("k"), value: b("v"), lease: 99n } }));
      assert.ok(unknown instanceof LeaseNotFoundError && unknown.leaseId === 99n);
      await store.applyOk({ type: "leaseGrant", id: 1n, ttlSeconds: 10 });
      assert.ok(rejection(await store.apply({ type: "leaseGrant", id: 1n, ttlSeconds: 10 })) instanceof LeaseExistsError);
      assert.ok(rejection(await store.apply({ type: "leaseGrant", id: 2n, ttlSeconds: MAX_LEASE_TTL_SECONDS + 1 })) instanceof LeaseTtlTooLargeError);
      assert.equal(rejection(await store.apply({ type: "leaseGrant", id: 2n, ttlSeconds: 0 })).name, "InvalidArgumentError");
      assert.equal((await store.kv.range({ key: b("k") })).count, 0, "the rejected put wrote nothing");
      assert.equal(store.kv.appliedIndex(), 5, "rejected commands still advance the applied index");
    });
  });

  it("moves a key between leases and detaches it on put without a lease or on delete", async () => {
    await withStore("lease-move", async (store) => {
      await store.applyOk({ type: "leaseGrant", id: 1n, ttlSeconds: 10 });
      await store.applyOk({ type: "leaseGrant", id: 2n, ttlSeconds: 10 });
      await store.applyOk({ type: "put", request: { key: b("k"), value: b("v"), lease: 1n } });
      await store.applyOk({ type: "put", request: { key: b("k"), value: b("w"), lease: 2n } });
      assert.deepStrictEqual(store.kv.timeToLive(1n, { keys: true })?.keys, []);
      assert.deepStrictEqual(store.kv.timeToLive(2n, { keys: true })?.keys?.map(text), ["k"]);
      await store.applyOk({ type: "put", request: { key: b("k"), value: b("x"), ignoreLease: true } });
      assert.deepStrictEqual(store.kv.timeToLive(2n, { keys: true })?.keys?.map(text), ["k"], "ignore_lease keeps the lease");
      await store.applyOk({ type: "put", request: { key: b("k"), value: b("y") } });
      assert.deepStrictEqual(store.kv.timeToLive(2n, { keys: true })?.keys, []);
      await store.applyOk({ type: "put", request: { key: b("j"), value: b("y"), lease: 1n } });
      await store.applyOk({ type: "deleteRange", request: { key: b("j") } });
      await store.reopen();
      assert.deepStrictEqual(store.kv.timeToLive(1n, { keys: true })?.keys, [], "detachments are durable");
      const revoke = await store.applyOk({ type: "leaseRevoke", id: 1n });
      assert.equal(revoke.revision, store.kv.revision());
      assert.equal(revoke.revision, 7, "revoking a lease without keys creates no revision");
    });
  });

  it("expires leases chosen from the clock through a leaseExpire command", async () => {
    const clock = manualClock();
    await withStore(
      "lease-expire",
      async (store) => {
        await store.applyOk({ type: "leaseGrant", id: 1n, ttlSeconds: 5 });
        await store.applyOk({ type: "leaseGrant", id: 2n, ttlSeconds: 60 });
        await store.applyOk({ type: "put", request: { key: b("short"), value: b("v"), lease: 1n } });
        await store.applyOk({ type: "put", request: { key: b("long"), value: b("v"), lease: 2n } });
        assert.deepStrictEqual(store.kv.expiredLeases(), []);
        clock.advance(4_000);
        assert.equal(store.kv.timeToLive(1n)?.ttlSeconds, 1);
        clock.advance(1_000);
        const due = store.kv.expiredLeases();
        assert.deepStrictEqual(due, [1n]);
        // A keep-alive racing the proposal does not stop the expiry the leader already decided.
        assert.equal(store.kv.keepAlive(1n), 5);
        const r = await store.applyOk({ type: "leaseExpire", ids: [...due, 42n] });
        assert.deepStrictEqual(r.result, { type: "leaseExpire", expired: [1n] });
        assert.deepStrictEqual((await store.kv.range({ key: b("\0"), rangeEnd: b("\0") })).kvs.map((kv) => text(kv.key)), ["long"]);
        assert.equal(store.kv.keepAlive(1n), 0, "keep-alive of an expired lease answers 0");
        clock.advance(50_000);
        assert.deepStrictEqual(store.kv.expiredLeases(), []);
        assert.equal(store.kv.keepAlive(2n), 60);
        assert.equal(store.kv.timeToLive(2n)?.ttlSeconds, 60);
        clock.advance(60_000);
        assert.deepStrictEqual(store.kv.expiredLeases(), [2n]);
      },
      { clock: clock.now },
    );
  });

  it("rebuilds leases, attachments and full TTLs after a reopen", async () => {
    const clock = manualClock();
    await withStore(
      "lease-reopen",
      async (store) => {
        await store.applyOk({ type: "leaseGrant", id: 3n, ttlSeconds: 10 });
        await store.applyOk({ type: "leaseGrant", id: 2n ** 62n, ttlSeconds: 20 });
        await store.applyOk({ type: "put", request: { key: b("x\0y"), value: b("1"), lease: 2n ** 62n } });
        await store.applyOk({ type: "put", request: { key: b("z"), value: b("1"), lease: 3n } });
        clock.advance(9_000);
        await store.reopen();
        assert.deepStrictEqual(plain(store.kv.leases()), [
          { id: 3n, ttlSeconds: 10, grantedTtlSeconds: 10 },
          { id: 2n ** 62n, ttlSeconds: 20, grantedTtlSeconds: 20 },
        ]);
        assert.deepStrictEqual(store.kv.timeToLive(2n ** 62n, { keys: true })?.keys?.map(text), ["x\0y"]);
        const r = await store.applyOk({ type: "leaseRevoke", id: 2n ** 62n });
        assert.equal(r.revision, 4);
        assert.equal((await store.kv.range({ key: b("x\0y") })).count, 0);
      },
      { clock: clock.now },
    );
  });

  it("picks the same lease ID on every member for a grant without one", async () => {
    await withTempDir("lease-ids", async (dir) => {
      const ids: bigint[][] = [];
      for (const name of ["one", "two"]) {
        const store = await TestStore.open(`${dir}/${name}`);
        try {
          const granted: bigint[] = [];
          for (let i = 0; i < 3; i++) {
            const r = await store.applyOk({ type: "leaseGrant", id: 0n, ttlSeconds: 10 });
            if (r.result.type === "leaseGrant") granted.push(r.result.id);
          }
          ids.push(granted);
        } finally {
          await store.close();
        }
      }
      assert.deepStrictEqual(ids[0], ids[1]);
      assert.equal(new Set(ids[0]).size, 3);
      for (const id of ids[0]!) assert.ok(id > 0n && id < 2n ** 63n, `id ${id} is a positive int64`);
    });
  });
});
