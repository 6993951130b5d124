/**
 * Physical compaction: after a Compact(C) command is applied (C is then durable in the state
 * record and reads below C already fail), the old versions are removed in the background, in
 * bounded batches:
 *   - every event record below C is deleted;
 *   - for every key such an event names, the newest version <= C is kept unless it is a
 *     tombstone, and every older version is deleted.
 * A key's versions are all decided in one batch, so a reader at a revision >= C never sees an
 * old version reappear because its tombstone went first. Versions kept by an earlier compaction
 * have no event record any more, but they are still examined whenever a newer event of their key
 * is. Each batch also records the progress (the "m" "compacted" record), so a restart resumes
 * where the work stopped. Nothing here touches a version or event at or above C, which apply may
 * be writing meanwhile.
 */
import { type Engine, WriteBatch } from "../storage/index.js";
import { StateMachineClosedError } from "./errors.js";
import { keyIdOf } from "./pending-writes.js";
import {
  COMPACTED_KEY,
  decodeEventRecord,
  decodeVersionRecord,
  encodeCompactedRecord,
  eventKeyStart,
  revisionOfEventKey,
  versionKey,
} from "./store-layout.js";

/** Event records read per batch. */
const EVENTS_PER_BATCH = 512;

interface Waiter {
  revision: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Compactor {
  private target: number;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failure: Error | undefined;
  private waiters: Waiter[] = [];
  private batches = 0;

  /**
   * `progress`: every event below it is already removed; `target`: the compact revision.
   * `onError` hears of a failed write (the compactor stops; the store stays correct).
   */
  constructor(
    private readonly engine: Engine,
    private progress: number,
    target: number,
    private readonly onError: (err: Error) => void,
  ) {
    this.target = target;
    this.start();
  }

  /** Revision below which the history is physically gone. */
  get compactedRevision(): number {
    return this.progress;
  }

  get batchesWritten(): number {
    return this.batches;
  }

  request(revision: number): void {
    if (revision > this.target) this.target = revision;
    this.start();
  }

  /** Resolves once every version compaction to `revision` removes is gone. */
  waitFor(revision: number): Promise<void> {
    if (this.progress >= revision) return Promise.resolve();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.stopped) return Promise.reject(new StateMachineClosedError("the state machine is closed"));
    return new Promise((resolve, reject) => this.waiters.push({ revision, resolve, reject }));
  }

  /** Finishes the batch in progress and stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    this.settleWaiters(new StateMachineClosedError("the state machine closed before compaction finished"));
  }

  private start(): void {
    if (this.running !== undefined || this.stopped || this.failure !== undefined || this.progress >= this.target) return;
    this.running = this.run().then(
      () => {
        this.running = undefined;
        this.start();
      },
      (err: Error) => {
        this.running = undefined;
        this.failure = err;
        this.settleWaiters(err);
        this.onError(err);
      },
    );
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.progress < this.target) {
      const target = this.target;
      const batch = new WriteBatch();
      const keys = new Map<string, Uint8Array>();
      let events = 0;
      let lastRevision = this.progress;
      for await (const [engineKey, record] of this.engine.iterate({
        gte: eventKeyStart(this.progress),
        lt: eventKeyStart(target),
        limit: EVENTS_PER_BATCH,
      })) {
        events++;
        batch.delete(engineKey);
        lastRevision = revisionOfEventKey(engineKey);
        const { key } = decodeEventRecord(record, engineKey);
        keys.set(keyIdOf(key), key);
      }
      for (const key of keys.values()) await this.compactKey(key, target, batch);
      // A full batch may have stopped inside a revision: its remaining events are read next time.
      const next = events < EVENTS_PER_BATCH ? target : lastRevision;
      batch.put(COMPACTED_KEY, encodeCompactedRecord(next));
      await this.engine.write(batch);
      this.batches++;
      this.progress = next;
      this.settleWaiters();
    }
  }

  /** Deletes every version of `key` at or below `target` but the newest, and that one too if it is a tombstone. */
  private async compactKey(key: Uint8Array, target: number, batch: WriteBatch): Promise<void> {
    let newest = true;
    for await (const [engineKey, record] of this.engine.iterate({ gte: versionKey(key, target), lte: versionKey(key, 0) })) {
      if (newest) {
        newest = false;
        if (!decodeVersionRecord(record, engineKey).deleted) continue;
      }
      batch.delete(engineKey);
    }
  }

  private settleWaiters(err?: Error): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.progress >= w.revision) w.resolve();
      else if (err !== undefined) w.reject(err);
      else still.push(w);
    }
    this.waiters = still;
  }
}
