/**
 * Finds the command a command line names. Global flags may come anywhere; the command's own
 * flags come after its name (`sisyphusctl -w json get --prefix foo`). The words before the
 * command's arguments walk the tree ("lease" then "grant"); `help <command>` asks for help.
 */
import { isFlagToken, splitFlagToken } from "./args/flags.js";
import type { CommandNode, CommandSection } from "./command.js";
import { UsageError } from "./errors.js";
import { GLOBAL_FLAGS } from "./global-options.js";
import { usageHint } from "./help.js";

export interface Resolved {
  /** The command or group named; undefined for none (the root). */
  node: CommandNode | undefined;
  /** The command words, e.g. ["lease", "grant"]. */
  path: string[];
  /** The command line without the command words: flags and arguments. */
  rest: string[];
  /** `sisyphusctl help [command]` */
  helpRequested: boolean;
}

/** Whether the global flag `token` (as written) takes its value from the next token. */
function takesNextToken(token: string): boolean {
  const [spelling, attached] = splitFlagToken(token);
  if (attached !== undefined) return false;
  const flag = GLOBAL_FLAGS.find((f) => `--${f.name}` === spelling || (f.short !== undefined && `-${f.short}` === spelling));
  return flag?.kind === "value";
}

export function resolveCommand(argv: readonly string[], sections: readonly CommandSection[]): Resolved {
  const resolved: Resolved = { node: undefined, path: [], rest: [], helpRequested: false };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === "--" || resolved.node?.kind === "command") {
      resolved.rest.push(...argv.slice(i));
      break;
    }
    if (isFlagToken(token)) {
      resolved.rest.push(token);
      if (takesNextToken(token) && i + 1 < argv.length) resolved.rest.push(argv[++i]);
      continue;
    }
    if (resolved.node === undefined && !resolved.helpRequested && token === "help") {
      resolved.helpRequested = true;
      continue;
    }
    const candidates = resolved.node === undefined ? sections.flatMap((s) => s.commands) : resolved.node.subcommands;
    const next = candidates.find((c) => c.name === token);
    if (next === undefined) {
      const where = resolved.node === undefined ? "" : ` for "${resolved.path.join(" ")}"`;
      throw new UsageError(`unknown command "${token}"${where}`, usageHint(resolved.node, resolved.path));
    }
    resolved.node = next;
    resolved.path.push(token);
  }
  return resolved;
}
