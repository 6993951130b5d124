/**
 * The memtable: an ordered skip list of internal entries (user key ascending bytewise, then
 * sequence descending, then kind descending) whose nodes and bytes live in preallocated
 * SharedArrayBuffers. An insert copies the key and value into the arena and writes a few
 * integers into the node array; it allocates no JavaScript object, so a stream of writes
 * causes no garbage-collector work. Because all state is in shared memory, a frozen memtable
 * is handed to a worker thread (for flushing) as `shared()` and read there with `attach()`
 * without copying a byte.
 *
 * Memory layout (integers are Int32Array elements in native byte order):
 *
 *   header  Int32 [arenaUsedBytes, nodeFrontWords, nodeBackWords, count, maxHeight, rngState]
 *           then Float64 [minSeq, maxSeq]. Every counter the writer advances lives here, so an
 *           attached reader sees exactly the entries added before the handoff.
 *   arena   entries appended with a bump pointer, each 8-byte aligned:
 *             [keyLength][valueLength][trailerHi][trailerLo] key bytes, padding to 8, value bytes
 *           The value starts 8-aligned because TypedArray.set into shared memory copies word by
 *           word only when source and target are equally aligned (Buffer slices are 8-aligned).
 *           trailerHi/trailerLo are the big-endian halves of the on-disk 8-byte trailer (56-bit
 *           seq, kind byte): hi = floor(seq / 2^24), lo = (seq mod 2^24) * 256 + kind, lo stored
 *           with its sign bit flipped so that a signed comparison orders it as unsigned.
 *   nodes   one contiguous record per node: [prefixHi, prefixLo, entryOffset, next[0..height-1]].
 *           The prefix is the first 8 user-key bytes as two big-endian uint32s (zero-padded,
 *           sign bit flipped), so a comparison reads the record that also holds the links and
 *           touches the arena only when two keys share their first 8 bytes. Record 0 is the head
 *           with MAX_HEIGHT links; a link of 0 ends a level. Records are small (3 + height
 *           words, 20 bytes on average) and records of nodes taller than SHORT_HEIGHT are
 *           allocated from the far end of the array, so the upper levels, which every search
 *           walks, are packed densely and more of them stay in the CPU caches.
 *
 * Tuning, measured with 10^6 random 16-byte keys (server/bench/memtable-bench.ts): a search is
 * a chain of cache misses, one per node it visits that is not cached. Towers grow with p = 1/2
 * (max height 20) rather than 1/4: a search then moves right about once per level instead of
 * three times, and visits fewer uncached nodes in total (about 15% faster inserts than
 * p = 1/4 with 12 levels). Keeping the cold fields (lengths, trailer) in the arena keeps
 * records small, which measured faster than wider records that cache the successor's prefix
 * in each link.
 *
 * Links are written new node first, predecessors after, so an iterator used between add()
 * calls always sees a well-formed list.
 */
import type { InternalIterator } from "./internal-iterator.js";
import { ValueKind } from "./internal-key.js";
import { ClosedError, StorageError } from "./errors.js";

/** Everything a Memtable is made of; structured-cloneable, so it can be posted to a worker. */
export interface MemtableShared {
  header: SharedArrayBuffer;
  arena: SharedArrayBuffer;
  nodes: SharedArrayBuffer;
}

export const enum LookupResult {
  NotFound = 0,
  Found = 1,
  Deleted = 2,
}

/** Towers grow one level with probability 1 / 2^BRANCHING_LOG2. */
const BRANCHING_LOG2 = 1;
const BRANCHING_MASK = (1 << BRANCHING_LOG2) - 1;
const MAX_HEIGHT = 20;
/** Nodes up to this height are allocated from the front of the node array, taller ones from the back. */
const SHORT_HEIGHT = 2;

const H_ARENA_USED = 0;
const H_NODE_FRONT = 1;
const H_NODE_BACK = 2;
const H_COUNT = 3;
const H_MAX_HEIGHT = 4;
const H_RNG = 5;
const HEADER_INT32S = 8;
const HEADER_BYTES = HEADER_INT32S * 4 + 2 * 8;
const F_MIN_SEQ = 0;
const F_MAX_SEQ = 1;

