/**
 * Latency percentiles against throughput, as an SVG: one line per (system, percentile) through
 * the put cells of a bench:etcd run at rising concurrency (put_c1, put_c64, put_c256), so the
 * two systems' curves sit side by side: further right is more throughput, lower is less latency.
 * The latency axis is logarithmic (single-client and 256-client latencies differ by 100x).
 *
 * Input: docs/benchmarks/etcd-compare.json's `results` (rows with system, members, client,
 * workload, ops_per_sec, p50_us, p99_us). Output: a self-contained SVG (no scripts, no fonts
 * beyond the generic sans-serif), small enough to commit and show in the README.
 */

export interface PlotRow {
  system: string;
  members: number;
  client: string;
  workload: string;
  ops_per_sec: number;
  p50_us: number;
  p99_us: number;
}

export interface PlotSeries {
  label: string;
  color: string;
  dashed: boolean;
  points: { x: number; y: number; note: string }[];
}

/** The put workloads plotted, in order of concurrency. */
const PUT_CELLS = ["put_c1", "put_c64", "put_c256"];
const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 20, top: 40, bottom: 50 };
const COLORS: Record<string, string> = { etcd: "#d9534f", sisyphus: "#337ab7" };

/** The series to draw: for each system's 3-member run with the given clients, p50 (solid) and p99 (dashed). */
export function seriesFrom(rows: readonly PlotRow[], clients: Readonly<Record<string, string>>): PlotSeries[] {
  const series: PlotSeries[] = [];
  for (const [system, client] of Object.entries(clients)) {
    const cells = PUT_CELLS.map((w) => rows.find((r) => r.system === system && r.members === 3 && r.client === client && r.workload === w)).filter(
      (r): r is PlotRow => r !== undefined,
    );
    if (cells.length === 0) continue;
    for (const [percentile, key] of [["p50", "p50_us"], ["p99", "p99_us"]] as const) {
      series.push({
        label: `${system} ${percentile} (${client})`,
        color: COLORS[system] ?? "#555555",
        dashed: percentile === "p99",
        points: cells.map((r) => ({ x: r.ops_per_sec, y: r[key] / 1000, note: r.workload })),
      });
    }
  }
  return series;
}

export function renderSvg(series: readonly PlotSeries[], title: string): string {
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) throw new Error("nothing to plot: no put_c1/put_c64/put_c256 rows of 3-member runs");
  const xMax = niceCeil(Math.max(...points.map((p) => p.x)));
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...points.map((p) => p.y))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...points.map((p) => p.y))));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + (x / xMax) * plotW;
  const sy = (y: number): number => MARGIN.top + plotH - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const x = (xMax / 5) * i;
    out.push(`<line x1="${sx(x)}" y1="${MARGIN.top}" x2="${sx(x)}" y2="${MARGIN.top + plotH}" stroke="#eeeeee"/>`);
    out.push(`<text x="${sx(x)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${Math.round(x).toLocaleString("en-US")}</text>`);
  }
  for (let y = yMin; y <= yMax * 1.001; y *= 10) {
    out.push(`<line x1="${MARGIN.left}" y1="${sy(y)}" x2="${MARGIN.left + plotW}" y2="${sy(y)}" stroke="#eeeeee"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${sy(y) + 4}" text-anchor="end">${formatMs(y)}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999999"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">throughput (puts/s)</text>`);
  out.push(`<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">latency (ms, log scale)</text>`);
  series.forEach((s, i) => {
    const path = s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    for (const p of s.points) {
      out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${s.color}"><title>${escapeXml(`${s.label} ${p.note}: ${Math.round(p.x)} puts/s, ${p.y.toFixed(2)} ms`)}</title></circle>`);
    }
    const ly = MARGIN.top + 14 + i * 16;
    out.push(`<line x1="${MARGIN.left + 10}" y1="${ly - 4}" x2="${MARGIN.left + 34}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    out.push(`<text x="${MARGIN.left + 40}" y="${ly}">${escapeXml(s.label)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

function niceCeil(x: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(x));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= x) return step * magnitude;
  return 10 * magnitude;
}

function formatMs(ms: number): string {
  return ms >= 1 ? String(ms) : ms.toFixed(Math.ceil(-Math.log10(ms)));
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
