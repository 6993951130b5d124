/**
 * Reads racing writes: while a writer drives many flushes and compactions, readers run point
 * lookups, forward and reverse scans, snapshot reads and a long-lived iterator that is paused
 * until several compactions have replaced the files it reads.
 *
 * The writes make consistency checkable: the keys are in groups of GROUP_KEYS, and every write
 * is a batch that puts one new generation number into all keys of one group, or deletes the whole
 * group. A consistent view shows each group either complete with one generation or absent.
 * A read must also see at least what was acknowledged before it started, and nothing newer than
 * what was issued before it ended.
 *
 * SISYPHUS_SEED=<n> replays the writer's and readers' random choices.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine, WriteBatch } from "../../src/storage/index.js";
import type { EngineOptions, Snapshot } from "../../src/storage/index.js";
import { createRng, randomInt } from "./crash-writer.js";
import { withTempDir } from "./test-dirs.js";

const GROUPS = 40;
const GROUP_KEYS = 8;
const MIN_WRITER_MS = 2_500;
const MIN_COMPACTIONS = 10;
const DEADLINE_MS = 25_000;

const groupKey = (group: number, i: number): Buffer => Buffer.from(`g${String(group).padStart(2, "0")}/k${i}`, "latin1");

function groupValue(gen: number, group: number, i: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes, 0x2e);
  out.write(`${gen}|${group}|${i}|`, "latin1");
  return out;
}

function parseEntry(key: Uint8Array, value: Uint8Array): { group: number; index: number; gen: number } {
  const k = Buffer.from(key).toString("latin1");
  const match = /^g(\d\d)\/k(\d+)$/.exec(k);
  const [gen, group, index] = Buffer.from(value).subarray(0, 40).toString("latin1").split("|").map(Number);
  if (match === null || Number(match[1]) !== group || Number(match[2]) !== index || !Number.isInteger(gen)) {
    throw new Error(`key ${k} holds a value that was never written under it: ${Buffer.from(value).subarray(0, 40).toString("latin1")}`);
  }
  return { group: group!, index: index!, gen: gen! };
}

/** What the writer has done to one group. */
interface GroupLog {
  /** Highest generation whose batch was acknowledged, and whether that batch was a delete. */
  acked: { gen: number; deleted: boolean };
  /** Highest generation issued so far. */
  issued: number;
  /** Generations that deleted the group. */
  deletes: Set<number>;
}

class Workload {
  readonly groups: GroupLog[] = Array.from({ length: GROUPS }, () => ({ acked: { gen: 0, deleted: true }, issued: 0, deletes: new Set() }));
  batchesAcked = 0;
  done = false;
  failure: Error | undefined;
  private readonly started = Date.now();

  constructor(
    readonly engine: Engine,
    readonly rng: () => number,
  ) {}

  fail(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error(String(err));
    this.done = true;
  }

  elapsedMs(): number {
    return Date.now() - this.started;
  }

  /** A copy of every group's acknowledged state, taken just before a read starts. */
  ackedNow(): { gen: number; deleted: boolean }[] {
    return this.groups.map((g) => ({ ...g.acked }));
  }

  /**
   * Checks a read of `group` that returned generation `gen` (undefined: the group is absent),
   * given the acknowledged state when the read started.
   */
  checkGroupRead(group: number, gen: number | undefined, ackedAtStart: { gen: number; deleted: boolean }, what: string): void {
    const log = this.groups[group]!;
    if (gen === undefined) {
      const deletedLater = [...log.deletes].some((d) => d >= ackedAtStart.gen);
      if (!ackedAtStart.deleted && !deletedLater) {
        throw new Error(`${what}: group ${group} absent, but generation ${ackedAtStart.gen} was acknowledged before the read and no delete followed`);
      }
      return;
    }
    if (log.deletes.has(gen)) throw new Error(`${what}: group ${group} shows generation ${gen}, which deleted it`);
    if (gen < ackedAtStart.gen) {
      throw new Error(`${what}: group ${group} shows generation ${gen}, older than generation ${ackedAtStart.gen} acknowledged before the read`);
    }
    if (gen > log.issued) throw new Error(`${what}: group ${group} shows generation ${gen}, never issued (latest ${log.issued})`);
  }
}