const ENTRY_HEADER_BYTES = 16;
/** log2 of the smallest entry: an empty key and value take just the 16-byte header. */
const MIN_ENTRY_BYTES_LOG2 = 4;
/** The most an entry adds to its key and value bytes: the header and two paddings to 8. */
const MAX_ENTRY_OVERHEAD_BYTES = ENTRY_HEADER_BYTES + 7 + 7;
const E_KEY_LENGTH = 0;
const E_VALUE_LENGTH = 1;
const E_TRAILER_HI = 2;
const E_TRAILER_LO = 3;
/** Longest key or value copied by hand; longer ones go through TypedArray.set. */
const MAX_INLINE_COPY_BYTES = 24;

const N_PREFIX_HI = 0;
const N_PREFIX_LO = 1;
const N_ENTRY = 2;
const N_NEXT = 3;
const HEAD = 0;
const NIL = 0;
const MAX_NODE_WORDS = N_NEXT + MAX_HEIGHT;
const MIN_RECORD_WORDS = N_NEXT + 1;
/** Node words reserved per possible entry; the mean record is 3 + 2 = 5 words (p = 1/2). */
const NODE_WORDS_PER_ENTRY = 6;

const SIGN_BIT = 0x80000000;
const SEQ_HI_DIVISOR = 0x1000000;

/** The hand copy assembles words byte by byte in little-endian order; elsewhere it copies bytes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Seed of the height generator: heights are a pure function of the insert order. */
const RNG_SEED = 0x2545f491;

function align8(n: number): number {
  return (n + 7) & ~7;
}

function valueOffsetOf(entry: number, keyLength: number): number {
  return align8(entry + ENTRY_HEADER_BYTES + keyLength);
}

function entryBytes(keyLength: number, valueLength: number): number {
  return align8(align8(ENTRY_HEADER_BYTES + keyLength) + valueLength);
}

/** Big-endian uint32 of key bytes [from, from+4), zero-padded, sign bit flipped. */
function keyPrefixWord(key: Uint8Array, from: number): number {
  const n = key.length;
  if (from + 4 <= n) {
    return ((key[from] << 24) | (key[from + 1] << 16) | (key[from + 2] << 8) | key[from + 3]) ^ SIGN_BIT;
  }
  let w = 0;
  for (let i = 0; i < 4; i++) w = (w << 8) | (from + i < n ? key[from + i] : 0);
  return w ^ SIGN_BIT;
}

function trailerHi(seq: number): number {
  return Math.floor(seq / SEQ_HI_DIVISOR);
}

function trailerLo(seq: number, kind: number): number {
  return ((seq % SEQ_HI_DIVISOR) * 256 + kind) ^ SIGN_BIT;
}

/**
 * The byte store of a memtable: entries appended with a bump pointer kept in the shared
 * header. Exported for the micro-benchmark, which times append() on its own.
 */
export class MemtableArena {
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
  private readonly header: Int32Array;

  /** `header[0]` holds the bump pointer. */
  constructor(buffer: SharedArrayBuffer, header: Int32Array) {
    this.bytes = new Uint8Array(buffer);
    this.words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
    this.header = header;
  }

  /** A standalone arena with its own bump pointer. */
  static create(capacityBytes: number): MemtableArena {
    return new MemtableArena(new SharedArrayBuffer(align8(capacityBytes)), new Int32Array(new SharedArrayBuffer(8)));
  }

  usedBytes(): number {
    return this.header[H_ARENA_USED];
  }

  fits(keyLength: number, valueLength: number): boolean {
    return this.header[H_ARENA_USED] + entryBytes(keyLength, valueLength) <= this.bytes.length;
  }

  /** Appends one entry with an encoded trailer; returns its offset, or -1 if it does not fit. */
  append(key: Uint8Array, value: Uint8Array, hi: number, lo: number): number {
    const entry = this.header[H_ARENA_USED];
    const keyLength = key.length;
    const valueLength = value.length;
    const end = entry + entryBytes(keyLength, valueLength);
    if (end > this.bytes.length) return -1;
    const words = this.words;
    const w = entry >>> 2;
    words[w + E_KEY_LENGTH] = keyLength;
    words[w + E_VALUE_LENGTH] = valueLength;
    words[w + E_TRAILER_HI] = hi;
    words[w + E_TRAILER_LO] = lo;
    copyInto(this.bytes, words, entry + ENTRY_HEADER_BYTES, key);
    copyInto(this.bytes, words, valueOffsetOf(entry, keyLength), value);
    this.header[H_ARENA_USED] = end;
    return entry;
  }
}

