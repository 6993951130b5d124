/**
 * A load run's settings (LoadConfig), their defaults, and the checks that make a run's config
 * valid. The command line (flags.ts) and tests (runLoad) go through the same checks; a failed
 * check is a ConfigError naming the setting.
 */
import { DRIVERS } from "./drivers.js";
import type { DistributionName, WorkloadName } from "./workload.js";

export type ProtocolName = "grpc" | "connect";

export interface LoadConfig {
  /** Member URLs, e.g. http://127.0.0.1:7379. */
  endpoints: string[];
  /** Distribute the connections over every endpoint (else all on the first). */
  spread: boolean;
  /** The protocol when `client` is "auto": grpc uses grpc-js, connect the SDK over Connect. */
  protocol: ProtocolName;
  /** "auto", or a driver name (a key of DRIVERS), which overrides `protocol`. */
  client: string;
  workload: WorkloadName;
  /** For "mixed": the fraction of gets. */
  readRatio: number;
  /** Gets are serializable instead of linearizable. */
  serializable: boolean;
  keys: number;
  keyPrefix: string;
  distribution: DistributionName;
  zipfS: number;
  valueBytes: number;
  /** Closed loop: concurrent clients. Ignored by the open loop. */
  clients: number;
  /** Connections (drivers); with spread, at least one per endpoint. */
  conns: number;
  /** Requests per second for the open loop; 0 runs the closed loop. */
  rate: number;
  /** Open loop: the most requests in flight; one due beyond that is dropped. */
  maxOutstanding: number;
  durationMs: number;
  /** Stop after this many requests (0: no cap; the duration still applies). */
  requests: number;
  /** Load run before measuring (same settings), not recorded. */
  warmupMs: number;
  /** Deadline of each request; 0 for none. */
  timeoutMs: number;
  seed: number;
  /** Write every key of the keyspace once before the run, so reads find values. */
  preload: boolean;
}

export const DEFAULT_CONFIG: LoadConfig = {
  endpoints: ["http://127.0.0.1:7379"],
  spread: false,
  protocol: "grpc",
  client: "auto",
  workload: "put",
  readRatio: 0.5,
  serializable: false,
  keys: 10_000,
  keyPrefix: "loadtest/",
  distribution: "uniform",
  zipfS: 0.99,
  valueBytes: 256,
  clients: 16,
  conns: 1,
  rate: 0,
  maxOutstanding: 10_000,
  durationMs: 10_000,
  requests: 0,
  warmupMs: 1_000,
  timeoutMs: 10_000,
  seed: 1,
  preload: false,
};

export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = "ConfigError";
  }
}

/** The driver a config runs: `client`, or the one `protocol` picks when it is "auto". */
export function driverName(config: LoadConfig): string {
  if (config.client !== "auto") return config.client;
  return config.protocol === "grpc" ? "grpc-js" : "sdk-connect";
}

function requireInteger(setting: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new ConfigError(setting, `must be an integer >= ${min}, got ${value}`);
}

export function validateConfig(config: LoadConfig): void {
  if (config.endpoints.length === 0) throw new ConfigError("endpoints", "name at least one member URL");
  for (const endpoint of config.endpoints) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw new ConfigError("endpoints", `${JSON.stringify(endpoint)} is not an http:// or https:// URL`);
    }
  }
  if (config.protocol !== "grpc" && config.protocol !== "connect") throw new ConfigError("protocol", `must be grpc or connect, got ${config.protocol}`);
  if (config.client !== "auto" && DRIVERS[config.client] === undefined) {
    throw new ConfigError("client", `unknown client ${config.client}; known: auto, ${Object.keys(DRIVERS).join(", ")}`);
  }
  if (!["put", "get", "mixed", "txn"].includes(config.workload)) throw new ConfigError("workload", `must be put, get, mixed or txn, got ${config.workload}`);
  if (!(config.readRatio >= 0 && config.readRatio <= 1)) throw new ConfigError("read-ratio", `must be in [0, 1], got ${config.readRatio}`);
  requireInteger("keys", config.keys, 1);
  if (config.distribution !== "uniform" && config.distribution !== "zipfian") throw new ConfigError("distribution", `must be uniform or zipfian, got ${config.distribution}`);
  if (!(config.zipfS > 0) || !Number.isFinite(config.zipfS)) throw new ConfigError("zipf-s", `must be > 0, got ${config.zipfS}`);
  requireInteger("value-bytes", config.valueBytes, 0);
  requireInteger("clients", config.clients, 1);
  requireInteger("conns", config.conns, 1);
  if (!(config.rate >= 0) || !Number.isFinite(config.rate)) throw new ConfigError("rate", `must be >= 0 (0: closed loop), got ${config.rate}`);
  requireInteger("max-outstanding", config.maxOutstanding, 1);
  if (!(config.durationMs > 0) || !Number.isFinite(config.durationMs)) throw new ConfigError("duration", `must be > 0, got ${config.durationMs} ms`);
  requireInteger("requests", config.requests, 0);
  if (!(config.warmupMs >= 0) || !Number.isFinite(config.warmupMs)) throw new ConfigError("warmup", `must be >= 0, got ${config.warmupMs} ms`);
  if (!(config.timeoutMs >= 0) || !Number.isFinite(config.timeoutMs)) throw new ConfigError("timeout", `must be >= 0, got ${config.timeoutMs} ms`);
  requireInteger("seed", config.seed, 0);
}
