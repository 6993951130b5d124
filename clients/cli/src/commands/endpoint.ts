/**
 * endpoint status | health: one call per endpoint of --endpoints (or, with --cluster, per
 * client URL of every member), each through a client that talks to that endpoint only, all at
 * once. The endpoints that answer are printed; any that fails makes the exit code 1.
 */
import { performance } from "node:perf_hooks";
import type { MemberStatus } from "@sisyphusdb/client";
import type { FlagSpec } from "../args/flags.js";
import type { Command, CommandContext, CommandGroup } from "../command.js";
import { CliError, errorLine } from "../errors.js";
import { endpointStatusJson } from "../output/etcd-json.js";
import { encodeJson } from "../output/json.js";
import { renderTable } from "../output/table.js";
import { humanBytes, memberIdHex } from "../output/text.js";
import { ALL_FORMATS } from "./output-formats.js";

const CLUSTER_FLAG: FlagSpec = { name: "cluster", kind: "boolean", description: "Use the client URLs of every member of the cluster instead of --endpoints" };

/** The endpoints to ask: --endpoints, or with --cluster every member's client URLs. */
async function endpointsToAsk(ctx: CommandContext, cluster: boolean): Promise<string[]> {
  if (!cluster) return ctx.options.endpoints;
  const { members } = await ctx.client().memberList();
  return [...new Set(members.flatMap((m) => m.clientUrls))];
}

const STATUS_COLUMNS = ["endpoint", "ID", "version", "db size", "is leader", "is learner", "raft term", "raft index", "raft applied index", "raft log size", "revision", "errors"];

function statusRow(endpoint: string, status: MemberStatus): string[] {
  return [
    endpoint,
    memberIdHex(status.header.memberId),
    status.version,
    humanBytes(status.dbSizeBytes),
    String(status.leader === status.header.memberId),
    String(status.isLearner),
    String(status.header.raftTerm),
    String(status.raftCommittedIndex),
    String(status.raftAppliedIndex),
    humanBytes(status.raftLogSizeBytes),
    String(status.header.revision),
    status.errors.join(", "),
  ];
}

const statusCommand: Command = {
  kind: "command",
  name: "status",
  usage: "endpoint status [options]",
  summary: "Prints the status of each endpoint",
  description: `Simple output: one line per endpoint: endpoint, ID, version, db size, is leader, is learner,
raft term, raft index, raft applied index, revision, errors.`,
  flags: [CLUSTER_FLAG],
  args: { min: 0, max: 0 },
  outputs: ALL_FORMATS,
  async run(ctx, _args, flags) {
    const endpoints = await endpointsToAsk(ctx, flags.boolean("cluster"));
    const outcomes = await Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          return { endpoint, status: await ctx.clientFor(endpoint).status() };
        } catch (err) {
          ctx.err.line(`Failed to get the status of endpoint ${endpoint} (${errorLine(err)})`);
          return { endpoint, status: undefined };
        }
      }),
    );
    const answered = outcomes.flatMap((o) => (o.status === undefined ? [] : [{ endpoint: o.endpoint, status: o.status }]));
    switch (ctx.options.writeOut) {
      case "json":
        ctx.out.line(encodeJson(answered.map((a) => endpointStatusJson(a.endpoint, a.status))));
        break;
      case "table":
        ctx.out.write(renderTable(STATUS_COLUMNS, answered.map((a) => statusRow(a.endpoint, a.status))));
        break;
      case "simple":
        for (const a of answered) ctx.out.line(statusRow(a.endpoint, a.status).join(", "));
    }
    if (answered.length < endpoints.length) throw new CliError(`${endpoints.length - answered.length} of ${endpoints.length} endpoints did not answer`);
  },
};

interface EndpointHealth {
  endpoint: string;
  health: boolean;
  took: string;
  error?: string;
}

/**
 * An endpoint is healthy when a linearizable read (of the key "health", as etcdctl does)
 * succeeds and its status lists no errors (such as "no leader").
 */
async function checkHealth(ctx: CommandContext, endpoint: string): Promise<EndpointHealth> {
  const client = ctx.clientFor(endpoint);
  const startMs = performance.now();
  const took = (): string => `${(performance.now() - startMs).toFixed(3)}ms`;
  try {
    await client.get("health");
    const readTook = took();
    const status = await client.status();
    if (status.errors.length > 0) return { endpoint, health: false, took: readTook, error: status.errors.join(", ") };
    return { endpoint, health: true, took: readTook };
  } catch (err) {
    return { endpoint, health: false, took: took(), error: errorLine(err) };
  }
}

const healthCommand: Command = {
  kind: "command",
  name: "health",
  usage: "endpoint health [options]",
  summary: "Checks the health of each endpoint",
  description: `Prints "<endpoint> is healthy: successfully read a key: took = <time>" per healthy endpoint, and
"<endpoint> is unhealthy: <error>" on stderr per unhealthy one; exits 1 when any is unhealthy.`,
  flags: [CLUSTER_FLAG],
  args: { min: 0, max: 0 },
  outputs: ALL_FORMATS,
  async run(ctx, _args, flags) {
    const endpoints = await endpointsToAsk(ctx, flags.boolean("cluster"));
    const results = await Promise.all(endpoints.map((endpoint) => checkHealth(ctx, endpoint)));
    switch (ctx.options.writeOut) {
      case "json":
        ctx.out.line(encodeJson(results.map((r) => ({ endpoint: r.endpoint, health: r.health, took: r.took, error: r.error }))));
        break;
      case "table":
        ctx.out.write(renderTable(["endpoint", "health", "took", "error"], results.map((r) => [r.endpoint, String(r.health), r.took, r.error ?? ""])));
        break;
      case "simple":
        for (const r of results) {
          if (r.health) ctx.out.line(`${r.endpoint} is healthy: successfully read a key: took = ${r.took}`);
          else ctx.err.line(`${r.endpoint} is unhealthy: ${r.error ?? "unknown error"}`);
        }
    }
    if (results.some((r) => !r.health)) throw new CliError("unhealthy cluster");
  },
};

export const endpointGroup: CommandGroup = {
  kind: "group",
  name: "endpoint",
  summary: "Endpoint commands: status, health",
  subcommands: [statusCommand, healthCommand],
};
