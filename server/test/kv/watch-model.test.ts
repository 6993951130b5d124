/**
 * Watches against the model of revisions (mvcc-model.ts). Random histories (the shared command
 * generators, plus compactions close to the current revision) interleave with watcher
 * operations: watchers over single keys, ranges, prefixes and from-key ranges, starting now, at
 * a past revision, at the compact revision, one below it, at the next revision or later, with
 * random filters and prev_kv; some read after every step (live), some only at the end (replay
 * from history), some one replay step at a time, some are canceled midway. A reopen (engine and
 * state machine) ends every watcher; each is re-created from the revision after the last one it
 * received, as a client would. At the end, the events every watcher received, concatenated
 * across reopens, must be exactly the model's: every version in its range with a revision from
 * its start through the current revision (through the last one it received, when it was
 * canceled or compacted away), in (revision, sub-revision) order, filtered, with the kv fields
 * of the version (a delete: key and mod_revision only) and prev_kv by the rule below. No batch
 * may split a revision; a watcher that has caught up must promise the current revision
 * (progressRevision). A start below the compact revision must cancel at once with that compact
 * revision, and a replaying watcher may be canceled as compacted only when the revision after
 * the last one it received is below the compact revision.
 *
 * prev_kv (types.proto, Event.prev_kv: "the key existed before the change and that earlier
 * state has not been compacted away"): the key's previous version, when the watcher asked for
 * it, that version is a put, and the state before the change (revision - 1) was still readable
 * when the event was made: its revision is above the compact revision at that moment. A live
 * event is made when its command is applied, so it always qualifies (a compact revision never
 * exceeds the revision before the change); a replayed event is made by the replay step that
 * reads it, so a change at exactly the compact revision then has no prev_kv.
 *
 * An example pins that rule at the compact revision (a replay used to give prev_kv there or not,
 * depending on whether the background compaction had removed the version yet).
 *
 * A second property runs watchers with a tiny buffer: the ones that never read must be canceled
 * ("fell behind") exactly when the hub's buffer policy says, after handing over every complete
 * revision they held, while a watcher that reads gets every event and the applies complete
 * without anyone reading the others.
 *
 * Reproduce a failure with the command printed in its message:
 *   SISYPHUS_SEED=<seed> SISYPHUS_PATH=<path> node --test --test-name-pattern="<name>" \
 *     dist/server/test/kv/watch-model.test.js
 * SISYPHUS_RUNS=<n> changes the number of runs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type Command,
  EventType,
  type WatchEvent,
  WatchFilter,
  type WatchRequest,
  type WatchSubscription,
} from "../../src/kv/index.js";
import { TestStore, b, plain, withStore, withTempDir } from "./kv-harness.js";
import { type Interval, Model, TINY_ENGINE, type Version, commandArb, inside, interval, keyArb, kv, rangeSpec } from "./mvcc-model.js";

// ------------------------------------------------------------------ what a watcher should see

/** A watcher as the model sees it. */
interface WatchShape {
  interval: Interval;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
}

function shapeOf(request: WatchRequest): WatchShape {
  const filters = request.filters ?? [];
  return {
    interval: interval(Buffer.from(request.key).toString("latin1"), Buffer.from(request.rangeEnd ?? []).toString("latin1")),
    noPut: filters.includes(WatchFilter.NoPut),
    noDelete: filters.includes(WatchFilter.NoDelete),
    prevKv: request.prevKv === true,
  };
}

/**
 * The events of `shape` with revisions in [from, through], as plain values. `handoverCompact(r)`
 * is the compact revision when the events of revision r were handed to the watcher.
 */
