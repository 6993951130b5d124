/**
 * bench:etcd's report: docs/benchmarks/etcd-compare.json and etcd-compare.md.
 *
 * JSON: { benchmark: "etcd-compare", command, date, machine, versions, settings, results, ratios,
 * p99_ms, p99_ratios, single_member_ratios, ratios_grpc_js, single_member_ratios_grpc_js,
 * pipeline_ratios, targets, notes }.
 *   results   one row per (system, members, client, workload), in the style of storage.json's
 *             (workload, system, ops, seconds, ops_per_sec, latencies in µs) plus members,
 *             client, target member, p90/p99.9/max, errors by code, the generator's CPU and
 *             raft_term_changes (elections during the cell);
 *   ratios    ours / etcd throughput, 3 members, both through the lean client pair (h2-grpc and
 *             etcd-h2-grpc: one node:http2 client, so the generator is not the bottleneck), keyed
 *             put_c1, put_c64, put_c256, get_c64, put_follower_c64 (a key is absent when a cell
 *             did not run);
 *   p99_ms    per ratio key, { sisyphus, etcd } p99 in ms; p99_ratios ours / etcd p99 (lean pair);
 *   ratios_grpc_js  the same keys through the grpc-js pair (grpc-js and etcd-grpc-js: @grpc/grpc-js
 *             + proto-loader, a realistic application client), a second comparison.
 * Every figure compares rows of one client pair only; nothing mixes clients.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { LoadResult } from "../../loadtest/src/run-load.js";

export type SystemName = "sisyphus" | "etcd";
export const RATIO_WORKLOADS = ["put_c1", "put_c64", "put_c256", "get_c64", "put_follower_c64"] as const;
/** At or above this generator CPU (fraction of one core) the client, not the server, may set the figure. */
export const GENERATOR_CPU_WARN = 0.9;

export interface CompareRow {
  workload: string;
  system: SystemName;
  members: number;
  /** The driver (a key of loadtest's DRIVERS). */
  client: string;
  /** Which member the requests went to. */
  target: "leader" | "follower";
  clients: number;
  ops: number;
  errors: number;
  errors_by_code: Record<string, number>;
  seconds: number;
  ops_per_sec: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  /** The generator's CPU time over wall time during the measured phase (1 = one core busy). */
  generator_cpu: number;
  generator_cpu_warning: boolean;
  /** How far the leader's Raft term moved across the cell (preload and warm-up included): above 0, an election happened. */
  raft_term_changes: number;
}

export interface Target {
  name: string;
  met: boolean | null;
  detail: string;
}

export interface EtcdCompareReport {
  benchmark: "etcd-compare";
  command: string;
  date: string;
  machine: { cpus: number; model: string; memory_bytes: number; node: string };
  /** etcd: from `etcd --version`; sisyphusdb: SERVER_VERSION; commit: `git describe --always --dirty`. */
  versions: { etcd: string; sisyphusdb: string; commit: string | null };
  settings: Record<string, unknown>;
  results: CompareRow[];
  /** ours / etcd throughput, 3 members, lean pair. */
  ratios: Partial<Record<(typeof RATIO_WORKLOADS)[number], number>>;
  p99_ms: Partial<Record<(typeof RATIO_WORKLOADS)[number], { sisyphus: number; etcd: number }>>;
  p99_ratios: Partial<Record<(typeof RATIO_WORKLOADS)[number], number>>;
  /** ours / etcd throughput with one member each, lean pair. */
  single_member_ratios: Record<string, number>;
  /** ours / etcd throughput, 3 members, grpc-js pair. */
  ratios_grpc_js: Partial<Record<(typeof RATIO_WORKLOADS)[number], number>>;
  /** ours / etcd throughput with one member each, grpc-js pair. */
  single_member_ratios_grpc_js: Record<string, number>;
  /** our SDK pipeline (3 members) / etcd through etcd-h2-grpc (3 members). */
  pipeline_ratios: Record<string, number>;
  targets: Target[];
  notes: string[];
}

