/**
 * Damaged files: a flipped byte in an SSTable data block, in the MANIFEST or in the middle of
 * the WAL is a CorruptionError naming the file (never silently skipped); a torn WAL tail (what a
 * crash during an append leaves) is cut off and everything before it recovers.
 *
 * Files are found by listing the directory (CURRENT, MANIFEST-NNNNNN, NNNNNN.log, NNNNNN.sst).
 * WAL and manifest records start with masked crc32c (fixed32) | payload length (fixed32), then
 * (in the current format) the record's own offset (fixed32), then the payload; the tests find
 * record boundaries by following the length fields.
 * WAL states are produced by a child process (crash-writer.js fill) that is SIGKILLed after its
 * writes were acknowledged, so nothing was flushed.
 */
import assert from "node:assert/strict";
import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CorruptionError, Engine, StorageError } from "../../src/storage/index.js";
import type { EngineLogger, EngineOptions } from "../../src/storage/index.js";
import { WriterChild } from "./crash-runner.js";
import { EMBED_KEY, fillKey, fillValue } from "./crash-writer.js";
import { withTempDir } from "./test-dirs.js";

const children = new Set<WriterChild>();
after(async () => {
  for (const child of children) await child.kill();
});

/** Options under which nothing is compacted, so the files found after close() stay as they are. */
const NO_COMPACTION: EngineOptions = {
  memtableBytes: 32 * 1024,
  blockSizeBytes: 1024,
  l0CompactionTrigger: 1000,
  l0SlowdownTrigger: 1001,
  l0StopTrigger: 1002,
  backgroundWorker: false,
};

