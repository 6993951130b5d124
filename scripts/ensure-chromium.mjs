// Makes sure a Chromium binary is on this machine, for the browser tests (server/test/browser),
// which drive it through playwright-core: playwright's own browser download cannot work here (only
// the npm registry and Debian's packages are reachable), so the tests use Debian's chromium.
//
// Looks for $CHROMIUM_PATH (when set, it must be there), else /usr/bin/chromium. When it is
// missing and this process is root with apt-get available, installs Debian's `chromium` package
// (`apt-get update` first if the install fails, e.g. for lack of package lists), bounded by a
// deadline (10 minutes by default). Otherwise it fails with the reason and what to do.
//
//   node scripts/ensure-chromium.mjs   # prints the binary, its version and any install time; exits 1 if none
//
// ensureChromium() does the same for a test and returns { executablePath, version, installedMs }.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";

export const DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium";
export const DEFAULT_INSTALL_TIMEOUT_MS = 10 * 60_000;
const APT_PACKAGE = "chromium";
/** How much of a failed command's output goes into the error: apt-get's reason is at its end. */
const OUTPUT_TAIL_CHARS = 4_000;

/** No Chromium here and none could be installed; the message says why and what to do. */
export class ChromiumUnavailableError extends Error {
  constructor(message) {
    super(message);
    this.name = "ChromiumUnavailableError";
  }
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function hasAptGet() {
  const result = spawnSync("apt-get", ["--version"], { stdio: "ignore" });
  return result.error === undefined && result.status === 0;
}

/** The first line `chromium --version` prints, e.g. "Chromium 156.0.8078.79 built on Debian ...". */
function chromiumVersion(executablePath) {
  const result = spawnSync(executablePath, ["--version"], { encoding: "utf8", timeout: 30_000 });
  if (result.error !== undefined || result.status !== 0) {
    const reason = result.error?.message ?? `exit ${result.status ?? result.signal}: ${(result.stderr ?? "").trim()}`;
    throw new ChromiumUnavailableError(`${executablePath} exists but \`${executablePath} --version\` failed (${reason})`);
  }
  return result.stdout.trim().split("\n")[0];
}

/** Runs apt-get with a deadline; resolves { ok, output } (output: the tail of stdout and stderr). */
function runAptGet(args, deadlineMs) {
  const timeoutMs = deadlineMs - Date.now();
  if (timeoutMs <= 0) return Promise.resolve({ ok: false, output: "", timedOut: true });
  return new Promise((resolve) => {
    // Wait for a dpkg lock held by someone else rather than fail at once (up to the deadline).
    const lockWaitSeconds = Math.max(1, Math.floor(timeoutMs / 1000));
    const child = spawn("apt-get", ["-o", `DPkg::Lock::Timeout=${lockWaitSeconds}`, ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keepTail = (chunk) => {
      output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout.on("data", keepTail);
    child.stderr.on("data", keepTail);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve({ ok: false, output: `${output}\n${error.message}`, timedOut });
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0 && !timedOut, output, timedOut });
    });
  });
}

function describeFailure(command, result, timeoutMs) {
  if (result.timedOut) return `\`${command}\` did not finish within the ${(timeoutMs / 1000).toFixed(1)} s limit`;
  return `\`${command}\` failed:\n${result.output.trim()}`;
}

async function installWithAptGet(timeoutMs, log) {
  const deadlineMs = Date.now() + timeoutMs;
  const install = ["install", "-y", "--no-install-recommends", APT_PACKAGE];
  const installCommand = `apt-get ${install.join(" ")}`;
  log(`ensure-chromium: ${DEFAULT_CHROMIUM_PATH} is missing; running \`${installCommand}\``);
  let result = await runAptGet(install, deadlineMs);
  if (result.ok) return;
  if (result.timedOut) throw new ChromiumUnavailableError(describeFailure(installCommand, result, timeoutMs));
  // Missing or stale package lists ("Unable to locate package", 404s): refresh them, try once more.
  log(`ensure-chromium: the install failed (${result.output.trim().split("\n").at(-1)}); running \`apt-get update\` and trying again`);
  const update = await runAptGet(["update"], deadlineMs);
  if (!update.ok) throw new ChromiumUnavailableError(describeFailure("apt-get update", update, timeoutMs));
  result = await runAptGet(install, deadlineMs);
  if (!result.ok) throw new ChromiumUnavailableError(describeFailure(installCommand, result, timeoutMs));
}

/**
 * Returns the Chromium to use, installing Debian's package when it is missing and this process
 * may. Throws ChromiumUnavailableError (with the reason and what to do) otherwise.
 * installedMs is how long the install took, undefined when nothing was installed.
 */
export async function ensureChromium({ timeoutMs = DEFAULT_INSTALL_TIMEOUT_MS, log = () => {} } = {}) {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!isExecutable(fromEnv)) throw new ChromiumUnavailableError(`CHROMIUM_PATH is ${fromEnv}, which is not an executable file`);
    return { executablePath: fromEnv, version: chromiumVersion(fromEnv), installedMs: undefined };
  }
  if (isExecutable(DEFAULT_CHROMIUM_PATH)) {
    return { executablePath: DEFAULT_CHROMIUM_PATH, version: chromiumVersion(DEFAULT_CHROMIUM_PATH), installedMs: undefined };
  }
  const missing = `no Chromium at ${DEFAULT_CHROMIUM_PATH} and CHROMIUM_PATH is not set`;
  if (process.getuid?.() !== 0) {
    throw new ChromiumUnavailableError(`${missing}, and this process is not root so it cannot install one: run \`sudo apt-get install chromium\` or set CHROMIUM_PATH to a Chromium binary`);
  }
  if (!hasAptGet()) {
    throw new ChromiumUnavailableError(`${missing}, and there is no apt-get to install one with: install Chromium and set CHROMIUM_PATH to its binary`);
  }
  const startedMs = Date.now();
  await installWithAptGet(timeoutMs, log);
  const installedMs = Date.now() - startedMs;
  if (!isExecutable(DEFAULT_CHROMIUM_PATH)) {
    throw new ChromiumUnavailableError(`apt-get installed ${APT_PACKAGE} but ${DEFAULT_CHROMIUM_PATH} is still not an executable file`);
  }
  log(`ensure-chromium: installed ${APT_PACKAGE} in ${(installedMs / 1000).toFixed(1)} s`);
  return { executablePath: DEFAULT_CHROMIUM_PATH, version: chromiumVersion(DEFAULT_CHROMIUM_PATH), installedMs };
}

const runAsScript = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (runAsScript) {
  try {
    const chromium = await ensureChromium({ log: (line) => process.stderr.write(`${line}\n`) });
    const how = chromium.installedMs === undefined ? "already installed" : `installed in ${(chromium.installedMs / 1000).toFixed(1)} s`;
    process.stdout.write(`ensure-chromium: ${chromium.executablePath} (${chromium.version}), ${how}\n`);
  } catch (error) {
    process.stderr.write(`ensure-chromium: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
