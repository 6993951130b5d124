/**
 * Natural batching of encoded core messages onto one direction of an Append stream (requests of
 * the stream this member opened, or responses of a stream a peer opened).
 *
 * Messages are queued as they are sent; a flush runs once the current turn's synchronous work
 * and promise jobs are done (a microtask, no timer) and writes everything queued, in order, as
 * few gRPC messages as maxBatchBytes allows. While the stream is not writable (its write
 * returned false, until 'drain'), or not attached at all (connecting), messages wait in the
 * queue, and the next flush sends all of them: the more the stream is behind, the bigger the
 * batches, with no fixed delay.
 *
 * Frame: one gRPC envelope (flag 0, u32 big-endian length) per batch, whose payload is an
 * AppendRequest or AppendResponse holding only its repeated `messages` field: for each message,
 * the field's tag byte, the varint length, then the sisyphus.raft.v1.Message bytes. Protobuf
 * encodes a repeated message field as exactly this concatenation, so the frame equals what
 * toBinary would produce, without decoding or re-encoding the messages.
 *
 * Bound: the queue holds at most maxQueuedBytes. Past it, the oldest droppable messages (appends:
 * the leader resends from its progress once told the peer is unreachable) are dropped first,
 * then the oldest of any kind, and onOverflow is called; Raft tolerates the loss.
 */
export interface BatchSink {
  /** Writes one frame; false: write no more until drained() is called. */
  write(frame: Uint8Array): boolean;
}

export interface BatchLimits {
  /** Largest batch payload (the gRPC message); a single larger message is sent alone. */
  readonly maxBatchBytes: number;
  /** Largest queue, counting each message as framed. */
  readonly maxQueuedBytes: number;
}

export interface BatchCounters {
  batches: number;
  messages: number;
  /** Bytes written, envelopes included. */
  bytes: number;
  /** Messages dropped by the queue bound or discarded by detach(). */
  dropped: number;
}

interface QueuedMessage {
  readonly bytes: Uint8Array;
  /** bytes.length plus the field tag and length prefix. */
  readonly framedBytes: number;
  readonly droppable: boolean;
}

const ENVELOPE_HEADER_BYTES = 5;
const LENGTH_DELIMITED = 2;

export class BatchWriter {
  readonly counters: BatchCounters = { batches: 0, messages: 0, bytes: 0, dropped: 0 };
  /** Queued messages are items[head..]; the prefix was written and is dropped on the next compaction. */
  private items: QueuedMessage[] = [];
  private head = 0;
  private queuedBytesTotal = 0;
  private sink: BatchSink | undefined;
  private awaitingDrain = false;
  private flushQueued = false;
  private readonly tag: number;

  constructor(
    fieldNumber: number,
    private readonly limits: BatchLimits,
    private readonly onOverflow: () => void,
  ) {
    if (fieldNumber < 1 || fieldNumber > 15) throw new RangeError(`field ${fieldNumber} needs a one-byte tag (1..15)`);
    this.tag = (fieldNumber << 3) | LENGTH_DELIMITED;
  }

  get queuedBytes(): number {
    return this.queuedBytesTotal;
  }

  get queuedMessages(): number {
    return this.items.length - this.head;
  }

  /** Queues one encoded Message; it goes out with the next flush. */
  push(bytes: Uint8Array, droppable: boolean): void {
    const framedBytes = 1 + varintBytes(bytes.length) + bytes.length;
    this.items.push({ bytes, framedBytes, droppable });
    this.queuedBytesTotal += framedBytes;
    if (this.queuedBytesTotal > this.limits.maxQueuedBytes) this.shed();
    this.scheduleFlush();
  }

  /** Starts writing to `sink` (a newly opened stream): everything queued goes out with the next flush. */
  attach(sink: BatchSink): void {
    this.sink = sink;
    this.awaitingDrain = false;
    this.scheduleFlush();
  }

  /** Stops writing (the stream is gone) and discards the queue; returns how many messages were discarded. */
  detach(): number {
    const discarded = this.queuedMessages;
    this.counters.dropped += discarded;
    this.sink = undefined;
    this.items = [];
    this.head = 0;
    this.queuedBytesTotal = 0;
    return discarded;
  }

  /** The sink is writable again. */
  drained(): void {
    this.awaitingDrain = false;
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushQueued || this.sink === undefined || this.awaitingDrain) return;
    this.flushQueued = true;
    queueMicrotask(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  private flush(): void {
    while (this.sink !== undefined && !this.awaitingDrain && this.head < this.items.length) {
      if (!this.sink.write(this.takeBatch())) this.awaitingDrain = true;
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
  }

  /** The oldest queued messages that fit in one batch (at least one), framed; removes them from the queue. */
  private takeBatch(): Buffer {
    const { items, limits } = this;
    let end = this.head;
    let payloadBytes = 0;
    do {
      payloadBytes += items[end].framedBytes;
      end++;
    } while (end < items.length && payloadBytes + items[end].framedBytes <= limits.maxBatchBytes);
    const frame = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + payloadBytes);
    frame[0] = 0;
    frame.writeUInt32BE(payloadBytes, 1);
    let offset = ENVELOPE_HEADER_BYTES;
    for (let i = this.head; i < end; i++) {
      const { bytes } = items[i];
      frame[offset++] = this.tag;
      offset = writeVarint(frame, offset, bytes.length);
      frame.set(bytes, offset);
      offset += bytes.length;
    }
    this.counters.batches++;
    this.counters.messages += end - this.head;
    this.counters.bytes += frame.length;
    this.queuedBytesTotal -= payloadBytes;
    this.head = end;
    return frame;
  }

  /** Drops the oldest droppable messages, then the oldest of any kind, until the queue fits its bound. */
  private shed(): void {
    const limit = this.limits.maxQueuedBytes;
    let dropped = 0;
    let kept: QueuedMessage[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (this.queuedBytesTotal > limit && item.droppable) {
        this.queuedBytesTotal -= item.framedBytes;
        dropped++;
      } else {
        kept.push(item);
      }
    }
    let first = 0;
    while (this.queuedBytesTotal > limit && first < kept.length) {
      this.queuedBytesTotal -= kept[first].framedBytes;
      first++;
      dropped++;
    }
    if (first > 0) kept = kept.slice(first);
    this.items = kept;
    this.head = 0;
    this.counters.dropped += dropped;
    this.onOverflow();
  }
}

function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[offset++] = value;
  return offset;
}
