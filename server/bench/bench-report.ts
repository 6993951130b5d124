/**
 * Writes the storage benchmark's results: docs/benchmarks/storage.json (machine-readable, one
 * row per workload and system) and docs/benchmarks/storage.md (the same figures as a table,
 * with the targets the engine is held to and whether each is met).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MemtableBenchResult } from "./memtable-bench.js";

export type SystemName = "sisyphus" | "leveldb";

export interface WorkloadResult {
  workload: string;
  system: SystemName;
  ops: number;
  seconds: number;
  ops_per_sec: number;
  p50_us: number | null;
  p99_us: number | null;
}

export interface DelayFigures {
  p99: number;
  max: number;
}

export interface AmplificationFigures {
  sisyphus?: number;
  leveldb?: number;
  note: string;
}

export interface StorageReport {
  benchmark: "storage";
  command: string;
  node: string;
  cpus: number;
  cpu_model: string;
  memory_bytes: number;
  date: string;
  num: number;
  results: WorkloadResult[];
  /** ours / leveldb ops per second, per workload. */
  ratios: Record<string, number>;
  memtable: MemtableBenchResult | null;
  space_amplification: AmplificationFigures;
  write_amplification: AmplificationFigures;
  /** Event-loop delay while our write workloads ran: the worst p99 and max, and per workload. */
  event_loop_delay_ms: (DelayFigures & { workloads: Record<string, DelayFigures> }) | null;
  notes: string[];
}

interface Target {
  name: string;
  met: boolean | null;
  detail: string;
}

/** The targets the issue sets; null `met` means the figure was not measured in this run. */
export function evaluateTargets(report: StorageReport): Target[] {
  const targets: Target[] = [];
  const m = report.memtable;
  if (m) {
    targets.push({
      name: "memtable arena append <= 30 ns/op",
      met: m.arenaAppendNsPerOp <= 30,
      detail: `${fmt(m.arenaAppendNsPerOp)} ns/op`,
    });
    targets.push({
      name: "skiplist insert ns/key <= Map.set+sort ns/key",
      met: m.skiplistInsertNsPerOp <= m.mapSetSortNsPerKey,
      detail: `${fmt(m.skiplistInsertNsPerOp)} vs ${fmt(m.mapSetSortNsPerKey)} ns/key`,
    });
    targets.push({
      name: "zero GC events in the arena append and skiplist insert loops",
      met: m.gcEvents.arenaAppend === 0 && m.gcEvents.skiplistInsert === 0,
      detail: `arena ${m.gcEvents.arenaAppend}, skiplist ${m.gcEvents.skiplistInsert}`,
    });
  } else {
    targets.push({ name: "memtable targets", met: null, detail: "memtable bench not run" });
  }
  const ratioTarget = (workload: string, min: number): void => {
    const r = report.ratios[workload];
    targets.push({
      name: `${workload} ratio >= ${min.toFixed(1)}`,
      met: r === undefined ? null : r >= min,
      detail: r === undefined ? "not measured" : fmt(r),
    });
  };
  ratioTarget("fillrandom", 1.0);
  ratioTarget("fillrandom_batch100", 1.0);
  ratioTarget("fillsync_16", 1.0);
  ratioTarget("readseq", 1.0);
  ratioTarget("readrandom", 0.8);
  const sa = report.space_amplification.sisyphus;
  targets.push({
    name: "space amplification <= 1.3",
    met: sa === undefined ? null : sa <= 1.3,
    detail: sa === undefined ? "not measured" : fmt(sa),
  });
  return targets;
}

export async function writeReports(report: StorageReport, dir: string): Promise<{ json: string; md: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, "storage.json");
  const md = join(dir, "storage.md");
  await writeFile(json, JSON.stringify(report, null, 2) + "\n");
  await writeFile(md, renderMarkdown(report));
  return { json, md };
}

