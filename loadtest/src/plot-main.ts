/**
 * npm run plot -- [etcd-compare.json] [out.svg]: draws latency percentiles against throughput
 * for SisyphusDB and etcd from a bench:etcd result (defaults: docs/benchmarks/etcd-compare.json
 * to docs/benchmarks/etcd-compare.svg). See latency-plot.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { plotCompare } from "./plot-compare.js";
import { repoRoot } from "./repo-paths.js";

const [input = path.join(repoRoot(), "docs", "benchmarks", "etcd-compare.json"), output = input.replace(/\.json$/, "") + ".svg"] = process.argv.slice(2);
try {
  fs.writeFileSync(output, plotCompare(JSON.parse(fs.readFileSync(input, "utf8")) as unknown));
  process.stdout.write(`wrote ${output}\n`);
} catch (err) {
  process.stderr.write(`plot: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
