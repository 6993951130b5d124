/**
 * txn: reads a transaction in etcdctl's syntax from standard input (see txn/txn-syntax.ts):
 * comparisons, a blank line, the operations to run when they all hold, a blank line, the
 * operations to run otherwise (then a blank line or the end of input).
 */
import { createInterface } from "node:readline";
import type { Comparison } from "@sisyphusdb/client";
import type { Command } from "../command.js";
import { UsageError } from "../errors.js";
import { txnJson } from "../output/etcd-json.js";
import { encodeJson } from "../output/json.js";
import { parseCompare, parseOperation, type TxnStep } from "../txn/txn-syntax.js";
import { SIMPLE_JSON } from "./output-formats.js";

/** The most lines of one section; a runaway input fails instead of growing without bound. */
const SECTION_LINES_MAX = 10_000;

/** Reads the lines of one section: up to a blank line or the end of input. */
async function readSection<T>(lines: AsyncIterator<string>, parse: (line: string) => T): Promise<T[]> {
  const items: T[] = [];
  for (let count = 0; count < SECTION_LINES_MAX; count++) {
    const next = await lines.next();
    if (next.done === true) return items;
    const line = next.value.trim();
    if (line === "") return items;
    items.push(parse(line));
  }
  throw new UsageError(`a txn section has more than ${SECTION_LINES_MAX} lines`);
}

export const txnCommand: Command = {
  kind: "command",
  name: "txn",
  usage: "txn [options]",
  summary: "Runs a transaction read from standard input",
  description: `Input: comparisons, a blank line, success operations, a blank line, failure operations:

  mod("key1") > "0"

  put key1 "overwrote-key1"

  put key1 "created-key1"
  put key2 "some extra key"

Comparisons: create("k"), mod("k"), value("k"), version("k") or lease("k"), then = != < >, then
a "quoted" value (revisions and versions in decimal, lease IDs in hex). Operations: put, get
and del with their command-line arguments and flags. Prints SUCCESS or FAILURE, then each
operation's result after a blank line, as put, get and del print them.`,
  flags: [{ name: "interactive", short: "i", kind: "boolean", description: "Prompt for each section" }],
  args: { min: 0, max: 0 },
  outputs: SIMPLE_JSON,
  async run(ctx, _args, flags) {
    const interactive = flags.boolean("interactive");
    const prompt = (text: string): void => {
      if (interactive) ctx.out.line(text);
    };
    const reader = createInterface({ input: ctx.io.stdin, crlfDelay: Infinity, terminal: false });
    const lines = reader[Symbol.asyncIterator]();
    let compares: Comparison[];
    let success: TxnStep[];
    let failure: TxnStep[];
    try {
      prompt("compares:");
      compares = await readSection(lines, parseCompare);
      prompt("success requests (get, put, del):");
      success = await readSection(lines, parseOperation);
      prompt("failure requests (get, put, del):");
      failure = await readSection(lines, parseOperation);
    } finally {
      reader.close();
    }
    const result = await ctx
      .client()
      .txn()
      .if(...compares)
      .then(...success.map((s) => s.op))
      .else(...failure.map((s) => s.op))
      .commit();
    const steps = result.succeeded ? success : failure;
    if (ctx.options.writeOut === "json") {
      ctx.out.line(encodeJson(txnJson(result.succeeded, result.header, steps.map((s, i) => s.toJson(result.responses[i])))));
      return;
    }
    ctx.out.line(result.succeeded ? "SUCCESS" : "FAILURE");
    steps.forEach((s, i) => {
      ctx.out.line();
      s.printSimple(ctx.out, result.responses[i], { hex: ctx.options.hex });
    });
  },
};
