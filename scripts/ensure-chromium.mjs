// Makes sure a Chromium binary is on this machine, for the browser tests (server/test/browser),
// which drive it through playwright-core: playwright's own browser download cannot work here (only
// the npm registry and Debian's packages are reachable), so the tests use Debian's chromium.
//
// Looks for $CHROMIUM_PATH (when set, it must be there), else /usr/bin/chromium. When it is
// missing and this process is root with apt-get available, installs Debian's `chromium` package
// through ensure-debian-package.mjs (`apt-get update` and a second try if the install fails, e.g.
// for lack of package lists), bounded by a deadline (10 minutes by default). Otherwise it fails
// with the reason and what to do.
//
//   node scripts/ensure-chromium.mjs   # prints the binary, its version and any install time; exits 1 if none
//
// ensureChromium() does the same for a test and returns { executablePath, version, installedMs }.
import { spawnSync } from "node:child_process";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DebianPackageUnavailableError, DEFAULT_INSTALL_TIMEOUT_MS as DEFAULT_APT_TIMEOUT_MS, ensureDebianPackage, isExecutable } from "./ensure-debian-package.mjs";

export const DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium";
export const DEFAULT_INSTALL_TIMEOUT_MS = DEFAULT_APT_TIMEOUT_MS;
const APT_PACKAGE = "chromium";

/** No Chromium here and none could be installed; the message says why and what to do. */
export class ChromiumUnavailableError extends Error {
  constructor(message) {
    super(message);
    this.name = "ChromiumUnavailableError";
  }
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

/** Installs Debian's chromium (ensure-debian-package.mjs), mapping its failures to ChromiumUnavailableError with this script's advice. */
function installChromium(timeoutMs, log) {
  const missing = `no Chromium at ${DEFAULT_CHROMIUM_PATH} and CHROMIUM_PATH is not set`;
  try {
    return ensureDebianPackage({ packageName: APT_PACKAGE, binary: DEFAULT_CHROMIUM_PATH, timeoutMs, log, logPrefix: "ensure-chromium" }).installedMs;
  } catch (error) {
    if (!(error instanceof DebianPackageUnavailableError)) throw error;
    switch (error.reason) {
      case "not-root":
        throw new ChromiumUnavailableError(`${missing}, and this process is not root so it cannot install one: run \`sudo apt-get install chromium\` or set CHROMIUM_PATH to a Chromium binary`);
      case "no-apt-get":
        throw new ChromiumUnavailableError(`${missing}, and there is no apt-get to install one with: install Chromium and set CHROMIUM_PATH to its binary`);
      default:
        throw new ChromiumUnavailableError(error.message);
    }
  }
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
  const installedMs = installChromium(timeoutMs, log);
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
