/**
 * scripts/ensure-debian-package.mjs without installing anything: a binary that is there is
 * found (by path and on PATH) and nothing runs; one that is missing fails with a typed error
 * whose reason fits this machine (root with apt-get: the install, bounded by a 1 ms deadline,
 * times out; otherwise not-root or no-apt-get), and the message names the package.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { DebianPackageUnavailableError, ensureDebianPackage, findBinary } from "../../bench/debian-package.js";

describe("ensureDebianPackage", () => {
  it("finds a binary by absolute path and by name on PATH, and installs nothing", () => {
    const lines: string[] = [];
    const byPath = ensureDebianPackage({ packageName: "coreutils", binary: process.execPath, log: (line) => lines.push(line) });
    assert.deepEqual(byPath, { path: process.execPath, installedMs: undefined });
    const byName = ensureDebianPackage({ packageName: "coreutils", binary: "ls", log: (line) => lines.push(line) });
    assert.equal(byName.path, findBinary("ls"));
    assert.ok(byName.path.endsWith("/ls"), `ls found at ${byName.path}`);
    assert.deepEqual(lines, [], "nothing was logged, so apt-get never ran");
  });

  it("fails with a typed error naming the package when the binary is missing and cannot be had", () => {
    const packageName = "sisyphus-no-such-package";
    const binary = "/nonexistent/sisyphus-no-such-binary";
    const root = process.getuid?.() === 0;
    const aptGet = spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status === 0;
    const expectedReason = !root ? "not-root" : !aptGet ? "no-apt-get" : "install-failed";
    assert.throws(
      () => ensureDebianPackage({ packageName, binary, timeoutMs: 1 }),
      (err: unknown) => {
        assert.ok(err instanceof DebianPackageUnavailableError, `got ${String(err)}`);
        assert.equal(err.reason, expectedReason, err.message);
        assert.equal(err.packageName, packageName);
        assert.equal(err.binary, binary);
        assert.match(err.message, expectedReason === "install-failed" ? /did not finish within/ : new RegExp(packageName));
        return true;
      },
    );
  });
});
