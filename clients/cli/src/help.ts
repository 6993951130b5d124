/** The --help texts: of the CLI, of a command group, of a command. */
import type { FlagSpec } from "./args/flags.js";
import type { Command, CommandGroup, CommandSection } from "./command.js";
import { GLOBAL_FLAGS, environmentVariable } from "./global-options.js";

const PROGRAM = "sisyphusctl";

function flagSynopsis(flag: FlagSpec): string {
  const long = `--${flag.name}${flag.kind === "value" ? ` <${flag.valueName ?? "value"}>` : ""}`;
  return flag.short === undefined ? long : `-${flag.short}, ${long}`;
}

function list(entries: readonly (readonly [string, string])[], width = Math.max(...entries.map(([name]) => name.length))): string {
  return entries.map(([name, text]) => `  ${name.padEnd(width)}  ${text}\n`).join("");
}

function flagList(flags: readonly FlagSpec[]): string {
  return list(flags.map((f) => [flagSynopsis(f), f.description]));
}

const GLOBAL_SECTION = `Global options (also SISYPHUSCTL_<FLAG>, e.g. ${environmentVariable("endpoints")}):\n${flagList(GLOBAL_FLAGS.filter((f) => f.name !== "help"))}`;

export function rootHelp(sections: readonly CommandSection[]): string {
  const width = Math.max(...sections.flatMap((s) => s.commands.map((c) => c.name.length)));
  const body = sections.map((s) => `${s.title}:\n${list(s.commands.map((c) => [c.name, c.summary]), width)}`).join("\n");
  return `${PROGRAM}: the SisyphusDB command-line client

Usage:
  ${PROGRAM} [global options] <command> [options] [arguments]

${body}
${GLOBAL_SECTION}
Run '${PROGRAM} <command> --help' for more about a command.
`;
}

export function groupHelp(group: CommandGroup): string {
  return `${group.summary}

Usage:
  ${PROGRAM} ${group.name} <subcommand> [options] [arguments]

Subcommands:
${list(group.subcommands.map((c) => [c.name, c.summary]))}
Run '${PROGRAM} ${group.name} <subcommand> --help' for more about a subcommand.
`;
}

export function commandHelp(command: Command): string {
  const description = command.description === undefined ? "" : `\n${command.description}\n`;
  const options = command.flags.length === 0 ? "" : `\nOptions:\n${flagList(command.flags)}`;
  return `${command.summary}.

Usage:
  ${PROGRAM} ${command.usage}
${description}${options}
Output formats (-w): ${command.outputs.join(", ")}

${GLOBAL_SECTION}`;
}

/** The short hint printed after a usage error; `path` is the command words, e.g. ["lease", "grant"]. */
export function usageHint(node: Command | CommandGroup | undefined, path: readonly string[]): string {
  if (node === undefined) return `Run '${PROGRAM} --help' for the commands.`;
  const words = path.join(" ");
  if (node.kind === "group") return `Usage: ${PROGRAM} ${words} <subcommand>\nRun '${PROGRAM} ${words} --help' for the subcommands.`;
  return `Usage: ${PROGRAM} ${node.usage}\nRun '${PROGRAM} ${words} --help' for more.`;
}
