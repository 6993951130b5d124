/**
 * The global flags, accepted before or after the command. Each can also be set with an
 * environment variable SISYPHUSCTL_<FLAG> (upper case, dashes as underscores, e.g.
 * SISYPHUSCTL_ENDPOINTS, SISYPHUSCTL_COMMAND_TIMEOUT); the flag wins over the variable.
 */
import type { Protocol } from "@sisyphusdb/client";
import { parseDurationMs } from "./args/duration.js";
import type { FlagSpec, ParsedFlags } from "./args/flags.js";
import { OUTPUT_FORMATS, type GlobalOptions, type OutputFormat } from "./command.js";
import { UsageError } from "./errors.js";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:7379";
const DEFAULT_COMMAND_TIMEOUT = "5s";
const PROTOCOLS: readonly Protocol[] = ["grpc", "connect", "grpc-web"];

export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: "endpoints", kind: "value", valueName: "urls", description: `Comma-separated member URLs (default ${DEFAULT_ENDPOINT})` },
  { name: "protocol", kind: "value", valueName: "name", description: "Wire protocol: grpc, connect or grpc-web (default grpc)" },
  { name: "command-timeout", kind: "value", valueName: "duration", description: `Deadline of each call, e.g. 500ms, 5s, 1m (default ${DEFAULT_COMMAND_TIMEOUT})` },
  { name: "write-out", short: "w", kind: "value", valueName: "format", description: "Output format: simple, json or table (default simple)" },
  { name: "hex", kind: "boolean", description: "Print keys and values as hex-escaped bytes (\\x66\\x6f\\x6f)" },
  { name: "help", short: "h", kind: "boolean", description: "Print the help of the command" },
];

/** The environment variable of a global flag: "command-timeout" -> SISYPHUSCTL_COMMAND_TIMEOUT. */
export function environmentVariable(flag: string): string {
  return `SISYPHUSCTL_${flag.toUpperCase().replaceAll("-", "_")}`;
}

function setting(flags: ParsedFlags, env: NodeJS.ProcessEnv, name: string): string | undefined {
  const fromFlag = flags.string(name);
  if (fromFlag !== undefined) return fromFlag;
  const fromEnv = env[environmentVariable(name)];
  return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
}

/** "127.0.0.1:7379" -> "http://127.0.0.1:7379"; UsageError when it is not an http(s) URL. */
export function normalizeEndpoint(text: string): string {
  const withScheme = text.includes("://") ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`invalid endpoint ${JSON.stringify(text)}: expected a URL such as ${DEFAULT_ENDPOINT}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`invalid endpoint ${JSON.stringify(text)}: only http:// and https:// are supported`);
  }
  return withScheme.replace(/\/+$/, "");
}

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new UsageError(`invalid ${what} ${JSON.stringify(value)}: expected one of ${allowed.join(", ")}`);
  return found;
}

export function resolveGlobalOptions(flags: ParsedFlags, env: NodeJS.ProcessEnv): GlobalOptions {
  const endpointList = setting(flags, env, "endpoints") ?? DEFAULT_ENDPOINT;
  const endpoints = endpointList
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e.length > 0)
    .map(normalizeEndpoint);
  if (endpoints.length === 0) throw new UsageError("--endpoints names no endpoint");
  const timeoutText = setting(flags, env, "command-timeout");
  const hexText = flags.has("hex") ? undefined : env[environmentVariable("hex")];
  return {
    endpoints,
    protocol: oneOf(setting(flags, env, "protocol") ?? "grpc", PROTOCOLS, "--protocol"),
    commandTimeoutMs: parseDurationMs(timeoutText ?? DEFAULT_COMMAND_TIMEOUT, "--command-timeout"),
    commandTimeoutSet: timeoutText !== undefined,
    writeOut: oneOf<OutputFormat>(setting(flags, env, "write-out") ?? "simple", OUTPUT_FORMATS, "--write-out"),
    hex: flags.boolean("hex") || hexText === "true" || hexText === "1",
  };
}