function expectedEvents(model: Model, shape: WatchShape, from: number, through: number, handoverCompact: (revision: number) => number): unknown[] {
  const previous = new Map<string, Version>();
  const out: unknown[] = [];
  for (const v of model.history) {
    const before = previous.get(v.key);
    previous.set(v.key, v);
    if (v.rev < from || v.rev > through || !inside(shape.interval, v.key) || (v.deleted ? shape.noDelete : shape.noPut)) continue;
    const event: Record<string, unknown> = v.deleted
      ? { type: EventType.Delete, kv: { key: v.key, createRevision: 0, modRevision: v.rev, version: 0, value: "", lease: 0n } }
      : { type: EventType.Put, kv: kv(v) };
    if (shape.prevKv && before !== undefined && !before.deleted && v.rev > handoverCompact(v.rev)) event.prevKv = kv(before);
    out.push(event);
  }
  return out;
}

const brief = (e: WatchEvent): string => `${e.type === EventType.Put ? "put" : "del"} ${JSON.stringify(plain(e.kv.key))}@${e.kv.modRevision}`;
const show = (value: unknown): string => JSON.stringify(plain(value), (_, v) => (typeof v === "bigint" ? `${v}n` : v));

function assertEvents(actual: WatchEvent[], expected: unknown[], what: string): void {
  try {
    assert.deepStrictEqual(plain(actual), expected);
  } catch (err) {
    if (err instanceof Error) err.message = `${what}: received ${actual.length} events, expected ${expected.length}\n  received: ${actual.map(brief).join(", ")}\n${err.message}`;
    throw err;
  }
}

// ------------------------------------------------------------------ generators

type StartKind = "now" | "past" | "next" | "future" | "belowCompact" | "atCompact";

interface WatchSpec {
  key: string;
  rangeEnd: string;
  start: StartKind;
  /** For "past": picks a revision in 1..current. */
  past: number;
  prevKv: boolean;
  filters: WatchFilter[];
  /** live: reads after every step; atEnd: only when a step says so and at the end. */
  reading: "live" | "atEnd";
}

type Step =
  | { kind: "apply"; commands: Command[] }
  | { kind: "compactRecent"; back: number }
  | { kind: "watch"; spec: WatchSpec }
  | { kind: "readOnce"; pick: number }
  | { kind: "cancel"; pick: number }
  | { kind: "reopen" };

const prefixSpec = fc.constantFrom("a", "a\0", "b").map((p) => ({ key: p, rangeEnd: p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1) }));
const watchRangeArb = fc.oneof(
  { weight: 3, arbitrary: rangeSpec },
  { weight: 1, arbitrary: prefixSpec },
  { weight: 1, arbitrary: fc.constant({ key: "\0", rangeEnd: "\0" }) },
);
const filtersArb = fc.constantFrom<WatchFilter[]>(
  [],
  [],
  [],
  [WatchFilter.NoPut],
  [WatchFilter.NoDelete],
  [WatchFilter.NoPut, WatchFilter.NoPut],
  [WatchFilter.Unspecified, WatchFilter.NoDelete],
  [WatchFilter.NoPut, WatchFilter.NoDelete],
);
const watchSpecArb: fc.Arbitrary<WatchSpec> = fc
  .record({
    range: watchRangeArb,
    start: fc.constantFrom<StartKind>("now", "now", "past", "past", "past", "next", "future", "belowCompact", "atCompact", "atCompact"),
    past: fc.nat(60),
    prevKv: fc.boolean(),
    filters: filtersArb,
    reading: fc.constantFrom<WatchSpec["reading"]>("live", "atEnd"),
  })
  .map(({ range, ...rest }) => ({ key: range.key, rangeEnd: range.rangeEnd, ...rest }));

