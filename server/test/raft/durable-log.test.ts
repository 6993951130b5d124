/**
 * The durable Raft log (raft-log-store.ts) against a simple model: random saves, overwrites of
 * an uncommitted suffix, compactions, installed snapshots and reopens across many small
 * segments; group commit; a torn tail cut at every byte of the last record; corruption detected
 * and named, never skipped. Process crashes are covered end to end by the cluster tests (kill -9
 * under load).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bootstrapState, DurableLog, RaftLogCorruptionError, type Entry, type HardState, type InitialState, type SnapshotMeta } from "../../src/raft/index.js";

const SEED = process.env.SISYPHUS_SEED === undefined ? undefined : Number(process.env.SISYPHUS_SEED);

function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sisyphus-raftlog-${label}-`));
}

function entry(index: number, term: number, size = 8): Entry {
  const data = Buffer.alloc(Math.max(4, size), index % 251);
  data.writeUInt32LE(index, 0);
  return { index, term, type: index % 7 === 0 ? "confChange" : "normal", data };
}

/** What recovery must return, kept by the rules the log documents. */
class Model {
  hardState: HardState = { term: 0, vote: 0n, commit: 0 };
  snapshot: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };
  entries: Entry[] = [];
  /** Nothing saved yet: recovery reports no state at all (a new member). */
  written = false;

  lastIndex(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1].index : this.snapshot.index;
  }

  termAt(index: number): number {
    if (index === this.snapshot.index) return this.snapshot.term;
    return this.entries.find((e) => e.index === index)?.term ?? 0;
  }

  save(update: { hardState?: HardState; snapshot?: SnapshotMeta; entries: Entry[] }): void {
    if (update.hardState !== undefined || update.snapshot !== undefined || update.entries.length > 0) this.written = true;
    if (update.snapshot !== undefined) {
      this.snapshot = update.snapshot;
      this.entries = [];
    }
    if (update.entries.length > 0) {
      const first = update.entries[0].index;
      this.entries = this.entries.filter((e) => e.index < first).concat(update.entries);
    }
    if (update.hardState !== undefined) this.hardState = update.hardState;
  }

  compact(snapshot: SnapshotMeta): void {
    if (snapshot.index <= this.snapshot.index) return;
    this.written = true;
    this.snapshot = snapshot;
    this.entries = this.entries.filter((e) => e.index > snapshot.index);
  }

  state(): InitialState | undefined {
    if (!this.written) return undefined;
    return { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries };
  }
}

function plain(state: InitialState | undefined): unknown {
  if (state === undefined) return undefined;
  return { ...state, entries: state.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString("hex") })) };
}

