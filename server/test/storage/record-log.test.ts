/**
 * Record log framing (WAL and manifest): records round-trip; a torn tail is recovered up to the
 * last complete record under both tail policies; damage followed by valid records, and (strict)
 * a complete last record failing its checksum, are CorruptionErrors naming file and offset.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CorruptionError, IOError } from "../../src/storage/errors.js";
import {
  readRecordLog,
  RECORD_HEADER_BYTES,
  RecordLogWriter,
  type TailPolicy,
} from "../../src/storage/record-log.js";
import { withTempDir } from "./test-dirs.js";

const policies: TailPolicy[] = ["lenient", "strict"];

/** Deterministic, non-repeating-looking bytes; `tag` makes payloads differ from one another. */
function payload(tag: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let state = (tag * 0x9e3779b1 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    b[i] = state >>> 24;
  }
  return b;
}

/** Writes one record per payload to a new log at `path`; returns the record offsets. */
function writeLog(path: string, payloads: readonly Buffer[]): number[] {
  const writer = RecordLogWriter.create(path);
  try {
    return payloads.map((p) => writer.append([p]));
  } finally {
    writer.close();
  }
}

/** A small log of middle-sized records, used by the damage tests. */
const smallPayloads = Array.from({ length: 6 }, (_, i) => payload(i, 20 + 13 * i));

function assertRecords(path: string, tail: TailPolicy, expected: readonly Buffer[], validLength: number): void {
  const log = readRecordLog(path, tail);
  assert.equal(log.records.length, expected.length, `${tail}: number of records recovered`);
  for (let i = 0; i < expected.length; i++) assert.ok(log.records[i]!.equals(expected[i]!), `${tail}: record ${i} differs`);
  assert.equal(log.validLength, validLength, `${tail}: validLength`);
  assert.equal(log.fileSize, fs.statSync(path).size, `${tail}: fileSize`);
}

function assertCorruptionAt(path: string, tail: TailPolicy, offset: number): void {
  assert.throws(
    () => readRecordLog(path, tail),
    (err: unknown) => {
      assert.ok(err instanceof CorruptionError, `${tail}: expected CorruptionError, got ${String(err)}`);
      assert.equal(err.file, path, `${tail}: file named by the error`);
      assert.equal(err.offset, offset, `${tail}: offset named by the error`);
      assert.ok(err.message.includes(`file ${path}, offset ${offset}`), `${tail}: message ${err.message}`);
      return true;
    },
  );
}

function flipByte(path: string, at: number): void {
  const data = fs.readFileSync(path);
  data[at]! ^= 0x40;
  fs.writeFileSync(path, data);
}

