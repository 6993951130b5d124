/**
 * Bloom filter over user keys, one per SSTable (the filter block), in the cache-local layout of
 * RocksDB's FastLocalBloom: the bits are cut into 64-byte blocks, one CPU cache line each, and all
 * probes of a key fall into one block. A point lookup consults the filter of every table that may
 * hold its key, and the filters are too big to stay in the CPU caches, so each probe of the
 * standard layout costs a cache miss (k of them for a key that is present); here a check costs
 * one, for about the same false-positive rate (0.95% instead of 0.9% at 10 bits per key).
 *
 * Filter block layout:
 *
 *   blocks   64 * n bytes, n = max(1, ceil(keys * bitsPerKey / 512)); bit b of a block is
 *            (byte b>>3, mask 1 << (b&7))
 *   marker   1 byte: 0x80 | k, k = number of probes (1..30)
 *
 * A key's probes come from one 32-bit hash h, LevelDB's murmur-like Hash() with seed 0xbc9f1d34
 * over the key bytes (4-byte little-endian words, then the tail bytes). Its block is
 * floor(h * n / 2^32). With g0 = m * 0x85ebca6b mod 2^32 where m = h ^ (h >>> 16), then
 * g0 ^= g0 >>> 13, and g(i+1) = g(i) * 0x9e3779b9 mod 2^32, probe i tests bit g(i) >>> 23 of the
 * block. k is picked from the bits per key as RocksDB picks it for this layout (bloomProbes).
 *
 * Tables written before this layout hold LevelDB's standard filter (bloom.cc), which readers
 * still accept: the bit array, ceil(max(64, keys * bitsPerKey) / 8) bytes, then 1 byte k <= 30;
 * with delta = rotr(h, 17), probe i tests bit (h + i * delta) mod 2^32 mod bits.
 *
 * Any other last byte (or a blocked filter whose length is not 64 * n + 1) is an encoding this
 * reader does not know: it answers "may contain" for every key, so a newer filter never causes a
 * false negative.
 */

const HASH_SEED = 0xbc9f1d34;
const HASH_MULTIPLIER = 0xc6a4a793;
const BLOCK_BYTES = 64;
const BLOCK_BITS = BLOCK_BYTES * 8;
const BLOCKED_MARKER = 0x80;
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

/**
 * Probes per key for `bitsPerKey` in the cache-local layout: RocksDB's measured best choices
 * (FastLocalBloomImpl::ChooseNumProbes), lower than the standard layout's round(bitsPerKey * ln 2)
 * because keys crowd unevenly into blocks; capped at 24.
 */
export function bloomProbes(bitsPerKey: number): number {
  const millibits = bitsPerKey * 1000;
  for (let i = 0; i < PROBE_LIMITS.length; i++) if (millibits <= PROBE_LIMITS[i]) return i + 1;
  return millibits > 50_000 ? 24 : Math.floor((millibits - 1) / 2000) - 1;
}

/** Most millibits per key for which i + 1 probes is the best choice. */
const PROBE_LIMITS = [2080, 3580, 5100, 6640, 8300, 10_070, 11_720, 14_001, 16_050, 18_300, 22_001, 25_501];

/** The filter block a key's probes fall into, as a byte offset. */
function blockStart(hash: number, blocks: number): number {
  // hash * blocks < 2^58 is exact in a double.
  return Math.floor((hash * blocks) / 4294967296) * BLOCK_BYTES;
}

/** The first in-block probe value g0 (see the header). */
function firstProbe(hash: number): number {
  const g = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  return g ^ (g >>> 13);
}

const PROBE_MULTIPLIER = 0x9e3779b9 | 0;

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
    const blocks = Math.max(1, Math.ceil((this.count * this.bitsPerKey) / BLOCK_BITS));
    const out = Buffer.alloc(blocks * BLOCK_BYTES + 1);
    for (let n = 0; n < this.count; n++) {
      const hash = this.hashes[n];
      const base = blockStart(hash, blocks);
      let g = firstProbe(hash);
      for (let j = 0; j < k; j++) {
        const bit = g >>> 23;
        out[base + (bit >>> 3)] |= 1 << (bit & 7);
        g = Math.imul(g, PROBE_MULTIPLIER);
      }
    }
    out[blocks * BLOCK_BYTES] = BLOCKED_MARKER | k;
    return out;
  }
}

const enum Layout {
  /** Unknown encoding or no bits: every key may be present. */
  PassAll = 0,
  Blocked = 1,
  /** LevelDB's standard layout, in tables written before the blocked one. */
  Standard = 2,
}

/** A decoded filter block; `mayContain` is false only for keys that were certainly not added. */
export class BloomFilter {
  private readonly layout: Layout;
  private readonly probes: number;
  /** Blocked: the number of 64-byte blocks; standard: the number of bits. */
  private readonly size: number;

  constructor(private readonly filter: Uint8Array) {
    const bytes = filter.length - 1;
    const last = bytes > 0 ? filter[bytes] : 0;
    const k = last & ~BLOCKED_MARKER;
    if (last > BLOCKED_MARKER && k <= MAX_PROBES && bytes % BLOCK_BYTES === 0) {
      this.layout = Layout.Blocked;
      this.probes = k;
      this.size = bytes / BLOCK_BYTES;
    } else if (last <= MAX_PROBES && bytes > 0) {
      this.layout = Layout.Standard;
      this.probes = last;
      this.size = bytes * 8;
    } else {
      this.layout = Layout.PassAll;
      this.probes = 0;
      this.size = 0;
    }
  }

  /** Bytes of the filter block (without its trailer). */
  byteLength(): number {
    return this.filter.length;
  }

  mayContain(key: Uint8Array): boolean {
    return this.mayContainHash(bloomHash(key));
  }

  /** mayContain for a key whose bloomHash is `hash`. */
  mayContainHash(hash: number): boolean {
    const filter = this.filter;
    const k = this.probes;
    if (this.layout === Layout.Blocked) {
      const base = blockStart(hash, this.size);
      let g = firstProbe(hash);
      for (let j = 0; j < k; j++) {
        const bit = g >>> 23;
        if ((filter[base + (bit >>> 3)] & (1 << (bit & 7))) === 0) return false;
        g = Math.imul(g, PROBE_MULTIPLIER);
      }
      return true;
    }
    if (this.layout === Layout.PassAll) return true;
    const bits = this.size;
    let h = hash;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < k; j++) {
      const bit = h % bits;
      if ((filter[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
      h = (h + delta) >>> 0;
    }
    return true;
  }
}
