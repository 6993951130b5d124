/**
 * CRC-32C (Castagnoli), the checksum of every WAL record, SSTable block and manifest record.
 * Long inputs go to @node-rs/crc32's native implementation (about 4x the JavaScript loop on a
 * 4 KiB block, which matters because every block read is verified); short ones, and machines
 * where the native package is missing, use the slicing-by-8 JavaScript below (eight 256-entry
 * tables let the loop consume 8 bytes per iteration).
 * Stored checksums are masked (as LevelDB does) so that a CRC computed over data that itself
 * contains CRCs does not degenerate.
 */

import { createRequire } from "node:module";

type NativeCrc32c = (input: Buffer, initialState?: number) => number;

function loadNative(): NativeCrc32c | undefined {
  if (process.env.SISYPHUS_CRC32C_JS === "1") return undefined;
  try {
    const mod = createRequire(import.meta.url)("@node-rs/crc32") as { crc32c?: NativeCrc32c };
    return typeof mod.crc32c === "function" ? mod.crc32c : undefined;
  } catch {
    return undefined;
  }
}

const native = loadNative();
/** Below this many bytes the call into native code costs more than the JavaScript loop. */
const NATIVE_MIN_BYTES = 256;

/** Which implementation long inputs use (reported by benchmarks). */
export const crc32cImplementation: "native" | "javascript" = native ? "native" : "javascript";

const POLY = 0x82f63b78;
const TABLES: Uint32Array[] = [];

function buildTables(): void {
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[i] = c >>> 0;
  }
  TABLES.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = TABLES[t - 1]!;
    const cur = new Uint32Array(256);
    for (let i = 0; i < 256; i++) cur[i] = (prev[i]! >>> 8) ^ t0[prev[i]! & 0xff]!;
    TABLES.push(cur);
  }
}
buildTables();
const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
];

/** Extends `crc` (0 for a fresh checksum) over buf[start, end). */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  if (native !== undefined && end - start >= NATIVE_MIN_BYTES) {
    return native(Buffer.from(buf.buffer, buf.byteOffset + start, end - start), crc) >>> 0;
  }
  return crc32cUpdateJs(crc, buf, start, end);
}

/** The portable implementation (also the reference the native one is tested against). */
export function crc32cUpdateJs(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = ~crc >>> 0;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    const lo = (c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    c =
      T7[lo & 0xff]! ^
      T6[(lo >>> 8) & 0xff]! ^
      T5[(lo >>> 16) & 0xff]! ^
      T4[lo >>> 24]! ^
      T3[buf[i + 4]!]! ^
      T2[buf[i + 5]!]! ^
      T1[buf[i + 6]!]! ^
      T0[buf[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = T0[(c ^ buf[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc32cUpdate(0, buf, start, end);
}

const MASK_DELTA = 0xa282ead8;

export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
