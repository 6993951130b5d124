/** The SVG of a bench:etcd report (etcd-compare.json): its 3-member put cells through the headline client pair (the lean h2-grpc client, the same for both). */
import { renderSvg, seriesFrom, type PlotRow } from "./latency-plot.js";

export function plotCompare(report: unknown): string {
  const rows = (report as { results?: unknown }).results;
  if (!Array.isArray(rows)) throw new Error("not a bench:etcd report: no results array");
  const date = String((report as { date?: unknown }).date ?? "").slice(0, 10);
  return renderSvg(seriesFrom(rows as PlotRow[], { etcd: "etcd-h2-grpc", sisyphus: "h2-grpc" }), `3-member puts, 256-byte values, 1/64/256 clients (lean h2-grpc client) ${date}`);
}
