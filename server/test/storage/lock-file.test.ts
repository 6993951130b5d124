/**
 * The directory lock: one holder per directory within a process, a LOCK left by a dead
 * process is taken over, a LOCK naming a live process refuses with that process's pid.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LockedError } from "../../src/storage/errors.js";
import { lockFileName } from "../../src/storage/file-names.js";
import { DirectoryLock } from "../../src/storage/lock-file.js";
import { withTempDir } from "./test-dirs.js";

const readLock = (dir: string): string => fs.readFileSync(lockFileName(dir), "utf8");

function assertLocked(dir: string, holderPid: number, message: string): void {
  assert.throws(
    () => DirectoryLock.acquire(dir),
    (err: unknown) => {
      assert.ok(err instanceof LockedError, `expected LockedError, got ${String(err)}`);
      assert.equal(err.holderPid, holderPid);
      assert.ok(err.message.includes(message), `expected the message to include "${message}", got "${err.message}"`);
      return true;
    },
  );
}

describe("DirectoryLock", () => {
  it("writes the owner's pid to LOCK and removes it on release", async () => {
    await withTempDir("lock", async (dir) => {
      const lock = DirectoryLock.acquire(dir);
      assert.equal(readLock(dir), `${process.pid}\n`);
      lock.release();
      assert.equal(fs.existsSync(lockFileName(dir)), false);
      lock.release();
    });
  });

  it("refuses a second acquire in the same process until the first is released", async () => {
    await withTempDir("lock", async (dir) => {
      const lock = DirectoryLock.acquire(dir);
      try {
        assertLocked(dir, process.pid, "is already open by another Engine in this process");
        assertLocked(join(dir, "sub", ".."), process.pid, "is already open by another Engine in this process");
      } finally {
        lock.release();
      }
      DirectoryLock.acquire(dir).release();
    });
  });

  it("refuses a second acquire in the same process through a symbolic link to the directory", async () => {
    await withTempDir("lock", async (dir) => {
      const data = join(dir, "data");
      const link = join(dir, "link");
      fs.mkdirSync(data);
      fs.symlinkSync(data, link);
      const lock = DirectoryLock.acquire(data);
      try {
        assertLocked(link, process.pid, "is already open by another Engine in this process");
      } finally {
        lock.release();
      }
    });
  });

  it("takes over a LOCK left by a process that has exited", async () => {
    await withTempDir("lock", async (dir) => {
      const child = spawnSync(process.execPath, ["-e", ""]);
      assert.equal(child.status, 0);
      fs.writeFileSync(lockFileName(dir), `${child.pid}\n`);
      const lock = DirectoryLock.acquire(dir);
      assert.equal(readLock(dir), `${process.pid}\n`);
      lock.release();
    });
  });

  it("takes over a LOCK holding this process's pid from an earlier life", async () => {
    await withTempDir("lock", async (dir) => {
      fs.writeFileSync(lockFileName(dir), `${process.pid}\n`);
      DirectoryLock.acquire(dir).release();
    });
  });

  it("refuses a LOCK held by a live process, naming its pid", async (t) => {
    await withTempDir("lock", async (dir) => {
      const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 60_000)"], { stdio: "ignore" });
      const exited = new Promise((done) => child.once("exit", done));
      t.after(async () => {
        child.kill("SIGKILL");
        await exited;
      });
      await new Promise((done, fail) => {
        child.once("spawn", done);
        child.once("error", fail);
      });
      const pid = child.pid!;
      fs.writeFileSync(lockFileName(dir), `${pid}\n`);
      assertLocked(dir, pid, `is locked by process ${pid} (file ${lockFileName(dir)})`);
      assert.equal(readLock(dir), `${pid}\n`, "the holder's LOCK is left alone");
    });
  });
});
