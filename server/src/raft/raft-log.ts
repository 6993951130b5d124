/**
 * The consensus core's view of the log, in memory: the last snapshot point, every entry after it,
 * and three positions the core tracks:
 *
 *   snapshot.index < applied <= commit <= lastIndex        (applied may trail commit)
 *   stableIndex <= lastIndex                               (entries the driver reported durable)
 *   unstableFrom: entries at or after it have not yet been handed to the driver to persist
 *
 * The whole uncompacted log is held here (the driver compacts behind snapshots, which bounds it);
 * the durable copy lives in the driver's DurableLog. Truncation of a conflicting suffix moves
 * unstableFrom and stableIndex back so the replacement entries are persisted again.
 */
import { RaftError } from "./errors.js";
import type { Entry, SnapshotMeta } from "./types.js";

/** Per-entry overhead counted against byte limits, beyond its data. */
const ENTRY_OVERHEAD_BYTES = 24;

export function entryBytes(entry: Entry): number {
  return entry.data.length + ENTRY_OVERHEAD_BYTES;
}

export class RaftLog {
  snapshot: SnapshotMeta;
  /** entries[i] has index snapshot.index + 1 + i. */
  private entries: Entry[];
  commit: number;
  /** Highest index handed to the driver for applying (committedEntries of an outstanding Ready). */
  applying: number;
  /** Highest index the driver has applied (advance() after applying). */
  applied: number;
  stableIndex: number;
  unstableFrom: number;
  /** Set when a received snapshot replaced the log and the driver has not yet been told to install it. */
  pendingSnapshot: SnapshotMeta | undefined;

  constructor(snapshot: SnapshotMeta, entries: readonly Entry[], commit: number, applied: number) {
    this.snapshot = snapshot;
    this.entries = [...entries];
    for (let i = 0; i < this.entries.length; i++) {
      if (this.entries[i].index !== snapshot.index + 1 + i) {
        throw new RaftError(`log entries are not contiguous after snapshot ${snapshot.index}: entry ${i} has index ${this.entries[i].index}`);
      }
    }
    const last = this.lastIndex();
    if (commit > last) throw new RaftError(`hard state commit ${commit} is beyond the last log index ${last}`);
    // The state machine applies only committed entries, and a commit-only hard state is saved
    // without fsync (raft-log-store.ts), so an applied index ahead of the recovered commit is
    // the newer knowledge of what is committed.
    this.commit = Math.max(commit, snapshot.index, Math.min(applied, last));
    this.applied = Math.min(Math.max(applied, snapshot.index), this.commit);
    this.applying = this.applied;
    this.stableIndex = last;
    this.unstableFrom = last + 1;
    this.pendingSnapshot = undefined;
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.snapshot.term : this.entries[this.entries.length - 1].term;
  }

  /** The term of the entry at `index`, or undefined when it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshot.index - 1].term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshot.index || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshot.index - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Whether a log ending at (lastIndex, lastTerm) is at least as up to date as this one (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Appends entries that continue the log (a leader's proposals). */
  append(entry: Entry): void {
    if (entry.index !== this.lastIndex() + 1) throw new RaftError(`append of index ${entry.index} after last index ${this.lastIndex()}`);
    this.entries.push(entry);
  }

  /**
   * A follower's append (§5.3): if the log holds (prevIndex, prevTerm), keep what agrees with
   * `entries`, replace the first conflicting entry and everything after it, and return the last
   * index now known to match the leader. Returns undefined when (prevIndex, prevTerm) is absent.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.index <= this.snapshot.index) continue;
      if (this.term(e.index) === e.term) continue;
      if (e.index <= this.commit) {
        throw new RaftError(`entry ${e.index} (term ${e.term}) conflicts with committed entry of term ${this.term(e.index)}`);
      }
      this.truncateFrom(e.index);
      for (let j = i; j < entries.length; j++) this.entries.push(entries[j]);
      break;
    }
    return lastNew;
  }

  private truncateFrom(index: number): void {
    this.entries.length = index - this.snapshot.index - 1;
    if (this.unstableFrom > index) this.unstableFrom = index;
    if (this.stableIndex >= index) this.stableIndex = index - 1;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term: where a log ending
   * in an entry of `term` at `index` may agree with this one (fast back-tracking). Stops at the
   * snapshot point.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: this.snapshot.index, term: this.snapshot.term };
      if (t <= term || i === this.snapshot.index) return { index: i, term: t };
      i--;
    }
  }

  commitTo(index: number): boolean {
    if (index <= this.commit) return false;
    if (index > this.lastIndex()) throw new RaftError(`commit ${index} is beyond the last log index ${this.lastIndex()}`);
    this.commit = index;
    return true;
  }

  /** Entries [lo, hi) bounded to about maxBytes (at least one); undefined if lo is compacted away. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo <= this.snapshot.index) return undefined;
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && i <= this.lastIndex(); i++) {
      const e = this.entries[i - this.snapshot.index - 1];
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Entries not yet handed to the driver to persist; marks them handed. */
  takeUnstable(): Entry[] {
    const last = this.lastIndex();
    if (this.unstableFrom > last) return [];
    const out = this.entries.slice(this.unstableFrom - this.snapshot.index - 1);
    this.unstableFrom = last + 1;
    return out;
  }

  hasUnstable(): boolean {
    return this.unstableFrom <= this.lastIndex();
  }

  /** The driver persisted entries through (index, term); ignored if that entry was replaced since. */
  stableTo(index: number, term: number): void {
    if (this.term(index) === term && index > this.stableIndex) this.stableIndex = index;
  }

  /** Committed entries not yet handed out for applying, up to what is persisted or handed to persist. */
  hasNextCommitted(): boolean {
    return this.pendingSnapshot === undefined && this.applying < this.commit;
  }

  takeNextCommitted(maxBytes: number): Entry[] {
    if (!this.hasNextCommitted()) return [];
    const out = this.slice(this.applying + 1, this.commit + 1, maxBytes) ?? [];
    if (out.length > 0) this.applying = out[out.length - 1].index;
    return out;
  }

  appliedTo(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  /** Replaces the whole log with a received snapshot (the follower's log did not contain its point). */
  restore(snapshot: SnapshotMeta): void {
    this.snapshot = snapshot;
    this.entries = [];
    this.commit = snapshot.index;
    this.applying = snapshot.index;
    this.applied = snapshot.index;
    this.stableIndex = snapshot.index;
    this.unstableFrom = snapshot.index + 1;
    this.pendingSnapshot = snapshot;
  }

  /** Drops entries through `snapshot.index`, which the driver holds a durable snapshot of. */
  compact(snapshot: SnapshotMeta): void {
    if (snapshot.index <= this.snapshot.index) return;
    if (snapshot.index > this.applied) throw new RaftError(`compaction at ${snapshot.index} is beyond the applied index ${this.applied}`);
    const term = this.term(snapshot.index);
    if (term !== snapshot.term) throw new RaftError(`compaction at ${snapshot.index} names term ${snapshot.term}, the log has ${term}`);
    this.entries = this.entries.slice(snapshot.index - this.snapshot.index);
    this.snapshot = snapshot;
  }
}
