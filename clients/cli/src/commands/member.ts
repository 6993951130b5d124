/** member list, add, promote, remove (etcdctl's membership commands). */
import type { Member } from "@sisyphusdb/client";
import { parseLeaseId } from "../args/lease-id.js";
import type { Command, CommandGroup } from "../command.js";
import { UsageError } from "../errors.js";
import { memberListJson } from "../output/etcd-json.js";
import { encodeJson } from "../output/json.js";
import { renderTable } from "../output/table.js";
import { memberIdHex } from "../output/text.js";
import { ALL_FORMATS } from "./output-formats.js";

const MEMBER_COLUMNS = ["ID", "status", "name", "peer addrs", "client addrs", "is learner"];

/** A member as etcdctl lists it; a member without a name has not started yet. */
function memberRow(member: Member): string[] {
  return [
    memberIdHex(member.id),
    member.name === "" ? "unstarted" : "started",
    member.name,
    member.peerUrls.join(","),
    member.clientUrls.join(","),
    String(member.isLearner),
  ];
}

const memberListCommand: Command = {
  kind: "command",
  name: "list",
  usage: "member list [options]",
  summary: "Lists the members of the cluster",
  description: "Simple output: one line per member: ID, status, name, peer addrs, client addrs, is learner.",
  flags: [{ name: "consistency", kind: "value", valueName: "l|s", description: "Linearizable (l, default: through the leader) or serializable (s: this member's view)" }],
  args: { min: 0, max: 0 },
  outputs: ALL_FORMATS,
  async run(ctx, _args, flags) {
    const consistency = flags.string("consistency") ?? "l";
    if (consistency !== "l" && consistency !== "s") throw new UsageError(`unknown --consistency ${JSON.stringify(consistency)}: expected l or s`);
    const { members, header } = await ctx.client().memberList({ linearizable: consistency === "l" });
    switch (ctx.options.writeOut) {
      case "json":
        ctx.out.line(encodeJson(memberListJson(members, header, ctx.options.hex)));
        return;
      case "table":
        ctx.out.write(renderTable(MEMBER_COLUMNS, members.map(memberRow)));
        return;
      case "simple":
        for (const member of members) ctx.out.line(memberRow(member).join(", "));
    }
  },
};

/** A member ID on the command line: hexadecimal, as `member list` prints it. */
function parseMemberId(text: string): bigint {
  return parseLeaseId(text, "member ID");
}

/** "http://a:7380,http://b:7380" as peer URLs; UsageError when empty or not http(s)://host:port. */
function parsePeerUrls(text: string | undefined): string[] {
  if (text === undefined || text.trim() === "") throw new UsageError("member add needs --peer-urls, e.g. --peer-urls=http://10.0.0.4:7380");
  return text.split(",").map((raw) => {
    const u = raw.trim();
    if (!/^https?:\/\/[^/\s]+:\d+$/.test(u)) throw new UsageError(`bad peer URL ${JSON.stringify(u)}: expected http(s)://host:port`);
    return u;
  });
}

const memberAddCommand: Command = {
  kind: "command",
  name: "add",
  usage: "member add <name> --peer-urls=<url>[,<url>...] [--learner]",
  summary: "Adds a member to the cluster",
  description:
    "Prints the new member's ID and the flags to start it with (--initial-cluster-state existing). Add it as a learner, then promote it once it has caught up: a voter that has not started yet counts against the quorum.",
  flags: [
    { name: "peer-urls", kind: "value", valueName: "urls", description: "Comma-separated peer URLs the new member will listen on" },
    { name: "learner", kind: "boolean", description: "Add it as a learner (recommended; promote it later)" },
  ],
  args: { min: 1, max: 1 },
  outputs: ["simple"],
  async run(ctx, args, flags) {
    const name = args[0];
    const peerUrls = parsePeerUrls(flags.string("peer-urls"));
    const { member, members, header } = await ctx.client().memberAdd(peerUrls, { isLearner: flags.boolean("learner") });
    const cluster = members.flatMap((m) => (m.id === member.id ? peerUrls.map((u) => `${name}=${u}`) : m.peerUrls.map((u) => `${m.name || memberIdHex(m.id)}=${u}`)));
    ctx.out.line(`Member ${memberIdHex(member.id)} added to cluster ${memberIdHex(header.clusterId)}`);
    ctx.out.line("");
    ctx.out.line("Start it with:");
    ctx.out.line(`  --name ${name} --initial-cluster ${cluster.join(",")} --initial-advertise-peer-urls ${peerUrls.join(",")} --initial-cluster-state existing`);
  },
};

const memberPromoteCommand: Command = {
  kind: "command",
  name: "promote",
  usage: "member promote <member ID>",
  summary: "Makes a learner a voter",
  description: "Fails with FAILED_PRECONDITION until the learner has caught up with the leader's log.",
  flags: [],
  args: { min: 1, max: 1 },
  outputs: ["simple"],
  async run(ctx, args) {
    const id = parseMemberId(args[0]);
    const { header } = await ctx.client().memberPromote(id);
    ctx.out.line(`Member ${memberIdHex(id)} promoted in cluster ${memberIdHex(header.clusterId)}`);
  },
};

const memberRemoveCommand: Command = {
  kind: "command",
  name: "remove",
  usage: "member remove <member ID>",
  summary: "Removes a member from the cluster",
  description: "The removed member stops once its removal reaches it.",
  flags: [],
  args: { min: 1, max: 1 },
  outputs: ["simple"],
  async run(ctx, args) {
    const id = parseMemberId(args[0]);
    const { header } = await ctx.client().memberRemove(id);
    ctx.out.line(`Member ${memberIdHex(id)} removed from cluster ${memberIdHex(header.clusterId)}`);
  },
};

export const memberGroup: CommandGroup = {
  kind: "group",
  name: "member",
  summary: "Membership commands: list, add, promote, remove",
  subcommands: [memberListCommand, memberAddCommand, memberPromoteCommand, memberRemoveCommand],
};
