/**
 * The apply path as its caller (Raft) sees it: replaying entries already applied changes
 * nothing, a restart resumes after appliedIndex(); concurrent applies share engine writes and
 * keep log order; rejected and malformed commands advance the applied index; compaction removes
 * old versions physically and durably; reads fail with typed errors; admission limits; a storage
 * failure stops the state machine for good.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type Command,
  CompactedError,
  DuplicateKeyError,
  FutureRevisionError,
  InvalidArgumentError,
  KeyTooLargeError,
  MAX_KEY_BYTES,
  MalformedCommandError,
  RequestTooLargeError,
  type SortOrder,
  StateMachineClosedError,
  TooManyOperationsError,
  checkCommand,
  checkCommandLimits,
  encodeCommand,
} from "../../src/kv/index.js";
import { TestStore, b, plain, withStore, withTempDir } from "./kv-harness.js";

const put = (key: string, value: string, lease = 0n): Command => ({ type: "put", request: { key: b(key), value: b(value), lease } });

/** A fixed mixed history: puts, deletes, transactions, leases, a compaction. */
function history(): Command[] {
  const out: Command[] = [{ type: "leaseGrant", id: 5n, ttlSeconds: 100 }];
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 120; i++) {
    const key = `k${next(9)}`;
    switch (next(6)) {
      case 0:
        out.push({ type: "deleteRange", request: { key: b(key), rangeEnd: b("k5") < b(key) ? b("\0") : b("k5") } });
        break;
      case 1:
        out.push({
          type: "txn",
          request: {
            compare: [{ key: b(key), operator: 1, target: { case: "version", value: next(3) } }],
            success: [{ case: "put", value: { key: b(key), value: b(`t${i}`) } }],
            failure: [{ case: "deleteRange", value: { key: b(key) } }],
          },
        });
        break;
      case 2:
        out.push(put(key, `l${i}`, 5n));
        break;
      default:
        out.push(put(key, `v${i}`));
    }
    if (i === 80) out.push({ type: "compact", revision: 40 });
  }
  out.push({ type: "leaseRevoke", id: 5n });
  return out;
}

/** Everything a client can observe: every readable revision, the leases, the indexes. */
async function dump(store: TestStore): Promise<unknown> {
  const kv = store.kv;
  const revisions: unknown[] = [];
  for (let rev = Math.max(1, kv.compactRevision()); rev <= kv.revision(); rev++) {
    revisions.push(plain(await kv.range({ key: b("\0"), rangeEnd: b("\0"), revision: rev })));
  }
  return { appliedIndex: kv.appliedIndex(), revision: kv.revision(), compact: kv.compactRevision(), revisions, leases: plain(kv.leases(0)) };
}

async function applyAll(store: TestStore, commands: Command[], from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) await store.kv.apply(i, encodeCommand(commands[i - 1]!));
}

async function countEngineKeys(store: TestStore, prefix: string): Promise<number> {
  let n = 0;
  const start = b(prefix);
  const end = b(String.fromCharCode(prefix.charCodeAt(0) + 1));
  for await (const entry of store.engine.iterate({ gte: start, lt: end })) if (entry) n++;
  return n;
}

