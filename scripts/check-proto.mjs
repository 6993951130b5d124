// Checks the Protobuf API before the tests run (npm test's pretest, and so CI):
//   1. `buf lint` over proto/ (STANDARD + COMMENTS, from buf.yaml);
//   2. `buf generate` into a temporary directory, compared file by file with the committed gen/.
// Exits non-zero naming every drifted file when gen/ is not exactly what proto/ generates, so a
// change to proto/ cannot land without its regenerated code (fix: `npm run generate`, commit gen/).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const generatedDir = "gen";
// buf and protoc-gen-es are the versions pinned in package.json, not whatever is on PATH.
const env = { ...process.env, PATH: `${path.join(root, "node_modules", ".bin")}${path.delimiter}${process.env.PATH ?? ""}` };

class CheckFailure extends Error {}

function runBuf(args) {
  const result = spawnSync("buf", args, { cwd: root, env, stdio: "inherit" });
  if (result.error) throw new CheckFailure(`cannot run buf (${result.error.message}); run \`npm ci\` first`);
  if (result.status !== 0) throw new CheckFailure(`\`buf ${args.join(" ")}\` failed (exit ${result.status ?? result.signal})`);
}

/** Relative paths of every file under dir, sorted; empty when dir does not exist. */
function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

/** Generates into a scratch directory; returns the files in which gen/ differs, and how. */
function generatedDrift() {
  const scratch = mkdtempSync(path.join(tmpdir(), "sisyphus-gen-"));
  try {
    runBuf(["generate", "--output", scratch]);
    const committedDir = path.join(root, generatedDir);
    const freshDir = path.join(scratch, generatedDir);
    const committed = new Set(listFiles(committedDir));
    const fresh = new Set(listFiles(freshDir));
    if (fresh.size === 0) throw new CheckFailure(`buf generate produced no files under ${generatedDir}/`);
    const drifted = [];
    for (const file of fresh) {
      if (!committed.has(file)) drifted.push(`${generatedDir}/${file} (missing)`);
      else if (!readFileSync(path.join(committedDir, file)).equals(readFileSync(path.join(freshDir, file)))) {
        drifted.push(`${generatedDir}/${file} (differs)`);
      }
    }
    for (const file of committed) {
      if (!fresh.has(file)) drifted.push(`${generatedDir}/${file} (stale: proto/ no longer generates it)`);
    }
    return { drifted, generated: fresh.size };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

try {
  runBuf(["lint"]);
  const { drifted, generated } = generatedDrift();
  if (drifted.length > 0) {
    throw new CheckFailure(
      `${generatedDir}/ is out of date with proto/; run \`npm run generate\` and commit ${generatedDir}/:\n  ${drifted.join("\n  ")}`,
    );
  }
  process.stdout.write(`check-proto: buf lint clean, ${generatedDir}/ matches proto/ (${generated} files)\n`);
} catch (error) {
  if (!(error instanceof CheckFailure)) throw error;
  process.stderr.write(`check-proto: ${error.message}\n`);
  process.exitCode = 1;
}