describe("record log", () => {
  it("round-trips many records, from empty to several MiB", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      const sizes = [1, 0, 2, 7, 8, 9, 100, 4096, 32 * 1024 + 1, 1 << 20, 3 * (1 << 20) + 5];
      for (let i = 0; i < 300; i++) sizes.push((i * 37) % 200);
      const payloads = sizes.map((n, i) => payload(i, n));
      const writer = RecordLogWriter.create(path);
      const offsets: number[] = [];
      let expectedOffset = 0;
      for (const p of payloads) {
        offsets.push(writer.append([p]));
        assert.equal(offsets[offsets.length - 1], expectedOffset);
        expectedOffset += RECORD_HEADER_BYTES + p.length;
        assert.equal(writer.size, expectedOffset);
      }
      await writer.sync();
      writer.syncNow();
      writer.close();
      writer.close();
      assert.equal(fs.statSync(path).size, expectedOffset);
      for (const tail of policies) {
        assertRecords(path, tail, payloads, expectedOffset);
        assert.deepEqual(readRecordLog(path, tail).offsets, offsets);
      }
    });
  });

  it("stores a record given in parts as their concatenation", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      const parts = [Buffer.from("head|"), Buffer.alloc(0), payload(1, 5000), Buffer.from("|tail")];
      const writer = RecordLogWriter.create(path);
      writer.append(parts);
      writer.append([]);
      writer.close();
      assertRecords(path, "strict", [Buffer.concat(parts), Buffer.alloc(0)], fs.statSync(path).size);
    });
  });

  it("reads an empty file as no records", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      RecordLogWriter.create(path).close();
      for (const tail of policies) assertRecords(path, tail, [], 0);
    });
  });

  it("refuses to create over an existing file and reports a missing file as an IOError", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      writeLog(path, [Buffer.from("x")]);
      assert.throws(() => RecordLogWriter.create(path), (err: unknown) => err instanceof IOError && err.file === path);
      const missing = join(dir, "000002.log");
      assert.throws(() => readRecordLog(missing, "lenient"), (err: unknown) => err instanceof IOError && err.file === missing);
    });
  });

  it("recovers every complete record when the last one is torn at any byte", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      const offsets = writeLog(path, smallPayloads);
      const full = fs.readFileSync(path);
      const lastOffset = offsets[offsets.length - 1]!;
      for (let cut = lastOffset + 1; cut < full.length; cut++) {
        fs.writeFileSync(path, full.subarray(0, cut));
        for (const tail of policies) assertRecords(path, tail, smallPayloads.slice(0, -1), lastOffset);
      }
      // Cut exactly at a record boundary: nothing is torn.
      fs.writeFileSync(path, full.subarray(0, lastOffset));
      for (const tail of policies) assertRecords(path, tail, smallPayloads.slice(0, -1), lastOffset);
    });
  });

  it("treats garbage or zeros after the last record as a torn tail", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      writeLog(path, smallPayloads);
      const valid = fs.readFileSync(path);
      for (const tailBytes of [payload(99, 1), payload(99, 7), payload(99, 500), Buffer.alloc(4096)]) {
        fs.writeFileSync(path, Buffer.concat([valid, tailBytes]));
        assertRecords(path, "lenient", smallPayloads, valid.length);
      }
      // Strict keeps a tail too short to hold a complete record as torn as well.
      fs.writeFileSync(path, Buffer.concat([valid, payload(99, 7)]));
      assertRecords(path, "strict", smallPayloads, valid.length);
    });
  });

  it("reports a damaged middle record as corruption at that record's offset, under both policies", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      const offsets = writeLog(path, smallPayloads);
      const pristine = fs.readFileSync(path);
      for (const damaged of [1, 3, 4]) {
        const start = offsets[damaged]!;
        // A CRC byte, a length byte, the first and the last payload byte.
        const end = start + RECORD_HEADER_BYTES + smallPayloads[damaged]!.length;
        for (const at of [start + 1, start + 4, start + RECORD_HEADER_BYTES, end - 1]) {
          fs.writeFileSync(path, pristine);
          flipByte(path, at);
          for (const tail of policies) assertCorruptionAt(path, tail, start);
        }
      }
    });
  });

  it("strict: a complete last record that fails its checksum is corruption; lenient: a torn tail", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      const offsets = writeLog(path, smallPayloads);
      const lastOffset = offsets[offsets.length - 1]!;
      flipByte(path, lastOffset + RECORD_HEADER_BYTES + 3);
      assertCorruptionAt(path, "strict", lastOffset);
      assertRecords(path, "lenient", smallPayloads.slice(0, -1), lastOffset);
    });
  });

  it("reopen() truncates the torn tail and appends after the valid records", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      const offsets = writeLog(path, smallPayloads);
      const lastOffset = offsets[offsets.length - 1]!;
      fs.truncateSync(path, lastOffset + 5);
      const { validLength } = readRecordLog(path, "lenient");
      assert.equal(validLength, lastOffset);
      const writer = RecordLogWriter.reopen(path, validLength);
      assert.equal(writer.size, lastOffset);
      assert.equal(fs.statSync(path).size, lastOffset, "reopen truncates to the valid length");
      const extra = payload(42, 77);
      assert.equal(writer.append([extra]), lastOffset);
      writer.close();
      const expected = [...smallPayloads.slice(0, -1), extra];
      for (const tail of policies) assertRecords(path, tail, expected, lastOffset + RECORD_HEADER_BYTES + extra.length);
    });
  });

  it("reopen() of a missing file is an IOError", async () => {
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000009.log");
      assert.throws(() => RecordLogWriter.reopen(path, 0), (err: unknown) => err instanceof IOError && err.file === path);
    });
  });

  it("treats a torn last record as a torn tail even when its payload holds the bytes of a valid record", async () => {
    // A user value may be anything, including a framed record (say, a copy of a log file). A crash
    // that tears the record holding it must still read as a torn tail, not as corruption.
    await withTempDir("record-log", async (dir) => {
      const inner = join(dir, "inner.log");
      writeLog(inner, [payload(7, 30)]);
      const framed = fs.readFileSync(inner);
      const path = join(dir, "000001.log");
      const lastPayload = Buffer.concat([payload(8, 10), framed, payload(9, 40)]);
      const offsets = writeLog(path, [...smallPayloads, lastPayload]);
      const lastOffset = offsets[offsets.length - 1]!;
      const full = fs.readFileSync(path);
      fs.writeFileSync(path, full.subarray(0, full.length - 20));
      assertRecords(path, "lenient", smallPayloads, lastOffset);
    });
  });

  it("finds a torn tail in time proportional to the tail, whatever bytes the torn record holds", async () => {
    // The bytes 00 00 01 00 repeated read, at every fourth offset, as a record header claiming
    // 64 KiB: a scan that checksums each such candidate does quadratic work in the torn
    // record's size (about 35 s for 2 MiB), a linear one a few milliseconds. The bound is
    // generous so that only the quadratic behaviour fails it on a loaded machine.
    await withTempDir("record-log", async (dir) => {
      const path = join(dir, "000001.log");
      const torn = Buffer.alloc(2 * 1024 * 1024);
      for (let i = 2; i < torn.length; i += 4) torn[i] = 1;
      const offsets = writeLog(path, [smallPayloads[0]!, torn]);
      fs.truncateSync(path, fs.statSync(path).size - 1);
      const started = performance.now();
      const log = readRecordLog(path, "lenient");
      const elapsedMs = performance.now() - started;
      assert.equal(log.validLength, offsets[1]);
      assert.ok(elapsedMs < 3000, `reading a log with a torn 2 MiB record took ${elapsedMs.toFixed(0)} ms`);
    });
  });
});
