/**
 * Version edits (manifest records), versions (the tables of each level) and the version set
 * (manifest + CURRENT + file lifetimes). fast-check prints the seed of a failing run.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CorruptionError } from "../../src/storage/errors.js";
import { currentFileName, manifestFileName, tableFileName } from "../../src/storage/file-names.js";
import { encodeInternalKey, ValueKind } from "../../src/storage/internal-key.js";
import { readRecordLog, RecordLogWriter } from "../../src/storage/record-log.js";
import { decodeEdit, emptyEdit, encodeEdit, type FileMeta, type VersionEdit } from "../../src/storage/version-edit.js";
import { VersionSet } from "../../src/storage/version-set.js";
import { userKeyRange, Version } from "../../src/storage/version.js";
import { withTempDir } from "./test-dirs.js";

const LEVELS = 4;

const ikey = (user: string, seq: number, kind = ValueKind.Put): Buffer => encodeInternalKey(Buffer.from(user), seq, kind);

/** A table covering user keys [smallest, largest]; sequence numbers follow the file number. */
function table(number: number, smallest: string, largest: string, size = 1000): FileMeta {
  return {
    number,
    size,
    smallest: ikey(smallest, number * 10 + 1),
    largest: ikey(largest, number * 10),
    smallestSeq: number * 10,
    largestSeq: number * 10 + 1,
  };
}

function editOf(parts: Partial<VersionEdit>): VersionEdit {
  return { ...emptyEdit(), ...parts };
}

const numbers = (files: readonly FileMeta[]): number[] => files.map((f) => f.number);
const levelNumbers = (v: Version): number[][] => v.levels.map(numbers);

describe("version edit encoding", () => {
  // deepEqual compares prototypes: generate ordinary objects, as decodeEdit returns.
  const plain = { noNullPrototype: true };
  const bytesArb = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));
  const fileArb: fc.Arbitrary<FileMeta> = fc.record(
    {
      number: fc.maxSafeNat(),
      size: fc.maxSafeNat(),
      smallest: bytesArb,
      largest: bytesArb,
      smallestSeq: fc.maxSafeNat(),
      largestSeq: fc.maxSafeNat(),
    },
    plain,
  );
  // The three counters are optional: an edit without them must decode without them.
  const editArb: fc.Arbitrary<VersionEdit> = fc.record(
    {
      logNumber: fc.maxSafeNat(),
      nextFileNumber: fc.maxSafeNat(),
      lastSequence: fc.maxSafeNat(),
      compactPointers: fc.array(fc.record({ level: fc.nat({ max: 10 }), key: bytesArb }, plain), { maxLength: 4 }),
      deletedFiles: fc.array(fc.record({ level: fc.nat({ max: 10 }), number: fc.maxSafeNat() }, plain), { maxLength: 6 }),
      newFiles: fc.array(fc.record({ level: fc.nat({ max: 10 }), file: fileArb }, plain), { maxLength: 6 }),
    },
    { requiredKeys: ["compactPointers", "deletedFiles", "newFiles"], noNullPrototype: true },
  );

  it("round-trips any edit", () => {
    fc.assert(
      fc.property(editArb, (edit) => {
        assert.deepEqual(decodeEdit(encodeEdit(edit), "MANIFEST-000001", 0), edit);
      }),
      { numRuns: 1000 },
    );
  });

  it("encodes an empty edit as no bytes", () => {
    assert.equal(encodeEdit(emptyEdit()).length, 0);
    assert.deepEqual(decodeEdit(new Uint8Array(0), "m", 0), emptyEdit());
  });

  it("reports every truncation inside a field as corruption naming the record", () => {
    const edit = editOf({
      logNumber: 300,
      newFiles: [{ level: 2, file: table(4000, "apple", "banana", 1 << 20) }],
    });
    const encoded = encodeEdit(edit);
    const fieldStart = encodeEdit(editOf({ logNumber: 300 })).length;
    for (let cut = 1; cut < encoded.length; cut++) {
      if (cut === fieldStart) continue; // a field boundary: the prefix is a smaller valid edit
      assert.throws(
        () => decodeEdit(encoded.subarray(0, cut), "/db/MANIFEST-000007", 1234),
        (err: unknown) =>
          err instanceof CorruptionError && err.file === "/db/MANIFEST-000007" && err.offset === 1234 && /malformed manifest record/.test(err.message),
        `edit cut to ${cut} of ${encoded.length} bytes`,
      );
    }
    assert.deepEqual(decodeEdit(encoded.subarray(0, fieldStart), "m", 0), editOf({ logNumber: 300 }));
  });

  it("reports an unknown tag as corruption", () => {
    for (const tag of [0, 7, 200]) {
      const record = Buffer.concat([encodeEdit(editOf({ logNumber: 5 })), Buffer.from([...(tag < 128 ? [tag] : [(tag & 0x7f) | 0x80, tag >> 7]), 1])]);
      assert.throws(
        () => decodeEdit(record, "MANIFEST-000003", 77),
        (err: unknown) => err instanceof CorruptionError && err.offset === 77 && err.message.includes(`unknown tag ${tag}`),
        `tag ${tag}`,
      );
    }
  });

  it("reports a key length beyond the record as corruption", () => {
    const record = Buffer.from([4, 1, 50, 0x61, 0x62]); // compact pointer at L1 claiming 50 key bytes
    assert.throws(() => decodeEdit(record, "m", 0), CorruptionError);
  });
});

