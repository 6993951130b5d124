/**
 * etcdctl's txn input language, line by line:
 *
 *   <compare> ::= <target> "(" <key> ")" <op> <value>
 *       target: c | create | m | mod | val | value | ver | version | lease
 *       op:     = (or ==) | != | < | >
 *       key, value: "quoted" (Go escapes) or `raw`; revisions and versions are decimal, a
 *       lease ID hexadecimal: mod("k") > "3", value("k") = "v", lease("k") = "694d7b5b3d6a1b0c"
 *   <operation> ::= put <key> <value> [put flags] | get <key> [range_end] [get flags] | del <key> [range_end] [del flags]
 *       words split at spaces, "quoted" and 'quoted' words as in the shell.
 */
import { cmp, op, type AnyOp, type Comparison, type CompareTarget, type DeleteResult, type PutResult, type RangeResult } from "@sisyphusdb/client";
import { parseFlags, parseInteger, type FlagSpec, type ParsedFlags } from "../args/flags.js";
import { parseLeaseId } from "../args/lease-id.js";
import { DEL_FLAGS, GET_FLAGS, PUT_FLAGS, deleteOptions, putOptions, rangeOptions } from "../commands/kv-options.js";
import { UsageError } from "../errors.js";
import type { Output } from "../io.js";
import { deleteJson, putJson, rangeJson, type TxnResponseJson } from "../output/etcd-json.js";
import { printDelete, printPut, printRange, type KvPrintOptions } from "../output/kv-output.js";
import { readQuoted, splitWords, tokenBytes } from "./quoting.js";

/** One operation of a branch, with how to print its result. */
export interface TxnStep {
  readonly op: AnyOp;
  printSimple(out: Output, result: unknown, options: KvPrintOptions): void;
  toJson(result: unknown): TxnResponseJson;
}

/**
 * Pairs an operation with printers of its result type. The SDK decodes each result with the
 * decoder of the operation at the same position (TxnResult.responses), so the result handed to
 * this step's printers is the R of this step's Op<R>; TxnResult cannot carry that per element
 * for a list built at run time, hence the one cast here.
 */
function step<R>(operation: AnyOp, simple: (out: Output, result: R, options: KvPrintOptions) => void, json: (result: R) => TxnResponseJson): TxnStep {
  return {
    op: operation,
    printSimple: (out, result, options) => simple(out, result as R, options),
    toJson: (result) => json(result as R),
  };
}

type CompareKind = "create" | "mod" | "value" | "version" | "lease";
const TARGETS: Readonly<Record<string, CompareKind>> = {
  c: "create",
  create: "create",
  m: "mod",
  mod: "mod",
  val: "value",
  value: "value",
  ver: "version",
  version: "version",
  lease: "lease",
};

/** Runs `parse`, putting the line into the message of any UsageError it throws. */
function withLine<T>(what: string, line: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${what}: ${line} (${err.message})`);
    throw err;
  }
}

function compare<V>(target: CompareTarget<V>, operator: string, value: V): Comparison {
  switch (operator) {
    case "=":
    case "==":
      return target.equal(value);
    case "!=":
      return target.notEqual(value);
    case "<":
      return target.less(value);
    default:
      return target.greater(value);
  }
}

/** Parses one comparison line, e.g. `mod("key1") > "0"`. */
export function parseCompare(line: string): Comparison {
  return withLine("malformed comparison", line, () => parseCompareText(line));
}

function parseCompareText(line: string): Comparison {
  const open = line.indexOf("(");
  if (open < 0) throw new UsageError('expected target("key") <op> "value"');
  const targetName = line.slice(0, open).trim();
  const kind = TARGETS[targetName];
  if (kind === undefined) throw new UsageError(`unknown target ${JSON.stringify(targetName)}; expected create, mod, value, version or lease`);
  const quotedKey = readQuoted(line, open + 1);
  const rest = /^\)\s*(==|!=|=|<|>)\s*/.exec(line.slice(quotedKey.end));
  if (rest === null) throw new UsageError('expected ) then one of = != < > after the "key"');
  const quotedValue = readQuoted(line, quotedKey.end + rest[0].length);
  if (line.slice(quotedValue.end).trim() !== "") throw new UsageError("unexpected text after the value");
  const key = tokenBytes(quotedKey.value);
  const operator = rest[1];
  const valueText = quotedValue.value;
  switch (kind) {
    case "value":
      return compare(cmp.value(key), operator, tokenBytes(valueText));
    case "lease":
      return compare(cmp.lease(key), operator, valueText === "0" ? 0n : parseLeaseId(valueText));
    case "create":
      return compare(cmp.createRevision(key), operator, parseInteger(valueText, "revision", 0));
    case "mod":
      return compare(cmp.modRevision(key), operator, parseInteger(valueText, "revision", 0));
    case "version":
      return compare(cmp.version(key), operator, parseInteger(valueText, "version", 0));
  }
}

function parseOperationFlags(words: readonly string[], specs: readonly FlagSpec[], min: number, max: number): { args: Uint8Array[]; flags: ParsedFlags } {
  const { flags, positionals } = parseFlags(words, specs);
  if (positionals.length < min || positionals.length > max) {
    throw new UsageError(`takes ${min === max ? min : `${min} to ${max}`} arguments, got ${positionals.length}`);
  }
  return { args: positionals.map(tokenBytes), flags };
}

/** Parses one operation line, e.g. `put key1 "overwrote-key1"`. */
export function parseOperation(line: string): TxnStep {
  return withLine("invalid txn request", line, () => parseOperationText(line));
}

function parseOperationText(line: string): TxnStep {
  const words = splitWords(line);
  const [command, ...rest] = words;
  switch (command) {
    case "put": {
      const { args, flags } = parseOperationFlags(rest, PUT_FLAGS, 1, 2);
      const options = putOptions(flags);
      if (options.ignoreValue === true ? args.length !== 1 : args.length !== 2) {
        throw new UsageError("put takes <key> <value>, or only <key> with --ignore-value");
      }
      const operation = op.put(args[0], args[1] ?? new Uint8Array(0), options);
      return step<PutResult>(operation, printPut, (r) => ({ Response: { response_put: putJson(r) } }));
    }
    case "get": {
      const { args, flags } = parseOperationFlags(rest, GET_FLAGS, 1, 2);
      const options = rangeOptions(args, flags);
      const printOptions = { valueOnly: flags.boolean("print-value-only"), countOnly: options.countOnly };
      return step<RangeResult>(
        op.range(options),
        (out, r, base) => printRange(out, r, { ...base, ...printOptions }),
        (r) => ({ Response: { response_range: rangeJson(r) } }),
      );
    }
    case "del": {
      const { args, flags } = parseOperationFlags(rest, DEL_FLAGS, 1, 2);
      const { key, options } = deleteOptions(args, flags);
      return step<DeleteResult>(op.delete(key, options), printDelete, (r) => ({ Response: { response_delete_range: deleteJson(r) } }));
    }
    default:
      throw new UsageError("expected put, get or del");
  }
}
