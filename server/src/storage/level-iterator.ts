/**
 * Iterates one sorted level (L1 and below) as a single stream: the level's files are disjoint
 * in user keys and sorted, so the iterator walks them in order, opening each table's iterator
 * only when it gets there.
 */
import type { InternalIterator } from "./internal-iterator.js";
import { compareUserKeys } from "./internal-key.js";
import type { TableCache } from "./table-cache.js";
import type { FileMeta } from "./version-edit.js";
import { userKeyOf } from "./version.js";

export class LevelIterator implements InternalIterator {
  private index = -1;
  private current: InternalIterator | undefined;

  constructor(
    private readonly files: readonly FileMeta[],
    private readonly tables: TableCache,
    private readonly fillCache: boolean,
  ) {}

  valid(): boolean {
    return this.current !== undefined && this.current.valid();
  }

  seekToFirst(): void {
    this.open(0);
    this.current?.seekToFirst();
    this.skipForward();
  }

  seekToLast(): void {
    this.open(this.files.length - 1);
    this.current?.seekToLast();
    this.skipBackward();
  }

  seek(userKey: Uint8Array, seq: number): void {
    // First file whose largest user key >= userKey.
    let lo = 0;
    let hi = this.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareUserKeys(userKeyOf(this.files[mid]!.largest), userKey) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.open(lo);
    this.current?.seek(userKey, seq);
    this.skipForward();
  }

  seekForPrev(userKey: Uint8Array): void {
    // Last file whose smallest user key <= userKey.
    let lo = 0;
    let hi = this.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareUserKeys(userKeyOf(this.files[mid]!.smallest), userKey) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.open(lo - 1);
    this.current?.seekForPrev(userKey);
    this.skipBackward();
  }

  next(): void {
    this.current!.next();
    this.skipForward();
  }

  prev(): void {
    this.current!.prev();
    this.skipBackward();
  }

  key(): Uint8Array {
    return this.current!.key();
  }

  seq(): number {
    return this.current!.seq();
  }

  kind(): number {
    return this.current!.kind();
  }

  value(): Uint8Array {
    return this.current!.value();
  }

  close(): void {
    this.current?.close();
    this.current = undefined;
    this.index = -1;
  }

  private open(index: number): void {
    if (index === this.index && this.current !== undefined) return;
    this.current?.close();
    this.current = undefined;
    this.index = index;
    if (index < 0 || index >= this.files.length) return;
    this.current = this.tables.get(this.files[index]!.number).iterator({ fillCache: this.fillCache });
  }

  private skipForward(): void {
    while (this.current !== undefined && !this.current.valid()) {
      if (this.index + 1 >= this.files.length) {
        this.close();
        return;
      }
      this.open(this.index + 1);
      this.current!.seekToFirst();
    }
  }

  private skipBackward(): void {
    while (this.current !== undefined && !this.current.valid()) {
      if (this.index <= 0) {
        this.close();
        return;
      }
      this.open(this.index - 1);
      this.current!.seekToLast();
    }
  }
}