/** A transaction putting several keys: a revision with several events, in the transaction's order. */
const multiPutArb: fc.Arbitrary<Command> = fc.uniqueArray(keyArb, { minLength: 2, maxLength: 4 }).map((keys) => ({
  type: "txn" as const,
  request: { compare: [], success: keys.map((k) => ({ case: "put" as const, value: { key: b(k), value: b(`m${k}`) } })), failure: [] },
}));
const writeArb: fc.Arbitrary<Command> = fc.oneof({ weight: 4, arbitrary: commandArb }, { weight: 1, arbitrary: multiPutArb });

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: writeArb.map((c) => ({ kind: "apply" as const, commands: [c] })) },
  { weight: 4, arbitrary: fc.array(writeArb, { minLength: 2, maxLength: 6 }).map((commands) => ({ kind: "apply" as const, commands })) },
  { weight: 2, arbitrary: fc.nat(3).map((back) => ({ kind: "compactRecent" as const, back })) },
  { weight: 5, arbitrary: watchSpecArb.map((spec) => ({ kind: "watch" as const, spec })) },
  { weight: 2, arbitrary: fc.nat(20).map((pick) => ({ kind: "readOnce" as const, pick })) },
  { weight: 1, arbitrary: fc.nat(20).map((pick) => ({ kind: "cancel" as const, pick })) },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

// ------------------------------------------------------------------ running a history

interface Tally {
  runs: number;
  revisions: number;
  watchers: number;
  events: number;
  /** Events handed over live (published to a synced watcher) and by replay. */
  liveEvents: number;
  replayedEvents: number;
  /** Events whose previous version was a put but whose prev_kv the compaction withheld. */
  prevWithheld: number;
  compactedAtStart: number;
  compactedInReplay: number;
  canceled: number;
  resumedAfterReopen: number;
  overflowed: number;
}

const newTally = (): Tally => ({
  runs: 0,
  revisions: 0,
  watchers: 0,
  events: 0,
  liveEvents: 0,
  replayedEvents: 0,
  prevWithheld: 0,
  compactedAtStart: 0,
  compactedInReplay: 0,
  canceled: 0,
  resumedAfterReopen: 0,
  overflowed: 0,
});

/** A next() in flight and, once settled, its outcome. */
interface PendingNext {
  outcome?: { events: WatchEvent[] | undefined } | { error: unknown };
}

type WatcherEnd = { kind: "canceled" } | { kind: "compacted"; compactRevision: number } | { kind: "overflowed"; reason: string };

/** One watcher as a client keeps it: re-subscribed after reopens, with everything it received. */
class TrackedWatcher {
  readonly events: WatchEvent[] = [];
  /** The compact revision when the events of each received revision were handed over. */
  readonly handoverCompact = new Map<number, number>();
  readonly shape: WatchShape;
  lastRevision: number;
  end: WatcherEnd | undefined;
  /** For a watcher that ended early: the revision through which it must have every event, when the test knows it. */
  knownThrough: number | undefined;
  subscriptions = 0;
  sub!: WatchSubscription;
  /** The first revision published while the current subscription was live. */
  syncedFrom: number | undefined;
  pending: PendingNext | undefined;

  constructor(
    readonly id: number,
    readonly request: WatchRequest,
    /** The first revision it reports (its start revision, resolved). */
    readonly startRevision: number,
    readonly reading: WatchSpec["reading"],
  ) {
    this.shape = shapeOf(request);
    this.lastRevision = startRevision - 1;
  }

  label(): string {
    const { key, rangeEnd, startRevision, prevKv, filters } = this.request;
    return `watcher ${this.id} ${show({ key, rangeEnd, startRevision, prevKv, filters })} (${this.reading}, ${this.subscriptions} subscriptions, resolved start ${this.startRevision})`;
  }
}

/** How long a read may take to produce events or catch up before the test fails. */
const READ_DEADLINE_MS = 10_000;
/** Batches one read takes at most (every history here has far fewer revisions). */
const READ_BATCHES_MAX = 10_000;

class WatchRun {
  readonly model = new Model();
  private index = 0;
  private readonly watchers: TrackedWatcher[] = [];
  /** The compact revision when the command that created each revision was applied (always below it). */
  private readonly compactAtApply = new Map<number, number>();

  constructor(
    readonly store: TestStore,
    private readonly tally: Tally,
    /** Whether a watcher may be canceled for falling behind (only with a tiny buffer). */
    private readonly overflowAllowed = false,
  ) {}

  open(): TrackedWatcher[] {
    return this.watchers.filter((w) => w.end === undefined);
  }

