/**
 * sisyphusctl's membership commands against a real 3-member cluster (server processes on
 * 127.0.0.1): member list; member add --learner and its printed start flags; starting the new
 * member with exactly those flags; member promote once it has caught up; move-leader to it from
 * an endpoint that is not the leader; member remove; the JSON output; server and usage errors.
 *
 * The tests are steps on one cluster and run in order (node:test runs a describe's tests one
 * after another). The cluster's state is read with the SDK only to wait for it (an elected
 * leader, published names); what is asserted is what the CLI prints and its exit codes. Every
 * member is killed and the data removed in after().
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient, type Client, type Member } from "@sisyphusdb/client";
import { deadEndpoint, describeRun, failed, freePort, runCli, startServer, succeeded, type CliResult, type TestServer } from "./cli-process.js";

/** How long the cluster may take to elect a leader, publish names, or let a learner catch up. */
const SETTLE_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 50;

interface ClusterMember {
  name: string;
  peerUrl: string;
  server: TestServer;
}

let root: string;
let token: string;
const members = new Map<string, ClusterMember>();

/** What each step learned, for the next (hex IDs as the CLI prints them). */
const known = { clusterId: "", ids: new Map<string, string>() };




function member(name: string): ClusterMember {
  const found = members.get(name);
  assert.ok(found !== undefined, `no member ${name}`);
  return found;
}

/** `sisyphusctl --endpoints <the named members' URLs> <args>` */
function ctl(via: readonly string[], args: readonly string[]): Promise<CliResult> {
  return runCli(["--endpoints", via.map((name) => member(name).server.url).join(","), ...args]);
}

function id(name: string): string {
  const found = known.ids.get(name);
  assert.ok(found !== undefined, `the ID of ${name} is not known (an earlier step failed)`);
  return found;
}

async function startMember(name: string, peerUrl: string, args: readonly string[]): Promise<void> {
  const server = await startServer({ dataDir: path.join(root, name), listenPeerUrl: peerUrl, args: [...args, "--initial-cluster-token", token] });
  members.set(name, { name, peerUrl, server });
}

/** Polls `probe` (through a fresh SDK client on `via`) until it returns true; fails after SETTLE_TIMEOUT_MS with the last state seen. */
async function waitFor(what: string, via: string, probe: (client: Client) => Promise<boolean | string>): Promise<void> {
  const client = createClient({ endpoints: [member(via).server.url], timeoutMs: 2_000 });
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let last = "";
  try {
    while (Date.now() < deadline) {
      try {
        const outcome = await probe(client);
        if (outcome === true) return;
        last = String(outcome);
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  } finally {
    await client.close();
  }
  throw new Error(`timed out after ${SETTLE_TIMEOUT_MS} ms waiting for ${what}; last seen: ${last}`);
}

/** Waits until the member list (read through the leader) has exactly these names, all started. */
function waitForMembers(via: string, names: readonly string[]): Promise<void> {
  const describeList = (list: readonly Member[]): string => JSON.stringify(list.map((m) => [m.id.toString(16), m.name, m.isLearner]));
  return waitFor(`members ${names.join(", ")}`, via, async (client) => {
    const { members: list } = await client.memberList({ linearizable: true });
    const started = list.map((m) => m.name).sort();
    return JSON.stringify(started) === JSON.stringify([...names].sort()) || describeList(list);
  });
}

/** The leader's hex ID, once every running member agrees on one. */
async function agreedLeader(names: readonly string[]): Promise<string> {
  let leader = "";
  await waitFor(`a leader agreed on by ${names.join(", ")}`, names[0], async () => {
    const statuses = await Promise.all(
      names.map(async (name) => {
        const client = createClient({ endpoints: [member(name).server.url], timeoutMs: 2_000 });
        try {
          return await client.status();
        } finally {
          await client.close();
        }
      }),
    );
    const leaders = new Set(statuses.map((s) => s.leader));
    leader = statuses[0].leader.toString(16);
    return (leaders.size === 1 && statuses[0].leader !== 0n) || `leaders seen: ${[...leaders].map((l) => l.toString(16)).join(", ")}`;
  });
  return leader;
}

/** Parses `member list` simple output: one "ID, status, name, peer addrs, client addrs, is learner" line per member. */
function listed(stdout: string): { id: string; status: string; name: string; peerUrls: string; clientUrls: string; isLearner: string }[] {
  return stdout
    .trimEnd()
    .split("\n")
    .map((line) => {
      const [memberId, status, name, peerUrls, clientUrls, isLearner] = line.split(", ");
      return { id: memberId, status, name, peerUrls, clientUrls, isLearner };
    });
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "sisyphusctl-cluster-"));
  token = `cli-${path.basename(root)}`;
  const founders = [];
  for (const name of ["m1", "m2", "m3"]) founders.push({ name, peerUrl: `http://127.0.0.1:${await freePort()}` });
  const initialCluster = founders.map((f) => `${f.name}=${f.peerUrl}`).join(",");
  await Promise.all(founders.map((f) => startMember(f.name, f.peerUrl, ["--name", f.name, "--initial-cluster", initialCluster, "--initial-cluster-state", "new"])));
  await waitForMembers("m1", ["m1", "m2", "m3"]);
});

