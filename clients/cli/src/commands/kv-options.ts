/**
 * The flags of put, get and del and how they become SDK options. The txn command parses its
 * operations ("put k v --prev-kv", "get k --prefix") with the same flags and builders, so an
 * operation means the same inside a transaction as on the command line.
 */
import type { DeleteOptions, PutOptions, RangeOptions, SortOrderName, SortTargetName } from "@sisyphusdb/client";
import type { FlagSpec, ParsedFlags } from "../args/flags.js";
import { parseLeaseId } from "../args/lease-id.js";
import { UsageError } from "../errors.js";

/** A key or value: text from the command line (sent as UTF-8), or raw bytes from a txn's \x escapes. */
export type KeyBytes = string | Uint8Array;

export const PUT_FLAGS: readonly FlagSpec[] = [
  { name: "lease", kind: "value", valueName: "id", description: "Lease ID (in hexadecimal) to attach to the key; 0 for none" },
  { name: "prev-kv", kind: "boolean", description: "Print the previous key-value pair" },
  { name: "ignore-value", kind: "boolean", description: "Keep the current value (update only the lease); give no value" },
  { name: "ignore-lease", kind: "boolean", description: "Keep the current lease (update only the value)" },
];

export const RANGE_FLAGS: readonly FlagSpec[] = [
  { name: "prefix", kind: "boolean", description: "Every key that starts with <key>" },
  { name: "from-key", kind: "boolean", description: "Every key >= <key> (bytewise)" },
];

export const GET_FLAGS: readonly FlagSpec[] = [
  ...RANGE_FLAGS,
  { name: "rev", kind: "value", valueName: "revision", description: "Read the store as of this revision (default: the current one)" },
  { name: "limit", kind: "value", valueName: "n", description: "Return at most n keys (default: no limit)" },
  { name: "keys-only", kind: "boolean", description: "Get only the keys (values print as empty lines)" },
  { name: "count-only", kind: "boolean", description: "Get only the number of keys" },
  { name: "print-value-only", kind: "boolean", description: "Print only the values (simple output)" },
  { name: "sort-by", kind: "value", valueName: "target", description: "Sort by KEY, VERSION, CREATE, MODIFY or VALUE" },
  { name: "order", kind: "value", valueName: "order", description: "ASCEND or DESCEND (ASCEND when only --sort-by is given)" },
  { name: "consistency", kind: "value", valueName: "l|s", description: "Linearizable (l, default) or serializable (s: local, may be stale)" },
];

export const DEL_FLAGS: readonly FlagSpec[] = [...RANGE_FLAGS, { name: "prev-kv", kind: "boolean", description: "Print the deleted key-value pairs" }];

const SORT_TARGETS: Readonly<Record<string, SortTargetName>> = {
  KEY: "key",
  VERSION: "version",
  CREATE: "createRevision",
  MODIFY: "modRevision",
  VALUE: "value",
};
const SORT_ORDERS: Readonly<Record<string, SortOrderName>> = { ASCEND: "ascend", DESCEND: "descend" };

export function putOptions(flags: ParsedFlags): PutOptions {
  const leaseText = flags.string("lease");
  return {
    lease: leaseText === undefined || leaseText === "0" ? undefined : parseLeaseId(leaseText),
    prevKv: flags.boolean("prev-kv"),
    ignoreValue: flags.boolean("ignore-value"),
    ignoreLease: flags.boolean("ignore-lease"),
  };
}

/** The key and the range selector of a get, del or watch: <key> [range_end], --prefix or --from-key. */
export function rangeSelectorOf(command: string, args: readonly KeyBytes[], flags: ParsedFlags): { key: KeyBytes; rangeEnd?: KeyBytes; prefix?: boolean; fromKey?: boolean } {
  const prefix = flags.boolean("prefix");
  const fromKey = flags.boolean("from-key");
  if (prefix && fromKey) throw new UsageError("--prefix and --from-key cannot be set at the same time, choose one");
  const [key, rangeEnd] = args;
  if (rangeEnd !== undefined) {
    if (prefix || fromKey) throw new UsageError(`${command} takes no range_end with --prefix or --from-key`);
    return { key, rangeEnd };
  }
  return { key, prefix, fromKey };
}

function enumFlag<T>(flags: ParsedFlags, name: string, values: Readonly<Record<string, T>>): T | undefined {
  const text = flags.string(name);
  if (text === undefined) return undefined;
  const value = values[text.toUpperCase()];
  if (value === undefined) throw new UsageError(`bad --${name} ${JSON.stringify(text)}: expected one of ${Object.keys(values).join(", ")}`);
  return value;
}

export function rangeOptions(args: readonly KeyBytes[], flags: ParsedFlags): RangeOptions {
  if (flags.boolean("keys-only") && flags.boolean("count-only")) {
    throw new UsageError("--keys-only and --count-only cannot be set at the same time, choose one");
  }
  const consistency = flags.string("consistency") ?? "l";
  if (consistency !== "l" && consistency !== "s") throw new UsageError(`unknown --consistency ${JSON.stringify(consistency)}: expected l or s`);
  const sortTarget = enumFlag(flags, "sort-by", SORT_TARGETS);
  const sortOrder = enumFlag(flags, "order", SORT_ORDERS) ?? (sortTarget === undefined ? undefined : "ascend");
  return {
    ...rangeSelectorOf("get", args, flags),
    revision: flags.integer("rev", 0),
    limit: flags.integer("limit", 0),
    keysOnly: flags.boolean("keys-only"),
    countOnly: flags.boolean("count-only"),
    sortTarget,
    sortOrder,
    serializable: consistency === "s",
  };
}

export function deleteOptions(args: readonly KeyBytes[], flags: ParsedFlags): { key: KeyBytes; options: DeleteOptions } {
  const { key, ...selector } = rangeSelectorOf("del", args, flags);
  return { key, options: { ...selector, prevKv: flags.boolean("prev-kv") } };
}
