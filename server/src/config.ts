/**
 * The member's configuration from flags, SISYPHUS_* environment variables and defaults (in that
 * order of precedence), in etcd's style: `--data-dir ./data` or `SISYPHUS_DATA_DIR=./data`.
 * Every flag is listed once in FLAGS, which also produces `--help`.
 */
import { parseArgs } from "node:util";
import { DEFAULT_COMMAND_LIMITS } from "./kv/index.js";

export interface MemberConfig {
  name: string;
  dataDir: string;
  listenClientUrl: URL;
  /** Empty: the URL actually listened on. */
  advertiseClientUrls: string[];
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  maxRequestBytes: number;
  maxTxnOps: number;
  pipelineMaxInFlight: number;
  maxConcurrentStreams: number;
  maxTimeoutMs: number;
  shutdownTimeoutMs: number;
  blockCacheBytes: number;
  watchProgressNotifyIntervalMs: number;
  leaseCheckIntervalMs: number;
  corsAllowedOrigins: string[];
  /** URL the Raft peer service listens on. */
  listenPeerUrl: URL;
  /** Peer URLs the other members reach this one at (empty: the listen URL). */
  initialAdvertisePeerUrls: string[];
  /** The founding members, name -> peer URLs (empty: this member alone). */
  initialCluster: InitialClusterMember[];
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  snapshotCount: number;
}

