/**
 * The in-process watch hub. A watcher is either replaying history or synced (receiving live
 * events); the hub's `revision` is the newest revision whose events it has published.
 *
 * No gap, no duplicate at the switch-over: a replay step takes an engine snapshot and, in the
 * same synchronous turn, reads `revision` as its bound R. Events reach the hub only after their
 * batch is durable and visible, so the snapshot holds every event <= R; the step replays
 * (position, R] from it. A watcher whose position has passed `revision` joins the synced set in
 * one synchronous step, so the next event it can receive is the first one published after the
 * replay ended. Replay runs only when the consumer asks for events, and takes a fresh snapshot
 * each step, so a slow consumer pins nothing; if compaction overtakes its position, it is
 * canceled with the compact revision.
 *
 * Writers are never blocked: a synced watcher that still holds undelivered events when a new
 * group is published may buffer up to `bufferEvents`; past that it is canceled with a reason,
 * after its buffer (complete revisions only) has been delivered.
 */
import type { Engine, Snapshot } from "../storage/index.js";
import { CorruptRecordError, InvalidArgumentError } from "./errors.js";
import { type KeyInterval, inInterval, keyInterval } from "./key-range.js";
import { type PendingVersion, keyIdOf } from "./pending-writes.js";
import {
  EVENT_PUT,
  STATE_KEY,
  decodeEventRecord,
  decodeStateRecord,
  decodeVersionRecord,
  eventKeyStart,
  revisionOfEventKey,
  versionKey,
} from "./store-layout.js";
import { EngineView } from "./store-view.js";
import { EventType, type KeyValue, type WatchCancel, type WatchEvent, WatchFilter, type WatchRequest } from "./types.js";

export interface WatchSubscription extends AsyncIterable<WatchEvent[]> {
  /** The first revision the watcher reports (the resolved startRevision). */
  readonly startRevision: number;
  /**
   * The next events in revision order (never a partial revision, at least one event), or
   * undefined once the watcher has ended. Concurrent calls share one result.
   */
  next(): Promise<WatchEvent[] | undefined>;
  /** Stops the watcher; buffered events are dropped and next() resolves undefined. */
  cancel(): void;
  /** Set when the hub ended the watcher (compaction, overflow, close); undefined while running or after cancel(). */
  readonly cancellation: WatchCancel | undefined;
  /** The watcher has replayed all history and receives events as they are applied. */
  readonly synced: boolean;
  /**
   * When the watcher is synced and has handed out every event it was given: the revision
   * through which it has (so every later event has a higher revision); otherwise undefined.
   * A progress notification may promise this revision.
   */
  readonly progressRevision: number | undefined;
}

export interface WatchHubOptions {
  /** Events a synced watcher may hold undelivered before it is canceled. */
  bufferEvents: number;
  /** Events one replay step aims for (it finishes the revision it is in). */
  replayEvents: number;
}

const EMPTY = new Uint8Array(0);
/** Event records one replay step reads at most (it finishes the revision it is in), matching or not. */
const REPLAY_SCAN_LIMIT = 8192;

export class WatchHub {
  private readonly singleKey = new Map<string, Set<Watcher>>();
  private readonly ranged = new Set<Watcher>();
  private readonly watchers = new Set<Watcher>();
  private publications = 0;

  constructor(
    private readonly engine: Engine,
    /** Every event at or below this revision has been published. */
    public revision: number,
    private compactRevision: number,
    private readonly options: WatchHubOptions,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  watch(req: WatchRequest): WatchSubscription {
    const interval = keyInterval(req.key, req.rangeEnd, "");
    const start = req.startRevision ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) {
      throw new InvalidArgumentError(`must be a non-negative integer, got ${start}`, "start_revision");
    }
    const filters = req.filters ?? [];
    for (const f of filters) {
      if (WatchFilter[f] === undefined) throw new InvalidArgumentError(`unknown filter ${f}`, "filters");
    }
    const w = new Watcher(this, interval, start === 0 ? this.revision + 1 : start, {
      prevKv: req.prevKv === true,
      noPut: filters.includes(WatchFilter.NoPut),
      noDelete: filters.includes(WatchFilter.NoDelete),
    });
    this.watchers.add(w);
    if (start !== 0 && start < this.compactRevision) {
      this.end(w, { reason: `start revision ${start} has been compacted`, compactRevision: this.compactRevision });
    } else if (w.startRevision > this.revision) {
      this.join(w);
    }
    return w;
  }

