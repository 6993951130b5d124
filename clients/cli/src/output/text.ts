/** How keys, values, IDs and sizes are written in the simple and table formats. */

/** etcdctl's --hex form: each byte as \xNN ("foo" -> "\x66\x6f\x6f"). */
export function hexEscaped(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
}

/** A key or value for a table cell: UTF-8 text with control characters \x-escaped, so one cell stays on one line. */
export function printable(bytes: Uint8Array, hex: boolean): string {
  if (hex) return hexEscaped(bytes);
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return Buffer.from(bytes).toString("utf8").replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** A lease ID as etcdctl prints it: 16 hex digits. */
export function leaseIdHex(id: bigint): string {
  return id.toString(16).padStart(16, "0");
}

/** A member ID as etcdctl prints it: hex without padding. */
export function memberIdHex(id: bigint): string {
  return id.toString(16);
}

const SIZE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

/** A byte count in SI units as etcdctl prints sizes (go-humanize): "140 B", "25 kB", "1.2 MB". */
export function humanBytes(bytes: number): string {
  if (bytes < 10) return `${bytes} B`;
  const exponent = Math.min(Math.floor(Math.log10(bytes) / 3), SIZE_UNITS.length - 1);
  const scaled = Math.floor((bytes / 1000 ** exponent) * 10 + 0.5) / 10;
  return `${scaled < 10 ? scaled.toFixed(1) : scaled.toFixed(0)} ${SIZE_UNITS[exponent]}`;
}