export interface InitialClusterMember {
  name: string;
  peerUrls: string[];
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

interface FlagSpec {
  name: string;
  help: string;
  default: string;
  parse: (value: string, flag: string) => unknown;
  key: keyof MemberConfig;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

const FLAGS: FlagSpec[] = [
  { name: "name", key: "name", default: "default", help: "Human-readable name of this member.", parse: nonEmpty },
  { name: "data-dir", key: "dataDir", default: "./data", help: "Directory of the member's data (storage engine, identity, snapshots).", parse: nonEmpty },
  {
    name: "listen-client-url",
    key: "listenClientUrl",
    default: "http://127.0.0.1:7379",
    help: "URL to serve clients on: Connect, gRPC and gRPC-Web over h2c and HTTP/1.1, plus /healthz, /readyz, /metrics.",
    parse: httpUrl,
  },
  {
    name: "advertise-client-urls",
    key: "advertiseClientUrls",
    default: "",
    help: "Comma-separated client URLs to advertise to the cluster (default: the URL actually listened on).",
    parse: (v) => v.split(",").map((s) => s.trim()).filter((s) => s.length > 0),
  },
  { name: "log-level", key: "logLevel", default: "info", help: `Log level: ${LOG_LEVELS.join(", ")}.`, parse: oneOf(LOG_LEVELS) },
  { name: "max-request-bytes", key: "maxRequestBytes", default: String(DEFAULT_COMMAND_LIMITS.maxRequestBytes), help: "Largest request accepted (bytes); larger ones fail with RESOURCE_EXHAUSTED.", parse: positiveInt },
  { name: "max-txn-ops", key: "maxTxnOps", default: String(DEFAULT_COMMAND_LIMITS.maxTxnOps), help: "Most operations in one transaction branch (and compares per transaction).", parse: positiveInt },
  { name: "pipeline-max-in-flight", key: "pipelineMaxInFlight", default: "1024", help: "Most calls in flight on one KV Pipeline stream.", parse: positiveInt },
  { name: "max-concurrent-streams", key: "maxConcurrentStreams", default: "1000", help: "HTTP/2 streams one client connection may open at once.", parse: positiveInt },
  { name: "max-timeout-ms", key: "maxTimeoutMs", default: "300000", help: "Longest deadline a client may set (ms); longer ones fail with INVALID_ARGUMENT.", parse: positiveInt },
  { name: "shutdown-timeout-ms", key: "shutdownTimeoutMs", default: "10000", help: "Time SIGTERM/SIGINT gives calls in progress to finish (ms).", parse: positiveInt },
  { name: "block-cache-bytes", key: "blockCacheBytes", default: String(64 * 1024 * 1024), help: "Storage engine block cache (bytes).", parse: positiveInt },
  {
    name: "watch-progress-notify-interval-ms",
    key: "watchProgressNotifyIntervalMs",
    default: String(10 * 60 * 1000),
    help: "Quiet time after which a watcher created with progress_notify gets a progress response (ms).",
    parse: positiveInt,
  },
  {
    name: "cors-allowed-origins",
    key: "corsAllowedOrigins",
    default: "",
    help: 'Comma-separated origins browsers may call the API from (e.g. "https://app.example.com"), or "*" for any; empty: none (same-origin only).',
    parse: (v) => v.split(",").map((s) => s.trim()).filter((s) => s.length > 0),
  },
  { name: "lease-check-interval-ms", key: "leaseCheckIntervalMs", default: "250", help: "How often expired leases are looked for (ms).", parse: positiveInt },
  {
    name: "listen-peer-url",
    key: "listenPeerUrl",
    default: "http://127.0.0.1:7380",
    help: "URL to serve the Raft peer service on (members only; keep it off the public network).",
    parse: httpUrl,
  },
  {
    name: "initial-advertise-peer-urls",
    key: "initialAdvertisePeerUrls",
    default: "",
    help: "Comma-separated peer URLs the other members reach this one at (default: --listen-peer-url).",
    parse: urlList,
  },
  {
    name: "initial-cluster",
    key: "initialCluster",
    default: "",
    help: 'The founding members as name=peer-url pairs, e.g. "a=http://10.0.0.1:7380,b=http://10.0.0.2:7380,c=http://10.0.0.3:7380" (default: this member alone). Read only when the data directory is new.',
    parse: initialCluster,
  },
  {
    name: "initial-cluster-state",
    key: "initialClusterState",
    default: "new",
    help: '"new" to found a cluster with --initial-cluster; "existing" to join one this member was added to (sisyphusctl member add).',
    parse: oneOf(["new", "existing"]),
  },
  {
    name: "initial-cluster-token",
    key: "initialClusterToken",
    default: "sisyphus-cluster",
    help: "A name unique to this cluster, mixed into its ID so that members of two clusters never mistake each other.",
    parse: nonEmpty,
  },
  { name: "heartbeat-interval-ms", key: "heartbeatIntervalMs", default: "20", help: "How often the leader sends heartbeats (ms); the Raft clock ticks at this rate.", parse: positiveInt },
  {
    name: "election-timeout-ms",
    key: "electionTimeoutMs",
    default: "100",
    help: "How long a follower waits without hearing from a leader before it starts an election (ms; randomized up to twice this). At least 2x the heartbeat interval.",
    parse: positiveInt,
  },
  {
    name: "snapshot-count",
    key: "snapshotCount",
    default: "10000",
    help: "Applied log entries between snapshots; the Raft log is compacted behind each snapshot.",
    parse: positiveInt,
  },
];

/** The host of a listen URL as net.listen and net.connect take it: an IPv6 address without its brackets. */
export function listenHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "");
}

/** The environment variable of a flag: --data-dir -> SISYPHUS_DATA_DIR. */
export function envName(flag: string): string {
  return `SISYPHUS_${flag.toUpperCase().replace(/-/g, "_")}`;
}

