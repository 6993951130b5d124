/**
 * Flags as the command line spells them, etcdctl (pflag) style: `--name value`, `--name=value`,
 * `-n value`, `-n=value`, `-nvalue`; boolean flags alone (`--prev-kv`) or with `=true` /
 * `=false`; `--` ends the flags (so `put k -- -v` puts the value "-v"); the last occurrence of a
 * flag wins.
 */
import { UsageError } from "../errors.js";

export interface FlagSpec {
  /** The long name, without the dashes. */
  readonly name: string;
  /** A one-letter short name, without the dash. */
  readonly short?: string;
  /** Whether the flag takes a value ("value") or is a switch ("boolean"). */
  readonly kind: "boolean" | "value";
  /** What the value is, for the help (e.g. "ttl"). */
  readonly valueName?: string;
  readonly description: string;
}

/** The flags given on a command line, by long name; switches are true or false. */
export class ParsedFlags {
  constructor(private readonly values: ReadonlyMap<string, string | boolean>) {}

  /** Whether the flag was given (also `--flag=false`). */
  has(name: string): boolean {
    return this.values.has(name);
  }

  boolean(name: string): boolean {
    return this.values.get(name) === true;
  }

  /** The flag's value, or undefined when it was not given. */
  string(name: string): string | undefined {
    const value = this.values.get(name);
    return typeof value === "string" ? value : undefined;
  }

  /** The flag's value as an integer >= `min`; undefined when not given; UsageError when malformed. */
  integer(name: string, min: number): number | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    return parseInteger(text, `--${name}`, min);
  }
}

/** `text` as a safe integer >= `min`; UsageError naming `what` otherwise. */
export function parseInteger(text: string, what: string, min: number): number {
  const value = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`invalid ${what} ${JSON.stringify(text)}: expected an integer >= ${min}`);
  }
  return value;
}

function findFlag(specs: readonly FlagSpec[], token: string): FlagSpec | undefined {
  if (token.startsWith("--")) return specs.find((s) => s.name === token.slice(2));
  return specs.find((s) => s.short === token.slice(1));
}

function booleanValue(flag: FlagSpec, text: string): boolean {
  if (text === "true") return true;
  if (text === "false") return false;
  throw new UsageError(`invalid value ${JSON.stringify(text)} for --${flag.name}: expected true or false`);
}

/** Whether `token` looks like a flag rather than an argument ("-" alone is an argument, stdin by convention). */
export function isFlagToken(token: string): boolean {
  return token.length > 1 && token.startsWith("-");
}

/**
 * Splits a flag token into the flag's spelling and an attached value:
 * "--lease=abc" -> ["--lease", "abc"], "-wjson" -> ["-w", "json"], "--prefix" -> ["--prefix", undefined].
 */
export function splitFlagToken(token: string): [string, string | undefined] {
  if (token.startsWith("--")) {
    const eq = token.indexOf("=");
    return eq < 0 ? [token, undefined] : [token.slice(0, eq), token.slice(eq + 1)];
  }
  if (token.length === 2) return [token, undefined];
  return [token.slice(0, 2), token[2] === "=" ? token.slice(3) : token.slice(2)];
}

/** Parses `tokens` against `specs`: the flags and the positional arguments, in order. */
export function parseFlags(tokens: readonly string[], specs: readonly FlagSpec[]): { flags: ParsedFlags; positionals: string[] } {
  const values = new Map<string, string | boolean>();
  const positionals: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === "--") {
      positionals.push(...tokens.slice(i + 1));
      break;
    }
    if (!isFlagToken(token)) {
      positionals.push(token);
      continue;
    }
    const [spelling, attached] = splitFlagToken(token);
    const flag = findFlag(specs, spelling);
    if (flag === undefined) throw new UsageError(`unknown flag: ${spelling}`);
    if (flag.kind === "boolean") {
      values.set(flag.name, attached === undefined ? true : booleanValue(flag, attached));
      continue;
    }
    if (attached !== undefined) {
      values.set(flag.name, attached);
      continue;
    }
    if (i + 1 >= tokens.length) throw new UsageError(`flag needs an argument: ${spelling}`);
    values.set(flag.name, tokens[++i]);
  }
  return { flags: new ParsedFlags(values), positionals };
}
