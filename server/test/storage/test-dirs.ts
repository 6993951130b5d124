/**
 * Temporary directories for the storage tests. Each lives under os.tmpdir() and is removed when
 * its test ends; when the test fails, the directory is appended to the error message (and kept
 * for inspection if SISYPHUS_KEEP_DIRS=1).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const keepFailedDirs = process.env.SISYPHUS_KEEP_DIRS === "1";

/** Runs `body` with a fresh directory named after `label`, then removes the directory. */
export async function withTempDir<T>(label: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `sisyphus-${label}-`));
  let failed = false;
  try {
    return await body(dir);
  } catch (err) {
    failed = true;
    const where = keepFailedDirs
      ? `\n  test directory (kept): ${dir}`
      : `\n  test directory: ${dir} (removed; set SISYPHUS_KEEP_DIRS=1 to keep it)`;
    if (err instanceof Error) {
      err.message += where;
      // An assertion error's stack was already rendered with the old message; reporters print it.
      if (err.stack !== undefined && !err.stack.includes(where)) err.stack += where;
    } else {
      console.error(where);
    }
    throw err;
  } finally {
    if (!(failed && keepFailedDirs)) await rm(dir, { recursive: true, force: true });
  }
}