/** Checks one scan's entries: order, complete groups with one generation, and freshness. */
function checkScan(
  workload: Workload,
  entries: [Uint8Array, Uint8Array][],
  ackedAtStart: { gen: number; deleted: boolean }[] | undefined,
  reverse: boolean,
  what: string,
): Map<number, number> {
  const seen = new Map<number, { gen: number; count: number }>();
  for (let i = 0; i < entries.length; i++) {
    const [key, value] = entries[i]!;
    if (i > 0) {
      const order = Buffer.compare(Buffer.from(entries[i - 1]![0]), Buffer.from(key));
      if (reverse ? order <= 0 : order >= 0) throw new Error(`${what}: keys out of order at entry ${i}`);
    }
    const { group, gen } = parseEntry(key, value);
    const s = seen.get(group);
    if (s === undefined) seen.set(group, { gen, count: 1 });
    else if (s.gen !== gen) throw new Error(`${what}: group ${group} mixes generations ${s.gen} and ${gen}: not a consistent view`);
    else s.count++;
  }
  const gens = new Map<number, number>();
  for (const [group, s] of seen) {
    if (s.count !== GROUP_KEYS) throw new Error(`${what}: group ${group} has ${s.count} of ${GROUP_KEYS} keys at generation ${s.gen}`);
    gens.set(group, s.gen);
  }
  if (ackedAtStart !== undefined) {
    for (let group = 0; group < GROUPS; group++) workload.checkGroupRead(group, gens.get(group), ackedAtStart[group]!, what);
  }
  return gens;
}