/**
 * Copies `source` to the 4-aligned offset `at`. TypedArray.set costs a runtime call (~15 ns)
 * whatever the length, so short sources are copied by hand, four bytes per store.
 */
function copyInto(bytes: Uint8Array, words: Int32Array, at: number, source: Uint8Array): void {
  const length = source.length;
  if (length > MAX_INLINE_COPY_BYTES) {
    bytes.set(source, at);
    return;
  }
  let i = 0;
  let w = at >>> 2;
  for (; LITTLE_ENDIAN && i + 4 <= length; i += 4) {
    words[w++] = source[i] | (source[i + 1] << 8) | (source[i + 2] << 16) | (source[i + 3] << 24);
  }
  for (; i < length; i++) bytes[at + i] = source[i];
}

/** The skip list over the shared buffers; Memtable is its public face. */
class SkipList {
  readonly header: Int32Array;
  readonly seqRange: Float64Array;
  readonly arena: MemtableArena;
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
  readonly nodes: Int32Array;
  /** Predecessor of the search target at each level, filled by findGreaterOrEqual. */
  private readonly splice = new Int32Array(MAX_HEIGHT);
  /** Receives the words findGreaterOrEqual loads only to start their cache misses early. */
  private readonly prefetchSink = new Int32Array(1);

  constructor(shared: MemtableShared) {
    this.header = new Int32Array(shared.header, 0, HEADER_INT32S);
    this.seqRange = new Float64Array(shared.header, HEADER_INT32S * 4, 2);
    this.arena = new MemtableArena(shared.arena, this.header);
    this.bytes = this.arena.bytes;
    this.words = this.arena.words;
    this.nodes = new Int32Array(shared.nodes);
  }

  /** Inserts an entry; false (and no change) if the arena is full. */
  insert(seq: number, kind: number, key: Uint8Array, value: Uint8Array): boolean {
    const hi = trailerHi(seq);
    const lo = trailerLo(seq, kind);
    const entry = this.arena.append(key, value, hi, lo);
    if (entry < 0) return false;
    const prefixHi = keyPrefixWord(key, 0);
    const prefixLo = keyPrefixWord(key, 4);
    if (!this.spliceFits(key, prefixHi, prefixLo, hi, lo)) this.findGreaterOrEqual(key, prefixHi, prefixLo, hi, lo);

    const header = this.header;
    const height = this.heightThatFits(this.randomHeight());
    const splice = this.splice;
    let maxHeight = header[H_MAX_HEIGHT];
    while (maxHeight < height) splice[maxHeight++] = HEAD;
    header[H_MAX_HEIGHT] = maxHeight;

    const recordWords = N_NEXT + height;
    let node: number;
    if (height <= SHORT_HEIGHT) {
      node = header[H_NODE_FRONT];
      header[H_NODE_FRONT] = node + recordWords;
    } else {
      node = header[H_NODE_BACK] - recordWords;
      header[H_NODE_BACK] = node;
    }
    const nodes = this.nodes;
    nodes[node + N_PREFIX_HI] = prefixHi;
    nodes[node + N_PREFIX_LO] = prefixLo;
    nodes[node + N_ENTRY] = entry;
    for (let level = 0; level < height; level++) {
      const prevLink = splice[level] + N_NEXT + level;
      nodes[node + N_NEXT + level] = nodes[prevLink];
      nodes[prevLink] = node;
      splice[level] = node;
    }

    // Unconditional stores: a branch taken only on the first insert would have no type
    // feedback in the optimized code and deoptimize it.
    const seqRange = this.seqRange;
    seqRange[F_MIN_SEQ] = Math.min(seqRange[F_MIN_SEQ], seq);
    seqRange[F_MAX_SEQ] = Math.max(seqRange[F_MAX_SEQ], seq);
    header[H_COUNT]++;
    return true;
  }

