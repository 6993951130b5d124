/**
 * The Engine's public contract as a caller sees it: typed errors for bad input and for use after
 * close, the directory lock (in this process, across processes, and a stale lock left by a
 * killed process), the size limits, values returned and stored as copies, checkpoints taken
 * while writes continue, snapshots, iterator views, and stats().
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  ClosedError,
  Engine,
  InvalidArgumentError,
  LockedError,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  StorageError,
  WriteBatch,
} from "../../src/storage/index.js";
import type { EngineOptions } from "../../src/storage/index.js";
import { WriterChild } from "./crash-runner.js";
import { withTempDir } from "./test-dirs.js";

const children = new Set<WriterChild>();
after(async () => {
  for (const child of children) await child.kill();
});

const SMALL: EngineOptions = {
  memtableBytes: 8 * 1024,
  targetFileBytes: 8 * 1024,
  blockSizeBytes: 512,
  l0CompactionTrigger: 2,
  levelBaseBytes: 32 * 1024,
};

const b = (text: string): Buffer => Buffer.from(text);
const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

async function collect(entries: AsyncIterable<[Uint8Array, Uint8Array]>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [k, v] of entries) out.push([Buffer.from(k).toString(), Buffer.from(v).toString()]);
  return out;
}

/** Opens an engine in a fresh directory for the duration of `body`, closing it afterwards. */
async function withEngine(label: string, options: EngineOptions, body: (engine: Engine, dir: string) => Promise<void>): Promise<void> {
  await withTempDir(label, async (dir) => {
    const engine = await Engine.open(dir, options);
    try {
      await body(engine, dir);
    } finally {
      await engine.close();
    }
  });
}

/** The call must return a rejected promise (not throw) with an error of `type` whose message matches. */
async function expectRejection(call: () => Promise<unknown>, type: new (...args: never[]) => Error, message: RegExp, what: string): Promise<void> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (err) {
    assert.fail(`${what} threw synchronously instead of rejecting: ${String(err)}`);
  }
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof type, `${what}: expected ${type.name}, got ${String(err)}`);
    assert.ok(err instanceof StorageError, `${what}: ${type.name} should be a StorageError`);
    assert.match((err as Error).message, message, `${what}: unclear message`);
    return true;
  });
}

