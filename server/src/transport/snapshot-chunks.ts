/**
 * The data of an incoming snapshot as the AsyncIterable the driver's receiveSnapshot reads: the
 * InstallSnapshot call pushes chunks as they arrive, the driver pulls them as it stages them.
 *
 * Back-pressure: onBuffered(bytes) reports the bytes pushed and not yet pulled after every push
 * and pull, so the call can stop reading the request (HTTP/2 flow control then stops the sender)
 * while the driver is slower than the network.
 *
 * Ending: end() after the last chunk (the iteration then finishes once the chunks are pulled);
 * fail(err) at any time (the iteration throws err at its next pull, dropping what is buffered:
 * a snapshot with a missing or bad part is worth nothing).
 */
export class SnapshotChunks implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private bufferedBytes = 0;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private iterating = false;
  private finished = false;

  constructor(private readonly onBuffered: (bytes: number) => void) {}

  /** True once the reader pulled past the last chunk (it saw the end). */
  get readToEnd(): boolean {
    return this.finished;
  }

  push(chunk: Uint8Array): void {
    if (this.ended || this.failure !== undefined) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    this.onBuffered(this.bufferedBytes);
    this.wakeReader();
  }

  end(): void {
    this.ended = true;
    this.wakeReader();
  }

  fail(error: unknown): void {
    if (this.failure !== undefined || this.finished) return;
    this.failure = { error };
    this.chunks.length = 0;
    this.bufferedBytes = 0;
    this.wakeReader();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterating) throw new Error("a snapshot's data can be read only once");
    this.iterating = true;
    while (true) {
      if (this.failure !== undefined) throw this.failure.error;
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        this.bufferedBytes -= chunk.length;
        this.onBuffered(this.bufferedBytes);
        yield chunk;
        continue;
      }
      if (this.ended) {
        this.finished = true;
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private wakeReader(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
