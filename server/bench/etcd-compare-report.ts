/**
 * bench:etcd's report: docs/benchmarks/etcd-compare.json and etcd-compare.md.
 *
 * JSON: { benchmark: "etcd-compare", command, date, machine, versions, settings, results, ratios,
 * p99_ms, p99_ratios, single_member_ratios, pipeline_ratios, targets, notes }.
 *   results   one row per (system, members, client, workload), in the style of storage.json's
 *             (workload, system, ops, seconds, ops_per_sec, latencies in µs) plus members,
 *             client, target member, p90/p99.9/max, errors by code, the generator's CPU and
 *             raft_term_changes (elections during the cell);
 *   ratios    ours / etcd throughput, 3 members, both through @grpc/grpc-js + proto-loader, keyed
 *             put_c1, put_c64, put_c256, get_c64, put_follower_c64 (a key is absent when a cell
 *             did not run);
 *   p99_ms    per ratio key, { sisyphus, etcd } p99 in ms; p99_ratios ours / etcd p99.
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
  ratios: Partial<Record<(typeof RATIO_WORKLOADS)[number], number>>;
  p99_ms: Partial<Record<(typeof RATIO_WORKLOADS)[number], { sisyphus: number; etcd: number }>>;
  p99_ratios: Partial<Record<(typeof RATIO_WORKLOADS)[number], number>>;
  /** ours / etcd throughput with one member each (grpc-js drivers). */
  single_member_ratios: Record<string, number>;
  /** our SDK pipeline (3 members) / etcd through grpc-js (3 members). */
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

const GRPC_JS = { sisyphus: "grpc-js", etcd: "etcd-grpc-js" } as const;

function find(rows: CompareRow[], system: SystemName, members: number, client: string, workload: string): CompareRow | undefined {
  return rows.find((r) => r.system === system && r.members === members && r.client === client && r.workload === workload);
}

/** ratios, p99_ms, p99_ratios, single_member_ratios and pipeline_ratios from the rows. */
export function compareFigures(rows: CompareRow[]): Pick<EtcdCompareReport, "ratios" | "p99_ms" | "p99_ratios" | "single_member_ratios" | "pipeline_ratios"> {
  const figures: Pick<EtcdCompareReport, "ratios" | "p99_ms" | "p99_ratios" | "single_member_ratios" | "pipeline_ratios"> = {
    ratios: {},
    p99_ms: {},
    p99_ratios: {},
    single_member_ratios: {},
    pipeline_ratios: {},
  };
  for (const w of RATIO_WORKLOADS) {
    const ours = find(rows, "sisyphus", 3, GRPC_JS.sisyphus, w);
    const etcd = find(rows, "etcd", 3, GRPC_JS.etcd, w);
    if (ours === undefined || etcd === undefined || etcd.ops_per_sec === 0) continue;
    figures.ratios[w] = ours.ops_per_sec / etcd.ops_per_sec;
    figures.p99_ms[w] = { sisyphus: ours.p99_us / 1000, etcd: etcd.p99_us / 1000 };
    if (etcd.p99_us > 0) figures.p99_ratios[w] = ours.p99_us / etcd.p99_us;
    const pipeline = find(rows, "sisyphus", 3, "sdk-pipeline", w);
    if (pipeline !== undefined) figures.pipeline_ratios[w] = pipeline.ops_per_sec / etcd.ops_per_sec;
  }
  for (const w of new Set(rows.filter((r) => r.members === 1).map((r) => r.workload))) {
    const ours = find(rows, "sisyphus", 1, GRPC_JS.sisyphus, w);
    const etcd = find(rows, "etcd", 1, GRPC_JS.etcd, w);
    if (ours !== undefined && etcd !== undefined && etcd.ops_per_sec > 0) figures.single_member_ratios[w] = ours.ops_per_sec / etcd.ops_per_sec;
  }
  return figures;
}

/** The figures issue 6 sets (3 members, grpc-js for both); null `met` when a cell did not run. */
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
  const leader = find(rows, "sisyphus", 3, GRPC_JS.sisyphus, "put_c64");
  const follower = find(rows, "sisyphus", 3, GRPC_JS.sisyphus, "put_follower_c64");
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

export function renderCompareMarkdown(report: EtcdCompareReport): string {
  const lines: string[] = [];
  lines.push("# SisyphusDB vs etcd, side by side (`npm run bench:etcd`)", "");
  lines.push(`- Command: \`${report.command}\``);
  lines.push(`- Machine: ${report.machine.cpus} x ${report.machine.model}, ${(report.machine.memory_bytes / 2 ** 30).toFixed(1)} GiB RAM, Node ${report.machine.node}`);
  lines.push(`- Versions: etcd ${report.versions.etcd} (Debian's etcd-server); SisyphusDB ${report.versions.sisyphusdb}${report.versions.commit === null ? "" : ` (${report.versions.commit})`}`);
  lines.push(`- Date: ${report.date}`, "");
  lines.push(resultsTable(report.results), "");
  lines.push("## Ratios (ours / etcd, 3 members, both through @grpc/grpc-js + proto-loader)", "");
  lines.push("| workload | etcd ops/s | ours ops/s | ratio | etcd p99 ms | ours p99 ms | SDK pipeline / etcd |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const w of RATIO_WORKLOADS) {
    const ratio = report.ratios[w];
    if (ratio === undefined) continue;
    const etcd = find(report.results, "etcd", 3, GRPC_JS.etcd, w);
    const ours = find(report.results, "sisyphus", 3, GRPC_JS.sisyphus, w);
    const p99 = report.p99_ms[w];
    const pipeline = report.pipeline_ratios[w];
    lines.push(
      `| ${w} | ${etcd === undefined ? "–" : ops(etcd.ops_per_sec)} | ${ours === undefined ? "–" : ops(ours.ops_per_sec)} | ${ratio.toFixed(2)} | ${p99?.etcd.toFixed(2) ?? "–"} | ${p99?.sisyphus.toFixed(2) ?? "–"} | ${pipeline === undefined ? "–" : pipeline.toFixed(2)} |`,
    );
  }
  const single = Object.entries(report.single_member_ratios);
  if (single.length > 0) {
    lines.push("", `One member each (grpc-js): ${single.map(([w, r]) => `${w} ${r.toFixed(2)}`).join(", ")}.`);
  }
  lines.push("", "## Targets (issue 6)", "");
  for (const t of report.targets) lines.push(`- ${t.name}: **${t.met === null ? "not measured" : t.met ? "met" : "NOT met"}** (${t.detail})`);
  if (report.notes.length > 0) {
    lines.push("", "## Notes", "");
    for (const n of report.notes) lines.push(`- ${n}`);
  }
  lines.push("");
  return lines.join("\n");
}
