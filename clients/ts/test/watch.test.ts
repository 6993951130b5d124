import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { WatchCreateRequest } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { ClientClosedError, Code, ConnectError, WatchCanceledError, WatchCompactedError, type WatchBatch, type WatchEvent } from "../src/index.js";
import { take, waitFor, within } from "./helpers.js";
import { fakeClient } from "./setup.js";

const creates = (calls: { method: string; request: unknown }[]): WatchCreateRequest[] =>
  calls.filter((c) => c.method === "watchCreate").map((c) => c.request as WatchCreateRequest);

const describeEvent = (e: WatchEvent): string => `${e.type} ${e.kv.keyString}=${e.kv.valueString}@${e.kv.modRevision}`;

describe("watch", () => {
  it("delivers the puts and deletes of a prefix, with prevKv and filters", async () => {
    const { fake, client } = fakeClient();
    try {
      const watcher = client.watch("dir/", { prefix: true, prevKv: true });
      const createdAt = await within(watcher.ready, "the watcher to be created");
      assert.equal(createdAt, 1);
      await client.put("dir/a", "1");
      await client.put("elsewhere", "x");
      await client.put("dir/a", "2");
      await client.delete("dir/a");
      const it = watcher[Symbol.asyncIterator]();
      const batches = await take(it, 3, "three batches");
      const events = batches.flatMap((b) => b.events);
      assert.deepEqual(events.map(describeEvent), ["put dir/a=1@2", "put dir/a=2@4", "delete dir/a=@5"]);
      assert.equal(events[1].prevKv?.valueString, "1");
      assert.equal(events[2].prevKv?.valueString, "2");
      assert.equal(batches[2].revision, 5);
      const sent = creates(fake.calls)[0];
      assert.equal(sent.prevKv, true);
      assert.deepEqual(sent.rangeEnd, new TextEncoder().encode("dir0"));

      const deletesOnly = client.watch("k", { filters: ["noPut"] });
      await within(deletesOnly.ready, "the filtered watcher");
      await client.put("k", "1");
      await client.delete("k");
      const [batch] = await take(deletesOnly[Symbol.asyncIterator](), 1, "the delete");
      assert.deepEqual(batch.events.map((e) => e.type), ["delete"]);
    } finally {
      await client.close();
    }
  });

  it("replays history from startRevision", async () => {
    const { client } = fakeClient();
    try {
      await client.put("k", "1");
      await client.put("k", "2");
      await client.put("k", "3");
      const watcher = client.watch("k", { startRevision: 3 });
      const batches = await take(watcher[Symbol.asyncIterator](), 2, "the history");
      assert.deepEqual(
        batches.flatMap((b) => b.events).map((e) => e.kv.valueString),
        ["2", "3"],
      );
      assert.equal(watcher.resumeRevision, 5);
    } finally {
      await client.close();
    }
  });

  it("resumes after the stream drops from the revision after the last event: no gap, no duplicate", async () => {
    const { fake, client } = fakeClient();
    try {
      const watcher = client.watch("k", { prefix: true });
      await within(watcher.ready, "the watcher");
      const it = watcher[Symbol.asyncIterator]();
      const seen: number[] = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 3; i++) await client.put(`k${i}`, `round ${round}`);
        const batches: WatchBatch[] = await take(it, 3, `round ${round}`);
        seen.push(...batches.flatMap((b) => b.events.map((e) => e.kv.modRevision)));
        // Drop the stream, then write while the watcher reconnects.
        assert.equal(fake.drop("watch"), 1);
        await client.put("k-during", `round ${round}`);
        seen.push(...(await take(it, 1, `the write made during reconnection, round ${round}`)).flatMap((b) => b.events.map((e) => e.kv.modRevision)));
      }
      assert.deepEqual(seen, Array.from({ length: 12 }, (_, i) => i + 2), "revisions delivered");
      const starts = creates(fake.calls).map((c) => Number(c.startRevision));
      assert.equal(starts[0], 0);
      assert.deepEqual(starts.slice(1), [5, 9, 13], "each re-creation starts after the last event delivered");
    } finally {
      await client.close();
    }
  });

  it("resumes from the revision after its creation when it dropped before any event", async () => {
    const { fake, client } = fakeClient();
    try {
      await client.put("x", "1");
      const watcher = client.watch("k");
      await within(watcher.ready, "the watcher");
      fake.drop("watch");
      await client.put("k", "during the drop");
      const [batch] = await take(watcher[Symbol.asyncIterator](), 1, "the event");
      assert.equal(batch.events[0].kv.valueString, "during the drop");
      assert.equal(Number(creates(fake.calls)[1].startRevision), 3);
    } finally {
      await client.close();
    }
  });

  it("fails with WatchCompactedError when the start revision was compacted", async () => {
    const { client } = fakeClient();
    try {
      for (let i = 0; i < 4; i++) await client.put("k", `${i}`);
      await client.compact(4);
      const watcher = client.watch("k", { startRevision: 2 });
      await assert.rejects(
        within(watcher[Symbol.asyncIterator]().next(), "the iteration to fail"),
        (err: unknown) => err instanceof WatchCompactedError && err.compactRevision === 4 && err.startRevision === 2 && err.code === Code.OutOfRange,
      );
    } finally {
      await client.close();
    }
  });

  it("fails with WatchCanceledError when the server refuses the watch", async () => {
    const { client } = fakeClient();
    try {
      const watcher = client.watch("");
      await assert.rejects(within(watcher.ready, "ready to reject"), WatchCanceledError);
      await assert.rejects(
        within(watcher[Symbol.asyncIterator]().next(), "the iteration to fail"),
        (err: unknown) => err instanceof WatchCanceledError && err.reason === "key: must not be empty" && err.code === Code.Aborted,
      );
    } finally {
      await client.close();
    }
  });

  it("fails with WatchCompactedError when the revision to resume from was compacted while disconnected", async () => {
    const { fake, client } = fakeClient();
    try {
      const watcher = client.watch("k");
      await within(watcher.ready, "the watcher");
      const it = watcher[Symbol.asyncIterator]();
      await client.put("k", "1");
      await take(it, 1, "the first event");
      // Fail every re-creation until the history it needs is compacted away.
      let blocking = true;
      fake.changes.on("change", () => {
        if (blocking) fake.drop("watch");
      });
      fake.drop("watch");
      await client.put("k", "2");
      await client.put("k", "3");
      await client.compact(4);
      blocking = false;
      await assert.rejects(
        within(it.next(), "the watch to fail"),
        (err: unknown) => err instanceof WatchCompactedError && err.startRevision === 3 && err.compactRevision === 4,
      );
    } finally {
      fake.changes.removeAllListeners("change");
      await client.close();
    }
  });

  it("cancels the watcher when the loop breaks, and closes the stream once no watcher is left", async () => {
    const { fake, client } = fakeClient();
    try {
      const watcher = client.watch("k");
      await within(watcher.ready, "the watcher");
      await client.put("k", "1");
      for await (const batch of watcher) {
        assert.equal(batch.events.length, 1);
        break;
      }
      await waitFor(fake.changes, () => fake.openCount("watch") === 0, "the watch stream to close");
    } finally {
      await client.close();
    }
  });

  it("shares one Watch stream between watchers and cancels one without disturbing the other", async () => {
    const { fake, client } = fakeClient();
    try {
      const a = client.watch("a");
      const b = client.watch("b");
      await within(Promise.all([a.ready, b.ready]), "both watchers");
      assert.equal(fake.streamsOpened.watch, 1);
      a.cancel();
      await client.put("a", "1");
      await client.put("b", "1");
      const [batch] = await take(b[Symbol.asyncIterator](), 1, "b's event");
      assert.equal(batch.events[0].kv.keyString, "b");
      assert.equal((await a[Symbol.asyncIterator]().next()).done, true);
      assert.equal(fake.openCount("watch"), 1);
    } finally {
      await client.close();
    }
  });

  it("re-creates from history a watcher whose consumer fell too far behind, without gaps", async () => {
    const { fake, client } = fakeClient();
    try {
      const watcher = client.watch("k");
      await within(watcher.ready, "the watcher");
      const writes = 1_500;
      // More responses than the watcher's queue (1024) and its batch queue (64) hold.
      await Promise.all(Array.from({ length: writes }, (_, i) => client.put("k", `${i}`)));
      const revisions: number[] = [];
      const it = watcher[Symbol.asyncIterator]();
      while (revisions.length < writes) {
        const batches = await take(it, 1, `event ${revisions.length + 1} of ${writes}`);
        revisions.push(...batches.flatMap((b) => b.events.map((e) => e.kv.modRevision)));
      }
      assert.deepEqual(revisions, Array.from({ length: writes }, (_, i) => i + 2));
      assert.ok(creates(fake.calls).length >= 2, "the watcher was re-created");
    } finally {
      await client.close();
    }
  });

  it("delivers progress notifications as empty batches and resumes after them", async () => {
    const { fake, client } = fakeClient();
    try {
      const watcher = client.watch("quiet", { progressNotify: true });
      await within(watcher.ready, "the watcher");
      await client.put("other", "1");
      await client.put("other", "2");
      fake.sendProgress();
      const [progress] = await take(watcher[Symbol.asyncIterator](), 1, "the progress notification");
      assert.deepEqual(progress.events, []);
      assert.equal(progress.revision, 3);
      assert.equal(watcher.resumeRevision, 4);
      assert.equal(creates(fake.calls)[0].progressNotify, true);
      fake.drop("watch");
      await client.put("quiet", "x");
      const [batch] = await take(watcher[Symbol.asyncIterator](), 1, "the event after the drop");
      assert.equal(batch.events[0].kv.modRevision, 4);
      assert.equal(Number(creates(fake.calls)[1].startRevision), 4);
    } finally {
      await client.close();
    }
  });

  it("a watch whose signal is already aborted ends at once", async () => {
    const { fake, client } = fakeClient();
    try {
      const watcher = client.watch("k", { signal: AbortSignal.abort() });
      assert.equal(watcher.isActive, false);
      assert.equal((await watcher[Symbol.asyncIterator]().next()).done, true);
      assert.equal(fake.streamsOpened.watch, 0);
    } finally {
      await client.close();
    }
  });

  it("aborting the signal ends the iteration normally", async () => {
    const { client } = fakeClient();
    try {
      const controller = new AbortController();
      const watcher = client.watch("k", { signal: controller.signal });
      await within(watcher.ready, "the watcher");
      const next = watcher[Symbol.asyncIterator]().next();
      controller.abort();
      assert.equal((await within(next, "the iteration to end")).done, true);
    } finally {
      await client.close();
    }
  });

  it("fails with the error after maxReconnectAttempts consecutive failed reconnections", async () => {
    const { fake, client } = fakeClient();
    try {
      const watcher = client.watch("k", { maxReconnectAttempts: 2 });
      await within(watcher.ready, "the watcher");
      fake.before = undefined;
      const broken = new ConnectError("no leader", Code.Unavailable);
      // Fail every new stream at once.
      fake.changes.on("change", () => fake.drop("watch", broken));
      fake.drop("watch", broken);
      await assert.rejects(within(watcher[Symbol.asyncIterator]().next(), "the watch to give up"), (err: unknown) => err instanceof ConnectError && err.code === Code.Unavailable);
      assert.equal(fake.streamsOpened.watch, 3);
    } finally {
      fake.changes.removeAllListeners("change");
      await client.close();
    }
  });

  it("ends with ClientClosedError when the client closes", async () => {
    const { client } = fakeClient();
    const watcher = client.watch("k");
    await within(watcher.ready, "the watcher");
    const next = watcher[Symbol.asyncIterator]().next();
    await client.close();
    await assert.rejects(within(next, "the iteration to fail"), ClientClosedError);
  });
});
