/** lease grant | revoke | timetolive | list | keep-alive. Lease IDs are read and printed in hex, as etcdctl does. */
import { Code, ConnectError, type ResponseHeader } from "@sisyphusdb/client";
import type { Command, CommandGroup } from "../command.js";
import { parseInteger } from "../args/flags.js";
import { parseLeaseId } from "../args/lease-id.js";
import { CliError } from "../errors.js";
import { leaseGrantJson, leaseKeepAliveJson, leaseListJson, leaseRevokeJson, leaseTimeToLiveJson } from "../output/etcd-json.js";
import { encodeJson } from "../output/json.js";
import { renderTable } from "../output/table.js";
import { leaseIdHex } from "../output/text.js";
import { ALL_FORMATS, SIMPLE_JSON } from "./output-formats.js";

const grantCommand: Command = {
  kind: "command",
  name: "grant",
  usage: "lease grant <ttl>",
  summary: "Creates a lease with a TTL in seconds",
  description: "Prints: lease <id> granted with TTL(<ttl>s). The server may grant a longer TTL than asked for.",
  flags: [],
  args: { min: 1, max: 1 },
  outputs: SIMPLE_JSON,
  async run(ctx, args) {
    const grant = await ctx.client().lease.grant(parseInteger(args[0], "TTL", 1));
    if (ctx.options.writeOut === "json") ctx.out.line(encodeJson(leaseGrantJson(grant)));
    else ctx.out.line(`lease ${leaseIdHex(grant.id)} granted with TTL(${grant.ttl}s)`);
  },
};

const revokeCommand: Command = {
  kind: "command",
  name: "revoke",
  usage: "lease revoke <lease id>",
  summary: "Revokes a lease, deleting the keys attached to it",
  flags: [],
  args: { min: 1, max: 1 },
  outputs: SIMPLE_JSON,
  async run(ctx, args) {
    const id = parseLeaseId(args[0]);
    const { header } = await ctx.client().lease.revoke(id);
    if (ctx.options.writeOut === "json") ctx.out.line(encodeJson(leaseRevokeJson(header)));
    else ctx.out.line(`lease ${leaseIdHex(id)} revoked`);
  },
};

const timeToLiveCommand: Command = {
  kind: "command",
  name: "timetolive",
  usage: "lease timetolive [options] <lease id>",
  summary: "Prints a lease's granted and remaining TTL",
  description: `Prints: lease <id> granted with TTL(<granted>s), remaining(<left>s)[, attached keys([k1 k2])],
or: lease <id> already expired.`,
  flags: [{ name: "keys", kind: "boolean", description: "Also print the keys attached to the lease" }],
  args: { min: 1, max: 1 },
  outputs: SIMPLE_JSON,
  async run(ctx, args, flags) {
    const withKeys = flags.boolean("keys");
    const ttl = await ctx.client().lease.timeToLive(parseLeaseId(args[0]), { keys: withKeys });
    if (ctx.options.writeOut === "json") {
      ctx.out.line(encodeJson(leaseTimeToLiveJson(ttl, withKeys)));
      return;
    }
    if (ttl.ttl === -1) {
      ctx.out.line(`lease ${leaseIdHex(ttl.id)} already expired`);
      return;
    }
    let text = `lease ${leaseIdHex(ttl.id)} granted with TTL(${ttl.grantedTtl}s), remaining(${ttl.ttl}s)`;
    if (withKeys) text += `, attached keys([${ttl.keys.map((k) => Buffer.from(k).toString("utf8")).join(" ")}])`;
    ctx.out.line(text);
  },
};

const listCommand: Command = {
  kind: "command",
  name: "list",
  usage: "lease list",
  summary: "Lists the leases that exist",
  description: "Prints 'found <n> leases' then one lease ID per line (the table also shows the TTLs).",
  flags: [],
  args: { min: 0, max: 0 },
  outputs: ALL_FORMATS,
  async run(ctx) {
    const { leases, header } = await ctx.client().lease.list();
    switch (ctx.options.writeOut) {
      case "json":
        ctx.out.line(encodeJson(leaseListJson(leases, header)));
        return;
      case "table":
        ctx.out.write(renderTable(["ID", "TTL", "granted TTL"], leases.map((l) => [leaseIdHex(l.id), String(l.ttl), String(l.grantedTtl)])));
        return;
      case "simple":
        ctx.out.line(`found ${leases.length} leases`);
        for (const lease of leases) ctx.out.line(leaseIdHex(lease.id));
    }
  },
};

const keepAliveCommand: Command = {
  kind: "command",
  name: "keep-alive",
  usage: "lease keep-alive [options] <lease id>",
  summary: "Keeps a lease alive until Ctrl-C",
  description: `Renews the lease every TTL/3 and prints: lease <id> keepalived with TTL(<ttl>) for each renewal.
Ctrl-C stops it (exit 0; the lease then expires after its TTL). When the lease is gone it
prints "lease <id> expired or revoked." and exits 1.`,
  flags: [{ name: "once", kind: "boolean", description: "Renew once and exit" }],
  args: { min: 1, max: 1 },
  outputs: SIMPLE_JSON,
  async run(ctx, args, flags) {
    const id = parseLeaseId(args[0]);
    const print = (ttl: number, header?: ResponseHeader): void => {
      if (ctx.options.writeOut === "json") ctx.out.line(encodeJson(leaseKeepAliveJson(id, ttl, header)));
      else ctx.out.line(`lease ${leaseIdHex(id)} keepalived with TTL(${ttl})`);
    };
    if (flags.boolean("once")) {
      const renewal = await ctx.client().lease.keepAliveOnce(id);
      if (renewal.ttl <= 0) throw new ConnectError(`lease ${leaseIdHex(id)} not found (expired or revoked)`, Code.NotFound);
      print(renewal.ttl, renewal.header);
      return;
    }
    const keepAlive = ctx.client().lease.keepAlive(id);
    const stopOnInterrupt = ctx.io.onInterrupt(() => keepAlive.close());
    try {
      for await (const renewal of keepAlive) print(renewal.ttl);
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) {
        if (ctx.options.writeOut === "simple") ctx.out.line(`lease ${leaseIdHex(id)} expired or revoked.`);
        throw new CliError(`lease ${leaseIdHex(id)} expired or revoked`);
      }
      throw err;
    } finally {
      stopOnInterrupt();
      keepAlive.close();
    }
  },
};

export const leaseGroup: CommandGroup = {
  kind: "group",
  name: "lease",
  summary: "Lease commands: grant, revoke, timetolive, list, keep-alive",
  subcommands: [grantCommand, revokeCommand, timeToLiveCommand, listCommand, keepAliveCommand],
};