  async step(step: Step): Promise<void> {
    switch (step.kind) {
      case "apply":
        await this.apply(step.commands);
        break;
      case "compactRecent": {
        const span = this.model.revision - this.model.compactRevision;
        const revision = span > 0 ? this.model.revision - (step.back % span) : this.model.revision;
        await this.apply([{ type: "compact", revision }]);
        break;
      }
      case "watch":
        this.watch(step.spec);
        break;
      case "readOnce": {
        const open = this.open();
        if (open.length > 0) await this.read(open[step.pick % open.length]!, 1);
        break;
      }
      case "cancel": {
        const open = this.open();
        if (open.length > 0) await this.cancel(open[step.pick % open.length]!);
        break;
      }
      case "reopen":
        await this.reopen();
        break;
    }
    for (const w of this.open()) if (w.reading === "live") await this.read(w, READ_BATCHES_MAX);
  }

  /** Applies the commands as one apply group (they are queued in one turn) and checks their results. */
  async apply(commands: Command[]): Promise<void> {
    const revisionBefore = this.model.revision;
    for (const w of this.open()) if (w.sub.synced) w.syncedFrom ??= revisionBefore + 1;
    const groupsBefore = this.store.kv.stats().applyGroups;
    const results = await Promise.all(commands.map((c) => this.store.apply(c)));
    for (const [i, c] of commands.entries()) {
      const compactRevision = this.model.compactRevision;
      assert.deepStrictEqual(plain(results[i]), plain(this.model.apply(c, ++this.index)), `command ${i}`);
      if (!this.compactAtApply.has(this.model.revision)) this.compactAtApply.set(this.model.revision, compactRevision);
    }
    assert.equal(this.store.kv.stats().applyGroups, groupsBefore + 1, "the commands of one step form one apply group");
  }

  watch(spec: WatchSpec): TrackedWatcher {
    const request: WatchRequest = { key: b(spec.key), rangeEnd: b(spec.rangeEnd), startRevision: startRevisionOf(spec, this.model), prevKv: spec.prevKv, filters: spec.filters };
    const start = request.startRevision!;
    const w = new TrackedWatcher(this.watchers.length, request, start === 0 ? this.model.revision + 1 : start, spec.reading);
    this.watchers.push(w);
    this.tally.watchers++;
    this.subscribe(w, start);
    return w;
  }

  private subscribe(w: TrackedWatcher, from: number): void {
    w.sub = this.store.kv.watch({ ...w.request, startRevision: from });
    w.subscriptions++;
    w.syncedFrom = undefined;
    w.pending = undefined;
    const what = `${w.label()} subscribing from ${from}`;
    assert.equal(w.sub.startRevision, from === 0 ? this.model.revision + 1 : from, `${what}: startRevision`);
    const compactRevision = this.model.compactRevision;
    if (from !== 0 && from < compactRevision) {
      const c = w.sub.cancellation;
      assert.equal(c?.compactRevision, compactRevision, `${what}: a start below the compact revision cancels at once with it (${show(c)})`);
      assert.match(c.reason, /compacted/, what);
      w.end = { kind: "compacted", compactRevision };
      this.tally.compactedAtStart++;
    } else {
      assert.equal(w.sub.cancellation, undefined, `${what}: not compacted (compact revision ${compactRevision})`);
    }
  }

  /** Reads up to `batchesMax` batches, stopping early when the watcher ends or has caught up. */
  async read(w: TrackedWatcher, batchesMax: number): Promise<void> {
    for (let n = 0; n < batchesMax && w.end === undefined; n++) {
      const batch = await this.nextBatch(w);
      if (batch === "caughtUp") return;
      if (batch === undefined) return this.ended(w);
      this.receive(w, batch);
    }
  }