const us = (ms: number): number => Math.round(ms * 1000);

/** A row from a runLoad result. */
export function compareRow(system: SystemName, members: number, workload: string, target: "leader" | "follower", r: LoadResult, raftTermChanges: number): CompareRow {
  return {
    workload,
    system,
    members,
    client: r.config.driver,
    target,
    clients: r.config.clients,
    ops: r.ops,
    errors: r.errors,
    errors_by_code: r.errors_by_code,
    seconds: r.elapsed_s,
    ops_per_sec: r.throughput_ops_s,
    p50_us: us(r.latency_ms.p50),
    p90_us: us(r.latency_ms.p90),
    p99_us: us(r.latency_ms.p99),
    p999_us: us(r.latency_ms.p99_9),
    max_us: us(r.latency_ms.max),
    generator_cpu: r.generator_cpu.utilization,
    generator_cpu_warning: r.generator_cpu.utilization >= GENERATOR_CPU_WARN,
    raft_term_changes: raftTermChanges,
  };
}

/** A client pair: the same client for both systems (keys of loadtest's DRIVERS). */
export interface ClientPair {
  sisyphus: string;
  etcd: string;
}

/** The headline pair: unary gRPC over node:http2 with hand-encoded requests, a fraction of grpc-js's client CPU per call. */
export const LEAN_PAIR: ClientPair = { sisyphus: "h2-grpc", etcd: "etcd-h2-grpc" };
/** The second pair: @grpc/grpc-js + proto-loader, as an application would call either system. */
export const GRPC_JS_PAIR: ClientPair = { sisyphus: "grpc-js", etcd: "etcd-grpc-js" };
/** Ours only, against etcd through the lean pair. */
export const PIPELINE_CLIENT = "sdk-pipeline";

function find(rows: CompareRow[], system: SystemName, members: number, client: string, workload: string): CompareRow | undefined {
  return rows.find((r) => r.system === system && r.members === members && r.client === client && r.workload === workload);
}

type Figures = Pick<EtcdCompareReport, "ratios" | "p99_ms" | "p99_ratios" | "single_member_ratios" | "ratios_grpc_js" | "single_member_ratios_grpc_js" | "pipeline_ratios">;

/** ours / etcd throughput per workload, both through `pair`; `members` 3 for RATIO_WORKLOADS, 1 for whatever one-member cells ran. */
function throughputRatios(rows: CompareRow[], pair: ClientPair, members: number): Record<string, number> {
  const ratios: Record<string, number> = {};
  const workloads = members === 3 ? RATIO_WORKLOADS : new Set(rows.filter((r) => r.members === members).map((r) => r.workload));
  for (const w of workloads) {
    const ours = find(rows, "sisyphus", members, pair.sisyphus, w);
    const etcd = find(rows, "etcd", members, pair.etcd, w);
    if (ours !== undefined && etcd !== undefined && etcd.ops_per_sec > 0) ratios[w] = ours.ops_per_sec / etcd.ops_per_sec;
  }
  return ratios;
}

/** The report's figures from the rows: the headline ones from LEAN_PAIR, the _grpc_js ones from GRPC_JS_PAIR. */
export function compareFigures(rows: CompareRow[]): Figures {
  const figures: Figures = {
    ratios: throughputRatios(rows, LEAN_PAIR, 3),
    p99_ms: {},
    p99_ratios: {},
    single_member_ratios: throughputRatios(rows, LEAN_PAIR, 1),
    ratios_grpc_js: throughputRatios(rows, GRPC_JS_PAIR, 3),
    single_member_ratios_grpc_js: throughputRatios(rows, GRPC_JS_PAIR, 1),
    pipeline_ratios: {},
  };
  for (const w of RATIO_WORKLOADS) {
    const ours = find(rows, "sisyphus", 3, LEAN_PAIR.sisyphus, w);
    const etcd = find(rows, "etcd", 3, LEAN_PAIR.etcd, w);
    if (ours === undefined || etcd === undefined || etcd.ops_per_sec === 0) continue;
    figures.p99_ms[w] = { sisyphus: ours.p99_us / 1000, etcd: etcd.p99_us / 1000 };
    if (etcd.p99_us > 0) figures.p99_ratios[w] = ours.p99_us / etcd.p99_us;
    const pipeline = find(rows, "sisyphus", 3, PIPELINE_CLIENT, w);
    if (pipeline !== undefined) figures.pipeline_ratios[w] = pipeline.ops_per_sec / etcd.ops_per_sec;
  }
  return figures;
}