export type ParsedCommandLine = { kind: "help"; text: string } | { kind: "version" } | { kind: "run"; config: MemberConfig };

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { help: { type: "boolean", short: "h" }, version: { type: "boolean" } };
  for (const f of FLAGS) options[f.name] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, allowPositionals: false, strict: true }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; see --help`);
  }
  if (values.help === true) return { kind: "help", text: helpText() };
  if (values.version === true) return { kind: "version" };
  const config: Record<string, unknown> = {};
  for (const f of FLAGS) {
    const fromFlag = values[f.name];
    const fromEnv = env[envName(f.name)];
    const raw = typeof fromFlag === "string" ? fromFlag : fromEnv !== undefined ? fromEnv : f.default;
    const source = typeof fromFlag === "string" ? `--${f.name}` : fromEnv !== undefined ? envName(f.name) : `--${f.name} (default)`;
    config[f.key] = f.parse(raw, source);
  }
  return { kind: "run", config: checkCluster(config as unknown as MemberConfig) };
}

/** Cross-flag rules, and the defaults that depend on other flags. */
function checkCluster(config: MemberConfig): MemberConfig {
  if (config.electionTimeoutMs < 2 * config.heartbeatIntervalMs) {
    throw new ConfigError(
      `--election-timeout-ms (${config.electionTimeoutMs}) must be at least twice --heartbeat-interval-ms (${config.heartbeatIntervalMs})`,
    );
  }
  if (config.initialAdvertisePeerUrls.length === 0) config.initialAdvertisePeerUrls = [config.listenPeerUrl.origin];
  if (config.initialCluster.length === 0) {
    if (config.initialClusterState === "existing") throw new ConfigError("--initial-cluster-state existing needs --initial-cluster (the cluster's members, this one included)");
    config.initialCluster = [{ name: config.name, peerUrls: config.initialAdvertisePeerUrls }];
  }
  const self = config.initialCluster.find((m) => m.name === config.name);
  if (self === undefined) {
    throw new ConfigError(`--initial-cluster does not name this member ("${config.name}", from --name); it names ${config.initialCluster.map((m) => m.name).join(", ")}`);
  }
  const advertised = [...config.initialAdvertisePeerUrls].sort().join(",");
  if ([...self.peerUrls].sort().join(",") !== advertised) {
    throw new ConfigError(`--initial-cluster gives "${config.name}" the peer URLs ${self.peerUrls.join(",")}, but it advertises ${advertised}`);
  }
  return config;
}

export function helpText(): string {
  const lines = [
    "Usage: sisyphus [flags]",
    "",
    "Runs one SisyphusDB member. Every flag can also be set with its SISYPHUS_* environment",
    "variable (shown below); a flag wins over the environment.",
    "",
  ];
  for (const f of FLAGS) {
    lines.push(`  --${f.name} <value>    [${envName(f.name)}]`);
    lines.push(`      ${f.help}${f.default === "" ? "" : ` Default: ${f.default}`}`);
  }
  lines.push("  --help, -h", "      Print this help.", "  --version", "      Print the version.", "");
  return lines.join("\n");
}

function nonEmpty(value: string, flag: string): string {
  if (value.length === 0) throw new ConfigError(`${flag}: must not be empty`);
  return value;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${flag}: must be a positive integer, got "${value}"`);
  return n;
}

function oneOf(allowed: string[]): (value: string, flag: string) => string {
  return (value, flag) => {
    if (!allowed.includes(value)) throw new ConfigError(`${flag}: must be one of ${allowed.join(", ")}, got "${value}"`);
    return value;
  };
}

function urlList(value: string, flag: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => httpUrl(s, flag).origin);
}

/** "a=http://h1:7380,b=http://h2:7380,a=http://h1b:7380": a member may repeat its name to list several URLs. */
function initialCluster(value: string, flag: string): InitialClusterMember[] {
  const members = new Map<string, string[]>();
  const seenUrls = new Set<string>();
  for (const part of value.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new ConfigError(`${flag}: expected name=peer-url, got "${part}"`);
    const name = part.slice(0, eq);
    const url = httpUrl(part.slice(eq + 1), flag).origin;
    if (seenUrls.has(url)) throw new ConfigError(`${flag}: the peer URL ${url} is listed twice`);
    seenUrls.add(url);
    members.set(name, [...(members.get(name) ?? []), url]);
  }
  return [...members].map(([name, peerUrls]) => ({ name, peerUrls }));
}

function httpUrl(value: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${flag}: not a URL: "${value}"`);
  }
  if (url.protocol !== "http:") throw new ConfigError(`${flag}: only http:// URLs are served (TLS is not implemented yet), got "${value}"`);
  if (url.pathname !== "/" || url.search !== "") throw new ConfigError(`${flag}: must have no path or query, got "${value}"`);
  return url;
}
