/**
 * Chooses the next compaction (LevelDB's leveled scheme):
 *  - L0's score is its file count over l0CompactionTrigger; level n's score is its bytes over
 *    levelBaseBytes * levelSizeMultiplier^(n-1). The highest score >= 1 is compacted.
 *  - From L0: the oldest file plus every L0 file overlapping it (transitively), since L0 files
 *    overlap and the newer of two versions must not be left above the older one.
 *  - From level n >= 1: the first file after the level's compact pointer (round robin through
 *    the key space), so every key is eventually pushed down.
 *  - Plus the files of the next level that overlap the inputs' user key range.
 * A single input file with nothing to merge in the next level, and little grandparent overlap,
 * is moved by a version edit instead of being rewritten (a trivial move).
 */
import { compareInternalKeys } from "./internal-key.js";
import type { ResolvedOptions } from "./options.js";
import type { FileMeta } from "./version-edit.js";
import { userKeyRange, type Version } from "./version.js";

export interface CompactionPick {
  level: number;
  outputLevel: number;
  inputs: FileMeta[];
  nextInputs: FileMeta[];
  grandparents: FileMeta[];
  trivialMove: boolean;
}

type PickOptions = Pick<
  ResolvedOptions,
  "l0CompactionTrigger" | "levelBaseBytes" | "levelSizeMultiplier" | "levels" | "targetFileBytes"
>;

export function maxBytesForLevel(level: number, options: PickOptions): number {
  return options.levelBaseBytes * Math.pow(options.levelSizeMultiplier, level - 1);
}

export function maxGrandparentOverlapBytes(options: PickOptions): number {
  return 10 * options.targetFileBytes;
}

/** The level most in need of compaction and its score (>= 1 means it needs one). */
export function bestScore(version: Version, options: PickOptions): { level: number; score: number } {
  let best = { level: 0, score: version.levels[0]!.length / options.l0CompactionTrigger };
  // The last level has no level below it to compact into.
  for (let level = 1; level < options.levels - 1; level++) {
    const score = version.levelBytes(level) / maxBytesForLevel(level, options);
    if (score > best.score) best = { level, score };
  }
  return best;
}

export function pickCompaction(
  version: Version,
  compactPointers: readonly (Buffer | undefined)[],
  options: PickOptions,
): CompactionPick | undefined {
  const { level, score } = bestScore(version, options);
  if (score < 1) return undefined;
  const files = version.levels[level]!;
  let inputs: FileMeta[];
  if (level === 0) {
    inputs = expandL0([files[files.length - 1]!], files);
  } else {
    const pointer = compactPointers[level];
    const first = pointer === undefined ? undefined : files.find((f) => compareInternalKeys(f.largest, pointer) > 0);
    inputs = [first ?? files[0]!];
  }
  const range = userKeyRange(inputs);
  const outputLevel = level + 1;
  const nextInputs = version.overlapping(outputLevel, range.smallest, range.largest);
  const all = nextInputs.length > 0 ? userKeyRange([...inputs, ...nextInputs]) : range;
  const grandparents =
    outputLevel + 1 < options.levels ? version.overlapping(outputLevel + 1, all.smallest, all.largest) : [];
  const grandparentBytes = grandparents.reduce((s, f) => s + f.size, 0);
  const trivialMove =
    inputs.length === 1 && nextInputs.length === 0 && grandparentBytes <= maxGrandparentOverlapBytes(options);
  return { level, outputLevel, inputs, nextInputs, grandparents, trivialMove };
}

/** Adds every L0 file overlapping the current inputs until the set stops growing. */
function expandL0(inputs: FileMeta[], l0: readonly FileMeta[]): FileMeta[] {
  const chosen = new Set(inputs);
  let grew = true;
  while (grew) {
    grew = false;
    const { smallest, largest } = userKeyRange([...chosen]);
    for (const f of l0) {
      if (chosen.has(f)) continue;
      const r = userKeyRange([f]);
      if (Buffer.compare(r.largest, smallest) >= 0 && Buffer.compare(r.smallest, largest) <= 0) {
        chosen.add(f);
        grew = true;
      }
    }
  }
  // Newest first, as L0 is read.
  return l0.filter((f) => chosen.has(f));
}
