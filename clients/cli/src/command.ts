/** What a command is: its name, usage, flags and arguments, and the function that runs it. */
import type { Client, Protocol } from "@sisyphusdb/client";
import type { FlagSpec, ParsedFlags } from "./args/flags.js";
import type { Io, Output } from "./io.js";

/** The --write-out formats. */
export type OutputFormat = "simple" | "json" | "table";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["simple", "json", "table"];

/** The global flags, resolved (flag, else environment variable, else default). */
export interface GlobalOptions {
  endpoints: string[];
  protocol: Protocol;
  /** The deadline of each call. */
  commandTimeoutMs: number;
  /** Whether --command-timeout was given: snapshot save has no deadline unless it was. */
  commandTimeoutSet: boolean;
  writeOut: OutputFormat;
  /** Print keys and values as \x-escaped hex. */
  hex: boolean;
}

/** What a running command can use. */
export interface CommandContext {
  readonly io: Io;
  /** Standard output. */
  readonly out: Output;
  /** Standard error, for warnings printed before the command goes on. */
  readonly err: Output;
  readonly options: GlobalOptions;
  /** The client for --endpoints, created on first use and closed when the command ends. */
  client(): Client;
  /** A client that talks to `endpoint` only (or to these endpoints, in order), closed when the command ends. */
  clientFor(endpoint: string | readonly string[]): Client;
}

export interface Command {
  readonly kind: "command";
  readonly name: string;
  /** The synopsis after "sisyphusctl ", e.g. "get [options] <key> [range_end]". */
  readonly usage: string;
  /** One line for the command lists. */
  readonly summary: string;
  /** More help: what it prints, examples. */
  readonly description?: string;
  readonly flags: readonly FlagSpec[];
  /** How many positional arguments it takes. */
  readonly args: {
    readonly min: number;
    readonly max: number;
    /** The usage error when fewer than `min` are given (default: "<name> needs <min> argument(s), got <n>"). */
    readonly missing?: string;
  };
  /** The --write-out formats it supports ("simple" always). */
  readonly outputs: readonly OutputFormat[];
  /** Runs the command; throws UsageError, CliError or the call's ConnectError on failure. */
  run(ctx: CommandContext, args: readonly string[], flags: ParsedFlags): Promise<void>;
}

/** A command with subcommands, e.g. "lease". */
export interface CommandGroup {
  readonly kind: "group";
  readonly name: string;
  readonly summary: string;
  readonly subcommands: readonly Command[];
}

export type CommandNode = Command | CommandGroup;

/** The commands of one section of the root help. */
export interface CommandSection {
  readonly title: string;
  readonly commands: readonly CommandNode[];
}