  /**
   * Lowers `height` if needed so that node space never runs out before the arena does: after
   * this node, every entry the arena could still take (16 bytes at least) keeps a height-1
   * record's worth of words. The node array is sized for the mean height plus
   * margin, so this only binds on a long unlucky run of tall towers.
   */
  private heightThatFits(height: number): number {
    const header = this.header;
    const reserved = MIN_RECORD_WORDS * ((this.bytes.length - header[H_ARENA_USED]) >>> MIN_ENTRY_BYTES_LOG2);
    const free = header[H_NODE_BACK] - header[H_NODE_FRONT] - reserved;
    while (N_NEXT + height > free) height--;
    return height;
  }

  /** xorshift32; each group of BRANCHING_LOG2 low bits that is zero adds a level. */
  private randomHeight(): number {
    const header = this.header;
    let x = header[H_RNG];
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    header[H_RNG] = x;
    let height = 1;
    while (height < MAX_HEIGHT && (x & BRANCHING_MASK) === 0) {
      height++;
      x >>>= BRANCHING_LOG2;
    }
    return height;
  }

  /**
   * Whether `splice` (left by the last insert or search) still brackets the target at every
   * level: splice[0] < target, and no level's successor sorts before it (splice[l] for l > 0
   * never sorts after splice[0], so it is below the target too). Then the insert needs no
   * search. After an insert the splice holds the new node on its levels, so runs of
   * ascending keys (sequence-like keys, bulk loads) insert in O(1); for random keys the check
   * fails on the first or second comparison, both against nodes the last insert touched.
   */
  private spliceFits(key: Uint8Array, prefixHi: number, prefixLo: number, hi: number, lo: number): boolean {
    const nodes = this.nodes;
    const splice = this.splice;
    const prev = splice[0];
    if (prev !== HEAD && this.compareNode(prev, key, prefixHi, prefixLo, hi, lo) >= 0) return false;
    const maxHeight = this.header[H_MAX_HEIGHT];
    for (let level = 0; level < maxHeight; level++) {
      const next = nodes[splice[level] + N_NEXT + level];
      if (next !== NIL && this.compareNode(next, key, prefixHi, prefixLo, hi, lo) < 0) return false;
    }
    return true;
  }

  /**
   * Compares a node with the target; negative when the node sorts first. Returns small
   * integers only: a difference of two int32s may not fit a small integer, and returning it
   * from a call that is not inlined would allocate a heap number.
   */
  private compareNode(node: number, key: Uint8Array, prefixHi: number, prefixLo: number, hi: number, lo: number): number {
    const nodes = this.nodes;
    const nh = nodes[node + N_PREFIX_HI];
    if (nh !== prefixHi) return nh < prefixHi ? -1 : 1;
    const nl = nodes[node + N_PREFIX_LO];
    if (nl !== prefixLo) return nl < prefixLo ? -1 : 1;
    return this.compareTail(node, key, hi, lo);
  }

  /**
   * The first node >= target in internal order (NIL if none); leaves each level's predecessor
   * in `splice`. The prefix comparison is written out in the loop because it decides almost
   * every step and must not cost a call.
   *
   * A search of a large list is a chain of cache misses, each node's address read from the
   * previous node. At each step it therefore also loads the first word of x's successor one
   * level down, the node it compares next if it descends at x: the CPU then waits for two
   * misses at once instead of one after the other (measured: 10-15% faster inserts at 10^6
   * entries). The loaded words are folded into `prefetchSink` so the loads are not removed.
   */
  findGreaterOrEqual(key: Uint8Array, prefixHi: number, prefixLo: number, hi: number, lo: number): number {
    const nodes = this.nodes;
    const splice = this.splice;
    let x = HEAD;
    let level = this.header[H_MAX_HEIGHT] - 1;
    let sink = 0;
    while (true) {
      const next = nodes[x + N_NEXT + level];
      if (level > 0) sink ^= nodes[nodes[x + N_NEXT + level - 1]];
      if (next !== NIL) {
        const nh = nodes[next + N_PREFIX_HI];
        if (nh < prefixHi) {
          x = next;
          continue;
        }
        if (nh === prefixHi) {
          const nl = nodes[next + N_PREFIX_LO];
          if (nl < prefixLo || (nl === prefixLo && this.compareTail(next, key, hi, lo) < 0)) {
            x = next;
            continue;
          }
        }
      }
      splice[level] = x;
      if (level === 0) {
        this.prefetchSink[0] = sink;
        return next;
      }
      level--;
    }
  }