describe("Version", () => {
  it("applies new and deleted files, keeping L0 newest first and deeper levels sorted by key", () => {
    const v0 = Version.empty(LEVELS);
    const v1 = v0.apply(
      editOf({
        newFiles: [
          { level: 0, file: table(5, "a", "z") },
          { level: 0, file: table(9, "c", "d") },
          { level: 0, file: table(7, "b", "y") },
          { level: 1, file: table(11, "m", "p") },
          { level: 1, file: table(10, "a", "c") },
          { level: 1, file: table(12, "e", "g") },
        ],
      }),
    );
    assert.deepEqual(levelNumbers(v1), [[9, 7, 5], [10, 12, 11], [], []]);
    v1.checkInvariants();
    assert.deepEqual(levelNumbers(v0), [[], [], [], []], "apply leaves the base version unchanged");
    assert.equal(v1.levelBytes(1), 3000);
    assert.deepEqual(numbers(v1.allFiles()).sort((a, b) => a - b), [5, 7, 9, 10, 11, 12]);

    const v2 = v1.apply(
      editOf({
        deletedFiles: [
          { level: 0, number: 7 },
          { level: 1, number: 11 },
          { level: 2, number: 10 }, // not in L2: deletes nothing
        ],
        newFiles: [{ level: 2, file: table(13, "m", "p") }],
      }),
    );
    assert.deepEqual(levelNumbers(v2), [[9, 5], [10, 12], [13], []]);
    assert.deepEqual(levelNumbers(v1), [[9, 7, 5], [10, 12, 11], [], []]);
  });

  it("refuses an edit naming a level beyond the last", () => {
    assert.throws(() => Version.empty(LEVELS).apply(editOf({ newFiles: [{ level: LEVELS, file: table(3, "a", "b") }] })), RangeError);
  });

  it("finds the only file of a sorted level that may hold a user key", () => {
    const v = Version.empty(LEVELS).apply(
      editOf({
        newFiles: [
          { level: 1, file: table(3, "b", "d") },
          { level: 1, file: table(4, "f", "f") },
          { level: 1, file: table(5, "h", "k") },
        ],
      }),
    );
    const cases: [string, number][] = [
      ["a", -1],
      ["b", 0],
      ["c", 0],
      ["d", 0],
      ["dd", -1],
      ["e", -1],
      ["f", 1],
      ["g", -1],
      ["h", 2],
      ["ja", 2],
      ["k", 2],
      ["ka", -1],
      ["z", -1],
    ];
    for (const [key, expected] of cases) assert.equal(v.findFile(1, Buffer.from(key)), expected, `findFile(1, "${key}")`);
    assert.equal(v.findFile(2, Buffer.from("c")), -1, "empty level");
  });

  it("lists the files overlapping an inclusive user key range, open-ended when a bound is undefined", () => {
    const v = Version.empty(LEVELS).apply(
      editOf({
        newFiles: [
          { level: 1, file: table(3, "b", "d") },
          { level: 1, file: table(4, "f", "f") },
          { level: 1, file: table(5, "h", "k") },
        ],
      }),
    );
    const overlapping = (lo: string | undefined, hi: string | undefined): number[] =>
      numbers(v.overlapping(1, lo === undefined ? undefined : Buffer.from(lo), hi === undefined ? undefined : Buffer.from(hi)));
    assert.deepEqual(overlapping("d", "f"), [3, 4], "bounds touching file edges are inclusive");
    assert.deepEqual(overlapping("e", "e"), []);
    assert.deepEqual(overlapping("a", "a"), []);
    assert.deepEqual(overlapping("ka", "z"), []);
    assert.deepEqual(overlapping(undefined, "b"), [3]);
    assert.deepEqual(overlapping("g", undefined), [5]);
    assert.deepEqual(overlapping(undefined, undefined), [3, 4, 5]);
    assert.deepEqual(overlapping("a", "z"), [3, 4, 5]);
  });

  it("checkInvariants accepts valid levels and rejects each kind of violation", () => {
    const withLevels = (l0: FileMeta[], l1: FileMeta[]): Version => new Version([l0, l1, [], []]);
    withLevels([table(9, "a", "z"), table(8, "a", "z")], [table(1, "a", "b"), table(2, "c", "d")]).checkInvariants();
    assert.throws(() => withLevels([table(8, "a", "b"), table(9, "a", "b")], []).checkInvariants(), /L0 not newest first/);
    assert.throws(() => withLevels([], [table(1, "a", "c"), table(2, "c", "d")]).checkInvariants(), /L1 files 1 and 2 overlap/);
    assert.throws(() => withLevels([], [table(2, "c", "d"), table(1, "a", "b")]).checkInvariants(), /overlap/);
    assert.throws(() => withLevels([], [table(1, "d", "c")]).checkInvariants(), /L1 file 1 inverted/);
    // One user key's versions split across two files of a sorted level is an overlap too.
    const older = { ...table(1, "a", "k"), largest: ikey("k", 50) };
    const newer = { ...table(2, "k", "m"), smallest: ikey("k", 40) };
    assert.throws(() => withLevels([], [older, newer]).checkInvariants(), /L1 files 1 and 2 overlap/);
  });

  it("userKeyRange spans the user keys of every file given", () => {
    const range = userKeyRange([table(1, "f", "h"), table(2, "b", "c"), table(3, "g", "x")]);
    assert.equal(Buffer.from(range.smallest).toString(), "b");
    assert.equal(Buffer.from(range.largest).toString(), "x");
  });
});

