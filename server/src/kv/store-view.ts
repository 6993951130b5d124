/**
 * Reading the MVCC store. A StoreView answers the questions the range logic and the apply path
 * ask: a key's current metadata, the value of one version, the newest version at or below a
 * revision, and the live keys of an interval at a revision.
 *
 * EngineView reads the engine (through a snapshot when given one, so a multi-step read sees one
 * state). PendingView layers the apply group's pending versions over an EngineView.
 */
import type { Engine, Snapshot } from "../storage/index.js";
import { CorruptRecordError } from "./errors.js";
import type { KeyInterval } from "./key-range.js";
import { type PendingWrites, keyIdOf } from "./pending-writes.js";
import {
  CURRENT_SPACE,
  type KeyMeta,
  VERSION_SPACE,
  currentKey,
  decodeCurrentRecord,
  decodeVersionRecord,
  revisionOfVersionKey,
  sameVersionedKey,
  userKeyOfCurrent,
  userKeyOfVersion,
  versionKey,
  versionPrefix,
} from "./store-layout.js";

/** A key that exists at the revision read; `value` is loaded on demand when absent. */
export interface LiveEntry extends KeyMeta {
  key: Uint8Array;
  value?: Uint8Array;
}

export interface StoreView {
  /** The view's current revision: scans at or above it read the current state. */
  readonly revision: number;
  /** The key's metadata at the current revision, if it exists. */
  current(key: Uint8Array): KeyMeta | undefined;
  /** The value of the (put) version of `key` written at `modRevision`. */
  value(key: Uint8Array, modRevision: number): Uint8Array;
  /** The newest version of `key` at or below `revision`, if that version is not a delete. */
  versionAt(key: Uint8Array, revision: number): Promise<LiveEntry | undefined>;
  /** The keys of `interval` that exist at `revision`, in ascending key order. */
  scan(interval: KeyInterval, revision: number): AsyncIterable<LiveEntry>;
}

/** versionKey(key, 0) sorts after every real version of key (revisions start at 1). */
const PAST_OLDEST_REVISION = 0;

export class EngineView implements StoreView {
  private readonly readOptions: { snapshot?: Snapshot };

  constructor(
    private readonly engine: Engine,
    readonly revision: number,
    snapshot?: Snapshot,
  ) {
    this.readOptions = snapshot === undefined ? {} : { snapshot };
  }

  current(key: Uint8Array): KeyMeta | undefined {
    const engineKey = currentKey(key);
    const record = this.engine.getSync(engineKey, this.readOptions);
    return record === undefined ? undefined : decodeCurrentRecord(record, engineKey);
  }

  value(key: Uint8Array, modRevision: number): Uint8Array {
    const engineKey = versionKey(key, modRevision);
    const record = this.engine.getSync(engineKey, this.readOptions);
    if (record === undefined) throw new CorruptRecordError("the version a current record names is missing", engineKey);
    const version = decodeVersionRecord(record, engineKey);
    if (version.deleted) throw new CorruptRecordError("the version a current record names is a tombstone", engineKey);
    return version.value;
  }

  async versionAt(key: Uint8Array, revision: number): Promise<LiveEntry | undefined> {
    const iterator = this.engine.iterate({
      gte: versionKey(key, revision),
      lte: versionKey(key, PAST_OLDEST_REVISION),
      limit: 1,
      ...this.readOptions,
    });
    for await (const [engineKey, record] of iterator) {
      const version = decodeVersionRecord(record, engineKey);
      if (version.deleted) return undefined;
      const { createRevision, version: v, lease, value } = version;
      return { key, modRevision: revisionOfVersionKey(engineKey), createRevision, version: v, lease, value };
    }
    return undefined;
  }

  scan(interval: KeyInterval, revision: number): AsyncIterable<LiveEntry> {
    if (interval.single) return this.scanSingle(interval.start, revision);
    return revision >= this.revision ? this.scanCurrent(interval) : this.scanPast(interval, revision);
  }

