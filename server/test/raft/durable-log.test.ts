/**
 * Tests of the durable Raft log (raft-log-store.ts, class DurableLog):
 *  - a bootstrap Ready saved in one call reads back exactly; a new directory holds no state;
 *  - a property test against a simple model (entries, hard state, snapshot point): random
 *    appends, overwrites of an uncommitted suffix, hard states, compactions, installed snapshots
 *    and reopens over 512-byte segments, so segments rotate and compaction deletes some;
 *  - compaction by whole segments; group commit (with and without segment rotations);
 *  - a torn tail cut at every byte of the last record, and of a segment being started;
 *  - corruption reported as RaftLogCorruptionError naming the file, never skipped.
 * durable-log-crash.test.ts SIGKILLs a writing process.
 *
 * The property test runs from a fixed seed; SISYPHUS_SEED=<n> runs it from another one
 * (fast-check prints the seed, path and shrunk op list of a failure). A failing test keeps its
 * log directory and names it in the error.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  bootstrapState,
  DurableLog,
  RaftLogCorruptionError,
  type Entry,
  type EntryType,
  type HardState,
  type InitialState,
  type LogUpdate,
  type SnapshotMeta,
} from "../../src/raft/index.js";

const DEFAULT_SEED = 20261125;
const SEED = process.env.SISYPHUS_SEED === undefined ? DEFAULT_SEED : Number(process.env.SISYPHUS_SEED);
const MODEL_RUNS = 100;
const SMALL_SEGMENT_BYTES = 512;
/** Record framing (storage/record-log.ts): masked CRC32C | length | position, then the payload. */
const FRAME_HEADER_BYTES = 12;
const CONF = { voters: [1n, 2n, 0xffff_ffff_ffff_fff1n], learners: [4n] };
const NO_SNAPSHOT: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };

/** Runs `body` in a new directory; removed on success, kept and named in the error on failure. */
async function withDir(label: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sisyphus-raftlog-${label}-`));
  try {
    await body(dir);
  } catch (err) {
    if (err instanceof Error) err.message += `\n  log directory (kept): ${dir}`;
    throw err;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** An entry whose bytes follow from (index, term), so a misplaced or damaged entry shows. */
function entryAt(index: number, term: number, bytes: number, type: EntryType = "normal"): Entry {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index * 7 + term * 13 + i) & 0xff;
  return { index, term, type, data };
}

/** A state as plain data (entry bytes as hex), for deepEqual and readable diffs. */
function plain(state: InitialState | undefined): unknown {
  if (state === undefined) return undefined;
  const { hardState, snapshot } = state;
  return {
    hardState: { term: hardState.term, vote: hardState.vote, commit: hardState.commit },
    snapshot: { index: snapshot.index, term: snapshot.term, conf: { voters: [...snapshot.conf.voters], learners: [...snapshot.conf.learners] } },
    entries: state.entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Buffer.from(e.data).toString("hex") })),
  };
}

/** What recovery must return, by the rules raft-log-store.ts documents. */
class LogModel {
  hardState: HardState = { term: 0, vote: 0n, commit: 0 };
  snapshot: SnapshotMeta = NO_SNAPSHOT;
  entries: Entry[] = [];
  /** Whether anything was ever saved: a log never written recovers as undefined (a new member). */
  private written = false;

  static of(updates: readonly LogUpdate[]): LogModel {
    const model = new LogModel();
    for (const update of updates) model.save(update);
    return model;
  }

  lastIndex(): number {
    return this.entries.at(-1)?.index ?? this.snapshot.index;
  }

  termAt(index: number): number {
    if (index === this.snapshot.index) return this.snapshot.term;
    const entry = this.entries[index - this.snapshot.index - 1];
    assert.equal(entry?.index, index, `the model holds no entry ${index}`);
    return entry.term;
  }

  save(update: LogUpdate): void {
    if (update.snapshot === undefined && update.hardState === undefined && update.entries.length === 0) return;
    this.written = true;
    if (update.snapshot !== undefined) {
      this.snapshot = update.snapshot;
      this.entries = [];
    }
    const first = update.entries[0]?.index;
    if (first !== undefined) this.entries = [...this.entries.filter((e) => e.index < first), ...update.entries];
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
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }
}

function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".rlog"))
    .sort()
    .map((name) => path.join(dir, name));
}

function bytesOnDisk(dir: string): number {
  return segmentFiles(dir).reduce((sum, file) => sum + fs.statSync(file).size, 0);
}

/** Offsets of the records of a segment, by walking its framing (only for undamaged files). */
function recordOffsets(bytes: Buffer): number[] {
  const offsets: number[] = [];
  for (let offset = 0; offset < bytes.length; offset += FRAME_HEADER_BYTES + bytes.readUInt32LE(offset + 4)) offsets.push(offset);
  return offsets;
}

/** The segment files' contents, to put a directory back before each damage. */
function copyOfSegments(dir: string): Map<string, Buffer> {
  return new Map(segmentFiles(dir).map((file) => [file, fs.readFileSync(file)]));
}

function restoreSegments(dir: string, copy: Map<string, Buffer>): void {
  for (const file of segmentFiles(dir)) if (!copy.has(file)) fs.rmSync(file);
  for (const [file, bytes] of copy) fs.writeFileSync(file, bytes);
}

async function saveBoth(log: DurableLog, model: LogModel, update: LogUpdate): Promise<void> {
  await log.save(update);
  model.save(update);
}

function expectCorruption(file: string, what: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof RaftLogCorruptionError, `${what}: expected RaftLogCorruptionError, got ${String(err)}`);
    assert.equal(err.file, file, `${what}: the error names the damaged file`);
    assert.ok(err.message.includes(path.basename(file)), `${what}: the message names the file: ${err.message}`);
    return true;
  };
}

describe("DurableLog: recovery of what was saved", () => {
  it("a new directory holds no state; a bootstrap Ready saved in one call reads back identical", async () => {
    await withDir("bootstrap", async (dir) => {
      let log = DurableLog.open(dir);
      assert.equal(log.initialState(), undefined, "a brand-new log");
      await log.close();
      log = DurableLog.open(dir);
      assert.equal(log.initialState(), undefined, "a log opened and closed without a write is still new");
      const founders = [0xffff_ffff_ffff_fff1n, 7n, 0x1234_5678_9abc_def0n].map((id) => ({ id, context: Buffer.from(`founder ${id.toString(16)} at http://127.0.0.1:1`) }));
      const initial = bootstrapState(founders);
      await log.save({ hardState: initial.hardState, snapshot: initial.snapshot, entries: initial.entries });
      assert.equal(log.lastIndex(), 3);
      assert.equal(log.firstIndex(), 1);
      await log.close();
      log = DurableLog.open(dir);
      try {
        assert.deepEqual(plain(log.initialState()), plain(initial));
        assert.equal(log.lastIndex(), 3);
        assert.equal(log.firstIndex(), 1);
      } finally {
        await log.close();
      }
    });
  });

  it(`matches a model over random saves, overwrites, compactions, installs and reopens (seed ${SEED}, ${MODEL_RUNS} runs)`, async () => {
    type Op =
      | { kind: "append"; count: number; bytes: number; withHardState: boolean; confChangeAt: number }
      | { kind: "overwrite"; back: number; count: number; bytes: number; vote: bigint }
      | { kind: "hardState"; newTerm: boolean; vote: bigint; commitQuarters: number }
      | { kind: "compact"; quarters: number }
      | { kind: "install"; ahead: number; then: number }
      | { kind: "reopen" };
    const vote = fc.constantFrom(0n, 2n, 0xffff_ffff_ffff_fff1n);
    // Quarters of the way from the current commit (or snapshot) point to the end of the log,
    // most often all of it: a compaction up to a hard state that committed everything is what
    // deletes the segment holding the newest hard state record.
    const wholeWayOften = fc.constantFrom(0, 1, 2, 3, 4, 4, 4, 4);
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant("append" as const),
          count: fc.integer({ min: 1, max: 8 }),
          bytes: fc.integer({ min: 0, max: 200 }),
          // One in four: without, the hard state lives only in older records and segment headers.
          withHardState: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
          confChangeAt: fc.integer({ min: -1, max: 7 }),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant("overwrite" as const),
          back: fc.integer({ min: 0, max: 12 }),
          count: fc.integer({ min: 1, max: 6 }),
          bytes: fc.integer({ min: 0, max: 120 }),
          vote,
        }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("hardState" as const), newTerm: fc.boolean(), vote, commitQuarters: wholeWayOften }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("compact" as const), quarters: wholeWayOften.filter((q) => q > 0) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("install" as const), ahead: fc.integer({ min: 1, max: 30 }), then: fc.integer({ min: 0, max: 4 }) }) },
      { weight: 2, arbitrary: fc.constant({ kind: "reopen" as const }) },
    );
    const options = { segmentBytes: SMALL_SEGMENT_BYTES, sync: false };
    const seen = { overwrites: 0, installs: 0, compactionsDeletingSegments: 0, mostSegments: 0 };

    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60, size: "medium" }), async (ops) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sisyphus-raftlog-model-"));
        const model = new LogModel();
        let log = DurableLog.open(dir, options);
        let term = 1;
        const checkReopened = (where: string): void => {
          assert.deepEqual(plain(log.initialState()), plain(model.state()), `${where}: recovered state`);
          assert.equal(log.lastIndex(), model.lastIndex(), `${where}: lastIndex`);
          assert.equal(log.firstIndex(), model.snapshot.index + 1, `${where}: firstIndex`);
        };
        try {
          for (const [n, o] of ops.entries()) {
            const where = `op #${n} ${o.kind}`;
            const last = model.lastIndex();
            const commit = model.hardState.commit;
            switch (o.kind) {
              case "append": {
                const entries = Array.from({ length: o.count }, (_, i) => entryAt(last + 1 + i, term, o.bytes, i === o.confChangeAt ? "confChange" : "normal"));
                const hardState = o.withHardState ? { ...model.hardState, term } : undefined;
                await saveBoth(log, model, { hardState, entries });
                break;
              }
              case "overwrite": {
                // A new leader's entries replace this follower's uncommitted suffix.
                if (last <= commit) break;
                const from = Math.max(commit + 1, last - o.back);
                term++;
                const entries = Array.from({ length: o.count }, (_, i) => entryAt(from + i, term, o.bytes));
                await saveBoth(log, model, { hardState: { term, vote: o.vote, commit }, entries });
                seen.overwrites++;
                break;
              }
              case "hardState": {
                if (o.newTerm) term++;
                const hardState = { term, vote: o.vote, commit: commit + Math.floor(((last - commit) * o.commitQuarters) / 4) };
                await saveBoth(log, model, { hardState, entries: [] });
                break;
              }
              case "compact": {
                const from = model.snapshot.index;
                if (commit <= from) break;
                const index = from + Math.ceil(((commit - from) * o.quarters) / 4);
                const segmentsBefore = log.segmentCount();
                const snapshot = { index, term: model.termAt(index), conf: CONF };
                await log.compact(snapshot);
                model.compact(snapshot);
                assert.ok(log.segmentCount() <= segmentsBefore, `${where}: compaction went from ${segmentsBefore} to ${log.segmentCount()} segments`);
                if (log.segmentCount() < segmentsBefore) seen.compactionsDeletingSegments++;
                break;
              }
              case "install": {
                // A snapshot from the leader, past this follower's commit point: it replaces the whole log.
                term++;
                const snapshot = { index: commit + o.ahead, term, conf: { voters: [2n], learners: [1n] } };
                const entries = Array.from({ length: o.then }, (_, i) => entryAt(snapshot.index + 1 + i, term, 40));
                await saveBoth(log, model, { hardState: { term, vote: 2n, commit: snapshot.index }, snapshot, entries });
                seen.installs++;
                break;
              }
              case "reopen":
                await log.close();
                log = DurableLog.open(dir, options);
                checkReopened(where);
                break;
            }
            assert.equal(log.lastIndex(), model.lastIndex(), `${where}: lastIndex`);
            assert.equal(log.firstIndex(), model.snapshot.index + 1, `${where}: firstIndex`);
            assert.equal(segmentFiles(dir).length, log.segmentCount(), `${where}: segment files on disk`);
            assert.equal(log.sizeBytes(), bytesOnDisk(dir), `${where}: sizeBytes() is the segment files' size`);
            seen.mostSegments = Math.max(seen.mostSegments, log.segmentCount());
          }
          await log.close();
          log = DurableLog.open(dir, options);
          checkReopened("final reopen");
        } finally {
          await log.close();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: MODEL_RUNS, seed: SEED },
    );
    // The runs must have reached what they are meant to test.
    assert.ok(seen.overwrites > 0 && seen.installs > 0, `overwrites ${seen.overwrites}, installs ${seen.installs}`);
    assert.ok(seen.compactionsDeletingSegments > 0, "no compaction deleted a segment");
    assert.ok(seen.mostSegments >= 5, `at most ${seen.mostSegments} segments at once`);
  });

  it("compaction deletes the segments behind the snapshot point and keeps the one being written", async () => {
    await withDir("compact", async (dir) => {
      const options = { segmentBytes: 1024, sync: false };
      const log = DurableLog.open(dir, options);
      for (let i = 1; i <= 120; i++) await log.save({ hardState: { term: 2, vote: 1n, commit: i }, entries: [entryAt(i, 2, 100)] });
      const segmentsBefore = log.segmentCount();
      const bytesBefore = log.sizeBytes();
      assert.ok(segmentsBefore >= 15, `${segmentsBefore} segments`);
      await log.compact({ index: 100, term: 2, conf: CONF });
      // 20 live entries of ~160 bytes fill three 1 KiB segments; the first one kept may also hold entries <= 100.
      assert.ok(log.segmentCount() <= 4, `${log.segmentCount()} of ${segmentsBefore} segments left after compacting at 100 of 120`);
      assert.equal(segmentFiles(dir).length, log.segmentCount(), "segment files on disk");
      assert.ok(log.sizeBytes() < bytesBefore / 4, `${log.sizeBytes()} of ${bytesBefore} bytes left`);
      assert.equal(log.sizeBytes(), bytesOnDisk(dir));
      // Compacting at the last index leaves the segment being written, and writing goes on.
      await log.compact({ index: 120, term: 2, conf: CONF });
      assert.equal(log.segmentCount(), 1);
      await log.save({ hardState: { term: 2, vote: 1n, commit: 121 }, entries: [entryAt(121, 2, 100)] });
      await log.close();
      const reopened = DurableLog.open(dir, options);
      try {
        assert.deepEqual(plain(reopened.initialState()), plain({ hardState: { term: 2, vote: 1n, commit: 121 }, snapshot: { index: 120, term: 2, conf: CONF }, entries: [entryAt(121, 2, 100)] }));
      } finally {
        await reopened.close();
      }
    });
  });
});

