/**
 * The command line of `npm run loadtest`: one table of flags (FLAGS) from which both the parser
 * and `--help` are made, so the help always lists every flag with its real default. Parsing
 * yields a checked LoadConfig plus the output options, or a UsageError with a one-line message.
 */
import { parseArgs } from "node:util";
import { DRIVERS } from "./drivers.js";
import { ConfigError, DEFAULT_CONFIG, type LoadConfig, type ProtocolName, validateConfig } from "./load-config.js";
import type { DistributionName, WorkloadName } from "./workload.js";

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface CommandLine {
  config: LoadConfig;
  /** Write the JSON report here. */
  outFile: string | undefined;
  /** Print no progress line. */
  quiet: boolean;
}

export type ParsedArgs = { help: true } | ({ help: false } & CommandLine);

interface FlagSpec {
  name: string;
  /** Placeholder for a value; undefined for a boolean flag. */
  value?: string;
  default: string;
  description: string;
}

const D = DEFAULT_CONFIG;

export const FLAGS: readonly FlagSpec[] = [
  { name: "endpoints", value: "url,url,...", default: D.endpoints.join(","), description: "member URLs" },
  { name: "spread", default: "off", description: "spread the connections over every endpoint (else all on the first)" },
  { name: "protocol", value: "grpc|connect", default: D.protocol, description: "grpc: @grpc/grpc-js + proto-loader; connect: our SDK over Connect (HTTP/2)" },
  { name: "client", value: "name", default: D.client, description: `auto (from --protocol) or one of: ${Object.keys(DRIVERS).join(", ")}` },
  { name: "workload", value: "put|get|mixed|txn", default: D.workload, description: "txn is a compare-and-put" },
  { name: "read-ratio", value: "r", default: String(D.readRatio), description: "mixed: the fraction of gets" },
  { name: "serializable", default: "off, linearizable", description: "gets are serializable reads" },
  { name: "keys", value: "n", default: String(D.keys), description: "keyspace size" },
  { name: "key-prefix", value: "p", default: D.keyPrefix, description: "keys are <prefix><8-digit index>" },
  { name: "distribution", value: "uniform|zipfian", default: D.distribution, description: "how keys are picked" },
  { name: "zipf-s", value: "s", default: String(D.zipfS), description: "zipfian exponent (> 0)" },
  { name: "value-bytes", value: "n", default: String(D.valueBytes), description: "size of every value written" },
  { name: "clients", value: "n", default: String(D.clients), description: "closed loop: concurrent clients" },
  { name: "conns", value: "n", default: String(D.conns), description: "connections (with --spread, at least one per endpoint)" },
  { name: "rate", value: "ops/s", default: "0 = closed loop", description: "open loop at this constant arrival rate; latency from the intended send time" },
  { name: "max-outstanding", value: "n", default: String(D.maxOutstanding), description: "open loop: requests in flight at most; more are dropped (errors, code DROPPED)" },
  { name: "duration", value: "time", default: "10s", description: "measured phase, e.g. 500ms, 10s, 2m" },
  { name: "requests", value: "n", default: "0 = no cap", description: "stop after this many requests" },
  { name: "warmup", value: "time", default: "1s", description: "unrecorded load before measuring" },
  { name: "timeout", value: "time", default: "10s", description: "deadline of each request (0: none)" },
  { name: "seed", value: "n", default: String(D.seed), description: "seed of the key and operation choices" },
  { name: "preload", default: "on for get and mixed, off for put and txn", description: "write every key once before the run (--no-preload: don't)" },
  { name: "out", value: "file.json", default: "none", description: "write the JSON report here" },
  { name: "quiet", default: "off", description: "no progress line on stderr" },
  { name: "help", default: "", description: "print this help" },
];

export function helpText(): string {
  const left = FLAGS.map((f) => `  --${f.name}${f.value === undefined ? "" : ` <${f.value}>`}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  const lines = FLAGS.map((f, i) => `${left[i].padEnd(width)}${f.description}${f.default === "" ? "" : ` (default: ${f.default})`}`);
  return [
    "npm run loadtest -- [flags]: load a SisyphusDB server and report throughput, latency percentiles and errors",
    "",
    ...lines,
    "",
    "Progress goes to stderr once a second, the summary table to stdout. Exit code 2 on bad flags.",
    "",
  ].join("\n");
}

/** Milliseconds from "250ms", "10s", "2m", "1h", or a bare number of seconds. */
export function parseDurationMs(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) throw new UsageError(`--${flag}: expected a duration like 500ms, 10s or 2m, got ${JSON.stringify(text)}`);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"] ?? 1000;
  return Number(match[1]) * unitMs;
}

function parseNumber(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new UsageError(`--${flag}: expected a number, got ${JSON.stringify(text)}`);
  return value;
}

export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const f of FLAGS) options[f.name] = { type: f.value === undefined ? "boolean" : "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, allowNegative: true }));
  } catch (err) {
    // Node's messages can run on with advice about positionals; the first sentence says it all.
    throw new UsageError((err instanceof Error ? err.message : String(err)).split(". ")[0]);
  }
  if (values.help === true) return { help: true };
  const str = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === "string" ? v : undefined;
  };
  const num = (name: string, fallback: number): number => {
    const v = str(name);
    return v === undefined ? fallback : parseNumber(name, v);
  };
  const duration = (name: string, fallback: number): number => {
    const v = str(name);
    return v === undefined ? fallback : parseDurationMs(name, v);
  };
  const workload = (str("workload") ?? D.workload) as WorkloadName;
  const config: LoadConfig = {
    endpoints: (str("endpoints") ?? D.endpoints.join(",")).split(",").map((e) => e.trim()).filter((e) => e !== ""),
    spread: values.spread === true,
    protocol: (str("protocol") ?? D.protocol) as ProtocolName,
    client: str("client") ?? D.client,
    workload,
    readRatio: num("read-ratio", D.readRatio),
    serializable: values.serializable === true,
    keys: num("keys", D.keys),
    keyPrefix: str("key-prefix") ?? D.keyPrefix,
    distribution: (str("distribution") ?? D.distribution) as DistributionName,
    zipfS: num("zipf-s", D.zipfS),
    valueBytes: num("value-bytes", D.valueBytes),
    clients: num("clients", D.clients),
    conns: num("conns", D.conns),
    rate: num("rate", D.rate),
    maxOutstanding: num("max-outstanding", D.maxOutstanding),
    durationMs: duration("duration", D.durationMs),
    requests: num("requests", D.requests),
    warmupMs: duration("warmup", D.warmupMs),
    timeoutMs: duration("timeout", D.timeoutMs),
    seed: num("seed", D.seed),
    preload: typeof values.preload === "boolean" ? values.preload : workload === "get" || workload === "mixed",
  };
  try {
    validateConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`--${err.message}`);
    throw err;
  }
  return { help: false, config, outFile: str("out"), quiet: values.quiet === true };
}
