/**
 * Merges several internal iterators (memtables, L0 tables, levels) into one stream in internal
 * key order, forward or reverse, with a binary heap of children. Switching direction
 * repositions every other child around the current entry, as LevelDB's MergingIterator does.
 * Sequence numbers are unique across the database, so no two children hold the same entry.
 */
import type { InternalIterator } from "./internal-iterator.js";
import { compareUserKeys } from "./internal-key.js";

const enum Direction {
  Forward,
  Reverse,
}

export class MergingIterator implements InternalIterator {
  /** Indices of valid children, arranged as a heap (min-heap forward, max-heap reverse). */
  private readonly heap: number[] = [];
  private direction = Direction.Forward;

  constructor(private readonly children: InternalIterator[]) {}

  valid(): boolean {
    return this.heap.length > 0;
  }

  seekToFirst(): void {
    for (const c of this.children) c.seekToFirst();
    this.rebuild(Direction.Forward);
  }

  seekToLast(): void {
    for (const c of this.children) c.seekToLast();
    this.rebuild(Direction.Reverse);
  }

  seek(userKey: Uint8Array, seq: number): void {
    for (const c of this.children) c.seek(userKey, seq);
    this.rebuild(Direction.Forward);
  }

  seekForPrev(userKey: Uint8Array): void {
    for (const c of this.children) c.seekForPrev(userKey);
    this.rebuild(Direction.Reverse);
  }

  next(): void {
    if (this.direction !== Direction.Forward) this.turn(Direction.Forward);
    const top = this.children[this.heap[0]!]!;
    top.next();
    this.fixTop(top);
  }

  prev(): void {
    if (this.direction !== Direction.Reverse) this.turn(Direction.Reverse);
    const top = this.children[this.heap[0]!]!;
    top.prev();
    this.fixTop(top);
  }

  key(): Uint8Array {
    return this.children[this.heap[0]!]!.key();
  }

  seq(): number {
    return this.children[this.heap[0]!]!.seq();
  }

  kind(): number {
    return this.children[this.heap[0]!]!.kind();
  }

  value(): Uint8Array {
    return this.children[this.heap[0]!]!.value();
  }

  close(): void {
    for (const c of this.children) c.close();
    this.heap.length = 0;
  }

  /** Repositions all children but the current one on the other side of the current entry. */
  private turn(direction: Direction): void {
    const current = this.heap[0]!;
    const cur = this.children[current]!;
    const key = Buffer.from(cur.key());
    const seq = cur.seq();
    for (let i = 0; i < this.children.length; i++) {
      if (i === current) continue;
      const c = this.children[i]!;
      c.seek(key, seq);
      if (direction === Direction.Forward) {
        // seek lands on the first entry >= current; skip it if it is the current entry's twin.
        if (c.valid() && Buffer.compare(c.key(), key) === 0 && c.seq() === seq) c.next();
      } else if (c.valid()) {
        c.prev();
      } else {
        c.seekToLast();
      }
    }
    this.rebuild(direction);
  }

  private rebuild(direction: Direction): void {
    this.direction = direction;
    this.heap.length = 0;
    for (let i = 0; i < this.children.length; i++) {
      if (this.children[i]!.valid()) this.heap.push(i);
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private fixTop(top: InternalIterator): void {
    if (top.valid()) {
      this.siftDown(0);
    } else {
      const last = this.heap.pop()!;
      if (this.heap.length > 0) {
        this.heap[0] = last;
        this.siftDown(0);
      }
    }
  }

  /** true if child a should come out before child b in the current direction. */
  private before(a: number, b: number): boolean {
    const x = this.children[a]!;
    const y = this.children[b]!;
    let c = compareUserKeys(x.key(), y.key());
    if (c === 0) {
      const sx = x.seq();
      const sy = y.seq();
      c = sx > sy ? -1 : sx < sy ? 1 : 0;
    }
    return this.direction === Direction.Forward ? c < 0 : c > 0;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    while (true) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.before(heap[r]!, heap[l]!) ? r : l;
      if (!this.before(heap[child]!, item)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
