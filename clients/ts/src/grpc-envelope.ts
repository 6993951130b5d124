/**
 * gRPC message framing (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): every message on a gRPC
 * stream, in either direction, is one envelope:
 *
 *   flags   1 byte   bit 0: compressed (never set here: no grpc-encoding is negotiated)
 *   length  4 bytes  big-endian unsigned byte length of the message
 *   message length bytes
 *
 * A DATA chunk may hold many envelopes, and an envelope may span many chunks. Node-only (Buffer).
 */

export const ENVELOPE_HEADER_BYTES = 5;
const FLAG_COMPRESSED = 0x01;

/** An envelope that cannot be read (a compressed message, unknown flags). */
export class EnvelopeError extends Error {
  constructor(
    message: string,
    /** The envelope's flags byte. */
    readonly flags: number,
  ) {
    super(message);
    this.name = "EnvelopeError";
  }
}

/** Frames `messages` into one buffer; `envelopeBytes` is their total size, headers included. */
export function encodeEnvelopes(messages: readonly Uint8Array[], envelopeBytes: number): Buffer {
  const out = Buffer.allocUnsafe(envelopeBytes);
  let offset = 0;
  for (const message of messages) {
    out[offset] = 0;
    out.writeUInt32BE(message.length, offset + 1);
    out.set(message, offset + ENVELOPE_HEADER_BYTES);
    offset += ENVELOPE_HEADER_BYTES + message.length;
  }
  if (offset !== envelopeBytes) throw new RangeError(`envelopes take ${offset} bytes, ${envelopeBytes} were announced`);
  return out;
}

/**
 * Splits a stream of chunks into messages. A chunk holding whole envelopes is read in place (the
 * messages are views of it, no copy); the chunks of an incomplete envelope are kept and joined
 * once, when enough bytes have arrived for it, so a large message costs one copy in all.
 *
 * The messages are plain Uint8Array views, not Buffers: the bytes fields decoded from them are
 * views of them too, and users get plain Uint8Arrays, as from Connect (a Buffer is not
 * deep-equal to a Uint8Array, and serializes differently).
 */
export class EnvelopeReader {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** How many bytes `parts` must hold before the next envelope (or, under 5, its header) is complete. */
  private neededBytes = ENVELOPE_HEADER_BYTES;

  /** Bytes of an envelope begun and not finished; non-zero when a stream ends means it was cut. */
  get pendingBytes(): number {
    return this.partsBytes;
  }

  /** Adds a chunk and calls `onMessage` with every envelope it completes, in order. Throws EnvelopeError. */
  push(chunk: Buffer, onMessage: (message: Uint8Array) => void): void {
    let buffer = chunk;
    if (this.partsBytes > 0) {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
      if (this.partsBytes < this.neededBytes) return;
      buffer = Buffer.concat(this.parts, this.partsBytes);
      this.parts = [];
      this.partsBytes = 0;
    }
    let offset = 0;
    while (buffer.length - offset >= ENVELOPE_HEADER_BYTES) {
      const end = offset + ENVELOPE_HEADER_BYTES + buffer.readUInt32BE(offset + 1);
      if (end > buffer.length) break;
      const flags = buffer[offset];
      if (flags !== 0) {
        throw new EnvelopeError(flags & FLAG_COMPRESSED ? "received a compressed message, but no compression was negotiated" : `unknown envelope flags 0x${flags.toString(16)}`, flags);
      }
      onMessage(new Uint8Array(buffer.buffer, buffer.byteOffset + offset + ENVELOPE_HEADER_BYTES, end - offset - ENVELOPE_HEADER_BYTES));
      offset = end;
    }
    const rest = buffer.length - offset;
    if (rest === 0) {
      this.neededBytes = ENVELOPE_HEADER_BYTES;
      return;
    }
    this.parts.push(offset === 0 ? buffer : buffer.subarray(offset));
    this.partsBytes = rest;
    this.neededBytes = rest >= ENVELOPE_HEADER_BYTES ? ENVELOPE_HEADER_BYTES + buffer.readUInt32BE(offset + 1) : ENVELOPE_HEADER_BYTES;
  }
}
