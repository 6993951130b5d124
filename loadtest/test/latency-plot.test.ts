/** The latency-vs-throughput SVG: one line per system and percentile through its put cells, scaled to fit, escaped. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderSvg, seriesFrom, type PlotRow } from "../src/latency-plot.js";
import { plotCompare } from "../src/plot-compare.js";

function row(system: string, client: string, workload: string, opsPerSec: number, p50Ms: number, p99Ms: number, members = 3): PlotRow {
  return { system, members, client, workload, ops_per_sec: opsPerSec, p50_us: p50Ms * 1000, p99_us: p99Ms * 1000 };
}

const ROWS: PlotRow[] = [
  row("etcd", "etcd-grpc-js", "put_c1", 590, 1.35, 8.6),
  row("etcd", "etcd-grpc-js", "put_c64", 4317, 13.9, 31.4),
  row("etcd", "etcd-grpc-js", "put_c256", 5168, 46.9, 93.7),
  row("sisyphus", "grpc-js", "put_c1", 450, 1.7, 7.8),
  row("sisyphus", "grpc-js", "put_c64", 4100, 12.9, 57.6),
  row("sisyphus", "grpc-js", "put_c256", 4400, 50, 200),
  row("sisyphus", "sdk-pipeline", "put_c64", 6426, 8, 30),
  row("sisyphus", "grpc-js", "put_c64", 3020, 19.8, 55.2, 1),
  row("sisyphus", "grpc-js", "get_c64", 3861, 14.9, 46.3),
];

describe("latency plot", () => {
  it("draws p50 and p99 of each system's 3-member put cells, in order of concurrency", () => {
    const series = seriesFrom(ROWS, { etcd: "etcd-grpc-js", sisyphus: "grpc-js" });
    assert.deepEqual(
      series.map((s) => [s.label, s.dashed, s.points.map((p) => p.note).join(",")]),
      [
        ["etcd p50 (etcd-grpc-js)", false, "put_c1,put_c64,put_c256"],
        ["etcd p99 (etcd-grpc-js)", true, "put_c1,put_c64,put_c256"],
        ["sisyphus p50 (grpc-js)", false, "put_c1,put_c64,put_c256"],
        ["sisyphus p99 (grpc-js)", true, "put_c1,put_c64,put_c256"],
      ],
    );
    assert.deepEqual(series[3].points.map((p) => [p.x, p.y]), [[450, 7.8], [4100, 57.6], [4400, 200]]);
  });

  it("renders an SVG whose points all lie inside the plot area", () => {
    const svg = renderSvg(seriesFrom(ROWS, { etcd: "etcd-grpc-js", sisyphus: "grpc-js" }), "a <test> & title");
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /a &lt;test&gt; &amp; title/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 4);
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    assert.equal(circles.length, 12);
    for (const [x, y] of circles) {
      assert.ok(x >= 70 && x <= 700, `x ${x} inside`);
      assert.ok(y >= 40 && y <= 370, `y ${y} inside`);
    }
  });

  it("refuses a report with nothing to plot, saying why", () => {
    assert.throws(() => plotCompare({ results: [] }), /nothing to plot/);
    assert.throws(() => plotCompare({}), /no results array/);
  });
});