/** Polls `condition` until it holds or the deadline passes; returns whether it held. */
async function eventually(condition: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

// Allocated once and shared by the tests at the value limit.
const hugeValue = Buffer.alloc(MAX_VALUE_BYTES + 1, 0x61);
// An untyped view so the tests can pass what a JavaScript caller might.
type Loose = (...args: unknown[]) => Promise<unknown>;

describe("bad input is rejected with InvalidArgumentError", () => {
  it("keys and values of the wrong size or type", async () => {
    await withEngine("api-bad-input", {}, async (engine) => {
      const bigKey = Buffer.alloc(MAX_KEY_BYTES + 1, 1);
      await expectRejection(() => engine.put(new Uint8Array(0), b("v")), InvalidArgumentError, /empty/, "put(empty key)");
      await expectRejection(() => engine.put(bigKey, b("v")), InvalidArgumentError, /65537.*65536|64 KiB/, "put(64 KiB + 1 key)");
      await expectRejection(() => engine.put(b("k"), hugeValue), InvalidArgumentError, /67108865|64 MiB/, "put(64 MiB + 1 value)");
      const put = engine.put.bind(engine) as Loose;
      const get = engine.get.bind(engine) as Loose;
      const del = engine.delete.bind(engine) as Loose;
      for (const bad of ["key", 42, null, undefined, [1, 2], { length: 1 }]) {
        await expectRejection(() => put(bad, b("v")), InvalidArgumentError, /Uint8Array/, `put(key ${JSON.stringify(bad)})`);
        await expectRejection(() => put(b("k"), bad), InvalidArgumentError, /Uint8Array/, `put(value ${JSON.stringify(bad)})`);
        await expectRejection(() => get(bad), InvalidArgumentError, /Uint8Array/, `get(${JSON.stringify(bad)})`);
        await expectRejection(() => del(bad), InvalidArgumentError, /Uint8Array/, `delete(${JSON.stringify(bad)})`);
      }
      await expectRejection(() => engine.get(new Uint8Array(0)), InvalidArgumentError, /empty/, "get(empty key)");
      await expectRejection(() => engine.delete(bigKey), InvalidArgumentError, /64 KiB|65536/, "delete(64 KiB + 1 key)");
      // iterate() is synchronous: it may throw at the call or fail the first next().
      const badBound = { gte: "a" as unknown as Uint8Array };
      await expectRejection(async () => collect(engine.iterate(badBound)), InvalidArgumentError, /Uint8Array|gte/, "iterate({ gte: string })");

      // Nothing was written by the rejected calls, and the engine still works.
      assert.deepEqual(await collect(engine.iterate()), []);
      await engine.put(b("k"), b("v"));
      assert.equal(text(await engine.get(b("k"))), "v");
    });
  });

  it("WriteBatch rejects bad ops synchronously, and write() rejects what is not a batch", async () => {
    const batch = new WriteBatch();
    const loose = batch as unknown as { put: (...args: unknown[]) => unknown; delete: (...args: unknown[]) => unknown };
    assert.throws(() => loose.put("k", b("v")), InvalidArgumentError);
    assert.throws(() => loose.put(b("k"), "v"), InvalidArgumentError);
    assert.throws(() => loose.put(b("k"), null), InvalidArgumentError);
    assert.throws(() => batch.put(new Uint8Array(0), b("v")), /empty/);
    assert.throws(() => batch.delete(Buffer.alloc(MAX_KEY_BYTES + 1)), InvalidArgumentError);
    assert.throws(() => loose.delete(7), InvalidArgumentError);
    assert.equal(batch.length, 0, "rejected ops are not added");
    await withEngine("api-bad-batch", {}, async (engine) => {
      const write = engine.write.bind(engine) as Loose;
      for (const bad of [null, undefined, "batch", {}, [[b("k"), b("v")]]]) {
        await expectRejection(() => write(bad), InvalidArgumentError, /batch|WriteBatch/i, `write(${JSON.stringify(bad)})`);
      }
      await engine.write(new WriteBatch());
      assert.deepEqual(await collect(engine.iterate()), [], "an empty batch writes nothing");
    });
  });
});

describe("limits", () => {
  it("a key of exactly 64 KiB and a value of exactly 64 MiB are stored and read back, also after reopen", { timeout: 60_000 }, async () => {
    await withTempDir("api-limits", async (dir) => {
      const maxKey = Buffer.alloc(MAX_KEY_BYTES, 0x6b);
      const maxValue = hugeValue.subarray(0, MAX_VALUE_BYTES);
      let engine = await Engine.open(dir);
      try {
        await engine.put(maxKey, b("max key"));
        await engine.put(b("big"), maxValue);
        await engine.put(b("empty"), new Uint8Array(0));
        assert.equal(text(await engine.get(maxKey)), "max key");
        assert.ok(Buffer.from((await engine.get(b("big")))!).equals(maxValue), "the 64 MiB value reads back");
        assert.equal((await engine.get(b("empty")))?.length, 0, "an empty value is present, not absent");
        await engine.close();
        engine = await Engine.open(dir);
        assert.equal(text(await engine.get(maxKey)), "max key");
        assert.ok(Buffer.from((await engine.get(b("big")))!).equals(maxValue), "the 64 MiB value reads back after reopen");
        assert.equal((await engine.get(b("empty")))?.length, 0);
        const keyLengths: number[] = [];
        for await (const [k] of engine.iterate()) keyLengths.push(k.length);
        assert.deepEqual(keyLengths, [3, 5, MAX_KEY_BYTES]);
        await engine.delete(maxKey);
        assert.equal(await engine.get(maxKey), undefined);
      } finally {
        await engine.close();
      }
    });
  });
});

describe("use after close", () => {
  it("every method rejects (or throws, if synchronous) with ClosedError", async () => {
    await withTempDir("api-closed", async (dir) => {
      const engine = await Engine.open(dir);
      await engine.put(b("a"), b("1"));
      await engine.put(b("b"), b("2"));
      const snapshot = engine.snapshot();
      const openIterator = engine.iterate()[Symbol.asyncIterator]();
      assert.equal(text((await openIterator.next()).value?.[0]), "a");
      await engine.close();

      await expectRejection(() => engine.get(b("a")), ClosedError, /close/i, "get");
      await expectRejection(() => engine.get(b("a"), { snapshot }), ClosedError, /close/i, "get via a snapshot");
      await expectRejection(() => engine.put(b("a"), b("1")), ClosedError, /close/i, "put");
      await expectRejection(() => engine.delete(b("a")), ClosedError, /close/i, "delete");
      await expectRejection(() => engine.write(new WriteBatch().put(b("a"), b("1"))), ClosedError, /close/i, "write");
      await expectRejection(async () => collect(engine.iterate()), ClosedError, /close/i, "iterate");
      await expectRejection(() => openIterator.next(), ClosedError, /close/i, "next() of an iterator opened before close");
      await expectRejection(() => engine.checkpoint(join(dir, "checkpoint")), ClosedError, /close/i, "checkpoint");
      assert.throws(() => engine.snapshot(), ClosedError, "snapshot");
      snapshot.release();
      await engine.close();
    });
  });

  it("a released snapshot cannot be read through", async () => {
    await withEngine("api-released", {}, async (engine) => {
      await engine.put(b("a"), b("1"));
      const snapshot = engine.snapshot();
      snapshot.release();
      snapshot.release();
      await expectRejection(() => engine.get(b("a"), { snapshot }), ClosedError, /releas|closed/i, "get via a released snapshot");
      await expectRejection(async () => collect(engine.iterate({ snapshot })), ClosedError, /releas|closed/i, "iterate via a released snapshot");
    });
  });
});

describe("the directory lock", () => {
  it("a second open in this process fails with LockedError until the first is closed", async () => {
    await withTempDir("api-lock", async (dir) => {
      const first = await Engine.open(dir);
      try {
        await expectRejection(() => Engine.open(dir), LockedError, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), "second open");
        await expectRejection(() => Engine.open(join(dir, ".")), LockedError, /open/, "second open through another spelling of the path");
        await first.put(b("k"), b("v"));
      } finally {
        await first.close();
      }
      const second = await Engine.open(dir);
      try {
        assert.equal(text(await second.get(b("k"))), "v");
      } finally {
        await second.close();
      }
    });
  });

  it("a directory open in another process fails with LockedError; after that process is killed it opens", async () => {
    await withTempDir("api-lock-process", async (dir) => {
      const child = new WriterChild(["hold", dir]);
      children.add(child);
      try {
        assert.equal(await child.waitForLine((line) => line === "open", 30_000), "open", `child did not open: ${child.describeExit()}`);
        await assert.rejects(Engine.open(dir), (err: unknown) => {
          assert.ok(err instanceof LockedError, `expected LockedError, got ${String(err)}`);
          assert.equal(err.holderPid, child.pid, "the error names the holder's pid");
          assert.match(err.message, new RegExp(String(child.pid)));
          return true;
        });
      } finally {
        await child.kill();
        children.delete(child);
      }
      const engine = await Engine.open(dir);
      await engine.close();
    });
  });

  it("another process cannot open a directory this process holds", async () => {
    await withEngine("api-lock-held", {}, async (_engine, dir) => {
      const child = new WriterChild(["hold", dir]);
      children.add(child);
      try {
        const line = await child.waitForLine((l) => l === "open" || l.startsWith("error "), 30_000);
        assert.match(line ?? "", /^error LockedError: /, `child output: ${child.describeExit()}`);
        assert.equal((await child.exited).code, 1);
      } finally {
        await child.kill();
        children.delete(child);
      }
    });
  });
});

