import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClientClosedError, InvalidArgumentError, LeaseExpiredError } from "../src/index.js";
import { take, waitFor, within } from "./helpers.js";
import { fakeClient } from "./setup.js";

describe("leases", () => {
  it("grants, lists, inspects and revokes", async () => {
    const { fake, client } = fakeClient();
    try {
      const lease = await client.lease.grant(30);
      assert.equal(lease.ttl, 30);
      assert.ok(lease.id > 0n);
      const chosen = await client.lease.grant(5, { id: 4242n });
      assert.equal(chosen.id, 4242n);
      await client.put("attached", "v", { lease: lease.id });
      const ttl = await client.lease.timeToLive(lease.id, { keys: true });
      assert.equal(ttl.grantedTtl, 30);
      assert.deepEqual(
        ttl.keys.map((k) => new TextDecoder().decode(k)),
        ["attached"],
      );
      assert.deepEqual(
        (await client.lease.list()).leases.map((l) => l.id),
        [lease.id, 4242n],
      );
      const revoked = await client.lease.revoke(lease.id);
      assert.equal(revoked.revision, 3, "the revocation deleted the attached key");
      assert.equal((await client.get("attached")).kv, undefined);
      assert.equal((await client.lease.timeToLive(lease.id)).ttl, -1);
      assert.equal((await client.lease.keepAliveOnce(chosen.id)).ttl, 5);
      assert.equal(fake.count("keepAliveOnce"), 1);
    } finally {
      await client.close();
    }
  });

  it("renews every ttl/3 over one KeepAlive stream shared by every lease", async () => {
    const { fake, client } = fakeClient();
    try {
      const a = await client.lease.grant(1);
      const b = await client.lease.grant(1);
      const keepA = client.lease.keepAlive(a.id);
      const keepB = client.lease.keepAlive(b.id);
      const renewals = await take(keepA[Symbol.asyncIterator](), 4, "4 renewals of lease a", 5_000);
      assert.ok(renewals.every((r) => r.id === a.id && r.ttl === 1));
      assert.equal(keepA.lastTtl, 1);
      await waitFor(fake.changes, () => fake.renewals.filter((r) => r.id === b.id).length >= 4, "4 renewals of lease b");
      const times = fake.renewals.filter((r) => r.id === a.id).map((r) => r.atMs);
      const gaps = times.slice(1).map((t, i) => t - times[i]);
      // ttl 1 s: one renewal every ~333 ms; the bounds only rule out "far too often" and "too late".
      assert.ok(
        gaps.every((g) => g >= 250 && g < 900),
        `gaps between renewals: ${gaps.join(", ")} ms`,
      );
      assert.equal(fake.streamsOpened.keepAlive, 1);
      keepA.close();
      keepB.close();
      await within(Promise.all([keepA.done, keepB.done]), "the keep-alives to end");
      await waitFor(fake.changes, () => fake.openCount("keepAlive") === 0, "the idle KeepAlive stream to close");
    } finally {
      await client.close();
    }
  });

  it("ends with LeaseExpiredError when the server answers ttl 0", async () => {
    const { fake, client } = fakeClient();
    try {
      const lease = await client.lease.grant(1);
      const keepAlive = client.lease.keepAlive(lease.id);
      const it = keepAlive[Symbol.asyncIterator]();
      await take(it, 1, "the first renewal");
      fake.store.revoke(lease.id);
      await assert.rejects(within(keepAlive.done, "the keep-alive to end"), (err: unknown) => err instanceof LeaseExpiredError && err.leaseId === lease.id);
      await assert.rejects(within(it.next(), "the iteration to fail"), LeaseExpiredError);
    } finally {
      await client.close();
    }
  });

  it("keeps renewing after the KeepAlive stream drops", async () => {
    const { fake, client } = fakeClient();
    try {
      const lease = await client.lease.grant(1);
      const keepAlive = client.lease.keepAlive(lease.id);
      const it = keepAlive[Symbol.asyncIterator]();
      await take(it, 1, "the first renewal");
      fake.drop("keepAlive");
      await take(it, 2, "renewals after the drop");
      assert.ok(fake.streamsOpened.keepAlive >= 2);
      keepAlive.close();
      await within(keepAlive.done, "the close");
      assert.equal((await it.next()).done, true);
    } finally {
      await client.close();
    }
  });

  it("ends with ClientClosedError when the client closes, and refuses bad ids", async () => {
    const { client } = fakeClient();
    const lease = await client.lease.grant(10);
    const keepAlive = client.lease.keepAlive(lease.id);
    assert.throws(() => client.lease.keepAlive(0n), InvalidArgumentError);
    await client.close();
    await assert.rejects(within(keepAlive.done, "the keep-alive to end"), ClientClosedError);
    assert.throws(() => client.lease.keepAlive(lease.id), ClientClosedError);
  });
});