export function renderMarkdown(report: StorageReport): string {
  const lines: string[] = [];
  lines.push("# Storage engine benchmark: SisyphusDB vs LevelDB (classic-level)", "");
  lines.push(`- Command: \`${report.command}\``);
  lines.push(`- Machine: ${report.cpus} x ${report.cpu_model}, ${(report.memory_bytes / 2 ** 30).toFixed(1)} GiB RAM`);
  lines.push(`- Node: ${report.node}`);
  lines.push(`- Date: ${report.date}`);
  lines.push(`- Entries: ${report.num.toLocaleString("en-US")} (16-byte keys, 100-byte random values)`, "");

  lines.push(
    "| workload | sisyphus ops/s | leveldb ops/s | ratio | sisyphus p50 / p99 µs | leveldb p50 / p99 µs |",
    "|---|---:|---:|---:|---:|---:|",
  );
  const workloads = [...new Set(report.results.map((r) => r.workload))].sort(
    (a, b) => workloadRank(a) - workloadRank(b),
  );
  for (const w of workloads) {
    const ours = report.results.find((r) => r.workload === w && r.system === "sisyphus");
    const theirs = report.results.find((r) => r.workload === w && r.system === "leveldb");
    const ratio = report.ratios[w];
    lines.push(
      `| ${w} | ${ops(ours)} | ${ops(theirs)} | ${ratio === undefined ? "–" : fmt(ratio)} | ${lat(ours)} | ${lat(theirs)} |`,
    );
  }
  const best = report.ratios["readrandom"];
  if (best !== undefined) {
    lines.push(
      `| readrandom (our best vs LevelDB's fastest read path) | | | ${fmt(best)} | | |`,
    );
  }
  lines.push("");

  const m = report.memtable;
  lines.push("## Memtable");
  if (m) {
    lines.push(
      "",
      `n = ${m.n.toLocaleString("en-US")}: arena append ${fmt(m.arenaAppendNsPerOp)} ns/op, ` +
        `skiplist insert ${fmt(m.skiplistInsertNsPerOp)} ns/key, Map.set + sort ${fmt(m.mapSetSortNsPerKey)} ns/key; ` +
        `GC events: arena ${m.gcEvents.arenaAppend}, skiplist ${m.gcEvents.skiplistInsert}, Map+sort ${m.gcEvents.mapSetSort}.`,
    );
  } else {
    lines.push("", "Not run.");
  }
  lines.push("", "## Amplification", "");
  lines.push(`- Space (bytes on disk / live key+value bytes, after fillrandom + overwrite, compactions settled): ` +
    `sisyphus ${optFmt(report.space_amplification.sisyphus)}, leveldb ${optFmt(report.space_amplification.leveldb)}. ` +
    report.space_amplification.note);
  lines.push(`- Write (bytes written to disk / user bytes, fillrandom + overwrite): ` +
    `sisyphus ${optFmt(report.write_amplification.sisyphus)}, leveldb ${optFmt(report.write_amplification.leveldb)}. ` +
    report.write_amplification.note);
  const eld = report.event_loop_delay_ms;
  if (eld) {
    lines.push("", "## Event-loop delay during our write workloads (ms)", "");
    lines.push(`Worst p99 ${fmt(eld.p99)}, worst max ${fmt(eld.max)} (monitorEventLoopDelay, 5 ms resolution).`, "");
    lines.push("| workload | p99 | max |", "|---|---:|---:|");
    for (const [w, d] of Object.entries(eld.workloads)) lines.push(`| ${w} | ${fmt(d.p99)} | ${fmt(d.max)} |`);
  }
  lines.push("", "## Targets", "");
  for (const t of evaluateTargets(report)) {
    const mark = t.met === null ? "not measured" : t.met ? "met" : "NOT met";
    lines.push(`- ${t.name}: **${mark}** (${t.detail})`);
  }
  if (report.notes.length > 0) {
    lines.push("", "## Notes", "");
    for (const n of report.notes) lines.push(`- ${n}`);
  }
  lines.push("");
  return lines.join("\n");
}

const WORKLOAD_ORDER = [
  "fillseq",
  "fillrandom",
  "fillrandom_batch100",
  "fillsync_1",
  "fillsync_16",
  "overwrite",
  "readrandom_1",
  "readrandom_64",
  "readrandom_sync",
  "readmissing",
  "readseq",
  "seekrandom",
];

function workloadRank(workload: string): number {
  const i = WORKLOAD_ORDER.indexOf(workload);
  return i < 0 ? WORKLOAD_ORDER.length : i;
}

function fmt(x: number): string {
  if (x >= 100) return Math.round(x).toLocaleString("en-US");
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function optFmt(x: number | undefined): string {
  return x === undefined ? "not measured" : fmt(x);
}

function ops(r: WorkloadResult | undefined): string {
  return r ? Math.round(r.ops_per_sec).toLocaleString("en-US") : "–";
}

function lat(r: WorkloadResult | undefined): string {
  if (!r || r.p50_us === null || r.p99_us === null) return "–";
  return `${fmt(r.p50_us)} / ${fmt(r.p99_us)}`;
}