  /**
   * The next batch, undefined when the watcher has ended, or "caughtUp" when it is live with
   * nothing left to hand out (the next() stays in flight for a later read). Polls across
   * event-loop turns (a replay reads the engine) with a deadline, never a fixed sleep.
   */
  private async nextBatch(w: TrackedWatcher): Promise<WatchEvent[] | undefined | "caughtUp"> {
    let pending = w.pending;
    if (pending === undefined) {
      const p: PendingNext = {};
      w.sub.next().then(
        (events) => (p.outcome = { events }),
        (error: unknown) => (p.outcome = { error }),
      );
      pending = w.pending = p;
    }
    const deadline = Date.now() + READ_DEADLINE_MS;
    while (pending.outcome === undefined) {
      await new Promise((resolve) => setImmediate(resolve));
      if (pending.outcome !== undefined) break;
      if (w.sub.progressRevision !== undefined) {
        assert.equal(w.sub.progressRevision, this.model.revision, `${w.label()}: a caught-up watcher promises the current revision`);
        return "caughtUp";
      }
      if (Date.now() > deadline) throw new Error(`${w.label()}: neither events nor caught up after ${READ_DEADLINE_MS} ms`);
    }
    w.pending = undefined;
    if ("error" in pending.outcome) throw pending.outcome.error;
    return pending.outcome.events;
  }

  private receive(w: TrackedWatcher, batch: WatchEvent[]): void {
    assert.ok(batch.length > 0, `${w.label()}: an empty batch`);
    const first = batch[0]!.kv.modRevision;
    assert.ok(first > w.lastRevision, `${w.label()}: a batch starts at revision ${first}, not after the last one received (${w.lastRevision}): ${batch.map(brief).join(", ")}`);
    for (const e of batch) {
      const r = e.kv.modRevision;
      const live = w.syncedFrom !== undefined && r >= w.syncedFrom;
      w.handoverCompact.set(r, live ? this.compactAtApply.get(r)! : this.model.compactRevision);
      if (live) this.tally.liveEvents++;
      else this.tally.replayedEvents++;
      w.events.push(e);
      w.lastRevision = r;
    }
  }

  /** The hub ended the watcher without being asked: compaction, or (when allowed) overflow. */
  private ended(w: TrackedWatcher): void {
    const c = w.sub.cancellation;
    const what = w.label();
    if (this.overflowAllowed && c !== undefined && c.compactRevision === 0 && /fell behind/.test(c.reason)) {
      w.end = { kind: "overflowed", reason: c.reason };
      this.tally.overflowed++;
      return;
    }
    assert.ok(c !== undefined && c.compactRevision > 0, `${what} ended without a compaction: ${show(c)}`);
    assert.equal(c.compactRevision, this.model.compactRevision, `${what}: canceled with the compact revision`);
    assert.ok(w.lastRevision + 1 < c.compactRevision, `${what}: canceled as compacted at ${c.compactRevision} though it needs revision ${w.lastRevision + 1} next`);
    w.end = { kind: "compacted", compactRevision: c.compactRevision };
    this.tally.compactedInReplay++;
  }

  private async cancel(w: TrackedWatcher): Promise<void> {
    w.sub.cancel();
    // A next() in flight settles now: undefined, or the batch it had already taken.
    const batch = await this.nextBatch(w);
    assert.notEqual(batch, "caughtUp");
    if (batch !== undefined && batch !== "caughtUp") this.receive(w, batch);
    assert.equal(await w.sub.next(), undefined, `${w.label()}: nothing after cancel()`);
    assert.equal(w.sub.cancellation, undefined, `${w.label()}: cancel() is not a cancellation by the hub`);
    w.end = { kind: "canceled" };
    this.tally.canceled++;
  }

  /** Reopens the store; every watcher ends with it and is re-created after the last revision it received. */
  private async reopen(): Promise<void> {
    await this.store.reopen();
    assert.equal(this.store.kv.appliedIndex(), this.index, "applied index after reopen");
    for (const w of this.open()) {
      for (let n = 0; ; n++) {
        assert.ok(n < READ_BATCHES_MAX, `${w.label()}: too many batches after close`);
        const batch = await this.nextBatch(w);
        assert.notEqual(batch, "caughtUp", `${w.label()}: live after close`);
        if (batch === undefined || batch === "caughtUp") break;
        this.receive(w, batch);
      }
      assert.deepStrictEqual(w.sub.cancellation, { reason: "the state machine closed", compactRevision: 0 }, `${w.label()}: ended by the close`);
      this.subscribe(w, w.lastRevision + 1);
      this.tally.resumedAfterReopen++;
    }
  }

