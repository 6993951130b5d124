/**
 * npm run bench:etcd [-- --seconds N --warmup N --quick --out DIR]
 *
 * SisyphusDB and etcd side by side, in one run, on this machine, one after the other:
 *   1. a 3-member etcd cluster (Debian's etcd-server, installed by
 *      scripts/ensure-debian-package.mjs when missing; default durability: fsync on; etcd's
 *      default heartbeat 100 ms / election timeout 1000 ms, passed explicitly);
 *   2. a 3-member SisyphusDB cluster (TestCluster, as bench:failover starts it; default settings:
 *      the Raft log is fsynced before a write is acknowledged);
 *   3. one member of each (etcd, then SisyphusDB).
 * Each is driven by loadtest's runLoad with the same settings (closed loop, one connection,
 * 256-byte values, 10,000 uniform keys, 10 s deadline per call), through two client pairs, the
 * same client for both systems within a pair, in this order:
 *   - the lean pair, the headline ratios: etcd-h2-grpc and h2-grpc, unary gRPC straight over
 *     node:http2 with hand-encoded requests, so the generator is not the bottleneck (grpc-js
 *     costs ~280 µs of client CPU a call on a 2-core machine and caps both systems);
 *   - the grpc-js pair, a second comparison: etcd-grpc-js and grpc-js, @grpc/grpc-js +
 *     proto-loader, as an application would call either;
 *   - then our SDK's pipeline, an extra for ours.
 * Workloads: put_c1, put_c64, put_c256, get_c64 (linearizable, keys preloaded),
 * put_follower_c64 (puts sent to a follower); one member: put_c64, get_c64.
 *
 *   --seconds N   measured seconds per cell (default 10; --quick 3)
 *   --warmup N    warm-up seconds per cell, not recorded (default 2; --quick 1)
 *   --quick       3 s cells and fewer of them (the grpc-js pair and the pipeline: put_c64 and
 *                 get_c64; one member: put_c64)
 *   --out DIR     where etcd-compare.json, .md and .svg (latency vs throughput) go (default docs/benchmarks)
 *
 * Every process started is killed by PID at the end, also on failure (finally blocks, and the
 * process 'exit' hooks of etcd-cluster.ts and server-process.ts; SIGINT/SIGTERM exit through them).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_CONFIG } from "../../loadtest/src/load-config.js";
import { plotCompare } from "../../loadtest/src/plot-compare.js";
import { repoRoot } from "../../loadtest/src/repo-paths.js";
import { runLoad } from "../../loadtest/src/run-load.js";
import { SERVER_VERSION } from "../src/version.js";
import { stopAllServers } from "../test/e2e/server-process.js";
import { TestCluster } from "../test/cluster/test-cluster.js";
import { ensureDebianPackage } from "./debian-package.js";
import { defaultRaftTiming } from "./server-defaults.js";
import { ETCD_BINARY, ETCD_ELECTION_TIMEOUT_MS, ETCD_HEARTBEAT_INTERVAL_MS, ETCD_PACKAGE, EtcdCluster, etcdVersion } from "./etcd-cluster.js";
import {
  type CompareRow,
  type EtcdCompareReport,
  type SystemName,
  GENERATOR_CPU_WARN,
  GRPC_JS_PAIR,
  LEAN_PAIR,
  PIPELINE_CLIENT,
  compareFigures,
  compareRow,
  evaluateTargets,
  resultsTable,
  writeCompareReports,
} from "./etcd-compare-report.js";

const VALUE_BYTES = 256;
const KEYS = 10_000;
const CALL_TIMEOUT_MS = 10_000;
/** SisyphusDB's defaults (config.ts), for the record. */
const SISYPHUS_TIMING = defaultRaftTiming();
const LEADER_TIMEOUT_MS = 30_000;

interface CellSpec {
  workload: string;
  op: "put" | "get";
  clients: number;
  target: "leader" | "follower";
}