describe("values are copies", () => {
  it("mutating a returned value or a written buffer does not change what is stored", async () => {
    await withEngine("api-copies", {}, async (engine) => {
      const key = b("key");
      const value = b("original");
      const pending = engine.put(key, value);
      value.fill(0x58);
      key.fill(0x58);
      await pending;
      value.write("mutated!");
      assert.equal(text(await engine.get(b("key"))), "original", "mutating put's buffers after the call");
      assert.equal(await engine.get(b("XXX")), undefined);

      const got = (await engine.get(b("key")))!;
      got.fill(0x21);
      assert.equal(text(await engine.get(b("key"))), "original", "mutating a value returned by get");

      for await (const [k, v] of engine.iterate()) {
        k.fill(0x21);
        v.fill(0x21);
      }
      assert.deepEqual(await collect(engine.iterate()), [["key", "original"]], "mutating entries yielded by iterate");

      const batchKey = b("batched");
      const batchValue = b("in a batch");
      const batch = new WriteBatch().put(batchKey, batchValue);
      batchKey.fill(0x21);
      batchValue.fill(0x21);
      await engine.write(batch);
      assert.equal(text(await engine.get(b("batched"))), "in a batch", "mutating buffers after WriteBatch.put");
    });
  });

  it("keys and values may be views into larger buffers (non-zero byteOffset)", async () => {
    await withEngine("api-views", {}, async (engine) => {
      const backing = b("xxKEYyyVALUEzz");
      await engine.put(backing.subarray(2, 5), new Uint8Array(backing.buffer, backing.byteOffset + 7, 5));
      assert.equal(text(await engine.get(b("KEY"))), "VALUE");
      assert.equal(await engine.get(backing.subarray(0, 5)), undefined);
      assert.deepEqual(await collect(engine.iterate({ gte: backing.subarray(2, 4), lt: backing.subarray(2, 6) })), [["KEY", "VALUE"]]);
    });
  });
});