type Op =
  | { kind: "append"; count: number; size: number }
  | { kind: "overwrite"; back: number; count: number }
  | { kind: "commit"; upTo: number }
  | { kind: "compact"; at: number }
  | { kind: "install"; ahead: number; then: number }
  | { kind: "reopen" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("append" as const), count: fc.integer({ min: 1, max: 12 }), size: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("overwrite" as const), back: fc.integer({ min: 0, max: 6 }), count: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("commit" as const), upTo: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("compact" as const), at: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("install" as const), ahead: fc.integer({ min: 1, max: 20 }), then: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

describe("DurableLog", () => {
  it("a new directory has no state; a bootstrap log reads back exactly", async () => {
    const dir = tempDir("bootstrap");
    try {
      let log = DurableLog.open(dir);
      assert.equal(log.initialState(), undefined);
      const initial = bootstrapState([1n, 2n, 3n].map((id) => ({ id, context: Buffer.from(`m${id}`) })));
      await log.save({ hardState: initial.hardState, snapshot: initial.snapshot, entries: initial.entries });
      await log.close();
      log = DurableLog.open(dir);
      assert.deepEqual(plain(log.initialState()), plain(initial));
      await log.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("recovers what the model says after random saves, overwrites, compactions, installs and reopens", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const dir = tempDir("model");
        const model = new Model();
        let log = DurableLog.open(dir, { segmentBytes: 512 });
        let term = 1;
        try {
          for (const o of ops) {
            switch (o.kind) {
              case "append": {
                const from = model.lastIndex() + 1;
                const entries = Array.from({ length: o.count }, (_, i) => entry(from + i, term, o.size));
                const hardState = { ...model.hardState, term };
                await log.save({ hardState, entries });
                model.save({ hardState, entries });
                break;
              }
              case "overwrite": {
                // A follower replaces its uncommitted suffix with a newer leader's entries.
                const from = Math.max(model.hardState.commit, model.snapshot.index, model.lastIndex() - o.back) + 1;
                term++;
                const entries = Array.from({ length: o.count }, (_, i) => entry(from + i, term));
                const hardState = { ...model.hardState, term };
                await log.save({ hardState, entries });
                model.save({ hardState, entries });
                break;
              }
              case "commit": {
                const commit = Math.max(model.hardState.commit, Math.min(o.upTo, model.lastIndex()));
                const hardState = { ...model.hardState, commit };
                await log.save({ hardState, entries: [] });
                model.save({ hardState, entries: [] });
                break;
              }
              case "compact": {
                const at = Math.min(o.at, model.hardState.commit);
                if (at <= model.snapshot.index) break;
                const snapshot = { index: at, term: model.termAt(at), conf: { voters: [1n, 2n], learners: [3n] } };
                await log.compact(snapshot);
                model.compact(snapshot);
                break;
              }
              case "install": {
                term++;
                const snapshot = { index: model.lastIndex() + o.ahead, term, conf: { voters: [1n], learners: [] } };
                const entries = Array.from({ length: o.then }, (_, i) => entry(snapshot.index + 1 + i, term));
                const hardState = { term, vote: 0n, commit: snapshot.index };
                await log.save({ hardState, snapshot, entries });
                model.save({ hardState, snapshot, entries });
                break;
              }
              case "reopen":
                await log.close();
                log = DurableLog.open(dir, { segmentBytes: 512 });
                assert.deepEqual(plain(log.initialState()), plain(model.state()));
                break;
            }
          }
          await log.close();
          log = DurableLog.open(dir, { segmentBytes: 512 });
          assert.deepEqual(plain(log.initialState()), plain(model.state()));
          assert.equal(log.lastIndex(), model.lastIndex());
        } finally {
          await log.close();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60, seed: SEED },
    );
  });

  it("deletes whole segments behind a compaction and keeps the one in use", async () => {
    const dir = tempDir("compact");
    try {
      const log = DurableLog.open(dir, { segmentBytes: 1024 });
      for (let i = 1; i <= 200; i++) await log.save({ hardState: { term: 1, vote: 0n, commit: i }, entries: [entry(i, 1, 100)] });
      const before = log.segmentCount();
      assert.ok(before > 10, `${before} segments`);
      await log.compact({ index: 150, term: 1, conf: { voters: [1n], learners: [] } });
      assert.ok(log.segmentCount() < before / 2, `${log.segmentCount()} segments left of ${before}`);
      await log.close();
      const reopened = DurableLog.open(dir, { segmentBytes: 1024 });
      const state = reopened.initialState()!;
      assert.equal(state.snapshot.index, 150);
      assert.deepEqual(
        state.entries.map((e) => e.index),
        Array.from({ length: 50 }, (_, i) => 151 + i),
      );
      await reopened.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("group commit: concurrent saves share fsyncs", async () => {
    const dir = tempDir("group");
    try {
      const log = DurableLog.open(dir);
      await Promise.all(Array.from({ length: 50 }, (_, i) => log.save({ entries: [entry(i + 1, 1)] })));
      assert.ok(log.syncCount() < 10, `${log.syncCount()} fsyncs for 50 saves`);
      await log.close();
      const reopened = DurableLog.open(dir);
      assert.deepEqual(
        reopened.initialState()!.entries.map((e) => e.index),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      await reopened.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("cuts a torn last record at any byte and goes on writing after it", async () => {
    const dir = tempDir("torn");
    try {
      const log = DurableLog.open(dir);
      for (let i = 1; i <= 5; i++) await log.save({ hardState: { term: 1, vote: 0n, commit: i - 1 }, entries: [entry(i, 1, 40)] });
      const sizeBefore = log.sizeBytes();
      await log.save({ hardState: { term: 1, vote: 0n, commit: 5 }, entries: [entry(6, 1, 40)] });
      const sizeAfter = log.sizeBytes();
      await log.close();
      const file = path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith(".rlog"))!);
      const full = fs.readFileSync(file);
      for (let cut = sizeBefore; cut < sizeAfter; cut++) {
        fs.writeFileSync(file, full.subarray(0, cut));
        const reopened = DurableLog.open(dir);
        const state = reopened.initialState()!;
        assert.equal(state.entries.length, 5, `cut at ${cut}: the torn record is dropped`);
        assert.equal(state.hardState.commit, 4);
        await reopened.save({ entries: [entry(6, 2, 10)] });
        await reopened.close();
        const again = DurableLog.open(dir);
        assert.equal(again.initialState()!.entries.at(-1)!.term, 2, `cut at ${cut}: the save after the cut survives`);
        await again.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports damage before the end as corruption, naming the file", async () => {
    const dir = tempDir("corrupt");
    try {
      const log = DurableLog.open(dir);
      for (let i = 1; i <= 20; i++) await log.save({ entries: [entry(i, 1, 64)] });
      await log.close();
      const file = path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith(".rlog"))!);
      const bytes = fs.readFileSync(file);
      bytes[Math.floor(bytes.length / 2)] ^= 0x40;
      fs.writeFileSync(file, bytes);
      assert.throws(
        () => DurableLog.open(dir),
        (err: unknown) => err instanceof Error && /checksum|damaged|corrupt/i.test(err.message) && err.message.includes(file),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a log whose hard state commits entries that are gone", async () => {
    const dir = tempDir("lost");
    try {
      const log = DurableLog.open(dir, { segmentBytes: 256 });
      for (let i = 1; i <= 30; i++) await log.save({ hardState: { term: 1, vote: 0n, commit: i }, entries: [entry(i, 1, 64)] });
      await log.close();
      // Remove the segment holding the newest entries but not the newest hard state... by deleting an older one.
      const segments = fs.readdirSync(dir).filter((n) => n.endsWith(".rlog")).sort();
      fs.rmSync(path.join(dir, segments[1]));
      assert.throws(() => DurableLog.open(dir, { segmentBytes: 256 }), RaftLogCorruptionError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
