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
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { DurableLog } from "../../src/raft/index.js";
import { CRASH_SEGMENT_BYTES, crashEntry } from "./durable-log-crash-child.js";

const CHILD_SCRIPT = fileURLToPath(new URL("./durable-log-crash-child.js", import.meta.url));
const CYCLES = 3;
const ACKS_PER_CYCLE = 300;
const CYCLE_DEADLINE_MS = 15_000;

interface CycleResult {
  /** Indexes the child reported durable, in the order reported. */
  acked: number[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

/** Runs the child on `dir` until it has acknowledged ACKS_PER_CYCLE saves, SIGKILLs it and reads its output to the end. */
async function runCycle(dir: string): Promise<CycleResult> {
  const child = spawn(process.execPath, [CHILD_SCRIPT, dir], { stdio: ["ignore", "pipe", "pipe"] });
  const result: CycleResult = { acked: [], signal: null, code: null, stderr: "" };
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (result.stderr += chunk));
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      result.code = code;
      result.signal = signal;
      resolve();
    }),
  );
  const outputEnded = new Promise<void>((resolve) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      result.acked.push(Number(line));
      if (result.acked.length === ACKS_PER_CYCLE) child.kill("SIGKILL");
    });
    lines.once("close", resolve);
  });
  let deadline: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<"timeout">((resolve) => (deadline = setTimeout(() => resolve("timeout"), CYCLE_DEADLINE_MS)));
    const outcome = await Promise.race([Promise.all([exited, outputEnded]), timedOut]);
    assert.notEqual(outcome, "timeout", `the child did not finish within ${CYCLE_DEADLINE_MS} ms (${result.acked.length} acks); stderr: ${result.stderr}`);
    return result;
  } finally {
    clearTimeout(deadline);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
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
