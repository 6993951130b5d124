/**
 * The process logger: pino, one JSON object per line on stdout (or silent). Requests are logged
 * at debug, failures at warn (client errors) or error (server faults), lifecycle at info.
 */
import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function createLogger(options: { level: LevelWithSilent; name: string }): Logger {
  return pino({ level: options.level, name: options.name, base: { pid: process.pid } });
}