  /** The last node < target (or <= target when `inclusive`); HEAD if none. */
  findLast(key: Uint8Array, hi: number, lo: number, inclusive: boolean): number {
    const nodes = this.nodes;
    const prefixHi = keyPrefixWord(key, 0);
    const prefixLo = keyPrefixWord(key, 4);
    const limit = inclusive ? 1 : 0;
    let x = HEAD;
    let level = this.header[H_MAX_HEIGHT] - 1;
    while (true) {
      const next = nodes[x + N_NEXT + level];
      if (next !== NIL) {
        if (this.compareNode(next, key, prefixHi, prefixLo, hi, lo) < limit) {
          x = next;
          continue;
        }
      }
      if (level === 0) return x;
      level--;
    }
  }

  /** The last node of the list; HEAD if empty. */
  findLastNode(): number {
    const nodes = this.nodes;
    let x = HEAD;
    for (let level = this.header[H_MAX_HEIGHT] - 1; level >= 0; level--) {
      let next = nodes[x + N_NEXT + level];
      while (next !== NIL) {
        x = next;
        next = nodes[x + N_NEXT + level];
      }
    }
    return x;
  }

  nextNode(node: number): number {
    return this.nodes[node + N_NEXT];
  }

  /**
   * Compares a node whose 8-byte prefix equals the target's with the target: the key bytes
   * after the prefix, then the lengths, then the trailers (larger trailer first). When either
   * key is at most 8 bytes long, equal zero-padded prefixes mean the shorter key is a prefix
   * of the longer one, so the lengths decide.
   */
  private compareTail(node: number, key: Uint8Array, hi: number, lo: number): number {
    const words = this.words;
    const entry = this.nodes[node + N_ENTRY];
    const w = entry >>> 2;
    const nodeKeyLength = words[w + E_KEY_LENGTH];
    const keyLength = key.length;
    const common = nodeKeyLength < keyLength ? nodeKeyLength : keyLength;
    const bytes = this.bytes;
    const keyAt = entry + ENTRY_HEADER_BYTES;
    for (let i = 8; i < common; i++) {
      const d = bytes[keyAt + i] - key[i];
      if (d !== 0) return d;
    }
    if (nodeKeyLength !== keyLength) return nodeKeyLength - keyLength;
    const nodeHi = words[w + E_TRAILER_HI];
    if (nodeHi !== hi) return nodeHi > hi ? -1 : 1;
    const nodeLo = words[w + E_TRAILER_LO];
    if (nodeLo !== lo) return nodeLo > lo ? -1 : 1;
    return 0;
  }

  /** Whether the node's user key equals `key`. */
  hasUserKey(node: number, key: Uint8Array): boolean {
    const entry = this.nodes[node + N_ENTRY];
    if (this.words[(entry >>> 2) + E_KEY_LENGTH] !== key.length) return false;
    const bytes = this.bytes;
    const keyAt = entry + ENTRY_HEADER_BYTES;
    for (let i = 0; i < key.length; i++) if (bytes[keyAt + i] !== key[i]) return false;
    return true;
  }

  entryOf(node: number): number {
    return this.nodes[node + N_ENTRY];
  }

  keyOf(entry: number): Uint8Array {
    const keyAt = entry + ENTRY_HEADER_BYTES;
    return this.bytes.subarray(keyAt, keyAt + this.words[(entry >>> 2) + E_KEY_LENGTH]);
  }

  valueOffset(entry: number): number {
    return valueOffsetOf(entry, this.words[(entry >>> 2) + E_KEY_LENGTH]);
  }

  valueLength(entry: number): number {
    return this.words[(entry >>> 2) + E_VALUE_LENGTH];
  }

