/**
 * directoryBytes (a member's dbSize): a file the engine deletes between the listing and its stat
 * counts nothing instead of failing the status call with INTERNAL (seen under bench:etcd's write
 * load: "status of m2: internal internal error"); other stat failures still fail.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { directoryBytes } from "../../src/api/directory-bytes.js";

function withFiles(sizes: Record<string, number>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sisyphus-dirbytes-"));
  for (const [name, size] of Object.entries(sizes)) fs.writeFileSync(path.join(dir, name), Buffer.alloc(size));
  fs.mkdirSync(path.join(dir, "sub"));
  fs.writeFileSync(path.join(dir, "sub", "ignored"), Buffer.alloc(1000));
  return body(dir).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

describe("directoryBytes", () => {
  it("sums the files directly in the directory", async () => {
    await withFiles({ a: 10, b: 300, c: 0 }, async (dir) => assert.equal(await directoryBytes(dir), 310));
  });

  it("a file deleted after the listing counts nothing", async () => {
    await withFiles({ "000005.log": 100, "000007.sst": 40 }, async (dir) => {
      const stat = async (file: string): Promise<{ size: number }> => {
        if (path.basename(file) === "000005.log") fs.rmSync(file);
        return fs.promises.stat(file);
      };
      assert.equal(await directoryBytes(dir, stat), 40);
    });
  });

  it("any other stat failure is reported", async () => {
    await withFiles({ a: 1 }, async (dir) => {
      const denied = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
      await assert.rejects(directoryBytes(dir, () => Promise.reject(denied)), /EACCES/);
    });
  });
});
