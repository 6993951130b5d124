/**
 * Bloom filter over user keys, one per SSTable (the filter block), as LevelDB's bloom.cc builds it.
 *
 * Filter block layout:
 *
 *   bits   ceil(max(64, n * bitsPerKey) / 8) bytes   the bit array; bit b is (byte b>>3, mask 1 << (b&7))
 *   k      1 byte                                   number of probes
 *
 * k = round(bitsPerKey * ln 2) clamped to 1..30, which minimises the false-positive rate for the
 * given bits per key (about 1% at 10 bits per key). The k probe positions come from one 32-bit
 * hash h by double hashing: delta = rotr(h, 17), probe i tests bit (h + i * delta) mod bits.
 * The hash is LevelDB's murmur-like Hash() with seed 0xbc9f1d34 over the key bytes (4-byte
 * little-endian words, then the tail bytes).
 *
 * A reader treats a k above 30 as a filter of some future encoding and answers "may contain" for
 * every key, so a newer filter never causes a false negative.
 */

const HASH_SEED = 0xbc9f1d34;
const HASH_MULTIPLIER = 0xc6a4a793;
const MIN_FILTER_BITS = 64;
const MAX_PROBES = 30;

/** The 32-bit hash of key[start, end) the filter probes are derived from. */
export function bloomHash(key: Uint8Array, start = 0, end = key.length): number {
  const n = end - start;
  let h = (HASH_SEED ^ Math.imul(n, HASH_MULTIPLIER)) >>> 0;
  let i = start;
  const end4 = end - (n & 3);
  while (i < end4) {
    const w = key[i] | (key[i + 1] << 8) | (key[i + 2] << 16) | (key[i + 3] << 24);
    h = Math.imul((h + w) | 0, HASH_MULTIPLIER);
    h ^= h >>> 16;
    i += 4;
  }
  const tail = end - i;
  if (tail > 0) {
    if (tail === 3) h = (h + (key[i + 2] << 16)) | 0;
    if (tail >= 2) h = (h + (key[i + 1] << 8)) | 0;
    h = Math.imul((h + key[i]) | 0, HASH_MULTIPLIER);
    h ^= h >>> 24;
  }
  return h >>> 0;
}

/** Probes per key for `bitsPerKey`: round(bitsPerKey * ln 2), clamped to 1..30. */
export function bloomProbes(bitsPerKey: number): number {
  return Math.min(MAX_PROBES, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
}

/**
 * Collects the hashes of a table's user keys and encodes the filter. The caller adds each distinct
 * user key once (versions of one key are adjacent in a table, so it skips repeats).
 */
export class BloomFilterBuilder {
  private hashes = new Uint32Array(1024);
  private count = 0;

  constructor(private readonly bitsPerKey: number) {}

  addKey(key: Uint8Array): void {
    if (this.count === this.hashes.length) {
      const grown = new Uint32Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.count++] = bloomHash(key);
  }

  /** Encodes the filter block for every key added. */
  finish(): Buffer {
    const k = bloomProbes(this.bitsPerKey);
    const bytes = Math.ceil(Math.max(MIN_FILTER_BITS, Math.ceil(this.count * this.bitsPerKey)) / 8);
    const bits = bytes * 8;
    const out = Buffer.alloc(bytes + 1);
    for (let n = 0; n < this.count; n++) {
      let h = this.hashes[n];
      const delta = ((h >>> 17) | (h << 15)) >>> 0;
      for (let j = 0; j < k; j++) {
        const bit = h % bits;
        out[bit >>> 3] |= 1 << (bit & 7);
        h = (h + delta) >>> 0;
      }
    }
    out[bytes] = k;
    return out;
  }
}

/** A decoded filter block; `mayContain` is false only for keys that were certainly not added. */
export class BloomFilter {
  private readonly bits: number;
  private readonly probes: number;

  constructor(private readonly filter: Uint8Array) {
    this.bits = (filter.length - 1) * 8;
    this.probes = filter.length > 0 ? filter[filter.length - 1] : 0;
  }

  /** Bytes of the filter block (without its trailer). */
  byteLength(): number {
    return this.filter.length;
  }

  mayContain(key: Uint8Array): boolean {
    const k = this.probes;
    if (k > MAX_PROBES || this.bits <= 0) return true;
    let h = bloomHash(key);
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    const filter = this.filter;
    for (let j = 0; j < k; j++) {
      const bit = h % this.bits;
      if ((filter[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
      h = (h + delta) >>> 0;
    }
    return true;
  }
}