describe("VersionSet", () => {
  function assertSameState(a: VersionSet, b: VersionSet): void {
    assert.deepEqual(b.current.levels, a.current.levels, "levels");
    assert.equal(b.logNumber, a.logNumber, "logNumber");
    assert.equal(b.lastSequence, a.lastSequence, "lastSequence");
    assert.deepEqual(b.compactPointers, a.compactPointers, "compactPointers");
  }

  it("starts empty in a new directory, with CURRENT naming a fresh manifest", async () => {
    await withTempDir("version-set", async (dir) => {
      const vs = VersionSet.open(dir, LEVELS);
      try {
        assert.deepEqual(levelNumbers(vs.current), [[], [], [], []]);
        assert.equal(vs.logNumber, 0);
        assert.equal(vs.lastSequence, 0);
        assert.equal(fs.readFileSync(currentFileName(dir), "utf8"), `MANIFEST-${String(vs.manifestNumber).padStart(6, "0")}\n`);
        assert.ok(vs.nextFileNumber > vs.manifestNumber);
        assert.deepEqual(fs.readdirSync(dir).sort(), ["CURRENT", `MANIFEST-${String(vs.manifestNumber).padStart(6, "0")}`]);
      } finally {
        vs.close();
      }
    });
  });

  it("recovers levels and counters after logAndApply and a reopen, and replaces the manifest", async () => {
    await withTempDir("version-set", async (dir) => {
      const vs = VersionSet.open(dir, LEVELS);
      const [a, b, c, d] = [vs.newFileNumber(), vs.newFileNumber(), vs.newFileNumber(), vs.newFileNumber()];
      await vs.logAndApply(editOf({ logNumber: 7, lastSequence: 100, newFiles: [{ level: 0, file: table(a, "a", "m") }] }));
      await vs.logAndApply(editOf({ lastSequence: 250, newFiles: [{ level: 0, file: table(b, "k", "z") }] }));
      await vs.logAndApply(
        editOf({
          compactPointers: [{ level: 1, key: ikey("m", 33) }],
          deletedFiles: [{ level: 0, number: a }],
          newFiles: [
            { level: 1, file: table(c, "a", "f") },
            { level: 2, file: table(d, "g", "m") },
          ],
        }),
      );
      assert.deepEqual(levelNumbers(vs.current), [[b], [c], [d], []]);
      assert.equal(vs.logNumber, 7);
      assert.equal(vs.lastSequence, 250);
      assert.deepEqual(vs.compactPointers[1], ikey("m", 33));
      const oldManifest = vs.manifestNumber;
      const nextBeforeClose = vs.nextFileNumber;
      vs.close();

      const reopened = VersionSet.open(dir, LEVELS);
      try {
        assertSameState(vs, reopened);
        reopened.current.checkInvariants();
        assert.equal(reopened.manifestNumber, nextBeforeClose, "the new manifest takes the next file number");
        assert.equal(reopened.nextFileNumber, nextBeforeClose + 1);
        assert.ok(!fs.existsSync(manifestFileName(dir, oldManifest)), "the old manifest is removed");
        assert.deepEqual([...reopened.liveFiles()].sort((x, y) => x - y), [b, c, d]);
      } finally {
        reopened.close();
      }

      // A third open recovers from the snapshot edit the second one wrote.
      const third = VersionSet.open(dir, LEVELS);
      try {
        assertSameState(vs, third);
        assert.equal(third.nextFileNumber, nextBeforeClose + 2);
      } finally {
        third.close();
      }
    });
  });

  it("serializes logAndApply calls made without waiting", async () => {
    await withTempDir("version-set", async (dir) => {
      const vs = VersionSet.open(dir, LEVELS);
      try {
        const files = Array.from({ length: 8 }, (_, i) => table(vs.newFileNumber(), `k${i}`, `k${i}`));
        await Promise.all(files.map((file, i) => vs.logAndApply(editOf({ lastSequence: i + 1, newFiles: [{ level: 0, file }] }))));
        assert.deepEqual(levelNumbers(vs.current)[0], numbers(files).reverse());
        assert.equal(vs.lastSequence, 8);
      } finally {
        vs.close();
      }
      const reopened = VersionSet.open(dir, LEVELS);
      reopened.close();
      assert.equal(reopened.lastSequence, 8);
      assert.equal(reopened.current.levels[0]!.length, 8);
    });
  });

  it("rejects an edit that would break the level invariants, leaving the version and later edits unaffected", async () => {
    await withTempDir("version-set", async (dir) => {
      const vs = VersionSet.open(dir, LEVELS);
      try {
        const [a, b, c] = [vs.newFileNumber(), vs.newFileNumber(), vs.newFileNumber()];
        await vs.logAndApply(editOf({ newFiles: [{ level: 1, file: table(a, "a", "f") }] }));
        const before = vs.current;
        await assert.rejects(vs.logAndApply(editOf({ newFiles: [{ level: 1, file: table(b, "e", "g") }] })), /overlap/);
        assert.equal(vs.current, before);
        await vs.logAndApply(editOf({ newFiles: [{ level: 1, file: table(c, "g", "h") }] }));
        assert.deepEqual(levelNumbers(vs.current)[1], [a, c]);
      } finally {
        vs.close();
      }
      const reopened = VersionSet.open(dir, LEVELS);
      reopened.close();
      assert.deepEqual(levelNumbers(reopened.current)[1], levelNumbers(vs.current)[1]);
    });
  });

  it("refuses a CURRENT that names a missing manifest or holds garbage", async () => {
    await withTempDir("version-set", async (dir) => {
      VersionSet.open(dir, LEVELS).close();
      const current = currentFileName(dir);
      const assertCorrupt = (contents: string, message: RegExp): void => {
        fs.writeFileSync(current, contents);
        assert.throws(
          () => VersionSet.open(dir, LEVELS),
          (err: unknown) => err instanceof CorruptionError && err.file === current && message.test(err.message),
          `CURRENT = ${JSON.stringify(contents)}`,
        );
      };
      assertCorrupt("MANIFEST-000099\n", /CURRENT names .*MANIFEST-000099, which does not exist/);
      assertCorrupt("garbage", /CURRENT does not name a manifest: "garbage"/);
      assertCorrupt("", /CURRENT does not name a manifest/);
      assertCorrupt("MANIFEST-000002", /CURRENT does not name a manifest/);
    });
  });

  it("refuses a directory holding data files but no CURRENT", async () => {
    await withTempDir("version-set", async (dir) => {
      fs.writeFileSync(tableFileName(dir, 5), "x");
      assert.throws(() => VersionSet.open(dir, LEVELS), (err: unknown) => err instanceof CorruptionError && /CURRENT is missing/.test(err.message));
    });
  });

  it("recovers the state before a torn last manifest record (a crash during logAndApply)", async () => {
    await withTempDir("version-set", async (dir) => {
      const vs = VersionSet.open(dir, LEVELS);
      const [a, b] = [vs.newFileNumber(), vs.newFileNumber()];
      await vs.logAndApply(editOf({ lastSequence: 9, newFiles: [{ level: 0, file: table(a, "a", "b") }] }));
      const levelsBefore = levelNumbers(vs.current);
      await vs.logAndApply(editOf({ lastSequence: 20, newFiles: [{ level: 0, file: table(b, "c", "d") }] }));
      vs.close();
      const manifest = manifestFileName(dir, vs.manifestNumber);
      fs.truncateSync(manifest, fs.statSync(manifest).size - 3);
      const reopened = VersionSet.open(dir, LEVELS);
      reopened.close();
      assert.deepEqual(levelNumbers(reopened.current), levelsBefore);
      assert.equal(reopened.lastSequence, 9);
      assert.ok(reopened.nextFileNumber > b, "file numbers handed out before the crash are not reused");
    });
  });

  it("refuses a manifest with a damaged record, naming the manifest and offset", async () => {
    await withTempDir("version-set", async (dir) => {
      const vs = VersionSet.open(dir, LEVELS);
      const n = vs.newFileNumber();
      await vs.logAndApply(editOf({ lastSequence: 9, newFiles: [{ level: 0, file: table(n, "a", "b") }] }));
      await vs.logAndApply(editOf({ lastSequence: 10 }));
      vs.close();
      const manifest = manifestFileName(dir, vs.manifestNumber);
      const { offsets } = readRecordLog(manifest, "strict");
      const data = fs.readFileSync(manifest);
      data[offsets[1]! + 9]! ^= 1;
      fs.writeFileSync(manifest, data);
      assert.throws(
        () => VersionSet.open(dir, LEVELS),
        (err: unknown) => err instanceof CorruptionError && err.file === manifest && err.offset === offsets[1],
      );
    });
  });

  it("refuses a manifest record that decodes but cannot be applied", async () => {
    await withTempDir("version-set", async (dir) => {
      const manifest = manifestFileName(dir, 1);
      const writer = RecordLogWriter.create(manifest);
      writer.append([encodeEdit(editOf({ nextFileNumber: 10 }))]);
      const offset = writer.append([encodeEdit(editOf({ newFiles: [{ level: LEVELS + 2, file: table(3, "a", "b") }] }))]);
      writer.close();
      fs.writeFileSync(currentFileName(dir), "MANIFEST-000001\n");
      assert.throws(
        () => VersionSet.open(dir, LEVELS),
        (err: unknown) => err instanceof CorruptionError && err.file === manifest && err.offset === offset && /cannot be applied/.test(err.message),
      );
    });
  });

  it("hands a file to onObsoleteFile exactly when the last version containing it is released", async () => {
    await withTempDir("version-set", async (dir) => {
      const vs = VersionSet.open(dir, LEVELS);
      try {
        const obsolete: number[] = [];
        vs.onObsoleteFile = (file) => obsolete.push(file.number);
        const [x, y, z] = [vs.newFileNumber(), vs.newFileNumber(), vs.newFileNumber()];

        await vs.logAndApply(editOf({ newFiles: [{ level: 0, file: table(x, "a", "b") }] }));
        const v1 = vs.current;
        vs.ref(v1); // a reader of v1 (x)
        await vs.logAndApply(editOf({ newFiles: [{ level: 0, file: table(y, "c", "d") }] }));
        const v2 = vs.current;
        vs.ref(v2); // a reader of v2 (x, y)
        await vs.logAndApply(editOf({ deletedFiles: [{ level: 0, number: x }], newFiles: [{ level: 1, file: table(z, "a", "b") }] }));
        assert.deepEqual(obsolete, [], "x is still in versions that readers hold");
        assert.deepEqual([...vs.liveFiles()].sort((p, q) => p - q), [x, y, z]);

        vs.unref(v1);
        assert.deepEqual(obsolete, [], "v2 still holds x");
        vs.unref(v2);
        assert.deepEqual(obsolete, [x], "the last version holding x is gone");
        assert.deepEqual([...vs.liveFiles()].sort((p, q) => p - q), [y, z]);

        // A file dropped while no reader holds an older version is released by the edit itself.
        await vs.logAndApply(editOf({ deletedFiles: [{ level: 0, number: y }] }));
        assert.deepEqual(obsolete, [x, y]);
        // A file moved between levels stays live.
        await vs.logAndApply(editOf({ deletedFiles: [{ level: 1, number: z }], newFiles: [{ level: 2, file: table(z, "a", "b") }] }));
        assert.deepEqual(obsolete, [x, y]);
        assert.deepEqual([...vs.liveFiles()], [z]);
      } finally {
        vs.close();
      }
    });
  });
});
