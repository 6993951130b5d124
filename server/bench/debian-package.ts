/**
 * scripts/ensure-debian-package.mjs for the TypeScript benches and tests: loaded from the
 * repository (a script, not compiled into the build output), so every build directory runs the
 * same installer. See that script for what it does and how it fails.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../../loadtest/src/repo-paths.js";

type EnsureDebianPackageModule = typeof import("../../scripts/ensure-debian-package.mjs");

export type { DebianBinary, EnsureDebianPackageOptions, DebianPackageUnavailableReason } from "../../scripts/ensure-debian-package.mjs";

export const { DebianPackageUnavailableError, ensureDebianPackage, findBinary } = (await import(
  pathToFileURL(path.join(repoRoot(), "scripts", "ensure-debian-package.mjs")).href
)) as EnsureDebianPackageModule;
