/**
 * Crash recovery: a child process writes (crash-writer.js) and is SIGKILLed at random moments,
 * at least 100 times into the same directory; after each kill the directory is reopened and
 * checked against the writer's journal (see crash-runner.ts for what is checked).
 *
 * SISYPHUS_SEED=<n> replays a run; SISYPHUS_CRASH_CYCLES=<n> changes the number of cycles. The
 * crash-runner CLI runs longer campaigns: npm run test:crash -- --cycles 2000 [--seed S].
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCrashCycles } from "./crash-runner.js";
import { withTempDir } from "./test-dirs.js";

const seed = process.env.SISYPHUS_SEED !== undefined ? Number(process.env.SISYPHUS_SEED) : Math.floor(Math.random() * 0x7fffffff);
const cycles = Number(process.env.SISYPHUS_CRASH_CYCLES ?? 100);

test(`every acknowledged write survives SIGKILL, batches are atomic (${cycles} kills, seed ${seed})`, { timeout: 400_000 }, async (t) => {
  await withTempDir("crash", async (dir) => {
    let summary;
    try {
      summary = await runCrashCycles({ dir, cycles, seed });
    } catch (err) {
      (err as Error).message += `\n  rerun (same choices; kill timing varies): SISYPHUS_SEED=${seed} node --test dist/server/test/storage/engine-crash.test.js`;
      throw err;
    }
    const context = `seed ${seed}: ${JSON.stringify(summary)}`;
    t.diagnostic(context);
    assert.equal(summary.cycles, cycles, context);
    // The checks mean something only if the kills hit a busy engine.
    assert.ok(summary.writesAcked >= cycles * 5, `too few acknowledged writes; ${context}`);
    assert.ok(summary.cyclesWithCompaction >= cycles / 10, `compactions ran in too few cycles; ${context}`);
    assert.ok(summary.killsAfterFlush + summary.killsAfterCompaction > 0, `no kill followed a flush or compaction; ${context}`);
    assert.ok(summary.inFlightApplied + summary.inFlightLost > 0, `no write was in flight at any kill; ${context}`);
  });
});