  /**
   * One key: point lookups instead of an iterator. An iterator over the "c" record of a hot key
   * would step over every engine-internal version of it still in the memtable (one per put
   * since the last flush) before it could finish; a point lookup stops at the newest.
   */
  private async *scanSingle(key: Uint8Array, revision: number): AsyncIterable<LiveEntry> {
    if (revision >= this.revision) {
      const meta = this.current(key);
      if (meta !== undefined) yield { ...meta, key };
      return;
    }
    const entry = await this.versionAt(key, revision);
    if (entry !== undefined) yield entry;
  }

  private async *scanCurrent(interval: KeyInterval): AsyncIterable<LiveEntry> {
    const iterator = this.engine.iterate({
      gte: currentKey(interval.start),
      lt: interval.end === undefined ? CURRENT_SPACE.end : currentKey(interval.end),
      ...this.readOptions,
    });
    for await (const [engineKey, record] of iterator) {
      const meta = decodeCurrentRecord(record, engineKey) as LiveEntry;
      meta.key = userKeyOfCurrent(engineKey);
      yield meta;
    }
  }

  /** Walks every version in the interval, keeping per key the newest one <= revision. */
  private async *scanPast(interval: KeyInterval, revision: number): AsyncIterable<LiveEntry> {
    const iterator = this.engine.iterate({
      gte: versionPrefix(interval.start),
      lt: interval.end === undefined ? VERSION_SPACE.end : versionPrefix(interval.end),
      ...this.readOptions,
    });
    let decided: Uint8Array | undefined;
    for await (const [engineKey, record] of iterator) {
      if (decided !== undefined && sameVersionedKey(decided, engineKey)) continue;
      const modRevision = revisionOfVersionKey(engineKey);
      if (modRevision > revision) continue;
      decided = engineKey;
      const version = decodeVersionRecord(record, engineKey);
      if (version.deleted) continue;
      const { createRevision, version: v, lease, value } = version;
      yield { key: userKeyOfVersion(engineKey), modRevision, createRevision, version: v, lease, value };
    }
  }
}

/** The apply path's view: pending versions of the group first, then the engine. */
export class PendingView implements StoreView {
  constructor(
    private readonly engine: EngineView,
    private readonly pending: PendingWrites,
  ) {}

  get revision(): number {
    return this.engine.revision;
  }

  current(key: Uint8Array): KeyMeta | undefined {
    const v = this.pending.latest(keyIdOf(key));
    if (v === undefined) return this.engine.current(key);
    return v.deleted ? undefined : v;
  }

  value(key: Uint8Array, modRevision: number): Uint8Array {
    return this.pending.at(keyIdOf(key), modRevision)?.value ?? this.engine.value(key, modRevision);
  }

  async versionAt(key: Uint8Array, revision: number): Promise<LiveEntry | undefined> {
    const v = this.pending.newestAtOrBelow(keyIdOf(key), revision);
    if (v === undefined) return this.engine.versionAt(key, revision);
    return v.deleted ? undefined : v;
  }

  /** Merges the engine's scan with the pending versions, which win for the keys they name. */
  async *scan(interval: KeyInterval, revision: number): AsyncIterable<LiveEntry> {
    const pending = this.pending.inInterval(interval, revision);
    let p = 0;
    for await (const entry of this.engine.scan(interval, revision)) {
      const id = keyIdOf(entry.key);
      while (p < pending.length && pending[p]!.keyId < id) {
        const v = pending[p++]!;
        if (!v.deleted) yield v;
      }
      if (p < pending.length && pending[p]!.keyId === id) {
        const v = pending[p++]!;
        if (!v.deleted) yield v;
        continue;
      }
      yield entry;
    }
    for (; p < pending.length; p++) if (!pending[p]!.deleted) yield pending[p]!;
  }
}