const CELLS: Record<string, CellSpec> = {
  put_c1: { workload: "put_c1", op: "put", clients: 1, target: "leader" },
  put_c64: { workload: "put_c64", op: "put", clients: 64, target: "leader" },
  put_c256: { workload: "put_c256", op: "put", clients: 256, target: "leader" },
  get_c64: { workload: "get_c64", op: "get", clients: 64, target: "leader" },
  put_follower_c64: { workload: "put_follower_c64", op: "put", clients: 64, target: "follower" },
};
const THREE_MEMBER_CELLS = ["put_c1", "put_c64", "put_c256", "get_c64", "put_follower_c64"];

/** A running cluster of either system, as the cells need it. */
interface Target {
  system: SystemName;
  members: number;
  /** The leader's client URL and Raft term (a cell whose term moved saw an election). */
  leader(): Promise<{ url: string; term: number }>;
  followerUrl(): Promise<string>;
  stop(): Promise<void>;
}

async function startEtcd(members: number): Promise<Target> {
  const cluster = await EtcdCluster.start(members);
  return {
    system: "etcd",
    members,
    leader: () => cluster.leader(LEADER_TIMEOUT_MS),
    followerUrl: () => cluster.followerUrl(),
    stop: () => cluster.stop(),
  };
}

async function startSisyphus(members: number): Promise<Target> {
  const cluster = await TestCluster.start(members);
  const stop = async (): Promise<void> => {
    await cluster.stopAll();
    cluster.removeData();
  };
  try {
    await cluster.waitForLeader(LEADER_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    system: "sisyphus",
    members,
    leader: async () => {
      const name = await cluster.waitForLeader(LEADER_TIMEOUT_MS);
      return { url: cluster.url(name), term: (await cluster.status(name)).raftTerm };
    },
    followerUrl: async () => {
      const leader = await cluster.waitForLeader(LEADER_TIMEOUT_MS);
      const follower = cluster.running().find((name) => name !== leader);
      if (follower === undefined) throw new Error("a one-member cluster has no follower");
      return cluster.url(follower);
    },
    stop,
  };
}

interface RunSettings {
  seconds: number;
  warmupSeconds: number;
}

/** Runs `cells` with each driver against `target`, in order; the keys are preloaded once, before the first get cell. */
async function runCells(target: Target, drivers: string[], cells: string[], settings: RunSettings): Promise<CompareRow[]> {
  const rows: CompareRow[] = [];
  let preloaded = false;
  for (const client of drivers) {
    for (const name of cells) {
      const cell = CELLS[name];
      const leaderBefore = await target.leader();
      const url = cell.target === "leader" ? leaderBefore.url : await target.followerUrl();
      const preload: boolean = cell.op === "get" && !preloaded;
      process.stdout.write(`${target.system} x${target.members} ${client} ${cell.workload} (${url})${preload ? ", preloading" : ""} ...`);
      const result = await runLoad({
        ...DEFAULT_CONFIG,
        endpoints: [url],
        client,
        workload: cell.op,
        serializable: false,
        keys: KEYS,
        valueBytes: VALUE_BYTES,
        clients: cell.clients,
        conns: 1,
        durationMs: settings.seconds * 1000,
        warmupMs: settings.warmupSeconds * 1000,
        timeoutMs: CALL_TIMEOUT_MS,
        preload,
      });
      preloaded ||= preload;
      const leaderAfter = await target.leader();
      const row = compareRow(target.system, target.members, cell.workload, cell.target, result, leaderAfter.term - leaderBefore.term);
      rows.push(row);
      process.stdout.write(
        ` ${Math.round(row.ops_per_sec)} ops/s, p50 ${(row.p50_us / 1000).toFixed(2)} ms, p99 ${(row.p99_us / 1000).toFixed(2)} ms, errors ${row.errors}${row.raft_term_changes > 0 ? `, Raft term +${row.raft_term_changes}` : ""}, generator CPU ${Math.round(row.generator_cpu * 100)}%${row.generator_cpu_warning ? " (client-bound)" : ""}\n`,
      );
    }
  }
  return rows;
}

async function withTarget(start: () => Promise<Target>, run: (target: Target) => Promise<CompareRow[]>): Promise<CompareRow[]> {
  const target = await start();
  try {
    return await run(target);
  } finally {
    await target.stop();
  }
}

/** The checkout's commit, "-dirty" when the tree has uncommitted changes; null outside git. */
function gitCommit(): string | null {
  const result = spawnSync("git", ["describe", "--always", "--dirty"], { cwd: repoRoot(), encoding: "utf8", timeout: 5_000 });
  return result.status === 0 ? result.stdout.trim() : null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      seconds: { type: "string" },
      warmup: { type: "string" },
      out: { type: "string", default: path.join(repoRoot(), "docs", "benchmarks") },
    },
  });
  const quick = values.quick === true;
  const settings: RunSettings = { seconds: Number(values.seconds ?? (quick ? 3 : 10)), warmupSeconds: Number(values.warmup ?? (quick ? 1 : 2)) };
  if (!(settings.seconds > 0) || !(settings.warmupSeconds >= 0)) throw new Error(`--seconds must be > 0 and --warmup >= 0, got ${values.seconds} and ${values.warmup}`);
  const secondaryCells = quick ? ["put_c64", "get_c64"] : THREE_MEMBER_CELLS;
  const singleCells = quick ? ["put_c64"] : ["put_c64", "get_c64"];

  const etcd = ensureDebianPackage({ packageName: ETCD_PACKAGE, binary: ETCD_BINARY, log: (line) => process.stdout.write(`${line}\n`), logPrefix: "bench:etcd" });
  const etcdRelease = etcdVersion(etcd.path);
  process.stdout.write(`etcd ${etcdRelease} at ${etcd.path}; SisyphusDB ${SERVER_VERSION}; ${settings.seconds} s cells after ${settings.warmupSeconds} s warm-up\n`);

  const rows: CompareRow[] = [];
  // Per system: the lean client, then grpc-js, then (ours) the SDK pipeline.
  const threeMembers = async (t: Target): Promise<CompareRow[]> => {
    const measured = [...(await runCells(t, [LEAN_PAIR[t.system]], THREE_MEMBER_CELLS, settings)), ...(await runCells(t, [GRPC_JS_PAIR[t.system]], secondaryCells, settings))];
    if (t.system === "sisyphus") measured.push(...(await runCells(t, [PIPELINE_CLIENT], secondaryCells, settings)));
    return measured;
  };
  const oneMember = (t: Target): Promise<CompareRow[]> => runCells(t, [LEAN_PAIR[t.system], GRPC_JS_PAIR[t.system]], singleCells, settings);
  rows.push(...(await withTarget(() => startEtcd(3), threeMembers)));
  rows.push(...(await withTarget(() => startSisyphus(3), threeMembers)));
  rows.push(...(await withTarget(() => startEtcd(1), oneMember)));
  rows.push(...(await withTarget(() => startSisyphus(1), oneMember)));

  const figures = compareFigures(rows);
  const report: EtcdCompareReport = {
    benchmark: "etcd-compare",
    command: `npm run bench:etcd${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "unknown", memory_bytes: os.totalmem(), node: process.version },
    versions: { etcd: etcdRelease, sisyphusdb: SERVER_VERSION, commit: gitCommit() },
    settings: {
      seconds_per_cell: settings.seconds,
      warmup_seconds_per_cell: settings.warmupSeconds,
      value_bytes: VALUE_BYTES,
      keys: KEYS,
      key_distribution: "uniform",
      loop: "closed",
      connections_per_cell: 1,
      call_timeout_ms: CALL_TIMEOUT_MS,
      get_consistency: "linearizable",
      clients: {
        headline: {
          etcd: `${LEAN_PAIR.etcd} (unary gRPC over node:http2, hand-encoded requests, loadtest/src/h2-grpc-driver.ts)`,
          sisyphus: `${LEAN_PAIR.sisyphus} (the same client and code, SisyphusDB's KVService)`,
        },
        grpc_js: { etcd: `${GRPC_JS_PAIR.etcd} (@grpc/grpc-js + @grpc/proto-loader, loadtest/proto/etcd)`, sisyphus: `${GRPC_JS_PAIR.sisyphus} (@grpc/grpc-js + @grpc/proto-loader, proto/)` },
        extra: `${PIPELINE_CLIENT} (our SDK, one Pipeline stream)`,
      },
      etcd: {
        binary: etcd.path,
        heartbeat_interval_ms: ETCD_HEARTBEAT_INTERVAL_MS,
        election_timeout_ms: ETCD_ELECTION_TIMEOUT_MS,
        durability: "default (fsync of the WAL and backend commits; --unsafe-no-fsync not set)",
        listen: "127.0.0.1, free ports, fresh data directories in a temporary directory",
      },
      sisyphus: {
        heartbeat_interval_ms: SISYPHUS_TIMING.heartbeatIntervalMs,
        election_timeout_ms: SISYPHUS_TIMING.electionTimeoutMs,
        durability: "default (Raft log fsynced, group commit, before a write is acknowledged)",
        listen: "127.0.0.1, free ports, fresh data directories in a temporary directory",
      },
    },
    results: rows,
    ...figures,
    targets: evaluateTargets(rows, figures),
    notes: [
      "One run, one system after the other on the same 2-core machine, which is shared with other work: compare ratios within a run rather than absolute figures across runs.",
      "Like with like: etcd and SisyphusDB are driven by the same generator (loadtest/, runLoad), the same keys, values and closed-loop clients, one connection and unary calls, and within each comparison the same client for both: every ratio compares rows of one client pair only.",
      `Headline ratios (ratios, p99_ms, single_member_ratios, targets): the lean pair ${LEAN_PAIR.etcd} / ${LEAN_PAIR.sisyphus}, unary gRPC straight over node:http2 with hand-encoded requests, so the generator is not the bottleneck. @grpc/grpc-js costs ~280 µs of client CPU per call on a 2-core machine: etcd 3.4 measured ~3,300 puts/s at 64 clients through grpc-js and ~11,800 through h2load with the same request bytes.`,
      `Second comparison (ratios_grpc_js, single_member_ratios_grpc_js): the grpc-js pair ${GRPC_JS_PAIR.etcd} / ${GRPC_JS_PAIR.sisyphus} (@grpc/grpc-js + @grpc/proto-loader), a realistic application client; its rows are often client-bound. ${PIPELINE_CLIENT} rows are our SDK's extra (pipeline_ratios: against etcd through ${LEAN_PAIR.etcd}).`,
      `Each system keeps its own default election timing: etcd heartbeat ${ETCD_HEARTBEAT_INTERVAL_MS} ms / election ${ETCD_ELECTION_TIMEOUT_MS} ms, SisyphusDB ${SISYPHUS_TIMING.heartbeatIntervalMs} ms / ${SISYPHUS_TIMING.electionTimeoutMs} ms; neither affects a steady write path beyond heartbeat traffic.`,
      "A cluster is started fresh for each system and size and reused by its cells in the order shown; the keys are preloaded once before the first get cell.",
      "raft_term_changes: how far the leader's Raft term moved from just before a cell (preload and warm-up included) to just after it; above 0, an election happened during the cell and its errors and tail latencies include it.",
      `Generator CPU is the load generator's CPU time over wall time (one Node thread): at ${GENERATOR_CPU_WARN} of a core or more the row is marked client-bound, and the figure may be the generator's limit rather than the server's.`,
    ],
  };
  const written = await writeCompareReports(report, values.out);
  fs.writeFileSync(path.join(values.out, "etcd-compare.svg"), plotCompare(report));
  process.stdout.write(
    `\n${resultsTable(rows)}\n\nratios (ours / etcd, ${LEAN_PAIR.sisyphus} / ${LEAN_PAIR.etcd}): ${JSON.stringify(figures.ratios)}\nratios_grpc_js (${GRPC_JS_PAIR.sisyphus} / ${GRPC_JS_PAIR.etcd}): ${JSON.stringify(figures.ratios_grpc_js)}\nwrote ${written.json} and ${written.md}\n`,
  );
}

// Ctrl-C or a kill: exit through process.exit so the 'exit' hooks kill every member by PID.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

try {
  await main();
} finally {
  await stopAllServers();
}
