/**
 * An unbounded single-consumer queue that is also an AsyncIterable: producers push, end or
 * fail it; the one consumer takes items with next() or for-await. Items pushed before end() or
 * fail() are still delivered; then the iteration ends (or throws the failure). Producers that
 * must stay bounded check `length` (and can wait with whenShorterThan) before pushing.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: { resolve: (result: IteratorResult<T>) => void; reject: (err: unknown) => void } | undefined;
  private readonly spaceWaiters: { limit: number; resolve: () => void }[] = [];
  private finished: { error: unknown } | undefined;
  private errorDelivered = false;
  private iterator: AsyncIterator<T> | undefined;

  /** `onReturn` runs when the consumer stops early (breaks out of for-await). */
  constructor(private readonly onReturn?: () => void) {}

  /** Items waiting to be taken. */
  get length(): number {
    return this.items.length;
  }

  /** Adds an item; ignored once the queue is finished. */
  push(item: T): void {
    if (this.finished !== undefined) return;
    if (this.waiting !== undefined) {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
  }

  /** Removes and returns the oldest item not yet taken (to drop it when the queue is too long). */
  dropOldest(): T | undefined {
    const item = this.items.shift();
    this.wakeSpaceWaiters();
    return item;
  }

  /** No more items: the iteration ends after the ones queued. */
  end(): void {
    this.finish({ error: undefined });
  }

  /** The iteration throws `error` after the items queued. */
  fail(error: unknown): void {
    this.finish({ error });
  }

  /** Resolves once fewer than `limit` items are queued (at once if that is already so). */
  whenShorterThan(limit: number): Promise<void> {
    if (this.items.length < limit || this.finished !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push({ limit, resolve }));
  }

  next(): Promise<IteratorResult<T>> {
    if (this.waiting !== undefined) return Promise.reject(new Error("AsyncQueue has one consumer: next() called while another next() is pending"));
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      this.wakeSpaceWaiters();
      return Promise.resolve({ value, done: false });
    }
    if (this.finished !== undefined) {
      if (this.finished.error !== undefined && !this.errorDelivered) {
        this.errorDelivered = true;
        return Promise.reject(this.finished.error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /**
   * The queue's one iterator (the same object on every call: Connect asks a request stream for
   * its iterator again to stop it when a call ends).
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    this.iterator ??= {
      next: () => this.next(),
      return: () => {
        this.stopConsuming();
        return Promise.resolve({ value: undefined, done: true });
      },
      // Connect calls throw() on a request stream to stop it when the call ends early.
      throw: (error: unknown) => {
        this.stopConsuming();
        return Promise.reject(error);
      },
    };
    return this.iterator;
  }

  /** The consumer stops early: drop what is queued, end, and tell the owner. */
  private stopConsuming(): void {
    this.items.length = 0;
    this.end();
    this.onReturn?.();
  }

  private finish(state: { error: unknown }): void {
    if (this.finished !== undefined) return;
    this.finished = state;
    this.wakeSpaceWaiters();
    if (this.waiting !== undefined) {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (state.error !== undefined) {
        this.errorDelivered = true;
        waiting.reject(state.error);
      } else {
        waiting.resolve({ value: undefined, done: true });
      }
    }
  }

  private wakeSpaceWaiters(): void {
    for (let i = this.spaceWaiters.length - 1; i >= 0; i--) {
      const waiter = this.spaceWaiters[i];
      if (this.items.length < waiter.limit || this.finished !== undefined) {
        this.spaceWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}