  trailerHi(entry: number): number {
    return this.words[(entry >>> 2) + E_TRAILER_HI];
  }

  trailerLo(entry: number): number {
    return this.words[(entry >>> 2) + E_TRAILER_LO];
  }
}

function seqOf(hi: number, lo: number): number {
  return hi * SEQ_HI_DIVISOR + (((lo ^ SIGN_BIT) >>> 8) & 0xffffff);
}

function kindOf(lo: number): number {
  return (lo ^ SIGN_BIT) & 0xff;
}

export class Memtable {
  private readonly list: SkipList;
  private readonly buffers: MemtableShared;
  private readonly readOnly: boolean;
  /** Where the last successful get() found its value. */
  private lastValueOffset = 0;
  private lastValueLength = 0;

  private constructor(shared: MemtableShared, readOnly: boolean) {
    this.buffers = shared;
    this.readOnly = readOnly;
    this.list = new SkipList(shared);
  }

  /** An empty memtable whose arena holds about capacityBytes of keys+values (node records sized from it). */
  static create(capacityBytes: number): Memtable {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < ENTRY_HEADER_BYTES || capacityBytes > 0x7fff0000) {
      throw new StorageError(`memtable capacity must be an integer in [16, 2^31 - 2^16], got ${capacityBytes}`);
    }
    const arenaBytes = align8(capacityBytes);
    const maxEntries = arenaBytes >>> MIN_ENTRY_BYTES_LOG2;
    const nodeWords = MAX_NODE_WORDS + maxEntries * NODE_WORDS_PER_ENTRY;
    const shared: MemtableShared = {
      header: new SharedArrayBuffer(HEADER_BYTES),
      arena: new SharedArrayBuffer(arenaBytes),
      nodes: new SharedArrayBuffer(nodeWords * 4),
    };
    const header = new Int32Array(shared.header, 0, HEADER_INT32S);
    header[H_NODE_FRONT] = MAX_NODE_WORDS; // after the head record
    header[H_NODE_BACK] = nodeWords;
    header[H_MAX_HEIGHT] = 1;
    header[H_RNG] = RNG_SEED;
    const seqRange = new Float64Array(shared.header, HEADER_INT32S * 4, 2);
    seqRange[F_MIN_SEQ] = Infinity;
    seqRange[F_MAX_SEQ] = -Infinity;
    return new Memtable(shared, false);
  }

  /**
   * A read-only view (add() throws) of a memtable whose shared() buffers were posted from
   * another thread. The memtable must be frozen: the writer adds nothing after the handoff,
   * whose message passing makes everything written before it visible here.
   */
  static attach(shared: MemtableShared): Memtable {
    return new Memtable(shared, true);
  }

  shared(): MemtableShared {
    return this.buffers;
  }

  /**
   * The capacity a memtable needs to take `count` entries whose keys and values total
   * `dataBytes` (a bound: per-entry framing and alignment are counted at their maximum).
   */
  static bytesNeededFor(dataBytes: number, count: number): number {
    return dataBytes + count * MAX_ENTRY_OVERHEAD_BYTES;
  }

  /** Whether one more entry with these lengths fits (bytes and node space). */
  hasRoomFor(keyLength: number, valueLength: number): boolean {
    // Node space is kept sufficient for any entry the arena accepts (see heightThatFits).
    return this.list.arena.fits(keyLength, valueLength);
  }

  /** Whether `count` entries whose keys and values total `dataBytes` all fit. */
  hasRoomForBatch(dataBytes: number, count: number): boolean {
    return this.list.arena.usedBytes() + Memtable.bytesNeededFor(dataBytes, count) <= this.list.bytes.length;
  }

  /** Inserts (key, seq, kind, value). Throws StorageError if it does not fit. key/value are copied. */
  add(seq: number, kind: ValueKind, key: Uint8Array, value: Uint8Array): void {
    if (this.readOnly) throw new StorageError("memtable is read-only (attached from shared memory)");
    if (!this.list.insert(seq, kind, key, value)) {
      throw new StorageError(
        `memtable full: no room for a ${key.length}-byte key and ${value.length}-byte value ` +
          `(${this.count()} entries, ${this.approximateBytes()} bytes used)`,
      );
    }
  }

  /** Newest entry for `key` with seq <= maxSeq. For Found, lastValue() is a view of the value bytes. */
  get(key: Uint8Array, maxSeq: number): LookupResult {
    const list = this.list;
    const node = list.findGreaterOrEqual(
      key,
      keyPrefixWord(key, 0),
      keyPrefixWord(key, 4),
      trailerHi(maxSeq),
      trailerLo(maxSeq, ValueKind.Put),
    );
    if (node === NIL || !list.hasUserKey(node, key)) return LookupResult.NotFound;
    const entry = list.entryOf(node);
    if (kindOf(list.trailerLo(entry)) === ValueKind.Delete) return LookupResult.Deleted;
    this.lastValueOffset = list.valueOffset(entry);
    this.lastValueLength = list.valueLength(entry);
    return LookupResult.Found;
  }

  lastValue(): Uint8Array {
    return this.list.bytes.subarray(this.lastValueOffset, this.lastValueOffset + this.lastValueLength);
  }

  /** Bytes used (arena bytes + node records), for flush decisions and stats. */
  approximateBytes(): number {
    const header = this.list.header;
    const nodeWords = header[H_NODE_FRONT] + this.list.nodes.length - header[H_NODE_BACK];
    return header[H_ARENA_USED] + nodeWords * 4;
  }

  count(): number {
    return this.list.header[H_COUNT];
  }

  /** Smallest sequence number added; 0 if empty. */
  minSeq(): number {
    return this.count() === 0 ? 0 : this.list.seqRange[F_MIN_SEQ];
  }

  /** Largest sequence number added; 0 if empty. */
  maxSeq(): number {
    return this.count() === 0 ? 0 : this.list.seqRange[F_MAX_SEQ];
  }

  iterator(): InternalIterator {
    return new MemtableIterator(this.list);
  }
}

