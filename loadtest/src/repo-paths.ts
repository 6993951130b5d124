/**
 * Where the repository is, seen from a compiled module: the nearest ancestor directory holding
 * proto/sisyphus. Found by walking up (not a fixed "../../..") so the code works from dist/ and
 * from any other build output directory alike.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export class RepoNotFoundError extends Error {
  constructor(readonly from: string) {
    super(`no ancestor of ${from} contains proto/sisyphus: run from a SisyphusDB checkout`);
    this.name = "RepoNotFoundError";
  }
}

export function repoRoot(fromUrl: string = import.meta.url): string {
  const start = path.dirname(fileURLToPath(fromUrl));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "proto", "sisyphus"))) return dir;
    if (path.dirname(dir) === dir) throw new RepoNotFoundError(start);
  }
}