/**
 * Lets timers, I/O and worker messages run: a loop of reads that complete from memory would
 * otherwise only ever yield to the microtask queue and starve the writer.
 */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function collect(iterable: AsyncIterable<[Uint8Array, Uint8Array]>): Promise<[Uint8Array, Uint8Array][]> {
  const out: [Uint8Array, Uint8Array][] = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

async function writer(w: Workload, readersRunning: () => boolean): Promise<void> {
  const { engine, rng } = w;
  const inFlight = new Set<number>();
  const writeOne = async (): Promise<void> => {
    let group = randomInt(rng, GROUPS);
    while (inFlight.has(group)) group = (group + 1) % GROUPS;
    inFlight.add(group);
    const log = w.groups[group]!;
    const gen = ++log.issued;
    const deleted = rng() < 0.15;
    if (deleted) log.deletes.add(gen);
    const batch = new WriteBatch();
    const bytes = 50 + randomInt(rng, 550);
    for (let i = 0; i < GROUP_KEYS; i++) {
      if (deleted) batch.delete(groupKey(group, i));
      else batch.put(groupKey(group, i), groupValue(gen, group, i, bytes));
    }
    await engine.write(batch, { sync: rng() < 0.05 });
    if (gen > log.acked.gen) log.acked = { gen, deleted };
    w.batchesAcked++;
    inFlight.delete(group);
  };
  while (!w.done) {
    const enough = w.elapsedMs() >= MIN_WRITER_MS && engine.stats().compactions.count >= MIN_COMPACTIONS;
    if (enough && !readersRunning()) break;
    if (w.elapsedMs() > DEADLINE_MS) {
      throw new Error(`deadline: ${engine.stats().compactions.count} compactions after ${DEADLINE_MS} ms (${w.batchesAcked} batches)`);
    }
    const parallel = 1 + randomInt(rng, 3);
    await Promise.all(Array.from({ length: parallel }, writeOne));
  }
}

async function scanner(w: Workload, reverse: boolean): Promise<number> {
  let scans = 0;
  while (!w.done) {
    const acked = w.ackedNow();
    const entries = await collect(w.engine.iterate({ reverse }));
    checkScan(w, entries, acked, reverse, `${reverse ? "reverse" : "forward"} scan #${scans}`);
    scans++;
    await yieldToEventLoop();
  }
  return scans;
}

async function pointReader(w: Workload): Promise<number> {
  let reads = 0;
  while (!w.done) {
    const group = randomInt(w.rng, GROUPS);
    const index = randomInt(w.rng, GROUP_KEYS);
    const acked = { ...w.groups[group]!.acked };
    const value = await w.engine.get(groupKey(group, index));
    const gen = value === undefined ? undefined : parseEntry(groupKey(group, index), value).gen;
    w.checkGroupRead(group, gen, acked, `get #${reads} of ${groupKey(group, index).toString()}`);
    reads++;
    if (reads % 16 === 0) await yieldToEventLoop();
  }
  return reads;
}

/** A snapshot read twice, with writes in between, must return the same frozen data. */
async function snapshotReader(w: Workload): Promise<number> {
  let rounds = 0;
  while (!w.done) {
    const acked = w.ackedNow();
    const snapshot = w.engine.snapshot();
    try {
      const first = await collect(w.engine.iterate({ snapshot }));
      const gens = checkScan(w, first, acked, false, `snapshot scan #${rounds}`);
      const until = w.batchesAcked + 20;
      while (!w.done && w.batchesAcked < until) await yieldToEventLoop();
      const second = await collect(w.engine.iterate({ snapshot, reverse: true }));
      assertSameScan(second.reverse(), first, `snapshot #${rounds} read again after 20 more batches`);
      const group = randomInt(w.rng, GROUPS);
      for (let i = 0; i < GROUP_KEYS; i++) {
        const value = await w.engine.get(groupKey(group, i), { snapshot });
        const gen = value === undefined ? undefined : parseEntry(groupKey(group, i), value).gen;
        assert.equal(gen, gens.get(group), `snapshot #${rounds}: get of group ${group} key ${i} disagrees with the snapshot's scan`);
      }
      const ranged = await collect(w.engine.iterate({ snapshot, gte: groupKey(group, 0), lt: groupKey(group + 1, 0) }));
      const groupEntries = first.filter(([key, value]) => parseEntry(key, value).group === group);
      assertSameScan(ranged, groupEntries, `snapshot #${rounds} range of group ${group}`);
    } finally {
      snapshot.release();
    }
    rounds++;
    await yieldToEventLoop();
  }
  return rounds;
}

function assertSameScan(actual: [Uint8Array, Uint8Array][], expected: [Uint8Array, Uint8Array][], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} entries, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const [ak, av] = actual[i]!;
    const [ek, ev] = expected[i]!;
    if (!Buffer.from(ak).equals(Buffer.from(ek)) || !Buffer.from(av).equals(Buffer.from(ev))) {
      const show = (k: Uint8Array, v: Uint8Array) => `${Buffer.from(k).toString("latin1")}=${Buffer.from(v).subarray(0, 20).toString("latin1")}`;
      assert.fail(`${what}: entry ${i} is ${show(ak, av)}, expected ${show(ek, ev)}`);
    }
  }
}

/**
 * Opens an iterator (and a snapshot at the same moment), reads a third of it, waits until
 * several compactions have rewritten the files, and reads on: the iterator must still yield
 * exactly the snapshot's view.
 */