/**
 * Walks the skip list. Forward steps follow level-0 links; a backward step searches from the
 * head for the last node before the current one (O(log n)), as LevelDB does, which keeps
 * nodes free of back links.
 */
class MemtableIterator implements InternalIterator {
  private node = NIL;
  private closed = false;

  constructor(private readonly list: SkipList) {}

  valid(): boolean {
    return this.node !== NIL;
  }

  seekToFirst(): void {
    this.checkOpen();
    this.node = this.list.nextNode(HEAD);
  }

  seekToLast(): void {
    this.checkOpen();
    this.node = this.list.findLastNode();
  }

  seek(userKey: Uint8Array, seq: number): void {
    this.checkOpen();
    const before = this.list.findLast(userKey, trailerHi(seq), trailerLo(seq, ValueKind.Put), false);
    this.node = this.list.nextNode(before);
  }

  seekForPrev(userKey: Uint8Array): void {
    this.checkOpen();
    this.node = this.list.findLast(userKey, trailerHi(0), trailerLo(0, ValueKind.Delete), true);
  }

  next(): void {
    this.checkValid();
    this.node = this.list.nextNode(this.node);
  }

  prev(): void {
    this.checkValid();
    const list = this.list;
    const entry = list.entryOf(this.node);
    this.node = list.findLast(list.keyOf(entry), list.trailerHi(entry), list.trailerLo(entry), false);
  }

  key(): Uint8Array {
    this.checkValid();
    return this.list.keyOf(this.list.entryOf(this.node));
  }

  seq(): number {
    this.checkValid();
    const entry = this.list.entryOf(this.node);
    return seqOf(this.list.trailerHi(entry), this.list.trailerLo(entry));
  }

  kind(): number {
    this.checkValid();
    return kindOf(this.list.trailerLo(this.list.entryOf(this.node)));
  }

  value(): Uint8Array {
    this.checkValid();
    const entry = this.list.entryOf(this.node);
    const at = this.list.valueOffset(entry);
    return this.list.bytes.subarray(at, at + this.list.valueLength(entry));
  }

  close(): void {
    this.closed = true;
    this.node = NIL;
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError("memtable iterator used after close()");
  }

  private checkValid(): void {
    if (this.node === NIL) throw new StorageError("memtable iterator is not positioned at an entry");
  }
}
