/** The key-value commands: put, get, del, compaction. */
import type { Command } from "../command.js";
import { parseInteger } from "../args/flags.js";
import { UsageError } from "../errors.js";
import { readAll } from "../io.js";
import { deleteJson, headerJson, putJson, rangeJson } from "../output/etcd-json.js";
import { encodeJson } from "../output/json.js";
import { printDelete, printPut, printRange, rangeTable } from "../output/kv-output.js";
import { DEL_FLAGS, GET_FLAGS, PUT_FLAGS, deleteOptions, putOptions, rangeOptions } from "./kv-options.js";
import { ALL_FORMATS, SIMPLE_JSON } from "./output-formats.js";

export const putCommand: Command = {
  kind: "command",
  name: "put",
  usage: "put [options] <key> [value]",
  summary: "Puts the given key into the store",
  description: `Without <value>, the value is read from standard input (all of it, bytes as they are).
A value that starts with '-' needs '--' before it: sisyphusctl put -- <key> <value>.
Prints OK, then (with --prev-kv) the previous key and value.`,
  flags: PUT_FLAGS,
  args: { min: 1, max: 2 },
  outputs: SIMPLE_JSON,
  async run(ctx, args, flags) {
    const options = putOptions(flags);
    let value: string | Uint8Array;
    if (options.ignoreValue === true) {
      if (args.length > 1) throw new UsageError("put takes no value with --ignore-value");
      value = "";
    } else if (args.length > 1) {
      value = args[1];
    } else {
      value = await readAll(ctx.io.stdin);
      if (value.length === 0) throw new UsageError("put needs a value: give it as the second argument or on standard input");
    }
    const result = await ctx.client().put(args[0], value, options);
    if (ctx.options.writeOut === "json") ctx.out.line(encodeJson(putJson(result)));
    else printPut(ctx.out, result, { hex: ctx.options.hex });
  },
};

export const getCommand: Command = {
  kind: "command",
  name: "get",
  usage: "get [options] <key> [range_end]",
  summary: "Gets the key or a range of keys",
  description: `Gets <key>, or the keys in [key, range_end), or with --prefix every key starting with <key>,
or with --from-key every key >= <key>. 'get --prefix ""' gets every key.
Simple output: each key on a line, then its value on the next line.`,
  flags: GET_FLAGS,
  args: { min: 1, max: 2 },
  outputs: ALL_FORMATS,
  async run(ctx, args, flags) {
    const options = rangeOptions(args, flags);
    const valueOnly = flags.boolean("print-value-only");
    if (valueOnly && ctx.options.writeOut !== "simple") throw new UsageError("--print-value-only is only for --write-out=simple");
    const result = await ctx.client().range(options);
    switch (ctx.options.writeOut) {
      case "json":
        ctx.out.line(encodeJson(rangeJson(result)));
        return;
      case "table":
        ctx.out.write(rangeTable(result, { hex: ctx.options.hex, keysOnly: options.keysOnly === true, countOnly: options.countOnly === true }));
        return;
      case "simple":
        printRange(ctx.out, result, { hex: ctx.options.hex, valueOnly, countOnly: options.countOnly });
    }
  },
};

export const delCommand: Command = {
  kind: "command",
  name: "del",
  usage: "del [options] <key> [range_end]",
  summary: "Removes the specified key or range of keys [key, range_end)",
  description: "Prints the number of keys deleted, then (with --prev-kv) each deleted key and value.",
  flags: DEL_FLAGS,
  args: { min: 1, max: 2 },
  outputs: SIMPLE_JSON,
  async run(ctx, args, flags) {
    const { key, options } = deleteOptions(args, flags);
    const result = await ctx.client().delete(key, options);
    if (ctx.options.writeOut === "json") ctx.out.line(encodeJson(deleteJson(result)));
    else printDelete(ctx.out, result, { hex: ctx.options.hex });
  },
};

export const compactionCommand: Command = {
  kind: "command",
  name: "compaction",
  usage: "compaction [options] <revision>",
  summary: "Compacts the event history before the given revision",
  description: "Revisions before <revision> can no longer be read or watched. Prints 'compacted revision <revision>'.",
  flags: [{ name: "physical", kind: "boolean", description: "Wait until the old revisions are physically removed from storage" }],
  args: { min: 1, max: 1 },
  outputs: SIMPLE_JSON,
  async run(ctx, args, flags) {
    const revision = parseInteger(args[0], "revision", 1);
    const result = await ctx.client().compact(revision, { physical: flags.boolean("physical") });
    if (ctx.options.writeOut === "json") ctx.out.line(encodeJson({ header: headerJson(result.header) }));
    else ctx.out.line(`compacted revision ${revision}`);
  },
};