const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(5, "0")}`);
const marker = (i: number): string => `value-of-${key(i).toString()}-`;
const value = (i: number): Buffer => Buffer.alloc(200, marker(i));

function filesEndingWith(dir: string, suffix: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith(suffix)).sort();
}

function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  assert.ok(offset < bytes.length, `offset ${offset} is past the end of ${path} (${bytes.length} bytes)`);
  bytes[offset]! ^= 0x5a;
  writeFileSync(path, bytes);
}

interface LogRecord {
  start: number;
  payloadStart: number;
  end: number;
}

/**
 * Splits a WAL or manifest into records by their length fields. The header is either
 * crc | length (8 bytes) or crc | length | own offset (12 bytes); the one whose records cover
 * the file exactly (and, for 12, whose offsets match) is the file's format.
 */
function logRecords(path: string): LogRecord[] {
  const bytes = readFileSync(path);
  for (const headerBytes of [12, 8]) {
    const records: LogRecord[] = [];
    let offset = 0;
    while (offset + headerBytes <= bytes.length) {
      if (headerBytes === 12 && bytes.readUInt32LE(offset + 8) !== offset % 2 ** 32) break;
      const end = offset + headerBytes + bytes.readUInt32LE(offset + 4);
      if (end > bytes.length) break;
      records.push({ start: offset, payloadStart: offset + headerBytes, end });
      offset = end;
    }
    if (offset === bytes.length && records.length > 0) return records;
  }
  assert.fail(`${path} (${bytes.length} bytes) does not split into records framed as crc | length | [offset |] payload`);
}

async function expectCorruption(promise: Promise<unknown>, fileName: string, what: string): Promise<CorruptionError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CorruptionError, `${what}: expected a CorruptionError naming ${fileName}, got ${caught === undefined ? "success" : String(caught)}`);
  assert.ok(caught instanceof StorageError);
  assert.ok(caught.file.endsWith(fileName), `${what}: error.file is ${caught.file}, expected ${fileName}`);
  assert.ok(caught.message.includes(fileName), `${what}: message does not name ${fileName}: ${caught.message}`);
  return caught;
}

async function countEntries(entries: AsyncIterable<[Uint8Array, Uint8Array]>): Promise<number> {
  let n = 0;
  for await (const entry of entries) n += entry.length > 0 ? 1 : 0;
  return n;
}

/**
 * Fills `dir` with keys [first, first + count) (and EMBED_KEY = the bytes of `embedFile`) through
 * a child that is then SIGKILLed.
 */
async function fillInChild(dir: string, first: number, count: number, embedFile?: string): Promise<void> {
  const args = ["fill", dir, String(first), String(count), "100"];
  if (embedFile !== undefined) args.push(embedFile);
  const child = new WriterChild(args);
  children.add(child);
  try {
    const done = await child.waitForLine((line) => line === "done", 30_000);
    assert.equal(done, "done", `fill child did not finish: ${child.describeExit()}`);
  } finally {
    await child.kill();
    children.delete(child);
  }
}

function walWithData(dir: string): string {
  const logs = filesEndingWith(dir, ".log").filter((name) => statSync(join(dir, name)).size > 0);
  assert.equal(logs.length, 1, `expected one non-empty WAL in ${dir}, found ${JSON.stringify(readdirSync(dir))}`);
  return logs[0]!;
}

function warningsLogger(): { logger: EngineLogger; warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    logger: { info() {}, warn: (obj, msg) => warnings.push(`${msg} ${JSON.stringify(obj)}`), error: (obj, msg) => warnings.push(`${msg} ${JSON.stringify(obj)}`) },
  };
}

async function expectFillKeys(engine: Engine, present: number[], absent: number[]): Promise<void> {
  for (const i of present) {
    const got = await engine.get(fillKey(i));
    assert.ok(got !== undefined && Buffer.from(got).equals(fillValue(i, 100)), `${fillKey(i).toString()}: expected its value, got ${got === undefined ? "absent" : Buffer.from(got).toString()}`);
  }
  for (const i of absent) assert.equal(await engine.get(fillKey(i)), undefined, `${fillKey(i).toString()} should be absent`);
  assert.equal(await countEntries(engine.iterate()), present.length, "scan count");
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe("corruption is detected and named", { timeout: 60_000 }, () => {
  it("a flipped byte in an SSTable data block fails reads of that block with the file's name", async () => {
    await withTempDir("corrupt-sst", async (dir) => {
      const engine = await Engine.open(dir, NO_COMPACTION);
      for (let i = 0; i < 600; i++) await engine.put(key(i), value(i));
      await engine.close();

      // A key near the middle of the data whose value sits in exactly one table.
      const tables = filesEndingWith(dir, ".sst").map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
      assert.ok(tables.length >= 2, `expected several tables after 120 KB through a 32 KiB memtable, found ${tables.length}`);
      let target: { i: number; table: string; offset: number } | undefined;
      for (let i = 300; i < 600 && target === undefined; i++) {
        const hits = tables.filter((t) => t.bytes.includes(marker(i)));
        if (hits.length === 1) target = { i, table: hits[0]!.name, offset: hits[0]!.bytes.indexOf(marker(i)) + 5 };
      }
      assert.ok(target !== undefined, "no key's value found in exactly one table");
      const other = tables.find((t) => t.name !== target.table && t.bytes.includes(marker(10)) && !t.bytes.includes(marker(target.i)));
      flipByte(join(dir, target.table), target.offset);

      const reopened = await Engine.open(dir, NO_COMPACTION);
      try {
        await expectCorruption(reopened.get(key(target.i)), target.table, `get(${key(target.i).toString()})`);
        await expectCorruption(countEntries(reopened.iterate()), target.table, "full scan");
        const around = reopened.iterate({ gte: key(target.i - 3), lte: key(target.i + 3), reverse: true });
        await expectCorruption(countEntries(around), target.table, "reverse scan around the key");
        if (other !== undefined) {
          const got = await reopened.get(key(10));
          assert.ok(got !== undefined && Buffer.from(got).equals(value(10)), `a key in another table (${other.name}) must still read`);
        }
      } finally {
        await reopened.close();
      }
    });
  });

  it("a flipped byte in a MANIFEST record fails open with the manifest's name", async () => {
    await withTempDir("corrupt-manifest", async (dir) => {
      const engine = await Engine.open(dir, NO_COMPACTION);
      for (let i = 0; i < 600; i++) await engine.put(key(i), value(i));
      await engine.close();
      const manifest = readFileSync(join(dir, "CURRENT"), "latin1").trim();
      assert.match(manifest, /^MANIFEST-\d{6}$/, "CURRENT names the manifest");
      const [first] = logRecords(join(dir, manifest));
      assert.ok(first !== undefined && first.end - first.payloadStart > 1, `${manifest} has no record with a payload`);
      flipByte(join(dir, manifest), first.payloadStart + Math.floor((first.end - first.payloadStart) / 2));
      await expectCorruption(Engine.open(dir, NO_COMPACTION), manifest, "Engine.open");
    });
  });

  it("a damaged record in the middle of the WAL fails open with the log's name and offset", async () => {
    await withTempDir("corrupt-wal", async (dir) => {
      await fillInChild(dir, 0, 50);
      const wal = walWithData(dir);
      const records = logRecords(join(dir, wal));
      assert.ok(records.length >= 50, `expected a WAL record per put, found ${records.length} in ${wal}`);
      const damaged = records[20]!;
      flipByte(join(dir, wal), damaged.payloadStart + 3);
      const err = await expectCorruption(Engine.open(dir), wal, "Engine.open");
      assert.ok(
        err.offset >= damaged.start && err.offset < damaged.end,
        `error offset ${err.offset} is not within the damaged record [${damaged.start}, ${damaged.end})`,
      );
    });
  });

  // A damaged length can make a record look longer than the rest of the file, like a torn tail;
  // the valid records after it show that it is not one.
  for (const [name, byte] of [["low", 0], ["high", 3]] as const) {
    it(`a damaged length field (${name} byte) in the middle of the WAL is corruption too`, async () => {
      await withTempDir("corrupt-wal-length", async (dir) => {
        await fillInChild(dir, 0, 50);
        const wal = walWithData(dir);
        const damaged = logRecords(join(dir, wal))[10]!;
        flipByte(join(dir, wal), damaged.start + 4 + byte);
        const err = await expectCorruption(Engine.open(dir), wal, "Engine.open");
        assert.ok(err.offset >= damaged.start && err.offset < damaged.end, `error offset ${err.offset}, damaged record [${damaged.start}, ${damaged.end})`);
      });
    });
  }
});

describe("a torn WAL tail is cut off and everything before it recovers", { timeout: 60_000 }, () => {
  const tails: { name: string; damage: (path: string) => number[] }[] = [
    {
      name: "the last record cut short",
      damage: (path) => {
        truncateSync(path, statSync(path).size - 3);
        return range(0, 49);
      },
    },
    {
      name: "a partial record header appended",
      damage: (path) => {
        appendFileSync(path, Buffer.from([0x12, 0x34, 0x56, 0x78, 0x01]));
        return range(0, 50);
      },
    },
    {
      name: "a header promising more bytes than follow",
      damage: (path) => {
        const header = Buffer.alloc(8 + 10, 0x41);
        header.writeUInt32LE(1000, 4);
        appendFileSync(path, header);
        return range(0, 50);
      },
    },
    {
      name: "a zero-filled tail",
      damage: (path) => {
        appendFileSync(path, Buffer.alloc(4096));
        return range(0, 50);
      },
    },
  ];

  for (const tail of tails) {
    it(`with ${tail.name}; writes after the recovery survive the next crash`, async () => {
      await withTempDir("torn-wal", async (dir) => {
        await fillInChild(dir, 0, 50);
        const wal = walWithData(dir);
        const present = tail.damage(join(dir, wal));
        const absent = range(present.length, 50);

        const { logger, warnings } = warningsLogger();
        const engine = await Engine.open(dir, { logger });
        try {
          await expectFillKeys(engine, present, absent);
          assert.ok(warnings.length > 0, "the truncated tail is logged as a warning");
        } finally {
          await engine.close();
        }

        // Recovery after recovery: more writes, another SIGKILL, another open.
        await fillInChild(dir, 100, 20);
        const again = await Engine.open(dir);
        try {
          await expectFillKeys(again, [...present, ...range(100, 120)], absent);
        } finally {
          await again.close();
        }
      });
    });
  }

  it("when the torn last record's value is itself a copy of a WAL, none of the copied records is replayed", async () => {
    await withTempDir("torn-wal-embedded", async (dir) => {
      const other = join(dir, "other");
      const main = join(dir, "main");
      await fillInChild(other, 1000, 50);
      await fillInChild(main, 0, 50, join(other, walWithData(other)));
      const wal = join(main, walWithData(main));
      truncateSync(wal, statSync(wal).size - 3);

      const { logger, warnings } = warningsLogger();
      const engine = await Engine.open(main, { logger });
      try {
        assert.equal(await engine.get(EMBED_KEY), undefined, "the torn record is not applied");
        await expectFillKeys(engine, range(0, 50), range(1000, 1050));
        assert.ok(warnings.length > 0, "the truncated tail is logged as a warning");
      } finally {
        await engine.close();
      }
    });
  });
});
