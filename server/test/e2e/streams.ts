/**
 * Stream plumbing for end-to-end tests: a request stream the test pushes into (the client side
 * of a bidi call), a reader that takes responses one at a time with a deadline, and a deadline
 * for any promise. Nothing here sleeps: every wait ends at an event or at its deadline.
 */
import { ConnectError } from "@connectrpc/connect";

/** Rejects with a message naming what was awaited when `promise` takes longer than `timeoutMs`. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** An async iterable of requests that the test feeds with push() and ends with end(). */
export class RequestStream<T> implements AsyncIterable<T> {
  private readonly queued: T[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(...messages: T[]): void {
    if (this.ended) throw new Error("push after end() on a request stream");
    this.queued.push(...messages);
    this.notify();
  }

  /** Half-closes the stream: the server sees the end of its requests. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    while (true) {
      const next = this.queued.shift();
      if (next !== undefined) {
        yield next;
      } else if (this.ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** How a response stream ended: cleanly, or with the error the call failed with. */
export type StreamEnd = { ok: true } | { ok: false; error: ConnectError };

/**
 * Reads a response stream in the background from the moment it is made (so a failing call never
 * becomes an unhandled rejection) and hands out its messages one at a time, each with a deadline.
 */
export class StreamReader<T> {
  private readonly buffered: T[] = [];
  private end: StreamEnd | undefined;
  private wake: (() => void) | undefined;
  /** Every message received so far, for failure messages. */
  readonly received: T[] = [];

  constructor(
    responses: AsyncIterable<T>,
    private readonly name: string,
  ) {
    void this.pump(responses);
  }

  /** The next message; fails when the stream ends first or nothing arrives within timeoutMs. */
  async next(timeoutMs: number, what = "the next message"): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const message = this.buffered.shift();
      if (message !== undefined) return message;
      if (this.end !== undefined) {
        const how = this.end.ok ? "ended cleanly" : `failed with ${this.end.error.message}`;
        throw new Error(`${this.name}: stream ${how} while waiting for ${what}; received ${this.received.length} messages`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms; received ${this.received.length} messages`);
      await withDeadline(this.changed(), left, `${this.name}: ${what}`);
    }
  }

  /** Reads messages until one satisfies `done` and returns every message read, that one last. */
  async nextUntil(done: (message: T) => boolean, timeoutMs: number, what: string, maxMessages = 10_000): Promise<T[]> {
    const deadline = Date.now() + timeoutMs;
    const read: T[] = [];
    for (let i = 0; i < maxMessages; i++) {
      const message = await this.next(Math.max(1, deadline - Date.now()), what);
      read.push(message);
      if (done(message)) return read;
    }
    throw new Error(`${this.name}: ${maxMessages} messages read without ${what}`);
  }

  /** Waits for the end of the stream; fails if a message or nothing arrives first. */
  async ended(timeoutMs: number): Promise<StreamEnd> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      if (this.buffered.length > 0) throw new Error(`${this.name}: expected the end of the stream, got ${describe(this.buffered[0])}`);
      if (this.end !== undefined) return this.end;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: the stream did not end within ${timeoutMs} ms`);
      await withDeadline(this.changed(), left, `${this.name}: the end of the stream`);
    }
  }

  /** Waits for the end of the stream, skipping any messages still to come (they stay in `received`). */
  async endedAfterAnything(timeoutMs: number): Promise<StreamEnd> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      this.buffered.length = 0;
      if (this.end !== undefined) return this.end;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: the stream did not end within ${timeoutMs} ms`);
      await withDeadline(this.changed(), left, `${this.name}: the end of the stream`);
    }
  }

  /** Waits for the stream to fail and returns its error; fails if it ends cleanly or a message arrives. */
  async failed(timeoutMs: number): Promise<ConnectError> {
    const end = await this.ended(timeoutMs);
    if (end.ok) throw new Error(`${this.name}: expected the stream to fail, it ended cleanly`);
    return end.error;
  }

  private async pump(responses: AsyncIterable<T>): Promise<void> {
    try {
      for await (const message of responses) {
        this.received.push(message);
        this.buffered.push(message);
        this.notify();
      }
      this.end = { ok: true };
    } catch (err) {
      this.end = { ok: false, error: ConnectError.from(err) };
    }
    this.notify();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

function describe(message: unknown): string {
  return JSON.stringify(message, (_, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
}