  /** Delivers the events of a durable apply group; `revision` is the store's revision after it. */
  publish(versions: readonly PendingVersion[], revision: number, compactRevision: number): void {
    this.publications++;
    const woken = new Set<Watcher>();
    for (const v of versions) {
      let plain: WatchEvent | undefined;
      let withPrev: WatchEvent | undefined;
      const deliver = (w: Watcher): void => {
        if (v.modRevision < w.startRevision || (v.deleted ? w.noDelete : w.noPut)) return;
        const event = w.prevKv ? (withPrev ??= this.liveEvent(v, true)) : (plain ??= this.liveEvent(v, false));
        if (w.push(event, v.modRevision, this.publications, this.options.bufferEvents)) woken.add(w);
        else this.end(w, { reason: `watcher fell behind: more than ${this.options.bufferEvents} events undelivered`, compactRevision: 0 });
      };
      const exact = this.singleKey.get(v.keyId);
      if (exact !== undefined) for (const w of exact) deliver(w);
      for (const w of this.ranged) if (inInterval(w.interval, v.key)) deliver(w);
    }
    this.revision = revision;
    this.compactRevision = compactRevision;
    for (const w of woken) w.wake();
  }

  /** Ends every watcher (the state machine is closing). */
  close(reason: string): void {
    for (const w of [...this.watchers]) this.end(w, { reason, compactRevision: 0 });
  }

  remove(w: Watcher): void {
    this.watchers.delete(w);
    this.unjoin(w);
  }

  end(w: Watcher, cancellation: WatchCancel): void {
    this.remove(w);
    w.finish(cancellation);
  }

  /** One replay step for `w`: events in (position, bound] from a snapshot, then maybe the switch to live. */
  async replay(w: Watcher): Promise<void> {
    const snapshot = this.engine.snapshot();
    const bound = this.revision;
    try {
      const state = decodeStateRecord(this.engine.getSync(STATE_KEY, { snapshot }));
      if (w.nextRevision < state.compactRevision) {
        this.end(w, { reason: `revision ${w.nextRevision} has been compacted`, compactRevision: state.compactRevision });
        return;
      }
      const view = new EngineView(this.engine, bound, snapshot);
      const events: WatchEvent[] = [];
      let scanned = 0;
      let revision = w.nextRevision;
      let nextRevision = bound + 1;
      for await (const [engineKey, record] of this.engine.iterate({
        gte: eventKeyStart(w.nextRevision),
        lt: eventKeyStart(bound + 1),
        snapshot,
      })) {
        const eventRevision = revisionOfEventKey(engineKey);
        if (eventRevision !== revision && (events.length >= this.options.replayEvents || scanned >= REPLAY_SCAN_LIMIT)) {
          nextRevision = eventRevision;
          break;
        }
        revision = eventRevision;
        scanned++;
        const { kind, key } = decodeEventRecord(record, engineKey);
        if (!inInterval(w.interval, key) || (kind === EVENT_PUT ? w.noPut : w.noDelete)) continue;
        const kv = kind === EVENT_PUT ? storedKeyValue(this.engine, snapshot, key, revision) : deletedKeyValue(key, revision);
        const event: WatchEvent = { type: kind === EVENT_PUT ? EventType.Put : EventType.Delete, kv };
        // At the compact revision the state before `revision` is compacted (types.proto,
        // Event.prev_kv) and the compactor is removing that version: reading it anyway would
        // give prev_kv or not depending on how far the background compaction has got.
        if (w.prevKv && revision > state.compactRevision) {
          const prev = await view.versionAt(key, revision - 1);
          if (prev !== undefined) event.prevKv = { ...prev, value: prev.value! };
        }
        events.push(event);
      }
      if (w.ended) return;
      w.nextRevision = nextRevision;
      for (const e of events) w.buffer.push(e);
    } finally {
      snapshot.release();
    }
    if (!w.ended && w.nextRevision > this.revision) this.join(w);
  }

  private join(w: Watcher): void {
    w.synced = true;
    if (w.interval.single) {
      const id = keyIdOf(w.interval.start);
      let set = this.singleKey.get(id);
      if (set === undefined) this.singleKey.set(id, (set = new Set()));
      set.add(w);
    } else {
      this.ranged.add(w);
    }
  }

  private unjoin(w: Watcher): void {
    if (!w.synced) return;
    if (w.interval.single) {
      const id = keyIdOf(w.interval.start);
      const set = this.singleKey.get(id);
      set?.delete(w);
      if (set?.size === 0) this.singleKey.delete(id);
    } else {
      this.ranged.delete(w);
    }
  }

