/**
 * npm run loadtest -- [flags]: the load generator's command line (see flags.ts, `--help`, and
 * loadtest/README.md). Exit codes: 0 done (even with request errors: they are in the report),
 * 1 the run failed (e.g. preload could not write), 2 bad flags.
 */
import fs from "node:fs";
import { UsageError, helpText, parseCommandLine } from "./flags.js";
import { progressLine, summaryTable } from "./report.js";
import { runLoad } from "./run-load.js";

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`loadtest: ${err.message} (see --help)\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(helpText());
    return 0;
  }
  const { config, outFile, quiet } = parsed;
  const result = await runLoad(config, quiet ? {} : { onProgress: (p) => process.stderr.write(`${progressLine(p)}\n`) });
  process.stdout.write(summaryTable(result));
  if (outFile !== undefined) {
    fs.writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${outFile}\n`);
  }
  return 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`loadtest: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
