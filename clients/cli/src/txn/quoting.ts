/**
 * The quoting of txn input, as etcdctl reads it: words separated by spaces; "double quoted"
 * strings with Go escapes (\n, \t, \\, \", \xHH, \ooo, \uHHHH, \UHHHHHHHH); 'single quoted'
 * strings taken literally; `backquoted` strings (in comparisons) taken literally.
 *
 * A token may hold any bytes ("\xff" is the byte 0xff, not U+00FF), so tokens are "byte
 * strings": one char per byte (latin1). `tokenBytes` turns one back into its bytes; flags,
 * being ASCII, read the same either way.
 */
import { UsageError } from "../errors.js";

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92, '"': 34, "'": 39 };

/**
 * The bytes of a byte-string token, as a plain Uint8Array: the SDK's prefixEnd takes
 * `key.slice()` as a copy, which a Buffer's slice is not (it is a view), so a Buffer key would
 * be changed in place by --prefix.
 */
export function tokenBytes(token: string): Uint8Array {
  return Uint8Array.from(Buffer.from(token, "latin1"));
}

/** Text as a byte string (its UTF-8 bytes, one char each). */
function utf8ByteString(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** Reads a quoted string starting at `start` (a `"` or a backquote). Returns the byte string and the index after the closing quote. */
export function readQuoted(line: string, start: number): { value: string; end: number } {
  const quote = line[start];
  if (quote === "`") {
    const close = line.indexOf("`", start + 1);
    if (close < 0) throw new UsageError("unterminated `quoted` string");
    return { value: utf8ByteString(line.slice(start + 1, close)), end: close + 1 };
  }
  if (quote !== '"') throw new UsageError(`expected a "quoted" string at ${JSON.stringify(line.slice(start))}`);
  let bytes = "";
  for (let i = start + 1; i < line.length; i++) {
    const c = line[i];
    if (c === '"') return { value: bytes, end: i + 1 };
    if (c !== "\\") {
      // The run up to the next quote or escape, converted whole so surrogate pairs stay together.
      let end = i;
      while (end < line.length && line[end] !== '"' && line[end] !== "\\") end++;
      bytes += utf8ByteString(line.slice(i, end));
      i = end - 1;
      continue;
    }
    const escape = line[++i];
    if (escape === undefined) break;
    if (escape in SIMPLE_ESCAPES) {
      bytes += String.fromCharCode(SIMPLE_ESCAPES[escape]);
    } else if (escape === "x") {
      bytes += String.fromCharCode(hexDigits(line, i + 1, 2));
      i += 2;
    } else if (escape === "u" || escape === "U") {
      const length = escape === "u" ? 4 : 8;
      const codePoint = hexDigits(line, i + 1, length);
      if (codePoint > 0x10ffff) throw new UsageError(`invalid escape \\${escape}${line.slice(i + 1, i + 1 + length)}`);
      bytes += utf8ByteString(String.fromCodePoint(codePoint));
      i += length;
    } else if (/[0-7]/.test(escape)) {
      const octal = line.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(octal) || parseInt(octal, 8) > 255) throw new UsageError(`invalid octal escape \\${octal}`);
      bytes += String.fromCharCode(parseInt(octal, 8));
      i += 2;
    } else {
      throw new UsageError(`invalid escape \\${escape}`);
    }
  }
  throw new UsageError(`unterminated "quoted" string: ${line.slice(start)}`);
}

function hexDigits(line: string, start: number, length: number): number {
  const digits = line.slice(start, start + length);
  if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(digits)) throw new UsageError(`invalid hex escape: expected ${length} hex digits, got ${JSON.stringify(digits)}`);
  return parseInt(digits, 16);
}

/** Splits a txn operation line into byte-string tokens (etcdctl's Argify). */
export function splitWords(line: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (/\s/.test(line[i])) {
      i++;
      continue;
    }
    if (line[i] === '"') {
      const { value, end } = readQuoted(line, i);
      tokens.push(value);
      i = end;
    } else if (line[i] === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new UsageError(`unterminated 'quoted' string: ${line.slice(i)}`);
      tokens.push(utf8ByteString(line.slice(i + 1, close)));
      i = close + 1;
    } else {
      let end = i;
      while (end < line.length && !/\s/.test(line[end])) end++;
      tokens.push(utf8ByteString(line.slice(i, end)));
      i = end;
    }
  }
  return tokens;
}