  /** Reads every open watcher to the end of the history, then checks every watcher against the model. */
  async finish(): Promise<void> {
    for (const w of this.open()) {
      await this.read(w, READ_BATCHES_MAX);
      if (w.end === undefined) assert.equal(w.sub.progressRevision, this.model.revision, `${w.label()}: caught up at the end`);
    }
    for (const w of this.watchers) this.check(w);
  }

  check(w: TrackedWatcher): void {
    const through = w.end === undefined ? this.model.revision : (w.knownThrough ?? w.lastRevision);
    const handover = (r: number): number => w.handoverCompact.get(r) ?? this.model.compactRevision;
    const expected = expectedEvents(this.model, w.shape, w.startRevision, through, handover);
    assertEvents(w.events, expected, `${w.label()}, ${w.end === undefined ? "open" : show(w.end)}, revisions ${w.startRevision}..${through}`);
    this.tally.events += w.events.length;
    for (const e of w.events) if (w.shape.prevKv && e.prevKv === undefined && previousIsPut(this.model, e)) this.tally.prevWithheld++;
  }

  async closeAll(): Promise<void> {
    for (const w of this.watchers) w.sub.cancel();
    await this.store.close();
  }
}

function startRevisionOf(spec: WatchSpec, model: Model): number {
  switch (spec.start) {
    case "now":
      return 0;
    case "past":
      return 1 + (spec.past % model.revision);
    case "next":
      return model.revision + 1;
    case "future":
      return model.revision + 2;
    case "belowCompact":
      return Math.max(1, model.compactRevision - 1);
    case "atCompact":
      return Math.max(1, model.compactRevision);
  }
}

/** Whether the key of `e` had a live (put) version just before e's revision. */
function previousIsPut(model: Model, e: WatchEvent): boolean {
  const key = Buffer.from(e.kv.key).toString("latin1");
  let before: Version | undefined;
  for (const v of model.history) {
    if (v.key !== key) continue;
    if (v.rev >= e.kv.modRevision) break;
    before = v;
  }
  return before !== undefined && !before.deleted;
}

// ------------------------------------------------------------------ properties

/** After a failure, shrinking stops trying new candidates after this long (the best so far is reported). */
const SHRINK_BUDGET_MS = 60_000;

/** Runs `body` as a fast-check property with a printed, replayable seed (SISYPHUS_SEED / SISYPHUS_PATH). */
async function checkProperty<T>(name: string, arb: fc.Arbitrary<T>, numRuns: number, body: (value: T) => Promise<void>): Promise<void> {
  const seed = process.env.SISYPHUS_SEED !== undefined ? Number(process.env.SISYPHUS_SEED) : Math.floor(Math.random() * 0x7fffffff);
  const path = process.env.SISYPHUS_PATH;
  let failingSince: number | undefined;
  const property = fc.asyncProperty(arb, async (value) => {
    if (failingSince !== undefined && Date.now() - failingSince > SHRINK_BUDGET_MS) return;
    try {
      await body(value);
    } catch (err) {
      failingSince ??= Date.now();
      throw err;
    }
  });
  const details = await fc.check(property, {
    seed,
    numRuns: Number(process.env.SISYPHUS_RUNS ?? numRuns),
    ...(path !== undefined ? { path, endOnFailure: true } : {}),
  });
  if (details.failed) {
    const cause = details.errorInstance;
    throw new Error(
      `${fc.defaultReportMessage(details)}\n` +
        `error: ${cause instanceof Error ? cause.message : String(cause)}\n` +
        `reproduce: SISYPHUS_SEED=${seed} SISYPHUS_PATH=${details.counterexamplePath} node --test ` +
        `--test-name-pattern="${name}" dist/server/test/kv/watch-model.test.js`,
      { cause },
    );
  }
}

