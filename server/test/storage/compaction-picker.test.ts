/**
 * The compaction picker: level scores, the L0 file-count trigger, transitive expansion of L0
 * inputs, round robin through a level with its compact pointer, next-level and grandparent
 * overlap, and trivial-move detection.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bestScore,
  maxBytesForLevel,
  maxGrandparentOverlapBytes,
  pickCompaction,
  type CompactionPick,
} from "../../src/storage/compaction-picker.js";
import { encodeInternalKey, ValueKind } from "../../src/storage/internal-key.js";
import type { FileMeta, NewFile } from "../../src/storage/version-edit.js";
import { Version } from "../../src/storage/version.js";

const options = {
  l0CompactionTrigger: 4,
  levelBaseBytes: 10_000,
  levelSizeMultiplier: 10,
  levels: 4,
  targetFileBytes: 1_000,
};

const ikey = (user: string, seq: number): Buffer => encodeInternalKey(Buffer.from(user), seq, ValueKind.Put);

function table(number: number, smallest: string, largest: string, size = 1_000): FileMeta {
  return {
    number,
    size,
    smallest: ikey(smallest, number * 10 + 1),
    largest: ikey(largest, number * 10),
    smallestSeq: number * 10,
    largestSeq: number * 10 + 1,
  };
}

/** A version holding `files`, given as [level, file] pairs. */
function versionOf(...files: [number, FileMeta][]): Version {
  const newFiles: NewFile[] = files.map(([level, file]) => ({ level, file }));
  const v = Version.empty(options.levels).apply({ compactPointers: [], deletedFiles: [], newFiles });
  v.checkInvariants();
  return v;
}

const numbers = (files: readonly FileMeta[]): number[] => files.map((f) => f.number);

/** The parts of a pick a test compares, with files as numbers. */
function summary(pick: CompactionPick | undefined): object | undefined {
  if (pick === undefined) return undefined;
  return {
    level: pick.level,
    outputLevel: pick.outputLevel,
    inputs: numbers(pick.inputs),
    nextInputs: numbers(pick.nextInputs),
    grandparents: numbers(pick.grandparents),
    trivialMove: pick.trivialMove,
  };
}

const noPointers: (Buffer | undefined)[] = new Array(options.levels).fill(undefined);

describe("compaction scores", () => {
  it("sizes each level at levelBaseBytes times the multiplier per level below L1", () => {
    assert.equal(maxBytesForLevel(1, options), 10_000);
    assert.equal(maxBytesForLevel(2, options), 100_000);
    assert.equal(maxBytesForLevel(3, options), 1_000_000);
    assert.equal(maxGrandparentOverlapBytes(options), 10_000);
  });

  it("scores L0 by file count and deeper levels by bytes, ignoring the last level", () => {
    assert.deepEqual(bestScore(versionOf(), options), { level: 0, score: 0 });
    assert.deepEqual(bestScore(versionOf([0, table(1, "a", "b")], [0, table(2, "a", "b")], [0, table(3, "a", "b")]), options), {
      level: 0,
      score: 0.75,
    });
    assert.deepEqual(bestScore(versionOf([1, table(1, "a", "b", 15_000)]), options), { level: 1, score: 1.5 });
    assert.deepEqual(
      bestScore(versionOf([1, table(1, "a", "b", 15_000)], [2, table(2, "a", "b", 300_000)]), options),
      { level: 2, score: 3 },
      "the higher score wins",
    );
    assert.deepEqual(
      bestScore(versionOf([1, table(1, "a", "b", 5_000)], [3, table(2, "a", "b", 50_000_000)]), options),
      { level: 1, score: 0.5 },
      "the last level has nowhere to compact into",
    );
    const l0 = Array.from({ length: 8 }, (_, i): [number, FileMeta] => [0, table(i + 1, "a", "b")]);
    assert.deepEqual(bestScore(versionOf(...l0, [1, table(20, "c", "d", 15_000)]), options), { level: 0, score: 2 });
  });

  it("picks nothing while every score is below 1", () => {
    const v = versionOf(
      [0, table(1, "a", "b")],
      [0, table(2, "a", "b")],
      [0, table(3, "a", "b")],
      [1, table(4, "a", "b", 9_999)],
      [2, table(5, "a", "b", 99_999)],
    );
    assert.equal(pickCompaction(v, noPointers, options), undefined);
  });
});

