/** The server's default Raft timing, read from its own flag table so bench reports never disagree with it. */
import { parseCommandLine } from "../src/config.js";

export interface RaftTiming {
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
}

export function defaultRaftTiming(): RaftTiming {
  const parsed = parseCommandLine([], {});
  if (parsed.kind !== "run") throw new Error("the server's defaults did not parse as a run configuration");
  return { heartbeatIntervalMs: parsed.config.heartbeatIntervalMs, electionTimeoutMs: parsed.config.electionTimeoutMs };
}
