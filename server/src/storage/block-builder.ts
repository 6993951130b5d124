/**
 * Builds one block in the shared block format (entries with prefix-compressed keys, then the
 * restart array; see sstable-format.ts). Reused across blocks: reset() keeps the grown buffers so
 * a table writer allocates nothing per entry.
 */

import { putFixed32, putVarint } from "./coding.js";

export class BlockBuilder {
  private buf = Buffer.allocUnsafe(8192);
  private size = 0;
  private restarts = new Uint32Array(64);
  private restartCount = 1; // restart 0 is at offset 0
  private sinceRestart = 0;
  private lastKey = Buffer.allocUnsafe(256);
  private lastKeyLength = 0;
  private entryCount = 0;

  constructor(private readonly restartInterval: number) {
    this.restarts[0] = 0;
  }

  /** Appends key[0, keyLength) -> value; keys must arrive in the block's order (the caller checks). */
  add(key: Uint8Array, keyLength: number, value: Uint8Array): void {
    let shared = 0;
    if (this.sinceRestart < this.restartInterval) {
      const last = this.lastKey;
      const limit = Math.min(keyLength, this.lastKeyLength);
      while (shared < limit && last[shared] === key[shared]) shared++;
    } else {
      if (this.restartCount === this.restarts.length) {
        const grown = new Uint32Array(this.restarts.length * 2);
        grown.set(this.restarts);
        this.restarts = grown;
      }
      this.restarts[this.restartCount++] = this.size;
      this.sinceRestart = 0;
    }
    const unshared = keyLength - shared;
    this.reserve(3 * 5 + unshared + value.length);
    let at = putVarint(this.buf, this.size, shared);
    at = putVarint(this.buf, at, unshared);
    at = putVarint(this.buf, at, value.length);
    copyBytes(key, shared, keyLength, this.buf, at);
    at += unshared;
    if (value.length > 0) this.buf.set(value, at);
    this.size = at + value.length;

    if (keyLength > this.lastKey.length) {
      const grown = Buffer.allocUnsafe(Math.max(keyLength, this.lastKey.length * 2));
      this.lastKey.copy(grown, 0, 0, shared);
      this.lastKey = grown;
    }
    copyBytes(key, shared, keyLength, this.lastKey, shared);
    this.lastKeyLength = keyLength;
    this.sinceRestart++;
    this.entryCount++;
  }

  /** Size of the block if it were finished now. */
  estimatedSize(): number {
    return this.size + this.restartCount * 4 + 4;
  }

  empty(): boolean {
    return this.entryCount === 0;
  }

  /** Appends the restart array; the returned view is valid until reset(). */
  finish(): Buffer {
    this.reserve(this.restartCount * 4 + 4);
    let at = this.size;
    for (let i = 0; i < this.restartCount; i++, at += 4) putFixed32(this.buf, at, this.restarts[i]);
    putFixed32(this.buf, at, this.restartCount);
    return this.buf.subarray(0, at + 4);
  }

  reset(): void {
    this.size = 0;
    this.restartCount = 1;
    this.sinceRestart = 0;
    this.lastKeyLength = 0;
    this.entryCount = 0;
  }

  private reserve(extra: number): void {
    if (this.size + extra <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.size + extra, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.size);
    this.buf = grown;
  }
}

/** Copies src[start, end) to dst at `at`; a plain loop beats the native call for short keys. */
function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): void {
  if (end - start > 32) {
    dst.set(src.subarray(start, end), at);
    return;
  }
  for (let i = start; i < end; i++) dst[at++] = src[i];
}
