/**
 * gRPC message framing for the fast paths. encodeEnvelopes writes messages as envelopes;
 * GrpcEnvelopeReader splits a gRPC request body arriving in chunks of any size into its messages. Each message is
 * an envelope: 1 flag byte (0: uncompressed; anything else is refused, the fast path takes no
 * grpc-encoding), a u32 big-endian length, then that many bytes.
 *
 * Messages wholly inside a chunk are handed out as views of it (no copy); a message split over
 * chunks is gathered and copied once when complete, so a body delivered byte by byte costs
 * linear time. A length over `maxMessageBytes` is refused when the header arrives, before its
 * bytes are buffered, so the bytes held never exceed one chunk plus the limit.
 */
import { Code, ConnectError } from "@connectrpc/connect";

const HEADER_BYTES = 5;

/** Takes one message; false: stop, no more messages are wanted. */
export type MessageHandler = (message: Uint8Array) => boolean;

export class GrpcEnvelopeReader {
  /** Chunks (or tails of chunks) of the envelope not yet complete, and their total length. */
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** True while bytes of an unfinished envelope are held (the body must not end now). */
  get midMessage(): boolean {
    return this.heldBytes > 0;
  }

  /**
   * Hands each message completed by `chunk` to `onMessage`, in order, until it returns false
   * (then the reader is done: push no more). Throws a ConnectError on a bad flag byte
   * (INVALID_ARGUMENT) or a length over the limit (RESOURCE_EXHAUSTED); the messages before it
   * were handed out already.
   */
  push(chunk: Buffer, onMessage: MessageHandler): void {
    let offset = 0;
    if (this.heldBytes > 0) {
      offset = this.completeHeld(chunk, onMessage);
      if (offset < 0) return;
    }
    while (chunk.length - offset >= HEADER_BYTES) {
      const length = this.checkHeader(chunk, offset);
      const end = offset + HEADER_BYTES + length;
      if (end > chunk.length) break;
      if (!onMessage(chunk.subarray(offset + HEADER_BYTES, end))) return;
      offset = end;
    }
    if (offset < chunk.length) this.hold(chunk.subarray(offset));
  }

  /**
   * Adds `chunk` to the held envelope; hands it out if complete. Returns where the rest of the
   * chunk starts, or -1 when the whole chunk was held or onMessage said stop.
   */
  private completeHeld(chunk: Buffer, onMessage: MessageHandler): number {
    if (this.heldBytes < HEADER_BYTES) {
      // Complete the header first (at most 4 more bytes), so the length is known.
      const headerPart = chunk.subarray(0, HEADER_BYTES - this.heldBytes);
      this.hold(headerPart);
      if (this.heldBytes < HEADER_BYTES) return -1;
      const header = this.gather();
      this.checkHeader(header, 0);
      this.held = [header];
      const rest = this.completeHeld(chunk.subarray(headerPart.length), onMessage);
      return rest < 0 ? -1 : rest + headerPart.length;
    }
    const header = this.held[0];
    const length = header.readUInt32BE(1);
    const needed = HEADER_BYTES + length - this.heldBytes;
    if (chunk.length < needed) {
      this.hold(chunk);
      return -1;
    }
    this.hold(chunk.subarray(0, needed));
    const envelope = this.gather();
    this.held = [];
    this.heldBytes = 0;
    return onMessage(envelope.subarray(HEADER_BYTES)) ? needed : -1;
  }

  /** The message length the header at `offset` announces, after checking its flag and the limit. */
  private checkHeader(bytes: Buffer, offset: number): number {
    const flags = bytes[offset];
    if (flags !== 0) throw new ConnectError(`message flags ${flags} are not supported without grpc-encoding`, Code.InvalidArgument);
    const length = bytes.readUInt32BE(offset + 1);
    if (length > this.maxMessageBytes) {
      throw new ConnectError(`a message of ${length} bytes is larger than the limit of ${this.maxMessageBytes} bytes`, Code.ResourceExhausted);
    }
    return length;
  }

  private hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.held.push(bytes);
    this.heldBytes += bytes.length;
  }

  private gather(): Buffer {
    return this.held.length === 1 ? this.held[0] : Buffer.concat(this.held, this.heldBytes);
  }
}

/** Messages as consecutive envelopes with the given flag byte (0: a message; 0x80: gRPC-Web trailers), in one buffer. */
export function encodeEnvelopes(messages: readonly Uint8Array[], flags = 0): Buffer {
  let totalBytes = 0;
  for (const message of messages) totalBytes += HEADER_BYTES + message.length;
  const frame = Buffer.allocUnsafe(totalBytes);
  let offset = 0;
  for (const message of messages) {
    frame[offset] = flags;
    frame.writeUInt32BE(message.length, offset + 1);
    frame.set(message, offset + HEADER_BYTES);
    offset += HEADER_BYTES + message.length;
  }
  return frame;
}
