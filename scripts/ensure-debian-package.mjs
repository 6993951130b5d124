// Makes sure a program from a Debian package is on this machine, installing the package with
// apt-get when it is missing and this process may: the one installer behind ensure-chromium.mjs
// (the browser tests), server/bench/h2load.ts (bench:api) and bench:etcd / the etcd driver test.
//
// ensureDebianPackage({ packageName, binary }) returns { path, installedMs } when `binary` (an
// absolute path, or a name looked up on PATH) is there or was installed; otherwise it throws a
// DebianPackageUnavailableError whose `reason` says why:
//   "not-root"        the binary is missing and only root may run apt-get install;
//   "no-apt-get"      the binary is missing and there is no apt-get;
//   "install-failed"  apt-get failed or did not finish within the deadline (the message carries
//                     the tail of its output: apt-get's reason is at its end);
//   "still-missing"   apt-get succeeded but the binary is still not there.
// The install runs `apt-get install -y --no-install-recommends P`; when that fails (missing or
// stale package lists: "Unable to locate package", 404s) it runs `apt-get update` and tries once
// more. Everything, the wait for a dpkg lock held by someone else included, is bounded by one
// deadline (`timeoutMs`, 10 minutes by default).
//
// It is synchronous (spawnSync): an install is a one-off nothing else runs alongside, and one of
// its callers (bench:api's ensureH2load) is synchronous.
//
//   node scripts/ensure-debian-package.mjs PACKAGE BINARY   # prints the binary and any install time; exits 1 if none
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

export const DEFAULT_INSTALL_TIMEOUT_MS = 10 * 60_000;
/** How much of a failed command's output goes into the error: apt-get's reason is at its end. */
const OUTPUT_TAIL_CHARS = 4_000;
/** apt-get's output is kept whole while it runs (spawnSync buffers it); this bounds that buffer. */
const OUTPUT_BUFFER_BYTES = 64 * 1024 * 1024;

/** The binary is missing and could not be installed; `reason` is one of the codes above. */
export class DebianPackageUnavailableError extends Error {
  constructor(message, { packageName, binary, reason }) {
    super(message);
    this.name = "DebianPackageUnavailableError";
    this.packageName = packageName;
    this.binary = binary;
    this.reason = reason;
  }
}

/** Whether `file` exists and this process may execute it. */
export function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `binary` itself when it is a path, else the first executable of that name on PATH; undefined if none. */
export function findBinary(binary) {
  if (binary.includes("/")) return isExecutable(binary) ? binary : undefined;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, binary);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function hasAptGet() {
  const result = spawnSync("apt-get", ["--version"], { stdio: "ignore" });
  return result.error === undefined && result.status === 0;
}

/** Runs apt-get with what is left until deadlineMs; returns { ok, output, timedOut } (output: the tail of stdout and stderr). */
function runAptGet(args, deadlineMs) {
  const timeoutMs = deadlineMs - Date.now();
  if (timeoutMs <= 0) return { ok: false, output: "", timedOut: true };
  // Wait for a dpkg lock held by someone else rather than fail at once (up to the deadline).
  const lockWaitSeconds = Math.max(1, Math.floor(timeoutMs / 1000));
  const result = spawnSync("apt-get", ["-o", `DPkg::Lock::Timeout=${lockWaitSeconds}`, ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGTERM",
    maxBuffer: OUTPUT_BUFFER_BYTES,
  });
  const timedOut = result.error?.code === "ETIMEDOUT";
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error !== undefined && !timedOut ? `\n${result.error.message}` : ""}`.slice(-OUTPUT_TAIL_CHARS);
  return { ok: result.error === undefined && result.status === 0, output, timedOut };
}

function describeFailure(command, result, timeoutMs) {
  if (result.timedOut) return `\`${command}\` did not finish within the ${(timeoutMs / 1000).toFixed(1)} s limit`;
  return `\`${command}\` failed:\n${result.output.trim()}`;
}

function installWithAptGet(packageName, binary, timeoutMs, log, logPrefix) {
  const deadlineMs = Date.now() + timeoutMs;
  const failed = (message) => new DebianPackageUnavailableError(message, { packageName, binary, reason: "install-failed" });
  const install = ["install", "-y", "--no-install-recommends", packageName];
  const installCommand = `apt-get ${install.join(" ")}`;
  log(`${logPrefix}: ${binary} is missing; running \`${installCommand}\``);
  let result = runAptGet(install, deadlineMs);
  if (result.ok) return;
  if (result.timedOut) throw failed(describeFailure(installCommand, result, timeoutMs));
  log(`${logPrefix}: the install failed (${result.output.trim().split("\n").at(-1)}); running \`apt-get update\` and trying again`);
  const update = runAptGet(["update"], deadlineMs);
  if (!update.ok) throw failed(describeFailure("apt-get update", update, timeoutMs));
  result = runAptGet(install, deadlineMs);
  if (!result.ok) throw failed(describeFailure(installCommand, result, timeoutMs));
}

/**
 * Returns { path, installedMs } of `binary` (from Debian package `packageName`), installing the
 * package when the binary is missing and this process may; installedMs is undefined when nothing
 * was installed. Throws DebianPackageUnavailableError otherwise.
 */
export function ensureDebianPackage({ packageName, binary, timeoutMs = DEFAULT_INSTALL_TIMEOUT_MS, log = () => {}, logPrefix = "ensure-debian-package" }) {
  const found = findBinary(binary);
  if (found !== undefined) return { path: found, installedMs: undefined };
  const missing = `${binary} is missing (Debian package ${packageName})`;
  if (process.getuid?.() !== 0) {
    throw new DebianPackageUnavailableError(`${missing}, and this process is not root so it cannot install it: run \`sudo apt-get install ${packageName}\``, {
      packageName,
      binary,
      reason: "not-root",
    });
  }
  if (!hasAptGet()) {
    throw new DebianPackageUnavailableError(`${missing}, and there is no apt-get to install it with: install ${packageName} by other means`, {
      packageName,
      binary,
      reason: "no-apt-get",
    });
  }
  const startedMs = Date.now();
  installWithAptGet(packageName, binary, timeoutMs, log, logPrefix);
  const installedMs = Date.now() - startedMs;
  const installed = findBinary(binary);
  if (installed === undefined) {
    throw new DebianPackageUnavailableError(`apt-get installed ${packageName} but ${binary} is still not an executable file`, { packageName, binary, reason: "still-missing" });
  }
  log(`${logPrefix}: installed ${packageName} in ${(installedMs / 1000).toFixed(1)} s`);
  return { path: installed, installedMs };
}

const runAsScript = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (runAsScript) {
  const [packageName, binary] = process.argv.slice(2);
  if (packageName === undefined || binary === undefined) {
    process.stderr.write("usage: node scripts/ensure-debian-package.mjs PACKAGE BINARY\n");
    process.exitCode = 2;
  } else {
    try {
      const found = ensureDebianPackage({ packageName, binary, log: (line) => process.stderr.write(`${line}\n`) });
      const how = found.installedMs === undefined ? "already installed" : `installed in ${(found.installedMs / 1000).toFixed(1)} s`;
      process.stdout.write(`ensure-debian-package: ${found.path} (${packageName}), ${how}\n`);
    } catch (error) {
      process.stderr.write(`ensure-debian-package: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  }
}