describe("reads", () => {
  it("an iterator sees the database as of the iterate() call", async () => {
    await withEngine("api-iterator-view", {}, async (engine) => {
      await engine.put(b("a"), b("1"));
      await engine.put(b("c"), b("3"));
      const view = engine.iterate();
      await engine.put(b("b"), b("2"));
      await engine.delete(b("c"));
      await engine.put(b("a"), b("changed"));
      assert.deepEqual(await collect(view), [["a", "1"], ["c", "3"]]);
      assert.deepEqual(await collect(engine.iterate()), [["a", "changed"], ["b", "2"]]);
    });
  });

  it("range bounds, reverse order and limit", async () => {
    await withEngine("api-ranges", SMALL, async (engine) => {
      for (const k of ["a", "b", "ba", "bb", "c", "d"]) await engine.put(b(k), b(k.toUpperCase()));
      const keys = async (options: Parameters<Engine["iterate"]>[0]) => (await collect(engine.iterate(options))).map(([k]) => k);
      assert.deepEqual(await keys({ gt: b("b"), lt: b("c") }), ["ba", "bb"]);
      assert.deepEqual(await keys({ gte: b("b"), lte: b("c") }), ["b", "ba", "bb", "c"]);
      assert.deepEqual(await keys({ gte: b("b"), lte: b("c"), reverse: true }), ["c", "bb", "ba", "b"]);
      assert.deepEqual(await keys({ reverse: true, limit: 2 }), ["d", "c"]);
      assert.deepEqual(await keys({ limit: 0 }), []);
      assert.deepEqual(await keys({ limit: -1 }), ["a", "b", "ba", "bb", "c", "d"]);
      assert.deepEqual(await keys({ gt: b("d") }), []);
      assert.deepEqual(await keys({ gte: b("c"), lt: b("c") }), []);
      assert.deepEqual(await keys({ gt: b("c"), lt: b("b") }), [], "an empty range (lower above upper)");
    });
  });

  it("a snapshot keeps seeing overwritten and deleted values until released", async () => {
    await withEngine("api-snapshot", SMALL, async (engine) => {
      await engine.put(b("k"), b("old"));
      await engine.put(b("gone"), b("here"));
      const snapshot = engine.snapshot();
      assert.equal(typeof snapshot.sequence, "number");
      assert.ok(snapshot.sequence <= engine.stats().sequence);
      await engine.put(b("k"), b("new"));
      await engine.delete(b("gone"));
      await engine.put(b("later"), b("x"));
      // Push everything through flushes and compactions.
      for (let i = 0; i < 400; i++) await engine.put(b(`fill-${i}`), Buffer.alloc(200, i));
      assert.equal(text(await engine.get(b("k"), { snapshot })), "old");
      assert.equal(text(await engine.get(b("gone"), { snapshot })), "here");
      assert.equal(await engine.get(b("later"), { snapshot }), undefined);
      assert.deepEqual(await collect(engine.iterate({ snapshot, lt: b("l") })), [["gone", "here"], ["k", "old"]]);
      assert.equal(text(await engine.get(b("k"))), "new");
      assert.equal(await engine.get(b("gone")), undefined);
      assert.equal(engine.stats().liveSnapshots, 1);
      snapshot.release();
      assert.equal(engine.stats().liveSnapshots, 0);
    });
  });

  it("deleting an absent key succeeds", async () => {
    await withEngine("api-delete-absent", {}, async (engine) => {
      await engine.delete(b("nothing"));
      assert.equal(await engine.get(b("nothing")), undefined);
    });
  });
});

