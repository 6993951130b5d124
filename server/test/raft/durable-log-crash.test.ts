/**
 * Crash test of the durable Raft log: a child process (durable-log-crash-child.js) saves one
 * entry at a time with fsync on and prints each index once its save has resolved. The test
 * SIGKILLs it after ACKS_PER_CYCLE acknowledgements, reopens the log and checks that every
 * acknowledged entry is there with its bytes intact, that the log is contiguous and well formed
 * past the last acknowledgement (a save may be durable but not yet reported), and that the hard
 * state commits at least the last acknowledged index. Three cycles on one directory, each child
 * continuing the log the previous kill left, so each recovery is recovered from again.
 *
 * A kill stops the writer between two system calls (a record is one writev, which a signal does
 * not split on a regular file), so this covers the states between records, including a segment
 * created without its first record; torn bytes inside a record are durable-log.test.ts's job.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { DurableLog } from "../../src/raft/index.js";
import { runChildScript } from "../child-run.js";
import { CRASH_SEGMENT_BYTES, crashEntry } from "./durable-log-crash-child.js";

const CHILD_SCRIPT = fileURLToPath(new URL("./durable-log-crash-child.js", import.meta.url));
const CYCLES = 3;
const ACKS_PER_CYCLE = 300;
const CYCLE_DEADLINE_MS = 15_000;

/** Runs the child on `dir` until it has acknowledged ACKS_PER_CYCLE saves, SIGKILLs it and reads its output to the end. */
async function runCycle(dir: string): Promise<{ acked: number[]; signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  let acks = 0;
  const run = await runChildScript(CHILD_SCRIPT, [dir], CYCLE_DEADLINE_MS, (_line, kill) => {
    if (++acks === ACKS_PER_CYCLE) kill();
  });
  return { acked: run.lines.map(Number), signal: run.signal, code: run.code, stderr: run.stderr };
}

it(`keeps every acknowledged entry across ${CYCLES} SIGKILLs of a writer`, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sisyphus-raftlog-crash-"));
  let nextIndex = 1;
  let lastAcked = 0;
  try {
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const where = `cycle ${cycle}`;
      const { acked, signal, code, stderr } = await runCycle(dir);
      assert.equal(signal, "SIGKILL", `${where}: the child ended by itself (code ${code}); stderr: ${stderr}`);
      assert.ok(acked.length >= ACKS_PER_CYCLE, `${where}: ${acked.length} acks`);
      acked.forEach((index, i) => assert.equal(index, nextIndex + i, `${where}: acknowledgement #${i} goes on from the recovered log's end`));
      lastAcked = acked[acked.length - 1];

      const log = DurableLog.open(dir, { segmentBytes: CRASH_SEGMENT_BYTES });
      try {
        const state = log.initialState();
        assert.ok(state !== undefined, `${where}: the log recovered no state`);
        assert.equal(state.snapshot.index, 0, `${where}: no snapshot point`);
        assert.ok(log.lastIndex() >= lastAcked, `${where}: the log ends at ${log.lastIndex()}, before the acknowledged ${lastAcked}`);
        assert.ok(log.lastIndex() <= lastAcked + 1, `${where}: the log ends at ${log.lastIndex()}, past the one save that may have been durable but unreported after ${lastAcked}`);
        state.entries.forEach((entry, i) => {
          const expected = crashEntry(i + 1);
          assert.equal(entry.index, expected.index, `${where}: entry #${i} of the recovered log`);
          assert.equal(entry.term, 1, `${where}: term of entry ${entry.index}`);
          assert.ok(Buffer.from(entry.data).equals(expected.data), `${where}: the bytes of entry ${entry.index} are intact`);
        });
        assert.equal(state.entries.length, log.lastIndex(), `${where}: entries 1..${log.lastIndex()}`);
        assert.deepEqual({ term: state.hardState.term, vote: state.hardState.vote }, { term: 1, vote: 0n }, `${where}: term and vote`);
        assert.ok(state.hardState.commit >= lastAcked, `${where}: commit ${state.hardState.commit} is behind the acknowledged ${lastAcked}`);
        assert.ok(state.hardState.commit <= log.lastIndex(), `${where}: commit ${state.hardState.commit} is past the log's end ${log.lastIndex()}`);
        nextIndex = log.lastIndex() + 1;
      } finally {
        await log.close();
      }
    }
    assert.ok(fs.readdirSync(dir).filter((name) => name.endsWith(".rlog")).length >= 10, "the writers rotated segments");
  } catch (err) {
    if (err instanceof Error) err.message += `\n  log directory (kept): ${dir}; last acknowledged ${lastAcked}`;
    throw err;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
