/**
 * A FIFO that one consumer awaits: producers push (from callbacks that finish in any order), the
 * consumer takes everything queued at once or waits for the next push or a wake-up. Streaming
 * handlers use it to merge work finishing out of order into one response stream; the bound on
 * what is queued is the caller's (e.g. Pipeline's max in flight).
 */
export class WakeableQueue<T> {
  private items: T[] = [];
  private waiter: (() => void) | undefined;

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  get length(): number {
    return this.items.length;
  }

  /** Resolves a pending wait() without an item (the consumer re-checks its own conditions). */
  wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** Everything queued, oldest first; empty after a wake() with nothing queued. */
  async takeAll(): Promise<T[]> {
    if (this.items.length === 0) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
    const items = this.items;
    this.items = [];
    return items;
  }
}