describe("DurableLog: group commit", () => {
  it("50 concurrent saves share a few fdatasyncs and read back in order", async () => {
    await withDir("group", async (dir) => {
      const log = DurableLog.open(dir);
      const expected = Array.from({ length: 50 }, (_, i) => entryAt(i + 1, 1, 64));
      await Promise.all(expected.map((entry) => log.save({ entries: [entry] })));
      const syncs = log.syncCount();
      assert.ok(syncs >= 1 && syncs < 10, `${syncs} fdatasyncs for 50 concurrent saves`);
      // A save made alone still waits for an fdatasync of its own.
      await log.save({ hardState: { term: 1, vote: 0n, commit: 50 }, entries: [] });
      assert.equal(log.syncCount(), syncs + 1, "a lone save is synced");
      await log.close();
      const reopened = DurableLog.open(dir);
      try {
        assert.deepEqual(plain(reopened.initialState()), plain({ hardState: { term: 1, vote: 0n, commit: 50 }, snapshot: NO_SNAPSHOT, entries: expected }));
      } finally {
        await reopened.close();
      }
    });
  });

  it("a save that moves only the commit index is written without an fdatasync; entries, term or vote each sync", async () => {
    await withDir("commit-only", async (dir) => {
      const log = DurableLog.open(dir);
      await log.save({ hardState: { term: 1, vote: 1n, commit: 0 }, entries: [entryAt(1, 1, 16), entryAt(2, 1, 16)] });
      const synced = log.syncCount();
      await log.save({ hardState: { term: 1, vote: 1n, commit: 1 }, entries: [] });
      await log.save({ hardState: { term: 1, vote: 1n, commit: 2 }, entries: [] });
      assert.equal(log.syncCount(), synced, "commit-only saves are not synced");
      await log.save({ hardState: { term: 2, vote: 1n, commit: 2 }, entries: [] });
      assert.equal(log.syncCount(), synced + 1, "a new term is synced");
      await log.save({ hardState: { term: 2, vote: 3n, commit: 2 }, entries: [] });
      assert.equal(log.syncCount(), synced + 2, "a new vote is synced");
      await log.save({ entries: [entryAt(3, 2, 16)] });
      assert.equal(log.syncCount(), synced + 3, "entries are synced");
      await log.save({ hardState: { term: 2, vote: 3n, commit: 3 }, entries: [] });
      await log.close();
      const reopened = DurableLog.open(dir);
      try {
        assert.deepEqual(reopened.initialState()?.hardState, { term: 2, vote: 3n, commit: 3 }, "the unsynced commit was still written");
      } finally {
        await reopened.close();
      }
    });
  });

  it("concurrent saves that start new segments all resolve and read back", async () => {
    await withDir("group-rotate", async (dir) => {
      const log = DurableLog.open(dir, { segmentBytes: SMALL_SEGMENT_BYTES });
      const expected = Array.from({ length: 60 }, (_, i) => entryAt(i + 1, 1, 100));
      await Promise.all(expected.map((entry) => log.save({ hardState: { term: 1, vote: 0n, commit: entry.index - 1 }, entries: [entry] })));
      assert.ok(log.segmentCount() >= 10, `${log.segmentCount()} segments`);
      await log.close();
      const reopened = DurableLog.open(dir, { segmentBytes: SMALL_SEGMENT_BYTES });
      try {
        assert.deepEqual(plain(reopened.initialState()), plain({ hardState: { term: 1, vote: 0n, commit: 59 }, snapshot: NO_SNAPSHOT, entries: expected }));
      } finally {
        await reopened.close();
      }
    });
  });
});

