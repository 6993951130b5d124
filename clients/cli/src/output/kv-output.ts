/**
 * The simple and table output of the KV results, shared by get/put/del and by txn (which
 * prints each operation's result the way the command of the same name does).
 *
 * Simple output writes keys and values as raw bytes, one per line, as etcdctl does
 * (`get foo` prints "foo\nbar\n"); --hex writes them as \xNN escapes instead.
 */
import type { DeleteResult, KeyValue, PutResult, RangeResult } from "@sisyphusdb/client";
import type { Output } from "../io.js";
import { renderTable } from "./table.js";
import { hexEscaped, leaseIdHex, printable } from "./text.js";

export interface KvPrintOptions {
  hex: boolean;
  /** Print only the values (get --print-value-only). */
  valueOnly?: boolean;
}

/** A key line then a value line (keys-only reads print an empty value line, as etcdctl). */
export function printKeyValue(out: Output, kv: KeyValue, options: KvPrintOptions): void {
  if (options.valueOnly !== true) out.line(options.hex ? hexEscaped(kv.key) : kv.key);
  out.line(options.hex ? hexEscaped(kv.value) : kv.value);
}

/** "OK", then the previous pair when --prev-kv found one. */
export function printPut(out: Output, result: PutResult, options: KvPrintOptions): void {
  out.line("OK");
  if (result.prevKv !== undefined) printKeyValue(out, result.prevKv, options);
}

/** The pairs; with countOnly, just the count. */
export function printRange(out: Output, result: RangeResult, options: KvPrintOptions & { countOnly?: boolean }): void {
  if (options.countOnly === true) {
    out.line(String(result.count));
    return;
  }
  for (const kv of result.kvs) printKeyValue(out, kv, options);
}

/** The number deleted, then the deleted pairs when --prev-kv asked for them. */
export function printDelete(out: Output, result: DeleteResult, options: KvPrintOptions): void {
  out.line(String(result.deleted));
  for (const kv of result.prevKvs) printKeyValue(out, kv, options);
}

/** get -w table: one row per key with its metadata; the count alone with --count-only. */
export function rangeTable(result: RangeResult, options: { hex: boolean; keysOnly: boolean; countOnly: boolean }): string {
  if (options.countOnly) return renderTable(["count"], [[String(result.count)]]);
  const header = ["key", ...(options.keysOnly ? [] : ["value"]), "create revision", "mod revision", "version", "lease"];
  const rows = result.kvs.map((kv) => [
    printable(kv.key, options.hex),
    ...(options.keysOnly ? [] : [printable(kv.value, options.hex)]),
    String(kv.createRevision),
    String(kv.modRevision),
    String(kv.version),
    kv.lease === 0n ? "" : leaseIdHex(kv.lease),
  ]);
  // Keys and values read better left-aligned; the numbers stay right-aligned.
  const align = header.map((column) => (column === "key" || column === "value" ? "left" : "right"));
  return renderTable(header, rows, align);
}
