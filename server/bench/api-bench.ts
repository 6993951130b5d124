/**
 * npm run bench:api — durable puts and gets against a fresh server process per client, at
 * concurrency 1, 16, 64 and 256 (closed loop: each of N workers sends its next call when the
 * last is answered), through: the SDK's pipeline stream, the SDK's unary calls over gRPC and
 * over Connect (HTTP/2), and an independent @grpc/grpc-js client. Reports ops/s,
 * p50/p99/p99.9/max latency from an HDR histogram, server CPU per operation (from
 * /proc/<pid>/stat) and the benchmark process's own CPU per operation (the client can be the
 * bottleneck on 2 cores: when it is near 1 s of CPU per second, the figure is the client's).
 *
 * Writes docs/benchmarks/api.json and docs/benchmarks/api.md.
 *
 *   --quick            2 s per cell, concurrency 1, 16, 64
 *   --seconds S        seconds per cell (default 5)
 *   --concurrency a,b  concurrency levels (default 1,16,64,256)
 *   --clients x,y      subset of: sdk-pipeline, sdk-grpc, sdk-connect, grpc-js, h2load
 *
 * The h2load rows (nghttp2's C load generator, installed with apt-get if missing and possible)
 * measure the server alone with a client that costs little: unary gRPC on one key, N
 * connections x M streams; h2load reports no percentiles, so only mean and max latency.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as hdr from "hdr-histogram-js";
import { ServerProcess, stopAllServers } from "../test/e2e/server-process.js";
import { type KvDriver, grpcJsDriver, sdkDriver } from "../../loadtest/src/drivers.js";
import { ensureH2load, runH2load } from "./h2load.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const VALUE_BYTES = 256;
const GET_KEYS = 10_000;
const PUT_KEYS = 100_000;
/** etcd 3.4 single member on this machine, 64 clients, durable puts (issue 4's orientation figure). */
const ETCD_REFERENCE_PUTS_C64 = 5_450;

const CLIENTS: Record<string, (url: string) => KvDriver> = {
  "sdk-pipeline": (url) => sdkDriver("SDK pipeline (gRPC, one stream)", url, { protocol: "grpc", pipeline: true }),
  "sdk-grpc": (url) => sdkDriver("SDK unary gRPC", url, { protocol: "grpc", pipeline: false }),
  "sdk-connect": (url) => sdkDriver("SDK unary Connect (h2)", url, { protocol: "connect", pipeline: false }),
  "grpc-js": (url) => grpcJsDriver(url),
};
const ALL_CLIENTS = [...Object.keys(CLIENTS), "h2load"];

interface CellResult {
  workload: string;
  system: string;
  client: string;
  concurrency: number;
  ops: number;
  errors: number;
  seconds: number;
  ops_per_sec: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  server_cpu_us_per_op: number;
  client_cpu_us_per_op: number;
}

function key(prefix: string, i: number): Uint8Array {
  return Buffer.from(`${prefix}/${String(i).padStart(8, "0")}`);
}

/** utime + stime of a process in microseconds. */
function processCpuUs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100;
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
}

async function runCell(driver: KvDriver, clientId: string, op: "put" | "get", concurrency: number, seconds: number, serverPid: number): Promise<CellResult> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  let ops = 0;
  let errors = 0;
  let seed = 12345;
  const next = (range: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % range;
  };
  const serverCpuBefore = processCpuUs(serverPid);
  const clientCpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          if (op === "put") await driver.put(key("put", next(PUT_KEYS)), value);
          else await driver.get(key("get", next(GET_KEYS)));
          histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
          ops++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const serverCpuUs = processCpuUs(serverPid) - serverCpuBefore;
  const result: CellResult = {
    workload: `${op}_c${concurrency}`,
    system: "sisyphus",
    client: clientId,
    concurrency,
    ops,
    errors,
    seconds: elapsed,
    ops_per_sec: ops / elapsed,
    p50_us: histogram.getValueAtPercentile(50),
    p99_us: histogram.getValueAtPercentile(99),
    p999_us: histogram.getValueAtPercentile(99.9),
    max_us: histogram.maxValue,
    server_cpu_us_per_op: ops > 0 ? serverCpuUs / ops : 0,
    client_cpu_us_per_op: ops > 0 ? (clientCpu.user + clientCpu.system) / ops : 0,
  };
  histogram.destroy();
  return result;
}

/** The h2load rows: one fresh server, puts then gets on one key, per concurrency level. */
async function h2loadRows(levels: number[], seconds: number): Promise<CellResult[]> {
  const binary = ensureH2load();
  if (binary === undefined) {
    process.stdout.write("h2load is not installed and cannot be installed here: skipping its rows\n");
    return [];
  }
  const rows: CellResult[] = [];
  const server = await ServerProcess.start();
  try {
    for (const op of ["put", "get"] as const) {
      for (const c of levels) {
        const cpuBefore = processCpuUs(server.pid);
        const r = await runH2load(binary, server.url, op, c, seconds, VALUE_BYTES);
        const cpuUs = processCpuUs(server.pid) - cpuBefore;
        rows.push({
          workload: `${op}_c${c}`,
          system: "sisyphus",
          client: "h2load",
          concurrency: c,
          ops: r.ops,
          errors: r.errors,
          seconds: r.seconds,
          ops_per_sec: r.ops / r.seconds,
          p50_us: r.meanUs,
          p99_us: r.maxUs,
          p999_us: r.maxUs,
          max_us: r.maxUs,
          server_cpu_us_per_op: r.ops > 0 ? cpuUs / r.ops : 0,
          client_cpu_us_per_op: 0,
        });
        const last = rows[rows.length - 1];
        process.stdout.write(`h2load        ${last.workload.padEnd(9)} ${Math.round(last.ops_per_sec).toString().padStart(7)} ops/s  mean ${(r.meanUs / 1000).toFixed(2)} ms  max ${(r.maxUs / 1000).toFixed(2)} ms  server ${Math.round(last.server_cpu_us_per_op)} µs/op\n`);
      }
    }
  } finally {
    await server.stop();
    server.removeData();
  }
  return rows;
}