/** The figures issue 6 sets (3 members, the lean pair for both); null `met` when a cell did not run. */
export function evaluateTargets(rows: CompareRow[], figures: Pick<EtcdCompareReport, "ratios" | "p99_ms">): Target[] {
  const targets: Target[] = [];
  for (const w of ["put_c64", "put_c256"] as const) {
    const ratio = figures.ratios[w];
    const p99 = figures.p99_ms[w];
    targets.push({ name: `${w}: throughput >= 1.5 x etcd`, met: ratio === undefined ? null : ratio >= 1.5, detail: ratio === undefined ? "not measured" : `${ratio.toFixed(2)} x` });
    targets.push({
      name: `${w}: p99 <= etcd's p99`,
      met: p99 === undefined ? null : p99.sisyphus <= p99.etcd,
      detail: p99 === undefined ? "not measured" : `${p99.sisyphus.toFixed(1)} ms vs ${p99.etcd.toFixed(1)} ms`,
    });
  }
  const gets = figures.ratios.get_c64;
  targets.push({ name: "get_c64 (linearizable): throughput >= 1.0 x etcd", met: gets === undefined ? null : gets >= 1.0, detail: gets === undefined ? "not measured" : `${gets.toFixed(2)} x` });
  const leader = find(rows, "sisyphus", 3, LEAN_PAIR.sisyphus, "put_c64");
  const follower = find(rows, "sisyphus", 3, LEAN_PAIR.sisyphus, "put_follower_c64");
  targets.push({
    name: "put_follower_c64: p99 <= put_c64 p99 + 2 ms (ours)",
    met: leader === undefined || follower === undefined ? null : follower.p99_us <= leader.p99_us + 2000,
    detail: leader === undefined || follower === undefined ? "not measured" : `${(follower.p99_us / 1000).toFixed(1)} ms vs ${(leader.p99_us / 1000).toFixed(1)} ms`,
  });
  return targets;
}

export async function writeCompareReports(report: EtcdCompareReport, dir: string): Promise<{ json: string; md: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, "etcd-compare.json");
  const md = join(dir, "etcd-compare.md");
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(md, renderCompareMarkdown(report));
  return { json, md };
}

const ms = (micros: number): string => (micros / 1000).toFixed(2);
const ops = (n: number): string => Math.round(n).toLocaleString("en-US");

/** The results table alone (also printed at the end of a run). */
export function resultsTable(rows: CompareRow[]): string {
  const lines = [
    "| system | members | client | workload | to | ops/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | generator CPU |",
    "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const byCode = r.errors === 0 ? "0" : `${r.errors} (${Object.entries(r.errors_by_code).map(([code, n]) => `${code} ${n}`).join(", ")})`;
    const errors = r.raft_term_changes > 0 ? `${byCode}; election during the cell (term +${r.raft_term_changes})` : byCode;
    const cpu = `${Math.round(r.generator_cpu * 100)}%${r.generator_cpu_warning ? " ⚠ client-bound" : ""}`;
    lines.push(`| ${r.system} | ${r.members} | ${r.client} | ${r.workload} | ${r.target} | ${ops(r.ops_per_sec)} | ${ms(r.p50_us)} | ${ms(r.p90_us)} | ${ms(r.p99_us)} | ${ms(r.p999_us)} | ${ms(r.max_us)} | ${errors} | ${cpu} |`);
  }
  return lines.join("\n");
}

