/**
 * The engine's background worker thread runs at a lower CPU priority (nice 10) than the thread
 * that opened the engine, so flushes and compactions yield the CPU to Raft and the API. Linux
 * keeps a nice value per thread: /proc/self/task/<tid>/stat shows each one.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { Engine } from "../../src/storage/index.js";
import { withTempDir } from "./test-dirs.js";

/** Field 19 of /proc/<pid>/task/<tid>/stat (after the parenthesized command name). */
function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of fs.readdirSync("/proc/self/task")) {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    nices.set(Number(tid), Number(fields[16]));
  }
  return nices;
}

describe("background worker priority", { skip: process.platform !== "linux" && "per-thread nice values are read from Linux's /proc" }, () => {
  it("flushes run on a thread at nice 10 while the opening thread keeps its priority", async () => {
    await withTempDir("background-priority", async (dir) => {
      const before = threadNices();
      const engine = await Engine.open(dir, { memtableBytes: 64 * 1024 });
      try {
        const value = Buffer.alloc(1024, 7);
        for (let i = 0; i < 200; i++) await engine.put(Buffer.from(`key-${String(i).padStart(6, "0")}`), value);
        const deadline = Date.now() + 10_000;
        let lowered: number[] = [];
        while (lowered.length === 0 && Date.now() < deadline) {
          lowered = [...threadNices()].filter(([tid, nice]) => nice === 10 && !before.has(tid)).map(([tid]) => tid);
          if (lowered.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(lowered.length, 1, "one new thread (the worker) at nice 10");
        assert.equal(threadNices().get(process.pid), before.get(process.pid), "the main thread's nice value is unchanged");
      } finally {
        await engine.close();
      }
    });
  });
});
