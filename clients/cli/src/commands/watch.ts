/**
 * watch: prints the changes to a key or range as they happen, until Ctrl-C (exit 0), until
 * --max-events events were printed (exit 0), or until the watch fails (exit 1).
 *
 * The watch must be created within --command-timeout (so a dead endpoint fails instead of
 * waiting forever); after that it has no deadline, and the SDK resumes it on another endpoint
 * (or the same one, back up) without a gap or a duplicate when the stream drops.
 */
import { Code, ConnectError, type WatchBatch } from "@sisyphusdb/client";
import type { Command, CommandContext } from "../command.js";
import { watchJson } from "../output/etcd-json.js";
import { encodeJson } from "../output/json.js";
import { printKeyValue } from "../output/kv-output.js";
import { RANGE_FLAGS, rangeSelectorOf } from "./kv-options.js";
import { SIMPLE_JSON } from "./output-formats.js";

/** Prints one batch (at most `limit` of its events); returns how many events it printed. */
function printBatch(ctx: CommandContext, batch: WatchBatch, limit: number): number {
  const events = batch.events.slice(0, limit);
  if (ctx.options.writeOut === "json") {
    ctx.out.line(encodeJson(watchJson({ ...batch, events })));
    return events.length;
  }
  if (batch.events.length === 0) ctx.out.line(`progress notify: ${batch.revision}`);
  for (const event of events) {
    ctx.out.line(event.type === "delete" ? "DELETE" : "PUT");
    if (event.prevKv !== undefined) printKeyValue(ctx.out, event.prevKv, { hex: ctx.options.hex });
    printKeyValue(ctx.out, event.kv, { hex: ctx.options.hex });
  }
  return events.length;
}

export const watchCommand: Command = {
  kind: "command",
  name: "watch",
  usage: "watch [options] <key> [range_end]",
  summary: "Watches a key or a range of keys for changes",
  description: `Prints each event as etcdctl does: PUT or DELETE, then (with --prev-kv) the previous key
and value, then the key and value. Runs until Ctrl-C (exit 0), or until --max-events events.
With --progress-notify, quiet periods print "progress notify: <revision>".`,
  flags: [
    ...RANGE_FLAGS,
    { name: "rev", kind: "value", valueName: "revision", description: "Start from this revision (inclusive), replaying history (default: changes from now on)" },
    { name: "prev-kv", kind: "boolean", description: "Print each event's previous key-value pair" },
    { name: "progress-notify", kind: "boolean", description: "Ask for progress notifications while the range is quiet" },
    { name: "max-events", kind: "value", valueName: "n", description: "Exit (0) after printing n events (default: run until Ctrl-C)" },
  ],
  args: { min: 1, max: 2 },
  outputs: SIMPLE_JSON,
  async run(ctx, args, flags) {
    const { key, ...selector } = rangeSelectorOf("watch", args, flags);
    const startRevision = flags.integer("rev", 0);
    const maxEvents = flags.integer("max-events", 1) ?? Infinity;
    const watcher = ctx.client().watch(key, {
      ...selector,
      startRevision,
      prevKv: flags.boolean("prev-kv"),
      progressNotify: flags.boolean("progress-notify"),
    });
    const timeoutMs = ctx.options.commandTimeoutMs;
    const creationTimer = setTimeout(
      () => watcher.stop(new ConnectError(`the watch was not created within --command-timeout (${timeoutMs} ms)`, Code.DeadlineExceeded)),
      timeoutMs,
    );
    watcher.ready.then(
      () => clearTimeout(creationTimer),
      () => clearTimeout(creationTimer),
    );
    const stopOnInterrupt = ctx.io.onInterrupt(() => watcher.cancel());
    try {
      let printed = 0;
      for await (const batch of watcher) {
        printed += printBatch(ctx, batch, maxEvents - printed);
        if (printed >= maxEvents) break;
      }
    } finally {
      clearTimeout(creationTimer);
      stopOnInterrupt();
      watcher.cancel();
    }
  },
};
