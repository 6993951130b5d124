/** The membership commands' pure parts: their arguments, the start flags member add prints, their JSON. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Member } from "@sisyphusdb/client";
import { parseMemberId, parseMemberName, parsePeerUrls } from "../src/args/member-args.js";
import { memberAddJson, memberListJson, moveLeaderJson } from "../src/output/etcd-json.js";
import { joinFlags } from "../src/output/join-flags.js";
import { encodeJson } from "../src/output/json.js";

function member(id: bigint, name: string, peerUrls: string[], extra: Partial<Member> = {}): Member {
  return { id, name, peerUrls, clientUrls: [], isLearner: false, ...extra };
}

test("member IDs: hex as member list prints them, up to 64 bits, not 0", () => {
  assert.equal(parseMemberId("8e9e05c52164694d"), 0x8e9e05c52164694dn);
  assert.equal(parseMemberId("ffffffffffffffff"), 2n ** 64n - 1n);
  assert.equal(parseMemberId("0x1A"), 26n);
  for (const [text, why] of [
    ["xyz", /expected the ID in hexadecimal/],
    ["", /expected the ID in hexadecimal/],
    ["12345678901234567", /expected the ID in hexadecimal/],
    ["-1", /expected the ID in hexadecimal/],
    ["0", /no member has ID 0/],
    ["0x0", /no member has ID 0/],
  ] as const) {
    assert.throws(() => parseMemberId(text), { name: "UsageError", message: new RegExp(`^bad member ID ${JSON.stringify(text)}: ${why.source}`) }, text);
  }
});

test("member names: anything that survives --initial-cluster name=url,... and a command line", () => {
  assert.equal(parseMemberName("m4"), "m4");
  assert.equal(parseMemberName("db-4.eu"), "db-4.eu");
  for (const bad of ["", "a=b", "a,b", "a b", "a\tb"]) assert.throws(() => parseMemberName(bad), { name: "UsageError", message: /^bad member name / }, JSON.stringify(bad));
});

test("peer URLs: http(s)://host:port, comma-separated, as origins; anything else is a usage error", () => {
  assert.deepEqual(parsePeerUrls("http://10.0.0.4:7380"), ["http://10.0.0.4:7380"]);
  assert.deepEqual(parsePeerUrls(" http://A.example:7380/ , https://[::1]:7381"), ["http://a.example:7380", "https://[::1]:7381"]);
  assert.throws(() => parsePeerUrls(undefined), { name: "UsageError", message: /^member add needs --peer-urls/ });
  assert.throws(() => parsePeerUrls(" "), { name: "UsageError", message: /^member add needs --peer-urls/ });
  const cases: [string, RegExp][] = [
    ["ftp://x:1", /^bad peer URL "ftp:\/\/x:1": expected http\(s\):\/\/host:port$/],
    ["10.0.0.4:7380", /^bad peer URL "10\.0\.0\.4:7380": expected http\(s\):\/\/host:port$/],
    ["http://x", /needs a port/],
    ["http://x:80", /needs a port other than the scheme's default/],
    ["http://x:1/raft", /no path/],
    ["http://x:1?a=b", /no path, query/],
    ["http://u@x:1", /user/],
    ["http://x:1,", /^bad peer URL "": expected/],
    ["http://x:1,http://x:1/", /^bad peer URL "http:\/\/x:1\/": listed twice$/],
  ];
  for (const [text, why] of cases) assert.throws(() => parsePeerUrls(text), { name: "UsageError", message: why }, text);
});

test("start flags: every member's peer URLs by name, the new one under the given name, unstarted ones by hex ID", () => {
  const added = member(0x4n, "", ["http://h4:7380", "http://h4b:7380"], { isLearner: true });
  const members = [member(0x1n, "m1", ["http://h1:7380"]), member(0x2n, "", ["http://h2:7380"]), added, member(0xa5n, "m3", ["http://h3:7380"])];
  assert.equal(
    joinFlags("m4", added, members),
    "--name m4 --initial-cluster m1=http://h1:7380,2=http://h2:7380,m4=http://h4:7380,m4=http://h4b:7380,m3=http://h3:7380 --initial-advertise-peer-urls http://h4:7380,http://h4b:7380 --initial-cluster-state existing",
  );
  assert.equal(
    joinFlags("m4", added, members.slice(0, 1)),
    "--name m4 --initial-cluster m1=http://h1:7380,m4=http://h4:7380,m4=http://h4b:7380 --initial-advertise-peer-urls http://h4:7380,http://h4b:7380 --initial-cluster-state existing",
    "a new member missing from the list is still listed",
  );
});

test("member JSON: etcd's shapes, IDs as numbers or with --hex as hex strings, zero fields left out", () => {
  // Not annotated: ResponseHeader may carry more fields than the JSON uses (leaderId).
  const header = { clusterId: 0xc1n, memberId: 0x1n, revision: 7, raftTerm: 3, leaderId: 0x1n };
  const added = member(0xfedcba9876543210n, "", ["http://h4:7380"], { isLearner: true });
  const started = member(0x1n, "m1", ["http://h1:7380"], { clientUrls: ["http://h1:7379"] });
  assert.equal(
    encodeJson(memberAddJson(added, [started, added], header, false)),
    '{"header":{"cluster_id":193,"member_id":1,"revision":7,"raft_term":3},' +
      '"member":{"ID":18364758544493064720,"peerURLs":["http://h4:7380"],"isLearner":true},' +
      '"members":[{"ID":1,"name":"m1","peerURLs":["http://h1:7380"],"clientURLs":["http://h1:7379"]},{"ID":18364758544493064720,"peerURLs":["http://h4:7380"],"isLearner":true}]}',
  );
  assert.deepEqual(JSON.parse(encodeJson(memberListJson([added], header, true))), {
    header: { cluster_id: "c1", member_id: "1", revision: 7, raft_term: 3 },
    members: [{ ID: "fedcba9876543210", peerURLs: ["http://h4:7380"], isLearner: true }],
  });
  assert.deepEqual(JSON.parse(encodeJson(moveLeaderJson(header, true))), { header: { cluster_id: "c1", member_id: "1", revision: 7, raft_term: 3 } });
});
