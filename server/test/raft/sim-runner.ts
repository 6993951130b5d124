/**
 * The simulation from the command line:
 *
 *   npm run test:sim -- --seeds 1000              seeds 1..1000, 3 and 5 nodes alternating
 *   npm run test:sim -- --seed 42 --nodes 5       one run, to reproduce a failure
 *   options: --first S (first seed of --seeds, default 1), --steps N (default: as npm test), --nodes 3|5 (--seed: 3),
 *            --verbose (print every run's statistics)
 *
 * Prints each failing seed with the violated invariant, the step, the cluster's state and the
 * command that replays it; exits with 1 if any run failed.
 */
import { DEFAULT_STEPS, describeReport, runSimulation, type SimulationReport } from "./sim/simulation.js";

interface RunnerArgs {
  seeds: number;
  first: number;
  seed: number | undefined;
  nodes: 3 | 5 | undefined;
  steps: number;
  verbose: boolean;
}

const USAGE = "usage: sim-runner [--seeds N] [--first S] [--seed S] [--nodes 3|5] [--steps N] [--verbose]";

function parseArgs(argv: readonly string[]): RunnerArgs {
  const args: RunnerArgs = { seeds: 100, first: 1, seed: undefined, nodes: undefined, steps: DEFAULT_STEPS, verbose: false };
  const integer = (name: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !Number.isSafeInteger(n) || n < 0) throw new Error(`${name} needs a non-negative integer, got ${value}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case "--seeds":
        args.seeds = integer(flag, argv[++i]);
        break;
      case "--first":
        args.first = integer(flag, argv[++i]);
        break;
      case "--seed":
        args.seed = integer(flag, argv[++i]);
        break;
      case "--steps":
        args.steps = integer(flag, argv[++i]);
        break;
      case "--nodes": {
        const n = integer(flag, argv[++i]);
        if (n !== 3 && n !== 5) throw new Error(`--nodes must be 3 or 5\n${USAGE}`);
        args.nodes = n;
        break;
      }
      case "--verbose":
        args.verbose = true;
        break;
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  return args;
}

function main(): number {
  const args = parseArgs(process.argv.slice(2));
  const runs: { seed: number; nodes: 3 | 5 }[] = [];
  if (args.seed !== undefined) {
    runs.push({ seed: args.seed, nodes: args.nodes ?? 3 });
  } else {
    for (let i = 0; i < args.seeds; i++) {
      const seed = args.first + i;
      runs.push({ seed, nodes: args.nodes ?? (seed % 2 === 0 ? 5 : 3) });
    }
  }
  const started = performance.now();
  const failed: SimulationReport[] = [];
  for (const run of runs) {
    const report = runSimulation({ seed: run.seed, nodes: run.nodes, steps: args.steps });
    if (report.failure !== undefined) {
      failed.push(report);
      console.log(`${describeReport(report)}\n`);
    } else if (args.verbose || args.seed !== undefined) {
      console.log(`seed ${report.seed} (${report.nodes} nodes): ok ${JSON.stringify(report.stats)}`);
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${runs.length - failed.length}/${runs.length} runs passed in ${seconds} s (${args.steps} steps each)`);
  if (failed.length > 0) console.log(`failing seeds: ${failed.map((r) => `${r.seed} (${r.nodes} nodes)`).join(", ")}`);
  return failed.length === 0 ? 0 : 1;
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 2;
}
