/**
 * Watches as a client sees them: history replayed from a start revision and then live events,
 * with no gap and no duplicate across the switch even while writes keep landing; events of one
 * revision together and in order; prev_kv and filters; a consumer that stops reading is
 * canceled (writers never wait for it); a compacted start revision cancels with the compact
 * revision; a watcher overtaken by compaction while replaying is canceled the same way.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type Command,
  EventType,
  type WatchEvent,
  WatchFilter,
  type WatchSubscription,
} from "../../src/kv/index.js";
import { b, eventually, plain, withStore } from "./kv-harness.js";

const put = (key: string, value: string): Command => ({ type: "put", request: { key: b(key), value: b(value) } });
const text = (u: Uint8Array): string => Buffer.from(u).toString("latin1");
const brief = (e: WatchEvent): string => `${e.type === EventType.Put ? "put" : "del"} ${text(e.kv.key)}@${e.kv.modRevision}`;

/** Reads events until one at `revision` or later arrives (or the watcher ends). */
async function collectUntil(w: WatchSubscription, revision: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  while (out.length === 0 || out[out.length - 1]!.kv.modRevision < revision) {
    const events = await w.next();
    if (events === undefined) break;
    out.push(...events);
  }
  return out;
}

describe("watch", () => {
  it("replays history then streams live events with no gap and no duplicate while writes continue", async () => {
    await withStore(
      "watch-switch",
      async (store) => {
        for (let i = 0; i < 40; i++) await store.applyOk(put(`k${i % 7}`, `v${i}`));
        // Writers keep going in the background while the watcher replays in small steps.
        const writes: Promise<unknown>[] = [];
        let written = 0;
        const writer = (async () => {
          for (let i = 0; i < 120; i++) {
            writes.push(store.apply(put(`k${i % 7}`, `w${i}`)));
            written++;
            if (i % 3 === 0) await new Promise((r) => setImmediate(r));
          }
          await Promise.all(writes);
        })();
        const w = store.kv.watch({ key: b("k"), rangeEnd: b("l"), startRevision: 2 });
        const last = 1 + 40 + 120;
        const events = await collectUntil(w, last);
        await writer;
        assert.equal(written, 120);
        const revisions = events.map((e) => e.kv.modRevision);
        const expected = Array.from({ length: last - 1 }, (_, i) => i + 2);
        assert.deepStrictEqual(revisions, expected, "every revision exactly once, in order");
        assert.ok(w.synced, "the watcher switched to live events");
        for (const e of events) {
          const i = e.kv.modRevision - 2;
          assert.equal(text(e.kv.value), i < 40 ? `v${i}` : `w${i - 40}`, `value at revision ${e.kv.modRevision}`);
        }
        w.cancel();
        assert.equal(await w.next(), undefined);
      },
      { watchReplayEvents: 3 },
    );
  });

  it("delivers the events of one revision together, in the order the transaction made them", async () => {
    await withStore("watch-txn", async (store) => {
      await store.applyOk(put("a", "1"));
      await store.applyOk(put("c", "1"));
      const live = store.kv.watch({ key: b("a"), rangeEnd: b("\0"), prevKv: true });
      const r = await store.applyOk({
        type: "txn",
        request: {
          compare: [],
          success: [
            { case: "put", value: { key: b("b"), value: b("2") } },
            { case: "deleteRange", value: { key: b("a") } },
            { case: "put", value: { key: b("c"), value: b("2") } },
          ],
          failure: [],
        },
      });
      assert.equal(r.revision, 4);
      const events = await live.next();
      assert.deepStrictEqual(events?.map(brief), ["put b@4", "del a@4", "put c@4"]);
      assert.deepStrictEqual(plain(events?.[1]), {
        type: EventType.Delete,
        kv: { key: "a", createRevision: 0, modRevision: 4, version: 0, value: "", lease: 0n },
        prevKv: { key: "a", createRevision: 2, modRevision: 2, version: 1, value: "1", lease: 0n },
      });
      assert.equal(text(events![2]!.prevKv!.value), "1");
      assert.equal(events![0]!.prevKv, undefined, "a created key has no prev_kv");
      // The same history replayed from revision 4 gives the same events.
      const replayed = store.kv.watch({ key: b("a"), rangeEnd: b("\0"), prevKv: true, startRevision: 4 });
      assert.deepStrictEqual(plain(await replayed.next()), plain(events));
    });
  });

  it("filters puts or deletes and watches single keys exactly", async () => {
    await withStore("watch-filter", async (store) => {
      const noPut = store.kv.watch({ key: b("k"), rangeEnd: b("l"), filters: [WatchFilter.NoPut] });
      const noDelete = store.kv.watch({ key: b("k"), rangeEnd: b("l"), filters: [WatchFilter.NoDelete] });
      const single = store.kv.watch({ key: b("k1") });
      await store.applyOk(put("k1", "a"));
      await store.applyOk(put("k10", "a"));
      await store.applyOk({ type: "deleteRange", request: { key: b("k"), rangeEnd: b("l") } });
      assert.deepStrictEqual((await noPut.next())?.map(brief), ["del k1@4", "del k10@4"]);
      assert.deepStrictEqual((await collectUntil(noDelete, 3)).map(brief), ["put k1@2", "put k10@3"]);
      assert.deepStrictEqual((await collectUntil(single, 4)).map(brief), ["put k1@2", "del k1@4"]);
    });
  });

  it("starts after the current revision by default and accepts a future start revision", async () => {
    await withStore("watch-future", async (store) => {
      await store.applyOk(put("a", "1"));
      const now = store.kv.watch({ key: b("a") });
      const later = store.kv.watch({ key: b("a"), startRevision: 4 });
      assert.equal(now.startRevision, 3);
      await store.applyOk(put("a", "2"));
      await store.applyOk(put("a", "3"));
      assert.deepStrictEqual((await collectUntil(now, 4)).map(brief), ["put a@3", "put a@4"]);
      assert.deepStrictEqual((await later.next())?.map(brief), ["put a@4"]);
    });
  });

  it("cancels a watcher that stops reading, after delivering whole revisions, without blocking writers", async () => {
    await withStore(
      "watch-slow",
      async (store) => {
        const slow = store.kv.watch({ key: b("k"), rangeEnd: b("l") });
        const fast = store.kv.watch({ key: b("k"), rangeEnd: b("l") });
        const fastEvents: WatchEvent[] = [];
        const reader = (async () => {
          for (let e = await fast.next(); e !== undefined; e = await fast.next()) {
            fastEvents.push(...e);
            if (fastEvents.length === 3 + 20) return;
          }
        })();
        // A three-event transaction, then twenty puts: the slow watcher overflows its 8 events.
        await store.applyOk({
          type: "txn",
          request: { compare: [], success: ["k1", "k2", "k3"].map((k) => ({ case: "put", value: { key: b(k), value: b("t") } })), failure: [] },
        });
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.apply(put(`k${i}`, "v"))));
        assert.ok(results.every((r) => r.status === "applied"), "writers were not blocked or failed");
        await reader;
        assert.equal(fastEvents.length, 23, "a reading watcher is unaffected");
        assert.equal(slow.synced, false);
        assert.match(slow.cancellation?.reason ?? "", /fell behind/);
        const delivered = (await slow.next())!;
        assert.ok(delivered.length <= 8, `at most the buffer: ${delivered.length}`);
        const lastRevision = delivered[delivered.length - 1]!.kv.modRevision;
        assert.deepStrictEqual(
          delivered.map((e) => e.kv.modRevision),
          [2, 2, 2, ...Array.from({ length: lastRevision - 2 }, (_, i) => i + 3)],
          "only complete revisions, so the client can resume after the last one",
        );
        assert.equal(await slow.next(), undefined);
      },
      { watchBufferEvents: 8 },
    );
  });

  it("cancels a watch from a compacted revision with the compact revision", async () => {
    await withStore("watch-compacted", async (store) => {
      for (let i = 0; i < 6; i++) await store.applyOk(put("a", `${i}`));
      await store.applyOk({ type: "compact", revision: 5 });
      const w = store.kv.watch({ key: b("a"), startRevision: 3 });
      assert.equal(await w.next(), undefined);
      assert.equal(w.cancellation?.compactRevision, 5);
      // From the compact revision itself the history is still there.
      const ok = store.kv.watch({ key: b("a"), startRevision: 5 });
      assert.deepStrictEqual((await collectUntil(ok, 7)).map(brief), ["put a@5", "put a@6", "put a@7"]);
    });
  });

  it("cancels a replaying watcher that compaction overtakes", async () => {
    await withStore(
      "watch-overtaken",
      async (store) => {
        for (let i = 0; i < 30; i++) await store.applyOk(put(`k${i % 3}`, `${i}`));
        const w = store.kv.watch({ key: b("k"), rangeEnd: b("l"), startRevision: 2 });
        const first = await w.next();
        assert.deepStrictEqual(first?.map((e) => e.kv.modRevision), [2, 3]);
        await store.applyOk({ type: "compact", revision: 20 });
        await store.kv.waitForCompaction(20);
        assert.equal(await w.next(), undefined);
        assert.equal(w.cancellation?.compactRevision, 20);
      },
      { watchReplayEvents: 2 },
    );
  });

  it("rejects invalid watch requests and ends watchers on close", async () => {
    await withStore("watch-invalid", async (store) => {
      assert.throws(() => store.kv.watch({ key: b("") }), { name: "InvalidArgumentError" });
      assert.throws(() => store.kv.watch({ key: b("b"), rangeEnd: b("a") }), { name: "InvalidArgumentError" });
      assert.throws(() => store.kv.watch({ key: b("a"), startRevision: -1 }), { name: "InvalidArgumentError" });
      const w = store.kv.watch({ key: b("a") });
      const pending = w.next();
      await store.kv.close();
      assert.equal(await pending, undefined);
      assert.match(w.cancellation?.reason ?? "", /closed/);
      await eventually(() => store.kv.stats().watchers === 0, "watchers to be gone");
    });
  });
});
