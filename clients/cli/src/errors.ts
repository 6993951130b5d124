/**
 * The CLI's own errors and how every error becomes one line on stderr and an exit code.
 *
 * Exit codes: 0 success, 1 a failed call or operation (the server's error, an unreachable
 * endpoint, an unhealthy endpoint, a file that cannot be written), 2 bad usage (unknown command
 * or flag, a missing or malformed argument, malformed txn input).
 */
import { Code, ConnectError } from "@sisyphusdb/client";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The command line is wrong: exit code 2, and the usage of the command is printed after the message. */
export class UsageError extends Error {
  override readonly name = "UsageError";

  constructor(
    message: string,
    /** What to print after the message instead of the usage of the command run (e.g. the subcommands of a group). */
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** An operation failed for a reason that is not an RPC error (exit code 1). */
export class CliError extends Error {
  override readonly name = "CliError";
}

/** "InvalidArgument" -> "invalid_argument": the code as the Connect and gRPC wire names it. */
export function codeName(code: Code): string {
  const name = Code[code] ?? "unknown";
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** The message of `err` for the "Error: ..." line, without a stack trace. */
export function errorLine(err: unknown): string {
  if (err instanceof ConnectError) return `${codeName(err.code)}: ${err.rawMessage}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function exitCodeOf(err: unknown): number {
  return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
}