async function preload(driver: KvDriver): Promise<void> {
  const value = Buffer.alloc(VALUE_BYTES, 0x62);
  let i = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (i < GET_KEYS) await driver.put(key("get", i++), value);
    }),
  );
}

function table(results: CellResult[]): string {
  const lines = [
    "| client | workload | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU µs/op | client CPU µs/op | errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of results) {
    const ms = (us: number): string => (us / 1000).toFixed(2);
    lines.push(
      `| ${r.client} | ${r.workload} | ${Math.round(r.ops_per_sec).toLocaleString("en-US")} | ${ms(r.p50_us)} | ${ms(r.p99_us)} | ${ms(r.p999_us)} | ${ms(r.max_us)} | ${Math.round(r.server_cpu_us_per_op)} | ${Math.round(r.client_cpu_us_per_op)} | ${r.errors} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: "boolean" }, seconds: { type: "string" }, concurrency: { type: "string" }, clients: { type: "string" } },
  });
  const seconds = Number(values.seconds ?? (values.quick === true ? 2 : 5));
  const levels = (values.concurrency ?? (values.quick === true ? "1,16,64" : "1,16,64,256")).split(",").map(Number);
  const clientIds = (values.clients ?? ALL_CLIENTS.join(",")).split(",");
  for (const id of clientIds) if (id !== "h2load" && CLIENTS[id] === undefined) throw new Error(`unknown client ${id}; known: ${Object.keys(CLIENTS).join(", ")}`);

  const results: CellResult[] = [];
  for (const id of clientIds) {
    if (id === "h2load") {
      results.push(...(await h2loadRows(levels, seconds)));
      continue;
    }
    const server = await ServerProcess.start();
    const driver = CLIENTS[id](server.url);
    try {
      await preload(driver);
      await runCell(driver, id, "put", 16, 1, server.pid);
      for (const op of ["put", "get"] as const) {
        for (const c of levels) {
          const r = await runCell(driver, id, op, c, seconds, server.pid);
          results.push(r);
          process.stdout.write(
            `${id.padEnd(13)} ${r.workload.padEnd(9)} ${Math.round(r.ops_per_sec).toString().padStart(7)} ops/s  p50 ${(r.p50_us / 1000).toFixed(2)} ms  p99 ${(r.p99_us / 1000).toFixed(2)} ms  server ${Math.round(r.server_cpu_us_per_op)} µs/op  client ${Math.round(r.client_cpu_us_per_op)} µs/op${r.errors > 0 ? `  errors ${r.errors}` : ""}\n`,
          );
        }
      }
    } finally {
      await driver.close();
      await server.stop();
      server.removeData();
    }
  }

  const find = (client: string, workload: string): number | undefined => results.find((r) => r.client === client && r.workload === workload)?.ops_per_sec;
  const ratios: Record<string, number> = {};
  for (const id of clientIds) {
    const puts = find(id, "put_c64");
    if (puts !== undefined) ratios[`put_c64_${id}_vs_etcd_reference`] = puts / ETCD_REFERENCE_PUTS_C64;
  }
  const report = {
    benchmark: "api",
    command: `npm run bench:api${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    node: process.version,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? "unknown",
    memory_bytes: os.totalmem(),
    date: new Date().toISOString(),
    seconds_per_cell: seconds,
    value_bytes: VALUE_BYTES,
    results,
    ratios,
    notes: [
      "Closed loop: N workers, each sends its next call when the last is answered. Puts are durable (acknowledged after fdatasync, group commit).",
      `Ratios divide by ${ETCD_REFERENCE_PUTS_C64} puts/s, the single-member etcd 3.4 figure for 64 clients on this machine given in issue 4 (5,200-5,700), not a same-run measurement; bench:etcd (issue 6) runs etcd side by side.`,
      "Client and server share the machine's 2 cores; client CPU per op shows when the Node client, not the server, is the limit.",
      "h2load rows: unary gRPC on one key (h2load sends the same request body every time), connections x streams = concurrency; p50_us holds h2load's mean and p99_us/p999_us its max (it reports no percentiles); client CPU is not measured for it.",
    ],
  };
  const outDir = path.join(REPO, "docs", "benchmarks");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "api.json"), `${JSON.stringify(report, null, 2)}\n`);
  const md = [
    "# API benchmark (`npm run bench:api`)",
    "",
    `${report.date}, Node ${report.node}, ${report.cpus} × ${report.cpu_model}; ${seconds} s per cell, ${VALUE_BYTES}-byte values, a fresh server per client.`,
    "",
    table(results),
    "",
    "Ratios (put_c64 ops/s over the etcd single-member reference of 5,450/s; target ≥ 2 for the pipeline, ≥ 1 for unary gRPC):",
    "",
    ...Object.entries(ratios).map(([k, v]) => `- ${k}: ${v.toFixed(2)}`),
    "",
    ...report.notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
  fs.writeFileSync(path.join(outDir, "api.md"), md);
  process.stdout.write(`\nwrote docs/benchmarks/api.json and api.md\n`);
}

try {
  await main();
} finally {
  await stopAllServers();
}