  private liveEvent(v: PendingVersion, withPrev: boolean): WatchEvent {
    const kv: KeyValue = v.deleted
      ? deletedKeyValue(v.key, v.modRevision)
      : { key: v.key, createRevision: v.createRevision, modRevision: v.modRevision, version: v.version, value: v.value, lease: v.lease };
    const event: WatchEvent = { type: v.deleted ? EventType.Delete : EventType.Put, kv };
    if (withPrev && v.prev !== undefined) {
      // The previous version is durable (in this group's batch or before) and, being the
      // newest below a revision above the compact revision, not removable by compaction yet.
      const engineKey = versionKey(v.key, v.prev.modRevision);
      const record = this.engine.getSync(engineKey);
      if (record !== undefined) {
        const prev = decodeVersionRecord(record, engineKey);
        if (!prev.deleted) {
          const { createRevision, modRevision, version, lease } = v.prev;
          event.prevKv = { key: v.key, createRevision, modRevision, version, value: prev.value, lease };
        }
      }
    }
    return event;
  }
}

function deletedKeyValue(key: Uint8Array, revision: number): KeyValue {
  return { key, createRevision: 0, modRevision: revision, version: 0, value: EMPTY, lease: 0n };
}

function storedKeyValue(engine: Engine, snapshot: Snapshot, key: Uint8Array, revision: number): KeyValue {
  const engineKey = versionKey(key, revision);
  const record = engine.getSync(engineKey, { snapshot });
  if (record === undefined) throw new CorruptRecordError("a put event names a missing version", engineKey);
  const version = decodeVersionRecord(record, engineKey);
  if (version.deleted) throw new CorruptRecordError("a put event names a tombstone", engineKey);
  const { createRevision, version: v, lease, value } = version;
  return { key, createRevision, modRevision: revision, version: v, value, lease };
}

class Watcher implements WatchSubscription {
  synced = false;
  ended = false;
  cancellation: WatchCancel | undefined;
  /** Replay position: the events of revisions below it have been delivered. */
  nextRevision: number;
  readonly buffer: WatchEvent[] = [];
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  /** Where the events of the newest revision in the buffer begin, and which revision that is. */
  private revisionStart = 0;
  private bufferedRevision = 0;
  /** The publish that last reached this watcher, and how many events were undelivered before it. */
  private publication = 0;
  private carried = 0;
  private waiter: (() => void) | undefined;
  private pending: Promise<WatchEvent[] | undefined> | undefined;

  constructor(
    private readonly hub: WatchHub,
    readonly interval: KeyInterval,
    readonly startRevision: number,
    flags: { prevKv: boolean; noPut: boolean; noDelete: boolean },
  ) {
    this.nextRevision = startRevision;
    this.prevKv = flags.prevKv;
    this.noPut = flags.noPut;
    this.noDelete = flags.noDelete;
  }

  next(): Promise<WatchEvent[] | undefined> {
    if (this.pending === undefined) {
      const p = this.produce();
      this.pending = p;
      const clear = (): void => {
        if (this.pending === p) this.pending = undefined;
      };
      p.then(clear, clear);
    }
    return this.pending;
  }

  get progressRevision(): number | undefined {
    return this.synced && this.buffer.length === 0 ? this.hub.revision : undefined;
  }

  cancel(): void {
    if (this.ended) return;
    this.hub.remove(this);
    this.buffer.length = 0;
    this.finish(undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent[]> {
    try {
      for (let events = await this.next(); events !== undefined; events = await this.next()) yield events;
    } finally {
      this.cancel();
    }
  }

  /**
   * Buffers a live event of publish number `publication`; false when the watcher has fallen
   * behind (the partial revision is dropped). Only events left over from earlier publishes
   * count against the limit: a watcher that has read everything takes a whole group, however
   * many events it has.
   */
  push(event: WatchEvent, revision: number, publication: number, limit: number): boolean {
    if (publication !== this.publication) {
      this.publication = publication;
      this.carried = this.buffer.length;
    }
    if (revision !== this.bufferedRevision) {
      this.bufferedRevision = revision;
      this.revisionStart = this.buffer.length;
    }
    if (this.carried > 0 && this.buffer.length >= limit) {
      this.buffer.length = this.revisionStart;
      return false;
    }
    this.buffer.push(event);
    return true;
  }

  finish(cancellation: WatchCancel | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.synced = false;
    this.cancellation = cancellation;
    this.wake();
  }

  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async produce(): Promise<WatchEvent[] | undefined> {
    while (true) {
      if (this.buffer.length > 0) {
        const events = this.buffer.splice(0);
        this.revisionStart = 0;
        this.bufferedRevision = 0;
        return events;
      }
      if (this.ended) return undefined;
      if (this.synced) {
        await new Promise<void>((resolve) => (this.waiter = resolve));
        continue;
      }
      try {
        await this.hub.replay(this);
      } catch (err) {
        // A replay cut short because the watcher ended (the store closing under it) is no error.
        if (!this.ended) throw err;
      }
    }
  }
}
