/**
 * A version: the set of tables making up each level at one moment. Versions are immutable;
 * a flush or compaction builds the next one from the current one plus an edit.
 *
 * Invariants (checked by checkInvariants in tests):
 *  - L0 files may overlap one another; they are kept newest first (highest file number first,
 *    since flushes are numbered in order and nothing else writes L0).
 *  - In L1 and below files are sorted by smallest key and their USER key ranges are disjoint:
 *    compaction never splits one user key's versions across two files, so a point lookup reads
 *    at most one file per level.
 *
 * Readers (iterators, snapshots) hold a reference to the version they read; a table file is
 * deleted only when no referenced version contains it.
 */
import { compareBytes, compareInternalKeys, compareUserKeys, TRAILER_BYTES } from "./internal-key.js";
import type { FileMeta, VersionEdit } from "./version-edit.js";

export function userKeyOf(internalKey: Uint8Array): Uint8Array {
  return internalKey.subarray(0, internalKey.length - TRAILER_BYTES);
}

/**
 * Compares the user key part of an internal key (a file bound) with `userKey`, without making
 * a view of it: point lookups do this for every file they consider.
 */
export function compareUserKeyToBound(bound: Buffer, userKey: Uint8Array): number {
  return compareBytes(bound, 0, bound.length - TRAILER_BYTES, userKey, 0, userKey.length);
}

export class Version {
  /** Reference count; the owning VersionSet releases files when it reaches zero. */
  refs = 0;

  constructor(readonly levels: FileMeta[][]) {}

  static empty(levelCount: number): Version {
    return new Version(Array.from({ length: levelCount }, () => []));
  }

  /** The next version: this one with `edit` applied. */
  apply(edit: VersionEdit): Version {
    const deleted = new Set(edit.deletedFiles.map((d) => `${d.level}:${d.number}`));
    const levels = this.levels.map((files, level) => files.filter((f) => !deleted.has(`${level}:${f.number}`)));
    for (const { level, file } of edit.newFiles) {
      const files = levels[level];
      if (files === undefined) throw new RangeError(`edit names level ${level}, beyond the last level`);
      files.push(file);
    }
    levels[0]!.sort((a, b) => b.number - a.number);
    for (let level = 1; level < levels.length; level++) {
      levels[level]!.sort((a, b) => compareInternalKeys(a.smallest, b.smallest));
    }
    return new Version(levels);
  }

  levelBytes(level: number): number {
    let total = 0;
    for (const f of this.levels[level]!) total += f.size;
    return total;
  }

  allFiles(): FileMeta[] {
    return this.levels.flat();
  }

  /** Index of the file in a sorted level (L1+) whose user range may contain `userKey`, or -1. */
  findFile(level: number, userKey: Uint8Array): number {
    const files = this.levels[level]!;
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareUserKeyToBound(files[mid]!.largest, userKey) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < files.length && compareUserKeyToBound(files[lo]!.smallest, userKey) <= 0) return lo;
    return -1;
  }

  /** Files of `level` whose user key range intersects [smallest, largest] (user keys, inclusive). */
  overlapping(level: number, smallest: Uint8Array | undefined, largest: Uint8Array | undefined): FileMeta[] {
    return this.levels[level]!.filter(
      (f) =>
        (smallest === undefined || compareUserKeys(userKeyOf(f.largest), smallest) >= 0) &&
        (largest === undefined || compareUserKeys(userKeyOf(f.smallest), largest) <= 0),
    );
  }

  /** Throws if a level violates the ordering invariants above. */
  checkInvariants(): void {
    for (let i = 1; i < this.levels[0]!.length; i++) {
      if (this.levels[0]![i - 1]!.number <= this.levels[0]![i]!.number) throw new Error("L0 not newest first");
    }
    for (let level = 1; level < this.levels.length; level++) {
      const files = this.levels[level]!;
      for (let i = 0; i < files.length; i++) {
        const f = files[i]!;
        if (compareInternalKeys(f.smallest, f.largest) > 0) throw new Error(`L${level} file ${f.number} inverted`);
        if (i > 0 && compareUserKeys(userKeyOf(files[i - 1]!.largest), userKeyOf(f.smallest)) >= 0) {
          throw new Error(`L${level} files ${files[i - 1]!.number} and ${f.number} overlap`);
        }
      }
    }
  }
}

/** The user key range [smallest, largest] covered by a set of files. */
export function userKeyRange(files: readonly FileMeta[]): { smallest: Uint8Array; largest: Uint8Array } {
  let smallest = userKeyOf(files[0]!.smallest);
  let largest = userKeyOf(files[0]!.largest);
  for (const f of files) {
    const s = userKeyOf(f.smallest);
    const l = userKeyOf(f.largest);
    if (compareUserKeys(s, smallest) < 0) smallest = s;
    if (compareUserKeys(l, largest) > 0) largest = l;
  }
  return { smallest, largest };
}