describe("compaction picks", () => {
  it("compacts the oldest L0 file alone once L0 reaches the trigger, when no other L0 file overlaps it", () => {
    const v = versionOf(
      [0, table(1, "a", "b")],
      [0, table(2, "c", "d")],
      [0, table(3, "e", "f")],
      [0, table(4, "g", "h")],
      [1, table(10, "b", "c")],
      [1, table(11, "x", "y")],
      [2, table(20, "a", "a")],
      [2, table(21, "d", "e")],
    );
    assert.deepEqual(summary(pickCompaction(v, noPointers, options)), {
      level: 0,
      outputLevel: 1,
      inputs: [1],
      nextInputs: [10],
      grandparents: [20], // overlapping [a, c], the range of the inputs and the next level's inputs
      trivialMove: false,
    });
  });

  it("expands L0 inputs to every file overlapping them, transitively, newest first", () => {
    const v = versionOf(
      [0, table(1, "a", "c")],
      [0, table(2, "c", "e")], // overlaps 1
      [0, table(3, "e", "g")], // overlaps 2, so 1's range once 2 is in
      [0, table(4, "x", "z")],
      [0, table(5, "h", "h")],
      [1, table(10, "b", "b")],
      [1, table(11, "f", "h")],
      [1, table(12, "i", "w")],
      [2, table(20, "h", "k")],
      [2, table(21, "l", "m")],
    );
    assert.deepEqual(summary(pickCompaction(v, noPointers, options)), {
      level: 0,
      outputLevel: 1,
      inputs: [3, 2, 1],
      nextInputs: [10, 11],
      grandparents: [20], // overlapping [a, h]
      trivialMove: false,
    });
  });

  it("moves a lone L0 file with nothing to merge below it", () => {
    const v = versionOf(
      [0, table(1, "a", "b")],
      [0, table(2, "c", "d")],
      [0, table(3, "e", "f")],
      [0, table(4, "g", "h")],
      [1, table(10, "m", "n")],
    );
    assert.deepEqual(summary(pickCompaction(v, noPointers, options)), {
      level: 0,
      outputLevel: 1,
      inputs: [1],
      nextInputs: [],
      grandparents: [],
      trivialMove: true,
    });
  });

  it("walks a level round robin from its compact pointer, wrapping at the end", () => {
    const v = versionOf([1, table(10, "a", "c", 6_000)], [1, table(11, "d", "f", 6_000)], [1, table(12, "g", "i", 6_000)]);
    const pickAfter = (pointer: Buffer | undefined): number[] => {
      const pointers = [...noPointers];
      pointers[1] = pointer;
      const pick = pickCompaction(v, pointers, options);
      assert.equal(pick?.level, 1);
      return numbers(pick.inputs);
    };
    assert.deepEqual(pickAfter(undefined), [10], "no pointer: the first file");
    assert.deepEqual(pickAfter(v.levels[1]![0]!.largest), [11], "pointer at file 10's largest key");
    assert.deepEqual(pickAfter(v.levels[1]![1]!.largest), [12]);
    assert.deepEqual(pickAfter(v.levels[1]![2]!.largest), [10], "pointer past the last file wraps around");
    assert.deepEqual(pickAfter(ikey("e", 5)), [11], "pointer inside file 11");
    assert.deepEqual(pickAfter(ikey("c", 0)), [11], "pointer at an older version of file 10's largest user key");
  });

  it("merges a level file with the next level's overlapping files", () => {
    const v = versionOf(
      [1, table(10, "d", "k", 12_000)],
      [2, table(20, "a", "b")],
      [2, table(21, "c", "e")],
      [2, table(22, "j", "m")],
      [2, table(23, "n", "p")],
      [3, table(30, "a", "a")],
      [3, table(31, "l", "l")],
      [3, table(32, "m", "z")],
    );
    assert.deepEqual(summary(pickCompaction(v, noPointers, options)), {
      level: 1,
      outputLevel: 2,
      inputs: [10],
      nextInputs: [21, 22],
      grandparents: [31, 32], // overlapping [c, m]
      trivialMove: false,
    });
  });

  it("moves a lone level file unless too many grandparent bytes overlap it", () => {
    const withGrandparentBytes = (bytes: number): CompactionPick | undefined =>
      pickCompaction(
        versionOf([1, table(10, "d", "k", 12_000)], [2, table(20, "a", "b")], [3, table(30, "e", "f", bytes)]),
        noPointers,
        options,
      );
    assert.deepEqual(summary(withGrandparentBytes(10_000)), {
      level: 1,
      outputLevel: 2,
      inputs: [10],
      nextInputs: [],
      grandparents: [30],
      trivialMove: true,
    });
    assert.equal(withGrandparentBytes(10_001)?.trivialMove, false);
  });

  it("has no grandparents when compacting into the last level", () => {
    const v = versionOf([2, table(20, "a", "b", 200_000)], [3, table(30, "a", "z")]);
    assert.deepEqual(summary(pickCompaction(v, noPointers, options)), {
      level: 2,
      outputLevel: 3,
      inputs: [20],
      nextInputs: [30],
      grandparents: [],
      trivialMove: false,
    });
  });
});