describe("checkpoint", () => {
  it("produces a directory that opens with the same contents while the source keeps taking writes", { timeout: 60_000 }, async () => {
    await withTempDir("api-checkpoint", async (dir) => {
      const source = join(dir, "source");
      const copy = join(dir, "copy");
      const engine = await Engine.open(source, SMALL);
      try {
        // Tables on several levels, overwrites and deletes, then a steady stream of new keys.
        for (let i = 0; i < 1000; i++) await engine.put(b(`base-${String(i).padStart(4, "0")}`), Buffer.alloc(100, `v${i}`));
        for (let i = 0; i < 1000; i += 3) await engine.delete(b(`base-${String(i).padStart(4, "0")}`));
        for (let i = 1; i < 1000; i += 3) await engine.put(b(`base-${String(i).padStart(4, "0")}`), b(`new ${i}`));
        const expectedBase = await collect(engine.iterate());

        let written = 0;
        let stop = false;
        const writer = (async () => {
          while (!stop) {
            await engine.put(b(`stream-${String(written).padStart(6, "0")}`), b(String(written)));
            written++;
          }
        })();
        while (written < 100) await new Promise((resolve) => setImmediate(resolve));
        const ackedBefore = written;
        await engine.checkpoint(copy);
        const issuedAfter = written + 1;
        while (written < issuedAfter + 100) await new Promise((resolve) => setImmediate(resolve));
        stop = true;
        await writer;

        await expectRejection(() => engine.checkpoint(copy), StorageError, /exist/, "checkpoint into an existing directory");

        const copied = await Engine.open(copy, SMALL);
        try {
          const entries = await collect(copied.iterate());
          const base = entries.filter(([k]) => k.startsWith("base-"));
          const stream = entries.filter(([k]) => k.startsWith("stream-"));
          assert.deepEqual(base, expectedBase, "the checkpoint has the data written before it");
          assert.ok(
            stream.length >= ackedBefore && stream.length <= issuedAfter,
            `the checkpoint holds ${stream.length} streamed keys; expected between ${ackedBefore} (acknowledged before) and ${issuedAfter} (issued before it finished)`,
          );
          stream.forEach(([k, v], i) => assert.deepEqual([k, v], [`stream-${String(i).padStart(6, "0")}`, String(i)], "a prefix of the stream"));
          await copied.put(b("only-in-copy"), b("x"));
        } finally {
          await copied.close();
        }
        assert.equal(await engine.get(b("only-in-copy")), undefined, "the copy is independent of the source");
        assert.equal((await collect(engine.iterate({ gte: b("stream-") }))).length, written, "the source kept every write");
      } finally {
        await engine.close();
      }
    });
  });
});

