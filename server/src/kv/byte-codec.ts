/**
 * Primitive encodings shared by the command codec and the stored records:
 *
 *   varint  unsigned LEB128 of a safe integer (0 .. 2^53 - 1)
 *   svarint zigzag then varint, for safe integers that may be negative (n >= 0 -> 2n, n < 0 -> -2n - 1);
 *           the zigzag value reaches 2^54 - 3, so it may take 8 bytes (56 bits)
 *   int64   8 bytes, big-endian two's complement of a bigint in [-2^63, 2^63)
 *   bytes   varint length | the bytes
 *
 * Readers check every length against the bytes left and report damage through `fail`, so a
 * truncated or garbled buffer is an error, never an out-of-bounds read.
 */

/** Below this magnitude a zigzag value (at most 2|n|) is below 2^53: exact as a double. */
const ZIGZAG_EXACT_LIMIT = 2 ** 52;

/** Appends to a buffer that grows by doubling. */
export class ByteWriter {
  private buf: Buffer;
  private end = 0;

  constructor(initialBytes = 64) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** A copy of the bytes written, sized exactly. */
  finish(): Uint8Array {
    return Uint8Array.prototype.slice.call(this.buf, 0, this.end);
  }

  byte(b: number): this {
    this.reserve(1);
    this.buf[this.end++] = b;
    return this;
  }

  varint(n: number): this {
    this.reserve(8);
    while (n >= 0x80) {
      this.buf[this.end++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.end++] = n;
    return this;
  }

  svarint(n: number): this {
    if (n >= -ZIGZAG_EXACT_LIMIT && n < ZIGZAG_EXACT_LIMIT) return this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
    // Zigzag doubles the magnitude: past 2^52 it leaves the doubles' exact range, so bigint.
    let z = n >= 0 ? BigInt(n) * 2n : BigInt(-n) * 2n - 1n;
    this.reserve(8);
    while (z >= 0x80n) {
      this.buf[this.end++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buf[this.end++] = Number(z);
    return this;
  }

  int64(n: bigint): this {
    this.reserve(8);
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, n), this.end);
    this.end += 8;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
    return this;
  }

  bytes(bytes: Uint8Array): this {
    return this.varint(bytes.length).raw(bytes);
  }

  private reserve(extra: number): void {
    if (this.end + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.end + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.end);
    this.buf = next;
  }
}

/** Reads the encodings above; `fail(message, offset)` must throw. */
export class ByteReader {
  offset: number;

  constructor(
    readonly buf: Uint8Array,
    private readonly fail: (message: string, offset: number) => never,
    offset = 0,
  ) {
    this.offset = offset;
  }

  remaining(): number {
    return this.buf.length - this.offset;
  }

  done(): boolean {
    return this.offset === this.buf.length;
  }

  byte(): number {
    if (this.offset >= this.buf.length) this.fail("unexpected end of input", this.offset);
    return this.buf[this.offset++]!;
  }

  varint(): number {
    const start = this.offset;
    let n = 0;
    for (let scale = 1; ; scale *= 0x80) {
      if (this.offset >= this.buf.length) this.fail("truncated varint", start);
      const b = this.buf[this.offset++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) break;
      if (scale >= 2 ** 49) this.fail("varint longer than 53 bits", start);
    }
    if (n > Number.MAX_SAFE_INTEGER) this.fail("varint above 2^53 - 1", start);
    return n;
  }

  svarint(): number {
    const start = this.offset;
    let z = 0;
    for (let scale = 1; ; scale *= 0x80) {
      if (this.offset >= this.buf.length) this.fail("truncated varint", start);
      const b = this.buf[this.offset++]!;
      if (scale === 2 ** 49) return this.longSvarint(z, b, start);
      z += (b & 0x7f) * scale;
      if (b < 0x80) break;
    }
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** The 8th byte of an svarint (bits 49..55, the last allowed): the zigzag value may pass 2^53, so bigint. */
  private longSvarint(low: number, last: number, start: number): number {
    if (last >= 0x80) this.fail("varint longer than 56 bits", start);
    const z = BigInt(low) + (BigInt(last) << 49n);
    const n = z % 2n === 0n ? z / 2n : -(z + 1n) / 2n;
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) this.fail("svarint beyond a safe integer", start);
    return Number(n);
  }

  int64(): bigint {
    if (this.remaining() < 8) this.fail("truncated int64", this.offset);
    const view = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.offset, 8);
    this.offset += 8;
    return view.readBigInt64BE(0);
  }

  /** A view of the next `n` bytes (valid while the underlying buffer is). */
  raw(n: number): Uint8Array {
    if (n > this.remaining()) this.fail(`length ${n} exceeds the ${this.remaining()} bytes left`, this.offset);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  bytes(): Uint8Array {
    return this.raw(this.varint());
  }

  /** Like bytes(), but a copy that outlives the underlying buffer. */
  ownedBytes(): Uint8Array {
    return Uint8Array.prototype.slice.call(this.bytes());
  }
}