async function runHistory(dir: string, steps: Step[], replayEvents: number, tally: Tally): Promise<void> {
  const run = new WatchRun(await TestStore.open(dir, TINY_ENGINE, { watchReplayEvents: replayEvents }), tally);
  try {
    for (const [n, step] of steps.entries()) {
      try {
        await run.step(step);
      } catch (err) {
        if (err instanceof Error) err.message = `step ${n}: ${show(step)}: ${err.message}`;
        throw err;
      }
    }
    await run.finish();
    tally.runs++;
    tally.revisions += run.model.revision;
  } finally {
    await run.closeAll();
  }
}

/** A watcher's share of one apply group under the hub's buffer policy, for a watcher that never reads. */
class UnreadBuffer {
  buffered = 0;
  /** The revision whose events did not fit; the watcher has everything below it. */
  overflowRevision: number | undefined;

  /**
   * A publish buffers the group's events; it overflows at an event that finds the buffer at the
   * limit while the buffer held events from earlier groups, dropping that event's revision.
   */
  publish(revisions: number[], limit: number): void {
    if (this.overflowRevision !== undefined || revisions.length === 0) return;
    const carried = this.buffered;
    for (const r of revisions) {
      if (carried > 0 && this.buffered >= limit) {
        this.overflowRevision = r;
        return;
      }
      this.buffered++;
    }
  }
}

async function runSmallBuffer(dir: string, commands: Command[][], specs: WatchSpec[], bufferEvents: number, tally: Tally): Promise<void> {
  const run = new WatchRun(await TestStore.open(dir, TINY_ENGINE, { watchBufferEvents: bufferEvents }), tally, true);
  try {
    const reader = run.watch({ key: "\0", rangeEnd: "\0", start: "now", past: 0, prevKv: true, filters: [], reading: "live" });
    const idle = specs.map((spec) => run.watch({ ...spec, start: "now", reading: "atEnd" }));
    const buffers = idle.map(() => new UnreadBuffer());
    for (const [n, group] of commands.entries()) {
      const historyBefore = run.model.history.length;
      // Nobody reads the idle watchers: every apply must still complete.
      await run.step({ kind: "apply", commands: group });
      const added = run.model.history.slice(historyBefore);
      for (const [i, w] of idle.entries()) {
        const mine = added.filter((v) => inside(w.shape.interval, v.key) && !(v.deleted ? w.shape.noDelete : w.shape.noPut));
        buffers[i]!.publish(mine.map((v) => v.rev), bufferEvents);
        const overflowed = buffers[i]!.overflowRevision !== undefined;
        const c = w.sub.cancellation;
        assert.equal(c !== undefined, overflowed, `after group ${n}, ${w.label()}: canceled ${show(c)}, model buffer ${show(buffers[i])}`);
        if (c !== undefined) {
          assert.equal(c.compactRevision, 0, `${w.label()}: overflow is no compaction`);
          assert.match(c.reason, /fell behind/, w.label());
        }
      }
      assert.equal(reader.sub.cancellation, undefined, "the reading watcher runs on");
      assert.equal(run.store.kv.stats().watchers, 1 + buffers.filter((x) => x.overflowRevision === undefined).length, "overflowed watchers are gone from the hub");
    }
    // An overflowed watcher hands over what it held, complete revisions: every one below the
    // revision that overflowed. finish() reads it to its end and checks that.
    for (const [i, w] of idle.entries()) {
      const overflowRevision = buffers[i]!.overflowRevision;
      if (overflowRevision !== undefined) w.knownThrough = overflowRevision - 1;
    }
    await run.finish();
    for (const [i, w] of idle.entries()) {
      assert.equal(w.end?.kind === "overflowed", buffers[i]!.overflowRevision !== undefined, `${w.label()} ended ${show(w.end)}`);
    }
    tally.runs++;
    tally.revisions += run.model.revision;
  } finally {
    await run.closeAll();
  }
}

