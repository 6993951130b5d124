/** How a run is shown: the progress line (stderr, once a second) and the summary table (stdout). */
import type { LoadResult, Progress } from "./run-load.js";

const fmt = (n: number, digits = 2): string => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function progressLine(p: Progress): string {
  return `[${fmt(p.elapsedS, 1)} s] ${fmt(p.opsPerS, 0)} ops/s  p99 so far ${fmt(p.p99Ms)} ms  errors ${p.errors}`;
}

export function summaryTable(r: LoadResult): string {
  const c = r.config;
  const load = c.mode === "open-loop" ? `open loop at ${fmt(c.rate, 0)} req/s (max ${c.maxOutstanding} outstanding)` : `closed loop, ${c.clients} clients`;
  const keys = c.distribution === "zipfian" ? `${c.keys} keys, zipfian s=${c.zipfS}` : `${c.keys} keys, uniform`;
  const workload = c.workload === "mixed" ? `mixed (${c.readRatio * 100}% gets)` : c.workload;
  const reads = c.workload === "get" || c.workload === "mixed" ? (c.serializable ? ", serializable gets" : ", linearizable gets") : "";
  const rows: [string, string][] = [
    ["target", `${c.endpoints.join(", ")}${c.spread ? " (spread)" : ""}, ${c.connections} connection${c.connections === 1 ? "" : "s"}`],
    ["client", c.driver],
    ["load", load],
    ["workload", `${workload}, ${keys}, ${c.valueBytes}-byte values${reads}`],
    ["elapsed", `${fmt(r.elapsed_s)} s`],
    ["ops", `${r.ops}`],
    ["throughput", `${fmt(r.throughput_ops_s, 0)} ops/s`],
    ["latency p50", `${fmt(r.latency_ms.p50, 3)} ms`],
    ["latency p90", `${fmt(r.latency_ms.p90, 3)} ms`],
    ["latency p99", `${fmt(r.latency_ms.p99, 3)} ms`],
    ["latency p99.9", `${fmt(r.latency_ms.p99_9, 3)} ms`],
    ["latency max", `${fmt(r.latency_ms.max, 3)} ms`],
    ["latency mean", `${fmt(r.latency_ms.mean, 3)} ms`],
    ["errors", r.errors === 0 ? "0" : `${r.errors} (${Object.entries(r.errors_by_code).map(([code, n]) => `${code} ${n}`).join(", ")})`],
    ["generator CPU", `${fmt(r.generator_cpu.utilization * 100, 0)}% of one core (user ${fmt(r.generator_cpu.user_ms, 0)} ms, system ${fmt(r.generator_cpu.system_ms, 0)} ms)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n")}\n`;
}