/** The ratio table of one client pair (p99s from its rows); the pipeline column when `pipeline` has figures. */
function ratioTable(report: EtcdCompareReport, pair: ClientPair, ratios: EtcdCompareReport["ratios"], pipeline: Record<string, number>): string[] {
  const withPipeline = Object.keys(pipeline).length > 0;
  const lines = [
    `| workload | etcd ops/s | ours ops/s | ratio | etcd p99 ms | ours p99 ms |${withPipeline ? " SDK pipeline / etcd |" : ""}`,
    `| --- | ---: | ---: | ---: | ---: | ---: |${withPipeline ? " ---: |" : ""}`,
  ];
  for (const w of RATIO_WORKLOADS) {
    const ratio = ratios[w];
    const etcd = find(report.results, "etcd", 3, pair.etcd, w);
    const ours = find(report.results, "sisyphus", 3, pair.sisyphus, w);
    if (ratio === undefined || etcd === undefined || ours === undefined) continue;
    const p = pipeline[w];
    lines.push(
      `| ${w} | ${ops(etcd.ops_per_sec)} | ${ops(ours.ops_per_sec)} | ${ratio.toFixed(2)} | ${ms(etcd.p99_us)} | ${ms(ours.p99_us)} |${withPipeline ? ` ${p === undefined ? "–" : p.toFixed(2)} |` : ""}`,
    );
  }
  return lines;
}

export function renderCompareMarkdown(report: EtcdCompareReport): string {
  const lines: string[] = [];
  lines.push("# SisyphusDB vs etcd, side by side (`npm run bench:etcd`)", "");
  lines.push(`- Command: \`${report.command}\``);
  lines.push(`- Machine: ${report.machine.cpus} x ${report.machine.model}, ${(report.machine.memory_bytes / 2 ** 30).toFixed(1)} GiB RAM, Node ${report.machine.node}`);
  lines.push(`- Versions: etcd ${report.versions.etcd} (Debian's etcd-server); SisyphusDB ${report.versions.sisyphusdb}${report.versions.commit === null ? "" : ` (${report.versions.commit})`}`);
  lines.push(`- Date: ${report.date}`, "");
  lines.push(resultsTable(report.results), "");
  lines.push(`## Ratios (ours / etcd, 3 members, both through the lean client: ${LEAN_PAIR.sisyphus} / ${LEAN_PAIR.etcd})`, "");
  lines.push(...ratioTable(report, LEAN_PAIR, report.ratios, report.pipeline_ratios));
  const single = Object.entries(report.single_member_ratios);
  if (single.length > 0) lines.push("", `One member each (lean pair): ${single.map(([w, r]) => `${w} ${r.toFixed(2)}`).join(", ")}.`);
  lines.push("", `## Ratios through grpc-js (${GRPC_JS_PAIR.sisyphus} / ${GRPC_JS_PAIR.etcd}: @grpc/grpc-js + proto-loader, an application's client)`, "");
  lines.push(...ratioTable(report, GRPC_JS_PAIR, report.ratios_grpc_js, {}));
  const singleGrpcJs = Object.entries(report.single_member_ratios_grpc_js);
  if (singleGrpcJs.length > 0) lines.push("", `One member each (grpc-js pair): ${singleGrpcJs.map(([w, r]) => `${w} ${r.toFixed(2)}`).join(", ")}.`);
  lines.push("", "## Targets (issue 6)", "");
  for (const t of report.targets) lines.push(`- ${t.name}: **${t.met === null ? "not measured" : t.met ? "met" : "NOT met"}** (${t.detail})`);
  if (report.notes.length > 0) {
    lines.push("", "## Notes", "");
    for (const n of report.notes) lines.push(`- ${n}`);
  }
  lines.push("");
  return lines.join("\n");
}
