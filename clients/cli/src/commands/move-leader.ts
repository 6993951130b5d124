/**
 * move-leader <member ID>: hands leadership to another voter, as etcdctl's move-leader. The
 * MoveLeader call must reach the current leader (a follower answers UNAVAILABLE and names the
 * leader in the `sisyphus-leader` error metadata), so the command first finds it:
 *   1. the Status of every endpoint of --endpoints, all at once; an endpoint that is itself the
 *      leader is called directly (etcdctl's way);
 *   2. otherwise the leader an endpoint reports is reached at its client URLs from MemberList.
 * If leadership moves before the call lands, the answer names the new leader and the call
 * follows it, at most LEADER_HOPS_MAX times.
 */
import { Code, ConnectError, LEADER_METADATA_KEY, type MemberStatus } from "@sisyphusdb/client";
import { parseMemberId } from "../args/member-args.js";
import type { Command, CommandContext } from "../command.js";
import { CliError } from "../errors.js";
import { moveLeaderJson } from "../output/etcd-json.js";
import { encodeJson } from "../output/json.js";
import { memberIdHex } from "../output/text.js";
import { SIMPLE_JSON } from "./output-formats.js";

/** How many times the call follows a `sisyphus-leader` answer to a newer leader. */
const LEADER_HOPS_MAX = 3;

interface Leader {
  id: bigint;
  /** Where to reach it. */
  endpoints: string[];
}

type StatusOutcome = { endpoint: string; status: MemberStatus } | { endpoint: string; error: unknown };

/** The client URLs the leader published, from the member list. */
async function clientUrlsOf(ctx: CommandContext, id: bigint): Promise<string[]> {
  const { members } = await ctx.client().memberList();
  const urls = members.find((m) => m.id === id)?.clientUrls ?? [];
  if (urls.length === 0) throw new CliError(`the leader ${memberIdHex(id)} has no client URLs in the member list`);
  return urls;
}

async function findLeader(ctx: CommandContext): Promise<Leader> {
  const endpoints = ctx.options.endpoints;
  const outcomes = await Promise.all(
    endpoints.map(async (endpoint): Promise<StatusOutcome> => {
      try {
        return { endpoint, status: await ctx.clientFor(endpoint).status() };
      } catch (error) {
        return { endpoint, error };
      }
    }),
  );
  const statuses = outcomes.flatMap((o) => ("status" in o && o.status.leader !== 0n ? [{ endpoint: o.endpoint, status: o.status }] : []));
  const itself = statuses.find((s) => s.status.leader === s.status.header.memberId);
  if (itself !== undefined) return { id: itself.status.leader, endpoints: [itself.endpoint] };
  if (statuses.length > 0) {
    const id = statuses[0].status.leader;
    return { id, endpoints: await clientUrlsOf(ctx, id) };
  }
  const failures = outcomes.flatMap((o) => ("error" in o ? [o.error] : []));
  // No endpoint answered: their error (unavailable, deadline exceeded) says more than "no leader".
  if (failures.length === outcomes.length) throw failures[0];
  throw new CliError(`no leader: none of the endpoints (${endpoints.join(", ")}) knows of one; an election may be under way, try again`);
}

/** The leader a follower's UNAVAILABLE answer names, if any. */
function leaderNamedBy(err: unknown): bigint | undefined {
  if (!(err instanceof ConnectError) || err.code !== Code.Unavailable) return undefined;
  const value = err.metadata.get(LEADER_METADATA_KEY);
  if (value === null || !/^[1-9]\d*$/.test(value)) return undefined;
  return BigInt(value);
}

export const moveLeaderCommand: Command = {
  kind: "command",
  name: "move-leader",
  usage: "move-leader <member ID>",
  summary: "Transfers leadership to another member",
  description: `Finds the leader through the Status of the endpoints (and the member list for its client
URLs) and asks it to hand over to the voter with the given ID (hexadecimal, as member list
prints it). Simple output: "Leadership transferred from <old leader ID> to <new leader ID>".`,
  flags: [],
  args: { min: 1, max: 1, missing: "move-leader needs the ID of the member to hand leadership to (hexadecimal, as member list prints it)" },
  outputs: SIMPLE_JSON,
  async run(ctx, args) {
    const target = parseMemberId(args[0]);
    let leader = await findLeader(ctx);
    for (let hop = 0; ; hop++) {
      try {
        const header = await ctx.clientFor(leader.endpoints).moveLeader(target);
        if (ctx.options.writeOut === "json") ctx.out.line(encodeJson(moveLeaderJson(header, ctx.options.hex)));
        else ctx.out.line(`Leadership transferred from ${memberIdHex(leader.id)} to ${memberIdHex(target)}`);
        return;
      } catch (err) {
        const next = leaderNamedBy(err);
        if (next === undefined || next === leader.id || hop >= LEADER_HOPS_MAX) throw err;
        leader = { id: next, endpoints: await clientUrlsOf(ctx, next) };
      }
    }
  },
};
