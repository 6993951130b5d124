/**
 * The replicated parts of clustering that live in the store: member records (added, promoted,
 * given their name and client URLs, removed) applied in log order with the KV commands around
 * them, never visible to KV reads, changing no revision, surviving a reopen and carried by a
 * checkpoint; keep-alives through the log; unsynced applies still recording the applied index.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { KvStateMachine } from "../../src/kv/index.js";
import { Engine } from "../../src/storage/index.js";
import { b, withStore } from "./kv-harness.js";

describe("member records", () => {
  it("are added, promoted, described and removed in log order, without touching revisions or KV reads", async () => {
    await withStore("members", async (store) => {
      await store.applyOk({ type: "put", request: { key: b("k"), value: b("v") } });
      const before = store.kv.revision();
      await store.applyOk({ type: "memberAdd", id: 5n, name: "a", peerUrls: ["http://10.0.0.1:7380"], learner: false });
      await store.applyOk({ type: "memberAdd", id: 9n, name: "", peerUrls: ["http://10.0.0.2:7380"], learner: true });
      await store.applyOk({ type: "memberAttributes", id: 9n, name: "b", clientUrls: ["http://10.0.0.2:7379"] });
      await store.applyOk({ type: "memberAdd", id: 9n, name: "", peerUrls: ["http://10.0.0.2:7380"], learner: false });
      await store.applyOk({ type: "memberAttributes", id: 77n, name: "nobody", clientUrls: [] });
      assert.equal(store.kv.revision(), before, "membership changes make no revision");
      assert.deepEqual(store.kv.members(), [
        { id: 5n, name: "a", peerUrls: ["http://10.0.0.1:7380"], clientUrls: [], learner: false },
        { id: 9n, name: "b", peerUrls: ["http://10.0.0.2:7380"], clientUrls: ["http://10.0.0.2:7379"], learner: false },
      ]);
      const all = await store.kv.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
      assert.deepEqual(
        all.kvs.map((kv) => Buffer.from(kv.key).toString()),
        ["k"],
        "member records never show in KV reads",
      );
      await store.applyOk({ type: "memberRemove", id: 5n });
      await store.reopen();
      assert.deepEqual(
        store.kv.members().map((m) => [m.id, m.name, m.learner]),
        [[9n, "b", false]],
      );
      const checkpoint = path.join(store.dir, "..", `${path.basename(store.dir)}-checkpoint`);
      await store.engine.checkpoint(checkpoint);
      const copy = await Engine.open(checkpoint, {});
      try {
        assert.deepEqual((await KvStateMachine.readMembers(copy)).map((m) => m.id), [9n], "a checkpoint carries the member records");
      } finally {
        await copy.close();
      }
    });
  });

  it("rejects member commands with bad names or URLs, naming the field", async () => {
    await withStore("members-bad", async (store) => {
      const bad = await store.apply({ type: "memberAttributes", id: 1n, name: "x", clientUrls: ["ftp://nope"] });
      assert.equal(bad.status, "rejected");
      assert.match((bad as { error: Error }).error.message, /client_urls\[0\]/);
      const long = await store.apply({ type: "memberAdd", id: 1n, name: "n".repeat(300), peerUrls: [], learner: false });
      assert.equal(long.status, "rejected");
      assert.match((long as { error: Error }).error.message, /^name:/);
    });
  });
});

describe("keep-alives through the log", () => {
  it("restart the lease's TTL where applied and answer 0 for a lease that does not exist", async () => {
    let now = 1_000_000;
    await withStore(
      "keepalive",
      async (store) => {
        await store.applyOk({ type: "leaseGrant", id: 3n, ttlSeconds: 10 });
        now += 8_000;
        const kept = await store.applyOk({ type: "leaseKeepAlive", id: 3n });
        assert.deepEqual(kept.result, { type: "leaseKeepAlive", ttlSeconds: 10 });
        now += 8_000;
        assert.deepEqual(store.kv.expiredLeases(now), [], "kept alive 8 s ago with a 10 s TTL");
        const unknown = await store.applyOk({ type: "leaseKeepAlive", id: 4n });
        assert.deepEqual(unknown.result, { type: "leaseKeepAlive", ttlSeconds: 0 });
      },
      { clock: () => now },
    );
  });
});

describe("unsynced applies (the Raft log is the write-ahead log)", () => {
  it("still record the applied index with the data, so a reopen resumes after it", async () => {
    await withStore(
      "unsynced",
      async (store) => {
        for (let i = 0; i < 20; i++) await store.applyOk({ type: "put", request: { key: b(`k${i}`), value: b("v") } });
        const applied = store.kv.appliedIndex();
        await store.reopen();
        assert.equal(store.kv.appliedIndex(), applied);
        assert.equal((await store.kv.range({ key: b("k19") })).kvs.length, 1);
      },
      { syncApplies: false },
    );
  });
});
