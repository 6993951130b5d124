/**
 * The user's view of an internal iterator: for each user key, the newest entry visible at the
 * read sequence; keys whose newest visible entry is a tombstone are skipped; range bounds are
 * applied. Forward and reverse follow LevelDB's DBIter (FindNextUserEntry / FindPrevUserEntry).
 * The returned key and value are copies the caller owns.
 */
import type { InternalIterator } from "./internal-iterator.js";
import { ValueKind } from "./internal-key.js";

export interface UserBounds {
  lower?: Uint8Array;
  lowerInclusive: boolean;
  upper?: Uint8Array;
  upperInclusive: boolean;
}

export class DbIterator {
  private done = false;
  private started = false;
  private skipKey: Buffer | undefined;
  key: Buffer = Buffer.alloc(0);
  value: Buffer = Buffer.alloc(0);

  constructor(
    private readonly iter: InternalIterator,
    private readonly sequence: number,
    private readonly bounds: UserBounds,
    private readonly reverse: boolean,
  ) {}

  /** Advances to the next user entry; false when the range is exhausted. */
  step(): boolean {
    if (this.done) return false;
    const found = this.reverse ? this.stepReverse() : this.stepForward();
    if (!found) this.done = true;
    return found;
  }

  close(): void {
    this.done = true;
    this.iter.close();
  }

  private stepForward(): boolean {
    const it = this.iter;
    if (!this.started) {
      this.started = true;
      const { lower, lowerInclusive } = this.bounds;
      if (lower === undefined) {
        it.seekToFirst();
      } else {
        it.seek(lower, this.sequence);
        if (!lowerInclusive) this.skipKey = Buffer.from(lower);
      }
    } else {
      it.next();
    }
    for (; it.valid(); it.next()) {
      if (it.seq() > this.sequence) continue;
      const k = it.key();
      if (this.skipKey !== undefined && this.skipKey.equals(k)) continue;
      if (this.aboveUpper(k)) return false;
      if (it.kind() === ValueKind.Delete) {
        this.skipKey = Buffer.from(k);
        continue;
      }
      this.key = Buffer.from(k);
      this.value = Buffer.from(it.value());
      this.skipKey = this.key;
      return true;
    }
    return false;
  }

  private stepReverse(): boolean {
    const it = this.iter;
    if (!this.started) {
      this.started = true;
      const { upper, upperInclusive } = this.bounds;
      if (upper === undefined) {
        it.seekToLast();
      } else {
        it.seekForPrev(upper);
        if (!upperInclusive) while (it.valid() && Buffer.compare(it.key(), upper) === 0) it.prev();
      }
    }
    // Entries of one user key arrive oldest first; the last visible one wins.
    let kind: number = ValueKind.Delete;
    let savedKey: Buffer | undefined;
    let savedValue: Buffer | undefined;
    for (; it.valid(); it.prev()) {
      if (it.seq() > this.sequence) continue;
      const k = it.key();
      if (kind !== ValueKind.Delete && Buffer.compare(k, savedKey!) < 0) break;
      if (this.belowLower(k)) break;
      kind = it.kind();
      if (kind === ValueKind.Delete) {
        savedKey = undefined;
        savedValue = undefined;
      } else {
        savedKey = Buffer.from(k);
        savedValue = Buffer.from(it.value());
      }
    }
    if (kind === ValueKind.Delete || savedKey === undefined) return false;
    this.key = savedKey;
    this.value = savedValue!;
    return true;
  }

  private aboveUpper(k: Uint8Array): boolean {
    const { upper, upperInclusive } = this.bounds;
    if (upper === undefined) return false;
    const c = Buffer.compare(k, upper);
    return upperInclusive ? c > 0 : c >= 0;
  }

  private belowLower(k: Uint8Array): boolean {
    const { lower, lowerInclusive } = this.bounds;
    if (lower === undefined) return false;
    const c = Buffer.compare(k, lower);
    return lowerInclusive ? c < 0 : c <= 0;
  }
}
