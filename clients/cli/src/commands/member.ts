/**
 * member list, add, promote, remove: etcdctl's membership commands, with its simple and JSON
 * output (etcdctl prints a table for member list only). Member IDs are hexadecimal on the
 * command line and in simple output.
 */
import type { Member } from "@sisyphusdb/client";
import { parseMemberId, parseMemberName, parsePeerUrls } from "../args/member-args.js";
import type { Command, CommandGroup } from "../command.js";
import { UsageError } from "../errors.js";
import { memberAddJson, memberListJson } from "../output/etcd-json.js";
import { joinFlags } from "../output/join-flags.js";
import { encodeJson } from "../output/json.js";
import { renderTable } from "../output/table.js";
import { memberIdHex } from "../output/text.js";
import { ALL_FORMATS, SIMPLE_JSON } from "./output-formats.js";

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

const memberAddCommand: Command = {
  kind: "command",
  name: "add",
  usage: "member add <name> --peer-urls=<url>[,<url>...] [--learner]",
  summary: "Adds a member to the cluster",
  description: `Simple output: "Member <ID> added to cluster <cluster ID>", then the flags to start the new
member with (also give it the cluster's --initial-cluster-token and its --listen-peer-url).
Add it as a learner, start it, then promote it once it has caught up: a voter that has not
started yet counts against the quorum.`,
  flags: [
    { name: "peer-urls", kind: "value", valueName: "urls", description: "Comma-separated peer URLs the new member will listen on" },
    { name: "learner", kind: "boolean", description: "Add it as a learner (recommended; promote it later)" },
  ],
  args: { min: 1, max: 1, missing: "member add needs the new member's name, e.g. member add m4 --peer-urls=http://10.0.0.4:7380" },
  outputs: SIMPLE_JSON,
  async run(ctx, args, flags) {
    const name = parseMemberName(args[0]);
    const peerUrls = parsePeerUrls(flags.string("peer-urls"));
    const { member, members, header } = await ctx.client().memberAdd(peerUrls, { isLearner: flags.boolean("learner") });
    if (ctx.options.writeOut === "json") {
      ctx.out.line(encodeJson(memberAddJson(member, members, header, ctx.options.hex)));
      return;
    }
    ctx.out.line(`Member ${memberIdHex(member.id)} added to cluster ${memberIdHex(header.clusterId)}`);
    ctx.out.line("");
    ctx.out.line("Start it with:");
    ctx.out.line(`  ${joinFlags(name, member, members)}`);
  },
};

const memberPromoteCommand: Command = {
  kind: "command",
  name: "promote",
  usage: "member promote <member ID>",
  summary: "Makes a learner a voter",
  description: `Simple output: "Member <ID> promoted in cluster <cluster ID>". Fails with failed_precondition
until the learner has caught up with the leader's log.`,
  flags: [],
  args: { min: 1, max: 1, missing: "member promote needs the ID of the learner (hexadecimal, as member list prints it)" },
  outputs: SIMPLE_JSON,
  async run(ctx, args) {
    const id = parseMemberId(args[0]);
    const { members, header } = await ctx.client().memberPromote(id);
    if (ctx.options.writeOut === "json") ctx.out.line(encodeJson(memberListJson(members, header, ctx.options.hex)));
    else ctx.out.line(`Member ${memberIdHex(id)} promoted in cluster ${memberIdHex(header.clusterId)}`);
  },
};

const memberRemoveCommand: Command = {
  kind: "command",
  name: "remove",
  usage: "member remove <member ID>",
  summary: "Removes a member from the cluster",
  description: `Simple output: "Member <ID> removed from cluster <cluster ID>". The removed member stops once
its removal reaches it. Refused (failed_precondition) when the voters left running could not
form a quorum.`,
  flags: [],
  args: { min: 1, max: 1, missing: "member remove needs the ID of the member (hexadecimal, as member list prints it)" },
  outputs: SIMPLE_JSON,
  async run(ctx, args) {
    const id = parseMemberId(args[0]);
    const { members, header } = await ctx.client().memberRemove(id);
    if (ctx.options.writeOut === "json") ctx.out.line(encodeJson(memberListJson(members, header, ctx.options.hex)));
    else ctx.out.line(`Member ${memberIdHex(id)} removed from cluster ${memberIdHex(header.clusterId)}`);
  },
};

export const memberGroup: CommandGroup = {
  kind: "group",
  name: "member",
  summary: "Membership commands: list, add, promote, remove",
  subcommands: [memberListCommand, memberAddCommand, memberPromoteCommand, memberRemoveCommand],
};