describe("apply", () => {
  it("is idempotent: replaying applied entries, or resuming after a restart, gives the same state", async () => {
    const commands = history();
    await withTempDir("apply-replay", async (dir) => {
      const once = await TestStore.open(`${dir}/once`);
      const resumed = await TestStore.open(`${dir}/resumed`);
      try {
        await applyAll(once, commands, 1, commands.length);
        const expected = await dump(once);
        // The same entries again (a Raft restart replaying its whole log) are all skipped.
        for (let i = 1; i <= commands.length; i++) {
          const r = await once.kv.apply(i, encodeCommand(commands[i - 1]!));
          assert.equal(r.status, "skipped", `entry ${i}`);
        }
        assert.deepStrictEqual(await dump(once), expected);

        await applyAll(resumed, commands, 1, 70);
        await resumed.reopen();
        assert.equal(resumed.kv.appliedIndex(), 70);
        await applyAll(resumed, commands, 1, commands.length);
        assert.deepStrictEqual(await dump(resumed), expected);
      } finally {
        await once.close();
        await resumed.close();
      }
    });
  });

  it("groups concurrent applies into shared engine writes and keeps log order", async () => {
    await withStore("apply-group", async (store) => {
      const results = await Promise.all(Array.from({ length: 64 }, (_, i) => store.apply(put(`k${i % 5}`, `v${i}`))));
      assert.deepStrictEqual(
        results.map((r) => [r.status, r.index, r.revision]),
        results.map((_, i) => ["applied", i + 1, i + 2]),
      );
      const stats = store.kv.stats();
      assert.equal(stats.appliedCommands, 64);
      assert.ok(stats.applyGroups <= 2, `64 concurrent applies took ${stats.applyGroups} engine writes`);
      const k0 = await store.kv.range({ key: b("k0") });
      assert.deepStrictEqual(plain(k0.kvs[0]), { key: "k0", createRevision: 2, modRevision: 62, version: 13, value: "v60", lease: 0n });
    });
  });

  it("records rejected and malformed commands as results and still advances the applied index", async () => {
    await withStore("apply-reject", async (store) => {
      await store.applyOk(put("a", "1"));
      const future = await store.apply({ type: "compact", revision: 10 });
      assert.ok(future.status === "rejected" && future.error instanceof FutureRevisionError);
      const garbage = await store.applyBytes(Uint8Array.of(1, 99));
      assert.ok(garbage.status === "rejected" && garbage.error instanceof MalformedCommandError);
      const dup = await store.apply({
        type: "txn",
        request: {
          compare: [],
          success: [
            { case: "deleteRange", value: { key: b("a"), rangeEnd: b("c") } },
            { case: "txn", value: { compare: [], success: [], failure: [{ case: "put", value: { key: b("b"), value: b("") } }] } },
          ],
          failure: [],
        },
      });
      assert.ok(dup.status === "rejected" && dup.error instanceof DuplicateKeyError, "a put inside a deleted range in one branch");
      // A transaction that fails part-way (a read of a compacted revision) leaves no write behind.
      await store.applyOk(put("a", "2"));
      await store.applyOk({ type: "compact", revision: 3 });
      const partial = await store.apply({
        type: "txn",
        request: {
          compare: [],
          success: [
            { case: "put", value: { key: b("x"), value: b("1") } },
            { case: "range", value: { key: b("a"), revision: 2 } },
          ],
          failure: [],
        },
      });
      assert.ok(partial.status === "rejected" && partial.error instanceof CompactedError && partial.error.compactRevision === 3);
      assert.equal(partial.revision, 3);
      assert.equal((await store.kv.range({ key: b("x") })).count, 0);
      await store.reopen();
      assert.equal(store.kv.appliedIndex(), 7);
      assert.equal(store.kv.revision(), 3);
    });
  });

  it("removes compacted versions physically, durably, and keeps every readable revision intact", async () => {
    await withStore("apply-compact", async (store) => {
      for (let i = 0; i < 100; i++) await store.applyOk(put(i % 10 === 9 ? "gone" : "hot", `${i}`));
      await store.applyOk({ type: "deleteRange", request: { key: b("gone") } });
      const before = await store.kv.range({ key: b("\0"), rangeEnd: b("\0"), revision: 95 });
      assert.equal(await countEngineKeys(store, "k"), 101);
      await store.applyOk({ type: "compact", revision: 102, physical: true });
      await store.kv.waitForCompaction(102);
      // hot: only its newest version (rev 100) is left; gone: its tombstone and versions are gone.
      assert.equal(await countEngineKeys(store, "k"), 1);
      assert.equal(await countEngineKeys(store, "r"), 1, "only the event at the compact revision (the delete) is left");
      await assert.rejects(store.kv.range({ key: b("hot"), revision: 95 }), (e: unknown) => e instanceof CompactedError && e.compactRevision === 102);
      const now = await store.kv.range({ key: b("\0"), rangeEnd: b("\0") });
      assert.deepStrictEqual(plain(now.kvs), [{ key: "hot", createRevision: 2, modRevision: 100, version: 90, value: "98", lease: 0n }]);
      assert.equal(before.count, 2);
      await store.reopen();
      assert.equal(store.kv.stats().physicallyCompactedRevision, 102);
      assert.equal(store.kv.compactRevision(), 102);
      const again = await store.apply({ type: "compact", revision: 102 });
      assert.ok(again.status === "rejected" && again.error instanceof CompactedError);
    });
  });

  it("rejects bad reads with typed errors naming the field", async () => {
    await withStore("apply-read-errors", async (store) => {
      await store.applyOk(put("a", "1"));
      await store.applyOk(put("a", "2"));
      await store.applyOk({ type: "compact", revision: 2 });
      const field = (name: string) => (e: unknown) => e instanceof InvalidArgumentError && e.field === name;
      await assert.rejects(store.kv.range({ key: b("") }), field("key"));
      await assert.rejects(store.kv.range({ key: b("b"), rangeEnd: b("a") }), field("range_end"));
      await assert.rejects(store.kv.range({ key: b("a"), limit: -1 }), field("limit"));
      await assert.rejects(store.kv.range({ key: b("a"), sortOrder: 9 as SortOrder }), field("sort_order"));
      await assert.rejects(store.kv.range({ key: new Uint8Array(MAX_KEY_BYTES + 1) }), KeyTooLargeError);
      await assert.rejects(store.kv.range({ key: b("a"), revision: 4 }), (e: unknown) => e instanceof FutureRevisionError && e.currentRevision === 3);
      await assert.rejects(store.kv.range({ key: b("a"), revision: 1 }), (e: unknown) => e instanceof CompactedError && e.compactRevision === 2);
      assert.equal((await store.kv.range({ key: b("a"), revision: 2 })).kvs.length, 1, "the compact revision itself is readable");
    });
  });

  it("checks admission limits before proposing and structure at apply", () => {
    const ops = Array.from({ length: 129 }, (_, i) => ({ case: "put" as const, value: { key: b(`k${i}`), value: b("") } }));
    const big: Command = { type: "txn", request: { compare: [], success: ops, failure: [] } };
    assert.throws(() => checkCommandLimits(big, encodeCommand(big)), (e: unknown) => e instanceof TooManyOperationsError && e.count === 129);
    const nested: Command = {
      type: "txn",
      request: { compare: [], success: [{ case: "txn", value: { compare: [], success: ops.slice(0, 64), failure: ops.slice(64, 128) } }], failure: [] },
    };
    assert.throws(() => checkCommandLimits(nested, encodeCommand(nested)), TooManyOperationsError, "nested operations count");
    const large = put("k", "x".repeat(2 * 1024 * 1024));
    assert.throws(() => checkCommandLimits(large, encodeCommand(large)), RequestTooLargeError);
    assert.throws(() => checkCommand({ type: "put", request: { key: b("k"), value: b("v"), ignoreValue: true } }), InvalidArgumentError);
    assert.throws(() => checkCommand({ type: "compact", revision: 0 }), InvalidArgumentError);
  });

  it("stops for good after a storage failure, and refuses applies after close", async () => {
    await withTempDir("apply-failure", async (dir) => {
      const failures: Error[] = [];
      const store = await TestStore.open(dir, undefined, { onFailure: (err) => failures.push(err) });
      await store.applyOk(put("a", "1"));
      const w = store.kv.watch({ key: b("a") });
      await store.engine.close();
      const failed = store.apply(put("a", "2"));
      await assert.rejects(failed, StateMachineClosedError);
      await assert.rejects(store.apply(put("a", "3")), (e: unknown) => e instanceof StateMachineClosedError && e.cause instanceof Error);
      assert.equal(failures.length, 1);
      assert.equal(await w.next(), undefined);
      assert.match(w.cancellation?.reason ?? "", /stopped/);
      await store.kv.close();
      await assert.rejects(store.kv.apply(9, encodeCommand(put("a", "4"))), StateMachineClosedError);
      await assert.rejects(store.kv.apply(0, encodeCommand(put("a", "4"))), StateMachineClosedError);
      const reopened = await TestStore.open(dir);
      try {
        assert.equal(reopened.kv.appliedIndex(), 1);
        await assert.rejects(reopened.kv.apply(-1, new Uint8Array(0)), (e: unknown) => e instanceof InvalidArgumentError && e.field === "index");
      } finally {
        await reopened.close();
      }
    });
  });
});