describe("stats", () => {
  it("reports sensible figures", { timeout: 60_000 }, async () => {
    await withEngine("api-stats", { ...SMALL, blockCacheBytes: 64 * 1024 }, async (engine) => {
      const fresh = engine.stats();
      assert.equal(fresh.levels.length, 7);
      fresh.levels.forEach((level, i) => assert.deepEqual(level, { level: i, files: 0, bytes: 0 }));
      assert.equal(fresh.blockCache.capacityBytes, 64 * 1024);

      let userBytes = 0;
      for (let i = 0; i < 2000; i++) {
        const key = b(`key-${String(i % 700).padStart(4, "0")}`);
        const value = Buffer.alloc(100 + (i % 50), i);
        userBytes += key.length + value.length;
        await engine.put(key, value, { sync: i % 100 === 0 });
      }
      assert.ok(await eventually(() => engine.stats().compactions.count > 0), `no compaction: ${JSON.stringify(engine.stats())}`);
      for (let i = 0; i < 700; i += 7) await engine.get(b(`key-${String(i).padStart(4, "0")}`));
      // Absent keys inside the tables' key ranges, so the bloom filters are consulted.
      for (let i = 0; i < 700; i += 7) await engine.get(b(`key-${String(i).padStart(4, "0")}-absent`));
      for (let i = 0; i < 700; i += 7) await engine.get(b(`key-${String(i).padStart(4, "0")}`));

      const s = engine.stats();
      const context = JSON.stringify(s);
      assert.ok(s.sequence >= 2000, `sequence counts writes: ${context}`);
      assert.ok(s.userBytesWritten >= userBytes, `userBytesWritten ${s.userBytesWritten} < ${userBytes}: ${context}`);
      assert.ok(s.wal.bytesWritten > userBytes, `the WAL holds every write: ${context}`);
      assert.ok(s.wal.syncs >= 1 && s.wal.syncedWrites >= 20, `20 sync writes: ${context}`);
      assert.ok(s.flushes.count > 0 && s.flushes.bytesWritten > 0, `flushes: ${context}`);
      assert.ok(s.compactions.count > 0 && s.compactions.bytesRead > 0 && s.compactions.bytesWritten > 0, `compactions: ${context}`);
      assert.ok(s.writeAmplification >= 1, `write amplification: ${context}`);
      assert.ok(s.levels.some((l) => l.level > 0 && l.files > 0), `tables below L0: ${context}`);
      assert.ok(s.levels.every((l) => (l.files === 0) === (l.bytes === 0)), `files and bytes agree: ${context}`);
      const { hits, misses, hitRate, usedBytes, capacityBytes } = s.blockCache;
      assert.ok(hits + misses > 0, `block cache used: ${context}`);
      assert.ok(hits > 0, `the second round of gets hit the cache: ${context}`);
      assert.ok(hitRate >= 0 && hitRate <= 1 && Math.abs(hitRate - hits / (hits + misses)) < 1e-9, `hitRate: ${context}`);
      assert.ok(usedBytes > 0 && usedBytes <= capacityBytes, `cache bytes: ${context}`);
      assert.ok(s.bloom.checks > 0 && s.bloom.negatives > 0 && s.bloom.negatives <= s.bloom.checks, `bloom: ${context}`);
      assert.ok(s.stalls.slowdownCount >= 0 && s.stalls.stopMs >= 0, `stalls: ${context}`);

      assert.equal(s.liveIterators, 0);
      const iterator = engine.iterate()[Symbol.asyncIterator]();
      await iterator.next();
      assert.equal(engine.stats().liveIterators, 1);
      await iterator.return?.();
      assert.equal(engine.stats().liveIterators, 0, "an iterator abandoned with return() is closed");
      for await (const entry of engine.iterate()) if (entry) break;
      assert.equal(engine.stats().liveIterators, 0, "breaking out of for await closes the iterator");
    });
  });
});
