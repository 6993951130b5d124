/** Durations as Go (and so etcdctl) writes them: "5s", "500ms", "1m30s", "1.5s". */
import { UsageError } from "../errors.js";

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const PARTS = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;

/** `text` in milliseconds; UsageError naming `what` when it is not a positive duration. */
export function parseDurationMs(text: string, what: string): number {
  let totalMs = 0;
  if (WHOLE.test(text)) {
    for (const [, amount, unit] of text.matchAll(PARTS)) totalMs += Number(amount) * UNIT_MS[unit];
  }
  if (!(totalMs > 0)) {
    throw new UsageError(`invalid ${what} ${JSON.stringify(text)}: expected a positive duration such as 5s, 500ms or 1m30s`);
  }
  return totalMs;
}
