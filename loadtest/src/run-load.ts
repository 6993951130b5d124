/**
 * runLoad(config): one load run against SisyphusDB (or any system with a driver): open the
 * connections, optionally preload the keyspace, warm up, then measure for the configured
 * duration (or request count) and return the result in the shape of the JSON report.
 *
 * Connections: `conns` drivers (with --spread at least one per endpoint, connection i on
 * endpoint i mod E; else all on the first endpoint). Closed-loop client c uses connection
 * c mod conns; open-loop request i uses connection i mod conns.
 */
import { type Clock, realClock } from "./clock.js";
import { DRIVERS, type KvDriver } from "./drivers.js";
import { type LoadConfig, driverName, validateConfig } from "./load-config.js";
import { runClosedLoop, runOpenLoop, type LoopLimits } from "./load-loops.js";
import { OpenLoopSchedule } from "./open-loop-schedule.js";
import { Recorder, type LatencySummaryMs, type TimelineSecond } from "./recorder.js";
import { OperationSource, keyBytes, valueFor, type Operation } from "./workload.js";

const PRELOAD_CONCURRENCY = 64;

export interface LoadResult {
  /** The settings, with the driver `client` resolved to, the loop, and the connections opened. */
  config: LoadConfig & { driver: string; mode: "closed-loop" | "open-loop"; connections: number };
  /** Successful requests in the measured phase. */
  ops: number;
  /** Failed or dropped requests in the measured phase. */
  errors: number;
  /** Requests actually sent (dropped ones are not). */
  requests_sent: number;
  /** From the start of the measured phase until its last request completed. */
  elapsed_s: number;
  throughput_ops_s: number;
  latency_ms: LatencySummaryMs;
  errors_by_code: Record<string, number>;
  timeline: TimelineSecond[];
  /** The generator's own CPU during the measured phase; utilization is CPU time over wall time (1 = one core busy). */
  generator_cpu: { user_ms: number; system_ms: number; utilization: number };
}

export interface Progress {
  elapsedS: number;
  /** Successful requests per second since the previous progress report. */
  opsPerS: number;
  p99Ms: number;
  errors: number;
}

export interface RunHooks {
  /** Called about once a second during the measured phase. */
  onProgress?: (progress: Progress) => void;
  clock?: Clock;
}

export class PreloadError extends Error {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super(`preloading key ${key} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "PreloadError";
  }
}

function perform(driver: KvDriver, op: Operation, value: Uint8Array, serializable: boolean): Promise<void> {
  switch (op.kind) {
    case "put":
      return driver.put(op.key, value);
    case "get":
      return driver.get(op.key, { serializable });
    case "txn":
      return driver.txn(op.key, value);
  }
}

async function preload(config: LoadConfig, drivers: KvDriver[], value: Uint8Array): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PRELOAD_CONCURRENCY, config.keys) }, async (_, worker) => {
      const driver = drivers[worker % drivers.length];
      while (next < config.keys) {
        const key = keyBytes(config.keyPrefix, next++);
        try {
          await driver.put(key, value);
        } catch (err) {
          throw new PreloadError(Buffer.from(key).toString(), err);
        }
      }
    }),
  );
}

export async function runLoad(config: LoadConfig, hooks: RunHooks = {}): Promise<LoadResult> {
  validateConfig(config);
  const clock = hooks.clock ?? realClock;
  const name = driverName(config);
  const factory = DRIVERS[name];
  const connections = config.spread ? Math.max(config.conns, config.endpoints.length) : config.conns;
  const drivers = Array.from({ length: connections }, (_, i) =>
    factory(config.endpoints[config.spread ? i % config.endpoints.length : 0], { timeoutMs: config.timeoutMs, maxAttempts: 1 }),
  );
  const value = valueFor(config);
  const openLoop = config.rate > 0;
  // One operation stream per closed-loop client; the open loop draws from one stream in order.
  const sources = Array.from({ length: openLoop ? 1 : config.clients }, (_, i) => new OperationSource(config, i));

  const runPhase = (recorder: Recorder, durationMs: number): Promise<{ sent: number }> => {
    const limits: LoopLimits = { endMs: recorder.startMs + durationMs, maxRequests: config.requests > 0 ? config.requests : Infinity };
    if (openLoop) {
      return runOpenLoop({
        clock,
        recorder,
        schedule: new OpenLoopSchedule(recorder.startMs, config.rate),
        maxOutstanding: config.maxOutstanding,
        limits,
        issue: (index) => perform(drivers[index % connections], sources[0].next(), value, config.serializable),
      });
    }
    return runClosedLoop({
      clock,
      recorder,
      clients: config.clients,
      limits,
      issue: (client) => perform(drivers[client % connections], sources[client].next(), value, config.serializable),
    });
  };

  try {
    if (config.preload) await preload(config, drivers, value);
    if (config.warmupMs > 0) {
      const warmup = new Recorder(clock.now());
      await runPhase(warmup, config.warmupMs);
      warmup.destroy();
    }

    const recorder = new Recorder(clock.now());
    const cpuBefore = process.cpuUsage();
    let lastProgress = { atMs: recorder.startMs, ops: 0 };
    const progressTimer =
      hooks.onProgress === undefined
        ? undefined
        : setInterval(() => {
            const nowMs = clock.now();
            recorder.advanceTo(nowMs);
            hooks.onProgress?.({
              elapsedS: (nowMs - recorder.startMs) / 1000,
              opsPerS: ((recorder.ops - lastProgress.ops) * 1000) / Math.max(1, nowMs - lastProgress.atMs),
              p99Ms: recorder.p99SoFarMs(),
              errors: recorder.errors,
            });
            lastProgress = { atMs: nowMs, ops: recorder.ops };
          }, 1000);
    let outcome: { sent: number };
    try {
      outcome = await runPhase(recorder, config.durationMs);
    } finally {
      if (progressTimer !== undefined) clearInterval(progressTimer);
    }
    const endMs = clock.now();
    const cpu = process.cpuUsage(cpuBefore);
    recorder.finish(endMs);
    const elapsedMs = Math.max(1e-3, endMs - recorder.startMs);
    const result: LoadResult = {
      config: { ...config, driver: name, mode: openLoop ? "open-loop" : "closed-loop", connections },
      ops: recorder.ops,
      errors: recorder.errors,
      requests_sent: outcome.sent,
      elapsed_s: elapsedMs / 1000,
      throughput_ops_s: (recorder.ops * 1000) / elapsedMs,
      latency_ms: recorder.latencyMs(),
      errors_by_code: { ...recorder.errorsByCode },
      timeline: recorder.timeline,
      generator_cpu: {
        user_ms: cpu.user / 1000,
        system_ms: cpu.system / 1000,
        utilization: (cpu.user + cpu.system) / 1000 / elapsedMs,
      },
    };
    recorder.destroy();
    return result;
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
  }
}
