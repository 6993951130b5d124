/**
 * sisyphusctl, the SisyphusDB command-line client in etcdctl's style. main() runs one command
 * line and returns the exit code: 0 success, 1 a failed operation, 2 bad usage (see errors.ts).
 * Expected failures print one "Error: ..." line (plus the usage for usage errors) on stderr,
 * never a stack trace.
 */
import { parseFlags } from "./args/flags.js";
import type { Command } from "./command.js";
import { COMMAND_SECTIONS } from "./commands/index.js";
import { EXIT_OK, UsageError, errorLine, exitCodeOf } from "./errors.js";
import { GLOBAL_FLAGS, resolveGlobalOptions } from "./global-options.js";
import { commandHelp, groupHelp, rootHelp, usageHint } from "./help.js";
import { Output, processIo, type Io } from "./io.js";
import { resolveCommand, type Resolved } from "./resolve.js";
import { Session } from "./session.js";

function checkArguments(command: Command, args: readonly string[]): void {
  const { min, max, missing } = command.args;
  if (args.length >= min && args.length <= max) return;
  if (args.length < min && missing !== undefined) throw new UsageError(missing);
  if (args.length < min) throw new UsageError(`${command.name} needs ${min === max ? min : `at least ${min}`} argument${min === 1 ? "" : "s"}, got ${args.length}`);
  throw new UsageError(`${command.name} takes ${max === 0 ? "no" : `at most ${max}`} argument${max === 1 ? "" : "s"}, got ${args.length}: ${args.join(" ")}`);
}

async function runResolved(resolved: Resolved, io: Io): Promise<number> {
  const out = new Output(io.stdout);
  const { node } = resolved;
  const flagSpecs = node?.kind === "command" ? [...GLOBAL_FLAGS, ...node.flags] : GLOBAL_FLAGS;
  const { flags, positionals } = parseFlags(resolved.rest, flagSpecs);
  if (resolved.helpRequested || flags.boolean("help")) {
    out.write(node === undefined ? rootHelp(COMMAND_SECTIONS) : node.kind === "group" ? groupHelp(node) : commandHelp(node));
    return EXIT_OK;
  }
  if (node === undefined) {
    if (positionals.length === 0) throw new UsageError("no command given", rootHelp(COMMAND_SECTIONS).trimEnd());
    throw new UsageError(`unknown command "${positionals[0]}"`);
  }
  if (node.kind === "group") throw new UsageError(`${node.name} needs a subcommand: ${node.subcommands.map((c) => c.name).join(", ")}`);
  checkArguments(node, positionals);
  const options = resolveGlobalOptions(flags, io.env);
  if (!node.outputs.includes(options.writeOut)) {
    throw new UsageError(`--write-out=${options.writeOut} is not supported by "${resolved.path.join(" ")}" (supported: ${node.outputs.join(", ")})`);
  }
  const session = new Session(io, options);
  try {
    await node.run(session, positionals, flags);
  } finally {
    await session.close();
  }
  return EXIT_OK;
}

/** Runs one command line (without the program name) and returns the exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const stderr = new Output(io.stderr);
  let resolved: Resolved | undefined;
  try {
    resolved = resolveCommand(argv, COMMAND_SECTIONS);
    return await runResolved(resolved, io);
  } catch (err) {
    stderr.line(`Error: ${errorLine(err)}`);
    if (err instanceof UsageError) stderr.line(err.hint ?? usageHint(resolved?.node, resolved?.path ?? []));
    return exitCodeOf(err);
  }
}