/** Coverage is asserted only for the default runs (not for SISYPHUS_RUNS or a replayed SISYPHUS_PATH). */
const defaultRuns = process.env.SISYPHUS_RUNS === undefined && process.env.SISYPHUS_PATH === undefined;

function assertCovered(tally: Tally, counters: (keyof Tally)[]): void {
  if (!defaultRuns) return;
  for (const c of counters) assert.ok(tally[c] > 0, `the runs never exercised ${c}: ${JSON.stringify(tally)}`);
}

describe("watch against a model of revisions", { timeout: 300_000 }, () => {
  it("replays a change at the compact revision without prev_kv, whether or not compaction has removed the version before it", async () => {
    await withStore("watch-prev-compacted", async (store) => {
      const put = (value: string): Command => ({ type: "put", request: { key: b("a"), value: b(value) } });
      await store.applyOk(put("1"));
      const live = store.kv.watch({ key: b("a"), prevKv: true });
      // The put at revision 3 and the compaction to 3 land in one apply group.
      await Promise.all([store.applyOk(put("2")), store.applyOk({ type: "compact", revision: 3 })]);
      const atThree = { type: EventType.Put, kv: { key: "a", createRevision: 2, modRevision: 3, version: 2, value: "2", lease: 0n } };
      const previous = { key: "a", createRevision: 2, modRevision: 2, version: 1, value: "1", lease: 0n };
      // Live, the event was made when the put was applied, while revision 2 was readable.
      assert.deepStrictEqual(plain(await live.next()), [{ ...atThree, prevKv: previous }]);
      // Replayed, revision 2 is compacted: no prev_kv, also before the compactor has removed it
      // (this replay races the background compaction that the apply started).
      const early = store.kv.watch({ key: b("a"), startRevision: 3, prevKv: true });
      assert.deepStrictEqual(plain(await early.next()), [atThree], "replayed before the version is removed");
      await store.kv.waitForCompaction(3);
      const late = store.kv.watch({ key: b("a"), startRevision: 3, prevKv: true });
      assert.deepStrictEqual(plain(await late.next()), [atThree], "replayed after the version is removed");
    });
  });

  it("delivers exactly the model's events (live, replay, filters, prev_kv, compaction, cancel, reopen)", async (t) => {
    const tally = newTally();
    const arb = fc.record({
      steps: fc.array(stepArb, { minLength: 20, maxLength: 100, size: "max" }),
      replayEvents: fc.constantFrom(1, 2, 3, 512),
    });
    await checkProperty("exactly the model's events", arb, 50, ({ steps, replayEvents }) => withTempDir("watch-model", (dir) => runHistory(dir, steps, replayEvents, tally)));
    t.diagnostic(JSON.stringify(tally));
    assertCovered(tally, ["liveEvents", "replayedEvents", "compactedAtStart", "compactedInReplay", "canceled", "resumedAfterReopen"]);
  });

  it("cancels a watcher that does not read when its buffer overflows; a reading watcher gets everything; applies never wait", async (t) => {
    const tally = newTally();
    const arb = fc.record({
      commands: fc.array(fc.array(writeArb, { minLength: 1, maxLength: 6 }), { minLength: 5, maxLength: 25 }),
      // The first idle watcher sees every key, so multi-event revisions reach its buffer.
      specs: fc.tuple(watchSpecArb, fc.array(watchSpecArb, { maxLength: 2 })).map(([first, rest]) => [{ ...first, key: "\0", rangeEnd: "\0" }, ...rest]),
      bufferEvents: fc.integer({ min: 1, max: 6 }),
    });
    await checkProperty("buffer overflows", arb, 40, ({ commands, specs, bufferEvents }) =>
      withTempDir("watch-buffer", (dir) => runSmallBuffer(dir, commands, specs, bufferEvents, tally)),
    );
    t.diagnostic(JSON.stringify(tally));
    assertCovered(tally, ["overflowed"]);
  });
});
