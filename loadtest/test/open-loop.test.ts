/**
 * The open loop on a simulated clock: requests are due on a fixed schedule and latency runs from
 * each one's intended send time, so a stall of the sender shows up in the latencies of the
 * requests it delayed (a closed loop, or latency from the actual send, would report 0 here);
 * requests due while too many are outstanding are dropped and counted.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Clock } from "../src/clock.js";
import { runOpenLoop } from "../src/load-loops.js";
import { OpenLoopSchedule } from "../src/open-loop-schedule.js";
import { Recorder } from "../src/recorder.js";

/** A clock that jumps to each wake-up time, and once, on reaching `stallAtMs`, jumps `stallMs` further (the sender was stalled). */
function simulatedClock(stallAtMs: number, stallMs: number, onSleep: (nowMs: number) => void = () => undefined): Clock {
  let nowMs = 0;
  let stalled = false;
  return {
    now: () => nowMs,
    sleepUntil: async (atMs) => {
      // Let the answers already due complete at the current time, as a real sleep would.
      await new Promise<void>((resolve) => setImmediate(resolve));
      nowMs = Math.max(nowMs, atMs);
      if (!stalled && nowMs >= stallAtMs) {
        stalled = true;
        nowMs += stallMs;
      }
      onSleep(nowMs);
    },
  };
}

describe("OpenLoopSchedule", () => {
  it("makes request i due at start + i / rate", () => {
    const schedule = new OpenLoopSchedule(100, 1000);
    assert.equal(schedule.intendedTimeMs(0), 100);
    assert.equal(schedule.intendedTimeMs(5), 105);
    assert.equal(schedule.dueCount(99.9), 0);
    assert.equal(schedule.dueCount(100), 1);
    assert.equal(schedule.dueCount(104.9), 5);
    assert.equal(schedule.dueCount(105), 6);
    assert.throws(() => new OpenLoopSchedule(0, 0), RangeError);
  });
});

describe("runOpenLoop", () => {
  const run = async (clock: Clock, issue: () => Promise<void>, maxOutstanding: number, durationMs: number): Promise<{ recorder: Recorder; sent: number }> => {
    const recorder = new Recorder(0);
    const { sent } = await runOpenLoop({
      clock,
      recorder,
      schedule: new OpenLoopSchedule(0, 100),
      maxOutstanding,
      limits: { endMs: durationMs, maxRequests: Infinity },
      issue,
    });
    recorder.finish(clock.now());
    return { recorder, sent };
  };

  it("without a stall, instant answers have latency 0", async () => {
    const { recorder, sent } = await run(simulatedClock(Infinity, 0), () => Promise.resolve(), 1000, 1000);
    assert.equal(sent, 100);
    assert.equal(recorder.ops, 100);
    assert.equal(recorder.latencyMs().max, 0);
    recorder.destroy();
  });

  it("a 300 ms stall of the sender adds the wait to the latency of every request it delayed", async () => {
    // 100 req/s: request i is due at 10·i ms. The sender stalls from 500 to 800 ms, so requests
    // 50..79 go out at 800 ms, with latencies 300, 290, ..., 10 ms; everything else 0.
    const { recorder, sent } = await run(simulatedClock(500, 300), () => Promise.resolve(), 1000, 1000);
    assert.equal(sent, 100);
    assert.equal(recorder.errors, 0);
    const latency = recorder.latencyMs();
    assert.ok(Math.abs(latency.max - 300) < 0.5, `max latency ${latency.max} ms, expected 300`);
    const expectedMean = (10 * (30 * 31)) / 2 / 100;
    assert.ok(Math.abs(latency.mean - expectedMean) < 0.1, `mean latency ${latency.mean} ms, expected ${expectedMean}`);
    assert.equal(latency.p50, 0);
    assert.deepEqual(
      recorder.timeline.map((s) => s.ops),
      [100],
      `timeline ${JSON.stringify(recorder.timeline)}`,
    );
    recorder.destroy();
  });

  it("drops and counts requests due while maxOutstanding are in flight", async () => {
    // Nothing is answered until the run's end (100 ms): requests 0..2 (due at 0, 10, 20 ms) are
    // sent, 3..9 are dropped; the three answered at 100 ms have latencies 100, 90 and 80 ms.
    const pending: (() => void)[] = [];
    const clock = simulatedClock(Infinity, 0, (nowMs) => {
      if (nowMs >= 100) for (const release of pending.splice(0)) release();
    });
    const { recorder, sent } = await run(clock, () => new Promise<void>((resolve) => pending.push(resolve)), 3, 100);
    assert.equal(sent, 3);
    assert.equal(recorder.ops, 3);
    assert.deepEqual(recorder.errorsByCode, { DROPPED: 7 });
    assert.ok(Math.abs(recorder.latencyMs().max - 100) < 0.5, `max ${recorder.latencyMs().max}`);
    assert.ok(Math.abs(recorder.latencyMs().mean - 90) < 0.1, `mean ${recorder.latencyMs().mean}`);
    recorder.destroy();
  });
});