async function longLivedIterator(w: Workload): Promise<{ compactionsWhilePaused: number }> {
  // Start once tables exist and compaction is under way, so the view spans files it will replace.
  while (!w.done && (w.batchesAcked < 100 || w.engine.stats().compactions.count < 2)) {
    if (w.elapsedMs() > DEADLINE_MS) throw new Error(`deadline: ${w.engine.stats().compactions.count} compactions, ${w.batchesAcked} batches`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const acked = w.ackedNow();
  const snapshot: Snapshot = w.engine.snapshot();
  const iterator = w.engine.iterate()[Symbol.asyncIterator]();
  try {
    const entries: [Uint8Array, Uint8Array][] = [];
    let next = await iterator.next();
    for (; !next.done && entries.length < (GROUPS * GROUP_KEYS) / 6; next = await iterator.next()) entries.push(next.value);
    const before = w.engine.stats().compactions.count;
    while (!w.done && w.engine.stats().compactions.count < before + 3) {
      if (w.elapsedMs() > DEADLINE_MS) throw new Error(`deadline: compactions stayed at ${w.engine.stats().compactions.count} while an iterator was open`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const compactionsWhilePaused = w.engine.stats().compactions.count - before;
    for (; !next.done; next = await iterator.next()) entries.push(next.value);
    checkScan(w, entries, acked, false, "iterator paused across compactions");
    assertSameScan(entries, await collect(w.engine.iterate({ snapshot })), "iterator paused across compactions vs its snapshot");
    return { compactionsWhilePaused };
  } finally {
    await iterator.return?.();
    snapshot.release();
  }
}

async function runConcurrently(backgroundWorker: boolean, report: (line: string) => void): Promise<void> {
  const seed = process.env.SISYPHUS_SEED !== undefined ? Number(process.env.SISYPHUS_SEED) : Math.floor(Math.random() * 0x7fffffff);
  await withTempDir("concurrency", async (dir) => {
    const options: EngineOptions = {
      memtableBytes: 16 * 1024,
      targetFileBytes: 8 * 1024,
      blockSizeBytes: 512,
      l0CompactionTrigger: 2,
      levelBaseBytes: 64 * 1024,
      blockCacheBytes: 64 * 1024,
      backgroundWorker,
    };
    let engine = await Engine.open(dir, options);
    const w = new Workload(engine, createRng(seed));
    try {
      let longLivedDone = false;
      const guard = <T>(p: Promise<T>): Promise<T | undefined> =>
        p.catch((err: unknown) => {
          w.fail(err);
          return undefined;
        });
      const longLived = guard(longLivedIterator(w)).finally(() => (longLivedDone = true));
      const [, forward, reverse, gets, snapshots, paused] = await Promise.all([
        guard(writer(w, () => !longLivedDone)).finally(() => (w.done = true)),
        guard(scanner(w, false)),
        guard(scanner(w, true)),
        guard(pointReader(w)),
        guard(snapshotReader(w)),
        longLived,
      ]);
      if (w.failure !== undefined) throw w.failure;
      const stats = engine.stats();
      const context = `seed ${seed}: ${w.batchesAcked} batches, ${forward} forward / ${reverse} reverse scans, ${gets} gets, ` +
        `${snapshots} snapshot rounds, stats ${JSON.stringify({ flushes: stats.flushes, compactions: stats.compactions, levels: stats.levels })}`;
      assert.ok(stats.compactions.count >= MIN_COMPACTIONS, `too few compactions; ${context}`);
      assert.ok(paused !== undefined && paused.compactionsWhilePaused >= 3, `iterator was not paused across compactions; ${context}`);
      assert.ok(forward! > 0 && reverse! > 0 && gets! > 0 && snapshots! > 0, `a reader never completed a round; ${context}`);
      report(`${context}, ${paused.compactionsWhilePaused} compactions while an iterator was paused`);

      // Nothing stays pinned once every iterator and snapshot is gone.
      const until = Date.now() + 10_000;
      let now = engine.stats();
      while ((now.liveIterators > 0 || now.liveSnapshots > 0 || now.obsoleteFilesPending > 0) && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        now = engine.stats();
      }
      assert.deepEqual(
        { liveIterators: now.liveIterators, liveSnapshots: now.liveSnapshots, obsoleteFilesPending: now.obsoleteFilesPending },
        { liveIterators: 0, liveSnapshots: 0, obsoleteFilesPending: 0 },
        `resources still pinned 10 s after the last reader finished; ${context}`,
      );

      const acked = w.ackedNow();
      await engine.close();
      engine = await Engine.open(dir, options);
      checkScan(w, await collect(engine.iterate()), acked, false, "scan after reopen");
    } catch (err) {
      (err as Error).message += `\n  reproduce: SISYPHUS_SEED=${seed} node --test dist/server/test/storage/engine-concurrency.test.js`;
      throw err;
    } finally {
      await engine.close();
    }
  });
}

describe("reads stay consistent while flushes and compactions run", { timeout: 120_000 }, () => {
  it("with flush and compaction in the worker thread", async (t) => {
    await runConcurrently(true, (line) => t.diagnostic(line));
  });

  it("with flush and compaction inline", async (t) => {
    await runConcurrently(false, (line) => t.diagnostic(line));
  });
});
