/**
 * Byte encodings shared by every on-disk format: unsigned LEB128 varints (up to 2^53 - 1, the
 * largest integer a JS number holds exactly) and little-endian fixed-width integers.
 */

/** Bytes a varint of `value` takes. */
export function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** Writes `value` as a varint at `offset`; returns the offset after it. */
export function putVarint(buf: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

/**
 * A cursor for decoding: one reused object per reader instead of an allocation per field.
 * `offset` advances as fields are read.
 */
export class ByteReader {
  offset: number;
  constructor(
    public buf: Uint8Array,
    offset = 0,
    public end = buf.length,
  ) {
    this.offset = offset;
  }

  /** Reads a varint; returns -1 when the bytes run out or the varint is longer than 8 bytes. */
  varint(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.end) return -1;
      const b = this.buf[this.offset++]!;
      result += (b & 0x7f) * multiplier;
      if (b < 0x80) return result;
      multiplier *= 128;
    }
    return -1;
  }

  remaining(): number {
    return this.end - this.offset;
  }
}

export function putFixed32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
  buf[offset + 2] = (value >>> 16) & 0xff;
  buf[offset + 3] = (value >>> 24) & 0xff;
}

export function getFixed32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
}

/** Writes a non-negative integer below 2^53 as 8 little-endian bytes. */
export function putFixed64(buf: Uint8Array, offset: number, value: number): void {
  putFixed32(buf, offset, value >>> 0);
  putFixed32(buf, offset + 4, Math.floor(value / 0x100000000));
}

export function getFixed64(buf: Uint8Array, offset: number): number {
  return getFixed32(buf, offset) + getFixed32(buf, offset + 4) * 0x100000000;
}