describe("DurableLog: torn tails", () => {
  it("a last record cut at any byte reads as never written, and writing goes on after it", async () => {
    await withDir("torn", async (dir) => {
      const options = { segmentBytes: 1024 };
      const updates: LogUpdate[] = [];
      const log = DurableLog.open(dir, options);
      for (let i = 1; i <= 12; i++) {
        updates.push({ hardState: { term: 1, vote: 2n, commit: i - 1 }, entries: [entryAt(i, 1, 60, i % 5 === 0 ? "confChange" : "normal")] });
        await log.save(updates[updates.length - 1]);
      }
      const segments = log.segmentCount();
      assert.ok(segments >= 2, `${segments} segments`);
      const lastFile = segmentFiles(dir)[segments - 1];
      const start = fs.statSync(lastFile).size;
      await log.save({ hardState: { term: 1, vote: 2n, commit: 12 }, entries: [entryAt(13, 1, 60), entryAt(14, 1, 60)] });
      assert.equal(log.segmentCount(), segments, "the last save went into the same segment");
      await log.close();
      const end = fs.statSync(lastFile).size;
      const copy = copyOfSegments(dir);
      const before = plain(LogModel.of(updates).state());
      const afterCut: LogUpdate = { hardState: { term: 2, vote: 3n, commit: 12 }, entries: [entryAt(13, 2, 30)] };
      const expectedAfter = plain(LogModel.of([...updates, afterCut]).state());
      for (let cut = start; cut < end; cut++) {
        const where = `${path.basename(lastFile)} cut at byte ${cut} (last record ${start}..${end})`;
        restoreSegments(dir, copy);
        fs.truncateSync(lastFile, cut);
        const reopened = DurableLog.open(dir, options);
        try {
          assert.deepEqual(plain(reopened.initialState()), before, `${where}: the torn save is gone, the rest is whole`);
          assert.equal(fs.statSync(lastFile).size, start, `${where}: the torn bytes are removed`);
          await reopened.save(afterCut);
        } finally {
          await reopened.close();
        }
        const again = DurableLog.open(dir, options);
        try {
          assert.deepEqual(plain(again.initialState()), expectedAfter, `${where}: the save after the cut survives a reopen`);
        } finally {
          await again.close();
        }
      }
    });
  });

  it("a segment cut while it was being started: the hard state survives the next save and a compaction", async () => {
    await withDir("torn-start", async (dir) => {
      const options = { segmentBytes: SMALL_SEGMENT_BYTES };
      const hardStateAt = (commit: number): HardState => ({ term: 3, vote: 2n, commit });
      const updates: LogUpdate[] = [];
      const log = DurableLog.open(dir, options);
      // Saves until one starts a segment, which then holds that segment's first record and the save's.
      for (let i = 1; i <= 50; i++) {
        const segments = log.segmentCount();
        const update = { hardState: hardStateAt(i), entries: [entryAt(i, 3, 60)] };
        await log.save(update);
        if (log.segmentCount() > segments) break;
        updates.push(update);
      }
      await log.close();
      const last = updates.length;
      assert.ok(last >= 2 && last < 50, `segment started after ${last} saves`);
      const files = segmentFiles(dir);
      const lastFile = files[files.length - 1];
      const end = fs.statSync(lastFile).size;
      const copy = copyOfSegments(dir);
      const before = plain(LogModel.of(updates).state());
      // An entry saved without a hard state (it did not change), then a compaction covering every older segment.
      const next = entryAt(last + 1, 3, 60);
      const snapshot = { index: last, term: 3, conf: CONF };
      const expectedAfter = plain({ hardState: hardStateAt(last), snapshot, entries: [next] });
      for (let cut = 0; cut < end; cut++) {
        const where = `${path.basename(lastFile)} cut at byte ${cut} of ${end}`;
        restoreSegments(dir, copy);
        fs.truncateSync(lastFile, cut);
        const reopened = DurableLog.open(dir, options);
        try {
          assert.deepEqual(plain(reopened.initialState()), before, `${where}: the state before the save that started the segment`);
          await reopened.save({ entries: [next] });
          await reopened.compact(snapshot);
        } finally {
          await reopened.close();
        }
        const again = DurableLog.open(dir, options);
        try {
          assert.deepEqual(plain(again.initialState()), expectedAfter, `${where}: after a save and a compaction`);
        } finally {
          await again.close();
        }
      }
    });
  });

  it("a last record damaged in place with nothing after it is dropped like a torn one", async () => {
    await withDir("torn-flip", async (dir) => {
      const updates = Array.from({ length: 6 }, (_, i): LogUpdate => ({ hardState: { term: 1, vote: 0n, commit: i }, entries: [entryAt(i + 1, 1, 50)] }));
      const log = DurableLog.open(dir);
      for (const update of updates) await log.save(update);
      await log.close();
      const [file] = segmentFiles(dir);
      const bytes = fs.readFileSync(file);
      const lastRecord = recordOffsets(bytes).at(-1);
      assert.ok(lastRecord !== undefined);
      bytes[lastRecord + FRAME_HEADER_BYTES + 10] ^= 0x01;
      fs.writeFileSync(file, bytes);
      const reopened = DurableLog.open(dir);
      try {
        assert.deepEqual(plain(reopened.initialState()), plain(LogModel.of(updates.slice(0, -1)).state()));
      } finally {
        await reopened.close();
      }
    });
  });
});

