/**
 * Bundles the test page's script (sdk-page.js, compiled beside this file) for the browser with
 * esbuild, the way a user's bundler would: platform "browser", so "@sisyphusdb/client" resolves
 * through its "browser" export condition. Returns the bundle and the files it was built from, so
 * the test can check that none of the Node entry, connect-node or node: modules got in.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const PAGE_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), "sdk-page.js");
/** Old enough for any Chromium a distribution ships, new enough for bigint and for await. */
const BROWSER_TARGET = "chrome110";

export interface PageBundle {
  code: string;
  /** The files bundled, as esbuild names them (relative to the working directory). */
  inputs: string[];
}

export async function bundlePage(): Promise<PageBundle> {
  const result = await build({
    entryPoints: [PAGE_ENTRY],
    bundle: true,
    platform: "browser",
    format: "iife",
    target: BROWSER_TARGET,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error(`esbuild produced no output for ${PAGE_ENTRY}`);
  return { code: output.text, inputs: Object.keys(result.metafile.inputs) };
}
