/**
 * Aligned tables for --write-out=table, drawn as etcdctl draws them: upper-case headers
 * centered, cells right-aligned (unless a column asks for left), `+---+` rules.
 *
 *   +------------------+---------+
 *   |        ID        | STATUS  |
 *   +------------------+---------+
 *   | 8211f1d0f64f3269 | started |
 *   +------------------+---------+
 */
function center(text: string, width: number): string {
  const left = Math.floor((width - text.length) / 2);
  return " ".repeat(left) + text + " ".repeat(width - text.length - left);
}

export type Alignment = "left" | "right";

/** The table of `rows` under `header`; `align` gives each column's alignment (default right). */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Alignment[] = []): string {
  const titles = header.map((h) => h.toUpperCase());
  const widths = titles.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+\n`;
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |\n`;
  const cell = (text: string, column: number): string => (align[column] === "left" ? text.padEnd(widths[column]) : text.padStart(widths[column]));
  const body = rows.map((row) => line(widths.map((_, column) => cell(row[column] ?? "", column)))).join("");
  return rule + line(titles.map((title, column) => center(title, widths[column]))) + rule + body + rule;
}