describe("DurableLog: corruption is reported, never skipped", () => {
  it("a damaged record followed by valid ones in the last segment: RaftLogCorruptionError naming the file and offset", async () => {
    await withDir("corrupt-last", async (dir) => {
      const log = DurableLog.open(dir);
      for (let i = 1; i <= 20; i++) await log.save({ hardState: { term: 1, vote: 0n, commit: i - 1 }, entries: [entryAt(i, 1, 64)] });
      await log.close();
      const files = segmentFiles(dir);
      assert.equal(files.length, 1);
      const file = files[0];
      const bytes = fs.readFileSync(file);
      const offsets = recordOffsets(bytes);
      const victim = offsets[10];
      bytes[victim + FRAME_HEADER_BYTES + Math.floor((offsets[11] - victim - FRAME_HEADER_BYTES) / 2)] ^= 0x10;
      fs.writeFileSync(file, bytes);
      assert.throws(
        () => DurableLog.open(dir),
        (err: unknown) => expectCorruption(file, "record 10 of 20 damaged")(err) && (err as RaftLogCorruptionError).offset === victim,
      );
      assert.equal(fs.statSync(file).size, bytes.length, "the damaged log is left as it was");
    });
  });

  it("damage in a segment that is not the last: RaftLogCorruptionError naming that segment", async () => {
    await withDir("corrupt-older", async (dir) => {
      const options = { segmentBytes: 1024 };
      const log = DurableLog.open(dir, options);
      for (let i = 1; i <= 40; i++) await log.save({ hardState: { term: 1, vote: 0n, commit: i - 1 }, entries: [entryAt(i, 1, 64)] });
      await log.close();
      const files = segmentFiles(dir);
      assert.ok(files.length >= 3, `${files.length} segments`);
      const file = files[1];
      const pristine = fs.readFileSync(file);
      const offsets = recordOffsets(pristine);
      assert.ok(offsets.length >= 3, `${offsets.length} records in ${file}`);
      const damages: [string, (bytes: Buffer) => Buffer][] = [
        ["a byte flipped in a middle record", (bytes) => flipByte(bytes, offsets[1] + FRAME_HEADER_BYTES + 5)],
        ["a byte flipped in its last record", (bytes) => flipByte(bytes, offsets[offsets.length - 1] + FRAME_HEADER_BYTES + 5)],
        ["a byte flipped in a record's length", (bytes) => flipByte(bytes, offsets[1] + 4)],
        ["its last record cut short", (bytes) => bytes.subarray(0, bytes.length - 7)],
      ];
      for (const [what, damage] of damages) {
        fs.writeFileSync(file, damage(Buffer.from(pristine)));
        assert.throws(() => DurableLog.open(dir, options), expectCorruption(file, what));
      }
    });
  });

  it("a log missing a segment that held live entries: RaftLogCorruptionError", async () => {
    await withDir("corrupt-missing", async (dir) => {
      const options = { segmentBytes: 1024 };
      const log = DurableLog.open(dir, options);
      for (let i = 1; i <= 40; i++) await log.save({ hardState: { term: 1, vote: 0n, commit: i }, entries: [entryAt(i, 1, 64)] });
      await log.close();
      const files = segmentFiles(dir);
      assert.ok(files.length >= 3, `${files.length} segments`);
      fs.rmSync(files[1]);
      assert.throws(
        () => DurableLog.open(dir, options),
        (err: unknown) => err instanceof RaftLogCorruptionError && /missing/.test(err.message),
      );
    });
  });

  // Recovery never produces this from a crash (a save's commit is in the same record as, or
  // after, the entries it commits), so it is crafted from lost files: the older segments are
  // deleted and the newest is cut back to its first record, which repeats the hard state.
  it("a hard state committing entries the log no longer holds: RaftLogCorruptionError", async () => {
    await withDir("corrupt-commit", async (dir) => {
      const options = { segmentBytes: SMALL_SEGMENT_BYTES };
      const log = DurableLog.open(dir, options);
      let committed = 0;
      while (log.segmentCount() < 2) {
        committed++;
        await log.save({ hardState: { term: 1, vote: 0n, commit: committed }, entries: [entryAt(committed, 1, 64)] });
      }
      await log.close();
      const files = segmentFiles(dir);
      const newest = files[files.length - 1];
      const offsets = recordOffsets(fs.readFileSync(newest));
      assert.equal(offsets.length, 2, "the newest segment holds its first record and the save that started it");
      for (const file of files.slice(0, -1)) fs.rmSync(file);
      fs.truncateSync(newest, offsets[1]);
      assert.throws(
        () => DurableLog.open(dir, options),
        (err: unknown) => err instanceof RaftLogCorruptionError && err.message.includes(`commits index ${committed - 1} but the log ends at 0`),
      );
    });
  });
});

function flipByte(bytes: Buffer, offset: number): Buffer {
  bytes[offset] ^= 0x20;
  return bytes;
}