after(async () => {
  await Promise.all([...members.values()].map((m) => m.server.stop()));
  fs.rmSync(root, { recursive: true, force: true });
});

describe("membership commands on a 3-member cluster", () => {
  test("member list shows the three founders, started, with their peer and client URLs", async () => {
    const rows = listed(succeeded(await ctl(["m1"], ["member", "list"])));
    assert.deepEqual(
      rows.map((r) => [r.name, r.status, r.peerUrls, r.clientUrls, r.isLearner]).sort(),
      ["m1", "m2", "m3"].map((name) => [name, "started", member(name).peerUrl, member(name).server.url, "false"]),
    );
    for (const r of rows) {
      assert.match(r.id, /^[0-9a-f]+$/);
      known.ids.set(r.name, r.id);
    }
    const listJson = JSON.parse(succeeded(await ctl(["m2"], ["member", "list", "-w", "json", "--hex"]))) as { header: { cluster_id: string }; members: { ID: string }[] };
    assert.deepEqual(listJson.members.map((m) => m.ID).sort(), rows.map((r) => r.id).sort());
    known.clusterId = listJson.header.cluster_id;
    assert.match(known.clusterId, /^[0-9a-f]+$/);
  });

  test("member add --learner prints the new member's ID and the flags to start it with", async () => {
    const peerUrl = `http://127.0.0.1:${await freePort()}`;
    const out = succeeded(await ctl(["m2"], ["member", "add", "m4", `--peer-urls=${peerUrl}`, "--learner"]));
    const printed = /^Member ([0-9a-f]+) added to cluster ([0-9a-f]+)\n\nStart it with:\n {2}(.*)\n$/.exec(out);
    assert.ok(printed !== null, `unexpected output:\n${out}`);
    const [, newId, clusterId, flags] = printed;
    assert.equal(clusterId, known.clusterId, out);
    const shape = /^--name m4 --initial-cluster (\S+) --initial-advertise-peer-urls (\S+) --initial-cluster-state existing$/.exec(flags);
    assert.ok(shape !== null, `unexpected flags: ${flags}`);
    assert.deepEqual(shape[1].split(",").sort(), ["m1", "m2", "m3", "m4"].map((name) => `${name}=${name === "m4" ? peerUrl : member(name).peerUrl}`));
    assert.equal(shape[2], peerUrl);
    known.ids.set("m4", newId);

    const rows = listed(succeeded(await ctl(["m3"], ["member", "list"])));
    assert.deepEqual(rows.find((r) => r.id === newId), { id: newId, status: "unstarted", name: "", peerUrls: peerUrl, clientUrls: "", isLearner: "true" });

    await startMember("m4", peerUrl, flags.split(" "));
  });

  test("member promote succeeds once the new member has caught up (failed_precondition until then)", async () => {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    const refusals: string[] = [];
    for (;;) {
      const r = await ctl(["m1"], ["member", "promote", id("m4")]);
      if (r.code === 0) {
        assert.equal(succeeded(r), `Member ${id("m4")} promoted in cluster ${known.clusterId}\n`);
        break;
      }
      failed(r, 1, /^Error: failed_precondition: .*caught up/);
      refusals.push(r.stderr.trim());
      assert.ok(Date.now() < deadline, `not promoted within ${SETTLE_TIMEOUT_MS} ms; refusals:\n${refusals.join("\n")}\nm4's log:\n${member("m4").server.output()}`);
    }
    await waitForMembers("m1", ["m1", "m2", "m3", "m4"]);
    const m4 = listed(succeeded(await ctl(["m4"], ["member", "list"]))).find((r) => r.id === id("m4"));
    assert.deepEqual(m4, { id: id("m4"), status: "started", name: "m4", peerUrls: member("m4").peerUrl, clientUrls: member("m4").server.url, isLearner: "false" });
  });

  test("move-leader finds the leader from a follower's endpoint and hands leadership to the new member", async () => {
    const leader = await agreedLeader(["m1", "m2", "m3", "m4"]);
    assert.notEqual(leader, id("m4"), "m4 joined as a learner; it cannot be leader yet");
    const follower = ["m1", "m2", "m3"].find((name) => id(name) !== leader);
    assert.ok(follower !== undefined);
    assert.equal(succeeded(await ctl([follower], ["move-leader", id("m4")])), `Leadership transferred from ${leader} to ${id("m4")}\n`);
    const status = succeeded(await ctl(["m4"], ["endpoint", "status"])).split(", ");
    assert.equal(status[1], id("m4"), status.join(", "));
    assert.equal(status[4], "true", `m4 is leader: ${status.join(", ")}`);
    assert.equal(await agreedLeader(["m1", "m2", "m3", "m4"]), id("m4"));

    // To the member that already leads it is a no-op; JSON is the response header, from the leader.
    const asJson = JSON.parse(succeeded(await ctl(["m2", "m1"], ["move-leader", id("m4"), "-w", "json", "--hex"]))) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(asJson), ["header"]);
    assert.equal(asJson.header.member_id, id("m4"));
    assert.equal(asJson.header.cluster_id, known.clusterId);
  });

  test("member add and remove with -w json print etcd's response shapes; a learner cannot lead", async () => {
    const peerUrl = `http://127.0.0.1:${await freePort()}`;
    type MemberJson = { ID: string; name?: string; peerURLs?: string[]; isLearner?: boolean };
    const added = JSON.parse(succeeded(await ctl(["m3"], ["member", "add", "m5", `--peer-urls=${peerUrl}`, "--learner", "-w", "json", "--hex"]))) as {
      header: { cluster_id: string };
      member: MemberJson;
      members: MemberJson[];
    };
    assert.deepEqual(Object.keys(added), ["header", "member", "members"]);
    assert.equal(added.header.cluster_id, known.clusterId);
    assert.deepEqual(added.member, { ID: added.member.ID, peerURLs: [peerUrl], isLearner: true });
    assert.deepEqual(added.members.map((m) => m.name ?? "").sort(), ["", "m1", "m2", "m3", "m4"]);

    failed(await ctl(["m4"], ["move-leader", added.member.ID]), 1, /^Error: failed_precondition: .*learner/);

    const removed = JSON.parse(succeeded(await ctl(["m3"], ["member", "remove", added.member.ID, "-w", "json", "--hex"]))) as { header: unknown; members: MemberJson[] };
    assert.deepEqual(Object.keys(removed), ["header", "members"]);
    assert.deepEqual(removed.members.map((m) => m.ID).sort(), ["m1", "m2", "m3", "m4"].map(id).sort());
  });

  test("member remove takes a member out; the rest go on serving", async () => {
    assert.equal(succeeded(await ctl(["m2"], ["member", "remove", id("m1")])), `Member ${id("m1")} removed from cluster ${known.clusterId}\n`);
    const rows = listed(succeeded(await ctl(["m2"], ["member", "list"])));
    assert.deepEqual(rows.map((r) => r.name).sort(), ["m2", "m3", "m4"]);
    assert.equal(succeeded(await ctl(["m3"], ["put", "after-removal", "yes"])), "OK\n");
    assert.equal(succeeded(await ctl(["m2"], ["get", "after-removal"])), "after-removal\nyes\n");
  });

  test("server errors: one line with the code, exit code 1", async () => {
    const dead = await deadEndpoint();
    const cases: [Promise<CliResult>, RegExp][] = [
      [ctl(["m2"], ["member", "promote", "abc"]), /^Error: not_found: /],
      [ctl(["m2"], ["member", "promote", id("m4")]), /^Error: failed_precondition: .*already a voter/],
      [ctl(["m2"], ["member", "remove", id("m1")]), /^Error: not_found: /],
      [ctl(["m2"], ["member", "add", "again", `--peer-urls=${member("m3").peerUrl}`]), /^Error: already_exists: /],
      [ctl(["m3"], ["move-leader", id("m1")]), /^Error: not_found: /],
      [runCli(["--endpoints", dead, "--command-timeout", "2s", "move-leader", id("m2")]), /^Error: unavailable: /],
    ];
    const runs = await Promise.all(cases.map(([run]) => run));
    runs.forEach((r, i) => failed(r, 1, cases[i][1]));
  });

  test("usage errors: exit code 2 with a clear message and the usage, before any call", async () => {
    // The parsers' cases are in member-args.test.ts; these check the exit code and the usage line.
    const dead = await deadEndpoint();
    const cases: [string[], RegExp][] = [
      [["member", "add"], /^Error: member add needs the new member's name/],
      [["member", "add", "m9", "--peer-urls=http://127.0.0.1"], /^Error: bad peer URL "http:\/\/127\.0\.0\.1": it needs a port/],
      [["member", "add", "m9", "--peer-urls=http://127.0.0.1:1", "-w", "table"], /^Error: --write-out=table is not supported by "member add"/],
      [["member", "remove", "xyz"], /^Error: bad member ID "xyz": expected the ID in hexadecimal/],
      [["move-leader"], /^Error: move-leader needs the ID of the member/],
      [["move-leader", "m2"], /^Error: bad member ID "m2"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(["--endpoints", dead, ...args])));
    runs.forEach((r, i) => {
      failed(r, 2, cases[i][1]);
      assert.match(r.stderr, /\nUsage: sisyphusctl (member|move-leader)/, describeRun(r));
    });
  });
});
