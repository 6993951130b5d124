import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sleep, TIMER_DELAY_MAX_MS, timerDelay } from "../src/abort.js";
import { AsyncQueue } from "../src/async-queue.js";
import { within } from "./helpers.js";

describe("AsyncQueue", () => {
  it("delivers items in order, also to a consumer that waits first, then ends", async () => {
    const queue = new AsyncQueue<number>();
    const first = queue.next();
    queue.push(1);
    queue.push(2);
    queue.end();
    queue.push(3);
    assert.deepEqual(await first, { value: 1, done: false });
    assert.deepEqual(await queue.next(), { value: 2, done: false });
    assert.deepEqual(await queue.next(), { value: undefined, done: true });
  });

  it("delivers the items queued before a failure, then throws it once", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.fail(new Error("boom"));
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const item of queue) seen.push(item);
    }, /boom/);
    assert.deepEqual(seen, [1]);
    assert.deepEqual(await queue.next(), { value: undefined, done: true });
  });

  it("tells its owner when the consumer stops early, and has one iterator", async () => {
    let returned = 0;
    const queue = new AsyncQueue<number>(() => returned++);
    queue.push(1);
    queue.push(2);
    assert.equal(queue[Symbol.asyncIterator](), queue[Symbol.asyncIterator]());
    for await (const item of queue) {
      assert.equal(item, 1);
      break;
    }
    assert.equal(returned, 1);
    assert.equal(queue.length, 0);
  });

  it("refuses a second consumer waiting at the same time", async () => {
    const queue = new AsyncQueue<number>();
    const first = queue.next();
    await assert.rejects(queue.next(), /one consumer/);
    queue.end();
    assert.equal((await first).done, true);
  });

  it("whenShorterThan resolves once the consumer has taken enough", async () => {
    const queue = new AsyncQueue<number>();
    for (let i = 0; i < 3; i++) queue.push(i);
    let resolved = false;
    const space = queue.whenShorterThan(2).then(() => {
      resolved = true;
    });
    await queue.next();
    await Promise.resolve();
    assert.equal(resolved, false);
    await queue.next();
    await within(space, "space in the queue");
    assert.equal(queue.dropOldest(), 2);
  });
});

describe("timers", () => {
  it("clamps delays to what setTimeout can wait", () => {
    assert.equal(timerDelay(10), 10);
    assert.equal(timerDelay(-5), 0);
    assert.equal(timerDelay(9e9 * 1000), TIMER_DELAY_MAX_MS);
  });

  it("sleep ends early with the signal's reason", async () => {
    const controller = new AbortController();
    const slept = sleep(TIMER_DELAY_MAX_MS, controller.signal);
    controller.abort(new Error("stop"));
    await assert.rejects(within(slept, "the sleep to end"), /stop/);
    await assert.rejects(sleep(10, AbortSignal.abort(new Error("already"))), /already/);
  });
});
