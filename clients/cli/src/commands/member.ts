/** member list. */
import type { Member } from "@sisyphusdb/client";
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

export const memberGroup: CommandGroup = {
  kind: "group",
  name: "member",
  summary: "Membership commands: list",
  subcommands: [memberListCommand],
};
