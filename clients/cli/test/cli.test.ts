/**
 * sisyphusctl end to end: a real server process, and every command run as its own child
 * process, checked on its stdout, stderr and exit code.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { deadEndpoint, describeRun, failed, runCli, startCli, startServer, succeeded, type CliResult, type TestServer } from "./cli-process.js";

let server: TestServer;
let scratchDir: string;

/** `sisyphusctl --endpoints <server> <args>` */
function ctl(args: readonly string[], options: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return runCli(["--endpoints", server.url, ...args], options);
}




function json(r: CliResult): Record<string, unknown> {
  return JSON.parse(succeeded(r)) as Record<string, unknown>;
}

function b64(text: string): string {
  return Buffer.from(text).toString("base64");
}

/** The store's current revision, from a get's JSON header. */
async function currentRevision(): Promise<number> {
  const header = json(await ctl(["get", "any-key", "-w", "json"])).header as { revision: number };
  return header.revision;
}

before(async () => {
  scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), "sisyphusctl-files-"));
  server = await startServer();
});

after(async () => {
  await server?.stop();
  fs.rmSync(scratchDir, { recursive: true, force: true });
});

describe("put and get", () => {
  test("put prints OK and get prints key and value lines", async () => {
    assert.equal(succeeded(await ctl(["put", "greeting", "hello"])), "OK\n");
    assert.equal(succeeded(await ctl(["get", "greeting"])), "greeting\nhello\n");
    assert.equal(succeeded(await ctl(["get", "no-such-key"])), "");
  });

  test("put reads the value from stdin when it is not given, bytes as they are", async () => {
    assert.equal(succeeded(await ctl(["put", "from-stdin"], { stdin: "line one\nline two\n" })), "OK\n");
    assert.equal(succeeded(await ctl(["get", "from-stdin", "--print-value-only"])), "line one\nline two\n\n");
  });

  test("put --prev-kv prints the previous pair; -- lets a value start with a dash", async () => {
    succeeded(await ctl(["put", "pk", "v1"]));
    assert.equal(succeeded(await ctl(["put", "pk", "v2", "--prev-kv"])), "OK\npk\nv1\n");
    assert.equal(succeeded(await ctl(["put", "pk", "--", "-v3"])), "OK\n");
    assert.equal(succeeded(await ctl(["get", "pk", "--print-value-only"])), "-v3\n");
  });

  test("get -w json mirrors etcdctl: header, base64 kvs, numbers", async () => {
    succeeded(await ctl(["put", "json-key", "json-value"]));
    const out = json(await ctl(["-w", "json", "get", "json-key"]));
    const header = out.header as Record<string, unknown>;
    assert.deepEqual(Object.keys(header), ["cluster_id", "member_id", "revision", "raft_term"]);
    assert.equal(typeof header.revision, "number");
    const kvs = out.kvs as Record<string, unknown>[];
    assert.equal(kvs.length, 1);
    assert.equal(kvs[0].key, b64("json-key"));
    assert.equal(kvs[0].value, b64("json-value"));
    assert.equal(kvs[0].version, 1);
    assert.equal(kvs[0].create_revision, kvs[0].mod_revision);
    assert.equal(kvs[0].lease, undefined, "zero fields are left out, as etcdctl does");
    assert.equal(out.count, 1);
  });

  test("get --prefix, ranges, --from-key, --limit, --keys-only, --count-only, sorting", async () => {
    for (const [k, v] of [["range/a", "3"], ["range/b", "1"], ["range/c", "2"]]) succeeded(await ctl(["put", k, v]));
    succeeded(await ctl(["put", "range/b", "1-again"]));
    assert.equal(succeeded(await ctl(["get", "--prefix", "range/"])), "range/a\n3\nrange/b\n1-again\nrange/c\n2\n");
    assert.equal(succeeded(await ctl(["get", "range/a", "range/c"])), "range/a\n3\nrange/b\n1-again\n");
    assert.equal(succeeded(await ctl(["get", "--from-key", "range/b", "--keys-only", "--limit", "2"])), "range/b\n\nrange/c\n\n");
    assert.equal(succeeded(await ctl(["get", "--prefix", "range/", "--count-only"])), "3\n");
    assert.equal(succeeded(await ctl(["get", "--prefix", "range/", "--sort-by=VALUE", "--order=DESCEND", "--print-value-only"])), "3\n2\n1-again\n");
    assert.equal(succeeded(await ctl(["get", "--prefix", "range/", "--sort-by", "version", "--order", "descend", "--keys-only", "--limit=1"])), "range/b\n\n");
    assert.equal(succeeded(await ctl(["get", "--prefix", "range/", "--consistency=s", "--count-only"])), "3\n");
  });

  test("get --rev reads an earlier revision", async () => {
    const first = json(await ctl(["put", "history", "old", "-w", "json"])).header as { revision: number };
    succeeded(await ctl(["put", "history", "new"]));
    assert.equal(succeeded(await ctl(["get", "history", "--rev", String(first.revision)])), "history\nold\n");
  });

  test("get -w table prints an aligned table", async () => {
    succeeded(await ctl(["put", "table/k1", "v1"]));
    succeeded(await ctl(["put", "table/key2", "value2"]));
    const lines = succeeded(await ctl(["get", "--prefix", "table/", "-w", "table"])).trimEnd().split("\n");
    assert.equal(lines.length, 6, lines.join("\n"));
    assert.match(lines[0], /^\+-+\+/);
    assert.match(lines[1], /^\| +KEY +\| +VALUE +\| CREATE REVISION \| MOD REVISION \| VERSION \| LEASE \|$/);
    assert.match(lines[3], /^\| table\/k1 +\| v1 +\| +\d+ \| +\d+ \| +1 \| +\|$/);
    assert.ok(new Set(lines.map((l) => l.length)).size === 1, `rows of different widths:\n${lines.join("\n")}`);
  });

  test("--hex prints keys and values as \\x escapes", async () => {
    succeeded(await ctl(["put", "hx", "ab"]));
    assert.equal(succeeded(await ctl(["get", "hx", "--hex"])), "\\x68\\x78\n\\x61\\x62\n");
  });

  test("put --ignore-value keeps the value; --lease attaches a lease", async () => {
    const grant = succeeded(await ctl(["lease", "grant", "100"]));
    const id = /^lease ([0-9a-f]{16}) granted with TTL\(100s\)\n$/.exec(grant)?.[1];
    assert.ok(id !== undefined, grant);
    succeeded(await ctl(["put", "leased", "keep-me"]));
    assert.equal(succeeded(await ctl(["put", "leased", "--ignore-value", `--lease=${id}`])), "OK\n");
    // The lease ID is a 64-bit JSON number (as etcdctl prints it): check the text, JSON.parse would round it.
    const raw = succeeded(await ctl(["get", "leased", "-w", "json"]));
    assert.ok(raw.includes(`"value":"${b64("keep-me")}"`), raw);
    assert.ok(raw.includes(`"lease":${BigInt(`0x${id}`)}}`), raw);
    succeeded(await ctl(["lease", "revoke", id]));
  });

  test("other protocols: connect and grpc-web", async () => {
    for (const protocol of ["connect", "grpc-web"]) {
      assert.equal(succeeded(await ctl(["--protocol", protocol, "put", `proto/${protocol}`, protocol])), "OK\n");
      assert.equal(succeeded(await ctl([`--protocol=${protocol}`, "get", `proto/${protocol}`])), `proto/${protocol}\n${protocol}\n`);
    }
  });

  test("SISYPHUSCTL_ENDPOINTS sets the endpoints (without a scheme, http:// is assumed)", async () => {
    const hostPort = server.url.replace("http://", "");
    const r = await runCli(["get", "greeting"], { env: { SISYPHUSCTL_ENDPOINTS: hostPort } });
    assert.equal(succeeded(r), "greeting\nhello\n");
  });
});

describe("del and compaction", () => {
  test("del prints the number deleted, and the pairs with --prev-kv", async () => {
    for (const k of ["del/a", "del/b", "del/c"]) succeeded(await ctl(["put", k, `v-${k}`]));
    assert.equal(succeeded(await ctl(["del", "del/a"])), "1\n");
    assert.equal(succeeded(await ctl(["del", "del/a"])), "0\n");
    assert.equal(succeeded(await ctl(["del", "--prefix", "del/", "--prev-kv"])), "2\ndel/b\nv-del/b\ndel/c\nv-del/c\n");
    // Keys starting with "~" sort after every other key of this test file.
    for (const k of ["del/x", "del/y", "~del/a", "~del/b"]) succeeded(await ctl(["put", k, "v"]));
    assert.equal(json(await ctl(["del", "del/x", "del/z", "-w", "json"])).deleted, 2);
    assert.equal(json(await ctl(["del", "--from-key", "~del/", "-w", "json"])).deleted, 2);
  });

  test("compaction prints the revision; older revisions can no longer be read", async () => {
    const first = json(await ctl(["put", "compact-me", "1", "-w", "json"])).header as { revision: number };
    succeeded(await ctl(["put", "compact-me", "2"]));
    const revision = await currentRevision();
    assert.equal(succeeded(await ctl(["compaction", String(revision)])), `compacted revision ${revision}\n`);
    failed(await ctl(["get", "compact-me", "--rev", String(first.revision)]), 1, /^Error: out_of_range: /);
  });
});

describe("txn", () => {
  test("reads compares, success and failure ops from stdin; prints FAILURE and each result", async () => {
    const input = 'mod("txn/key1") > "0"\n\nput txn/key1 "overwrote-key1"\n\nput txn/key1 "created-key1"\nput txn/key2 "some extra key"\n\n';
    assert.equal(succeeded(await ctl(["txn"], { stdin: input })), "FAILURE\n\nOK\n\nOK\n");
    assert.equal(succeeded(await ctl(["txn"], { stdin: input })), "SUCCESS\n\nOK\n");
    assert.equal(succeeded(await ctl(["get", "txn/key1", "--print-value-only"])), "overwrote-key1\n");
  });

  test("value, version and get/del operations with flags; escapes in quoted strings", async () => {
    const input = 'value("txn/key2") = "some extra key"\nversion("txn/key2") = "1"\n\nget txn/ --prefix --keys-only\nput txn/key3 "a\\tb" --prev-kv\ndel txn/key2 --prev-kv\n\nget txn/key1\n';
    assert.equal(succeeded(await ctl(["txn"], { stdin: input })), "SUCCESS\n\ntxn/key1\n\ntxn/key2\n\n\nOK\n\n1\ntxn/key2\nsome extra key\n");
    assert.equal(succeeded(await ctl(["get", "txn/key3", "--print-value-only"])), "a\tb\n");
  });

  test("-w json mirrors etcdctl's txn response", async () => {
    const out = json(await ctl(["txn", "-w", "json"], { stdin: 'value("txn/key3") != "zzz"\n\nget txn/key3\nput txn/key4 v\n\n\n' }));
    assert.equal(out.succeeded, true);
    const responses = out.responses as { Response: Record<string, { kvs?: { key: string }[]; header: object }> }[];
    assert.equal(responses[0].Response.response_range.kvs?.[0].key, b64("txn/key3"));
    assert.ok(responses[1].Response.response_put.header !== undefined);
  });

  test("-i prompts for each section", async () => {
    const out = succeeded(await ctl(["txn", "-i"], { stdin: '\nput txn/i v\n\n' }));
    assert.equal(out, "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\nOK\n");
  });

  test("malformed input is a usage error naming the line", async () => {
    failed(await ctl(["txn"], { stdin: 'val("k" = "v"\n\n\n' }), 2, /^Error: malformed comparison: val\("k" = "v" \(/);
    failed(await ctl(["txn"], { stdin: '\nfrobnicate k\n\n' }), 2, "Error: invalid txn request: frobnicate k (expected put, get or del)");
  });
});

describe("watch", () => {
  test("--max-events prints events while another invocation writes, then exits 0", async () => {
    const start = (await currentRevision()) + 1;
    const watch = startCli(["--endpoints", server.url, "watch", "--prefix", "watched/", "--rev", String(start), "--prev-kv", "--max-events", "3"]);
    succeeded(await ctl(["put", "watched/a", "1"]));
    succeeded(await ctl(["put", "watched/a", "2"]));
    succeeded(await ctl(["del", "watched/a"]));
    const r = await watch.result;
    assert.equal(succeeded(r), "PUT\nwatched/a\n1\nPUT\nwatched/a\n1\nwatched/a\n2\nDELETE\nwatched/a\n2\nwatched/a\n\n");
  });

  test("-w json prints one etcdctl-style watch response per line", async () => {
    const start = (await currentRevision()) + 1;
    const watch = startCli(["--endpoints", server.url, "watch", "watched/json", "--rev", String(start), "--max-events", "1", "-w", "json"]);
    succeeded(await ctl(["put", "watched/json", "x"]));
    const out = JSON.parse(succeeded(await watch.result)) as { Header: { revision: number }; Events: { kv: { key: string; value: string } }[] };
    assert.equal(out.Events[0].kv.key, b64("watched/json"));
    assert.equal(out.Events[0].kv.value, b64("x"));
  });

  test("Ctrl-C (SIGINT) ends it with exit code 0", async () => {
    succeeded(await ctl(["put", "watched/sigint", "v"]));
    const revision = await currentRevision();
    const watch = startCli(["--endpoints", server.url, "watch", "watched/sigint", "--rev", String(revision)]);
    await watch.waitForOutput("watched/sigint\nv\n");
    watch.child.kill("SIGINT");
    const r = await watch.result;
    assert.equal(succeeded(r), "PUT\nwatched/sigint\nv\n");
  });
});

describe("lease", () => {
  test("grant, timetolive --keys, list, keep-alive --once, revoke", async () => {
    const id = /^lease ([0-9a-f]{16}) granted with TTL\(60s\)\n$/.exec(succeeded(await ctl(["lease", "grant", "60"])))?.[1];
    assert.ok(id !== undefined);
    succeeded(await ctl(["put", "lease/k1", "v", `--lease=${id}`]));
    assert.match(succeeded(await ctl(["lease", "timetolive", id])), new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\)\\n$`));
    assert.match(succeeded(await ctl(["lease", "timetolive", id, "--keys"])), /, attached keys\(\[lease\/k1\]\)\n$/);
    const ttlJson = json(await ctl(["lease", "timetolive", id, "--keys", "-w", "json"]));
    assert.deepEqual(ttlJson.keys, [b64("lease/k1")]);
    assert.equal(ttlJson["granted-ttl"], 60);
    const list = succeeded(await ctl(["lease", "list"]));
    assert.match(list, /^found \d+ leases\n/);
    assert.ok(list.split("\n").includes(id), list);
    assert.match(succeeded(await ctl(["lease", "list", "-w", "table"])), new RegExp(`\\| ${id} \\| +\\d+ \\| +60 \\|`));
    assert.ok((json(await ctl(["lease", "list", "-w", "json"])).leases as unknown[]).length >= 1);
    assert.equal(succeeded(await ctl(["lease", "keep-alive", "--once", id])), `lease ${id} keepalived with TTL(60)\n`);
    assert.equal(succeeded(await ctl(["lease", "revoke", id])), `lease ${id} revoked\n`);
    assert.equal(succeeded(await ctl(["get", "lease/k1"])), "", "revoking deletes the lease's keys");
    assert.equal(succeeded(await ctl(["lease", "timetolive", id])), `lease ${id} already expired\n`);
    failed(await ctl(["lease", "revoke", id]), 1, /^Error: not_found: /);
    failed(await ctl(["lease", "keep-alive", "--once", id]), 1, /^Error: not_found: /);
  });

  test("keep-alive renews until Ctrl-C (exit 0); on a revoked lease it exits 1", async () => {
    const id = /^lease ([0-9a-f]{16})/.exec(succeeded(await ctl(["lease", "grant", "30"])))?.[1];
    assert.ok(id !== undefined);
    const keepAlive = startCli(["--endpoints", server.url, "lease", "keep-alive", id]);
    await keepAlive.waitForOutput(`lease ${id} keepalived with TTL(30)\n`);
    keepAlive.child.kill("SIGINT");
    assert.match(succeeded(await keepAlive.result), new RegExp(`^(lease ${id} keepalived with TTL\\(30\\)\\n)+$`));
    succeeded(await ctl(["lease", "revoke", id]));
    const gone = await ctl(["lease", "keep-alive", id]);
    failed(gone, 1, `Error: lease ${id} expired or revoked`);
    assert.equal(gone.stdout, `lease ${id} expired or revoked.\n`);
  });

  test("a lease ID that is not hex is a usage error", async () => {
    failed(await ctl(["lease", "revoke", "not-hex"]), 2, /^Error: bad lease ID "not-hex"/);
  });
});

describe("member, endpoint, snapshot", () => {
  test("member list: simple, table, json", async () => {
    assert.match(succeeded(await ctl(["member", "list"])), new RegExp(`^[0-9a-f]+, started, default, http://127.0.0.1:0, ${server.url}, false\\n$`));
    const table = succeeded(await ctl(["member", "list", "-w", "table"]));
    assert.match(table, /\| +ID +\| STATUS +\| +NAME +\| +PEER ADDRS +\| +CLIENT ADDRS +\| IS LEARNER \|/);
    const out = json(await ctl(["member", "list", "-w", "json"]));
    const members = out.members as { name: string; clientURLs: string[] }[];
    assert.deepEqual(members.map((m) => [m.name, m.clientURLs]), [["default", [server.url]]]);
  });

  test("member add (learner), promote refused until caught up, remove; a voter that cannot start is refused", async () => {
    const added = succeeded(await ctl(["member", "add", "spare", "--peer-urls=http://127.0.0.1:1", "--learner"]));
    const id = /^Member ([0-9a-f]+) added to cluster [0-9a-f]+\n/.exec(added)?.[1];
    assert.ok(id !== undefined, added);
    const startFlags = /--name spare --initial-cluster (\S+) --initial-advertise-peer-urls http:\/\/127\.0\.0\.1:1 --initial-cluster-state existing\n$/.exec(added);
    assert.ok(startFlags !== null, added);
    assert.deepEqual(startFlags[1].split(",").sort(), ["default=http://127.0.0.1:0", "spare=http://127.0.0.1:1"]);
    assert.match(succeeded(await ctl(["member", "list"])), new RegExp(`^${id}, unstarted, , http://127.0.0.1:1, , true$`, "m"));
    failed(await ctl(["member", "promote", id]), 1, /^Error: failed_precondition: .*not caught up/);
    assert.equal(succeeded(await ctl(["member", "remove", id])), `Member ${id} removed from cluster ${/cluster ([0-9a-f]+)/.exec(added)![1]}\n`);
    assert.equal(succeeded(await ctl(["member", "list"])).trim().split("\n").length, 1);
    failed(await ctl(["member", "add", "voter", "--peer-urls=http://127.0.0.1:2"]), 1, /^Error: failed_precondition: .*quorum/);
    failed(await ctl(["member", "add", "nourl"]), 2, /--peer-urls/);
    failed(await ctl(["member", "add", "bad", "--peer-urls=ftp://x"]), 2, /bad peer URL/);
    failed(await ctl(["member", "promote", "xyz"]), 2, /bad member ID/);
  });

  test("endpoint status: simple, table, json", async () => {
    const revision = await currentRevision();
    const line = succeeded(await ctl(["endpoint", "status"]));
    const fields = line.replace(/\n$/, "").split(", ");
    assert.equal(fields[0], server.url, line);
    assert.match(fields[1], /^[0-9a-f]+$/);
    assert.equal(fields[4], "true", `is leader:\n${line}`);
    assert.match(fields[9], /^\d+(\.\d)? (B|kB|MB)$/, `raft log size:\n${line}`);
    assert.equal(fields[10], String(revision), `revision:\n${line}`);
    assert.match(succeeded(await ctl(["endpoint", "status", "-w", "table"])), /\| +ENDPOINT +\| +ID +\| VERSION \| DB SIZE \| IS LEADER \|/);
    const [entry] = JSON.parse(succeeded(await ctl(["endpoint", "status", "-w", "json"]))) as { Endpoint: string; Status: { dbSize: number; version: string } }[];
    assert.equal(entry.Endpoint, server.url);
    assert.ok(entry.Status.dbSize > 0);
  });

  test("endpoint health: healthy endpoint exits 0; a dead one exits 1", async () => {
    assert.match(succeeded(await ctl(["endpoint", "health"])), new RegExp(`^${server.url} is healthy: successfully read a key: took = [\\d.]+ms\\n$`));
    assert.match(succeeded(await ctl(["endpoint", "health", "-w", "table"])), /\| +ENDPOINT +\| HEALTH \| +TOOK +\| ERROR \|/);
    const dead = await deadEndpoint();
    const r = await runCli(["--endpoints", `${server.url},${dead}`, "endpoint", "health", "--command-timeout", "3s"]);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stdout, new RegExp(`^${server.url} is healthy`));
    assert.match(r.stderr, new RegExp(`^${dead} is unhealthy: unavailable: .*\\nError: unhealthy cluster\\n$`));
    const asJson = await runCli(["--endpoints", dead, "endpoint", "health", "-w", "json"]);
    assert.equal(asJson.code, 1, describeRun(asJson));
    assert.equal((JSON.parse(asJson.stdout) as { health: boolean }[])[0].health, false);
  });

  test("snapshot save writes a verified file and prints its revision", async () => {
    succeeded(await ctl(["put", "snapshot/key", "in the snapshot"]));
    const revision = await currentRevision();
    const file = path.join(scratchDir, "backup.snap");
    const out = succeeded(await ctl(["snapshot", "save", file]));
    const lines = out.split("\n");
    assert.equal(lines[0], `Snapshot saved at ${file}`);
    const content = fs.readFileSync(file);
    assert.equal(content.subarray(0, 8).toString("latin1"), "SISYSNP1");
    assert.equal(lines[1], `revision: ${revision}, size: ${content.length} bytes, sha256: ${createHash("sha256").update(content).digest("hex")}`);
    assert.ok(!fs.existsSync(`${file}.part`), "the .part file is renamed away");
  });

  test("snapshot restore makes a data directory a new member starts on, with the saved keys", async () => {
    succeeded(await ctl(["put", "restore/key", "kept"]));
    const file = path.join(scratchDir, "restore.snap");
    succeeded(await ctl(["snapshot", "save", file]));
    const dataDir = path.join(scratchDir, "restored");
    const out = succeeded(await runCli(["snapshot", "restore", file, "--data-dir", dataDir]));
    assert.ok(out.startsWith(`Restored ${file} into ${dataDir} (`), out);
    failed(await runCli(["snapshot", "restore", file, "--data-dir", dataDir]), 1, /already exists; restore into a new directory/);
    const restored = await startServer({ dataDir });
    try {
      const got = succeeded(await runCli(["--endpoints", restored.url, "get", "restore/key"]));
      assert.equal(got, "restore/key\nkept\n");
    } finally {
      await restored.stop();
    }
  });

  test("snapshot restore refuses a file that is not a snapshot, leaving no directory", async () => {
    const file = path.join(scratchDir, "not-a.snap");
    fs.writeFileSync(file, "hello, this is not a snapshot");
    const dataDir = path.join(scratchDir, "not-restored");
    failed(await runCli(["snapshot", "restore", file, "--data-dir", dataDir]), 1, /is not a SisyphusDB snapshot/);
    assert.ok(!fs.existsSync(path.join(dataDir, "kv")), "nothing is left in place");
    failed(await runCli(["snapshot", "restore", file]), 2, /needs --data-dir/);
  });

  test("snapshot save into a missing directory fails with exit 1 and leaves nothing", async () => {
    const file = path.join(scratchDir, "missing-dir", "backup.snap");
    failed(await ctl(["snapshot", "save", file]), 1, /^Error: ENOENT/);
  });
});

describe("errors and usage", () => {
  test("an RPC error is one line with the code and exit code 1", async () => {
    failed(await ctl(["put", "", "value"]), 1, "Error: invalid_argument: key: key must not be empty");
  });

  test("an unreachable endpoint is exit code 1", async () => {
    failed(await runCli(["--endpoints", await deadEndpoint(), "get", "k"]), 1, /^Error: unavailable: /);
  });

  test("bad usage is exit code 2 with a usage hint", async () => {
    const cases: [Promise<CliResult>, string | RegExp][] = [
      [ctl(["frobnicate"]), 'Error: unknown command "frobnicate"'],
      [ctl(["get", "k", "--no-such-flag"]), "Error: unknown flag: --no-such-flag"],
      [ctl(["get"]), "Error: get needs at least 1 argument, got 0"],
      [ctl(["lease"]), /^Error: lease needs a subcommand: grant, /],
      [ctl(["lease", "grant"]), "Error: grant needs 1 argument, got 0"],
      [ctl(["get", "k", "--limit", "many"]), /^Error: invalid --limit "many"/],
      [ctl(["get", "k", "-w", "yaml"]), /^Error: invalid --write-out "yaml"/],
      [ctl(["put", "k", "v", "-w", "table"]), /^Error: --write-out=table is not supported by "put"/],
      [ctl(["put", "k"], { stdin: "" }), /^Error: put needs a value/],
      [runCli(["--endpoints", "ftp://x", "get", "k"]), /^Error: invalid endpoint "ftp:\/\/x"/],
      [ctl(["--command-timeout", "soon", "get", "k"]), /^Error: invalid --command-timeout "soon"/],
      [runCli([]), "Error: no command given"],
    ];
    for (const [run, expected] of cases) failed(await run, 2, expected);
  });

  test("--help and version exit 0 without a server", async () => {
    const dead = await deadEndpoint();
    assert.match(succeeded(await runCli(["--help"])), /^sisyphusctl: the SisyphusDB command-line client\n/);
    assert.match(succeeded(await runCli(["--endpoints", dead, "get", "--help"])), /Usage:\n {2}sisyphusctl get \[options\] <key> \[range_end\]\n/);
    assert.match(succeeded(await runCli(["help", "lease"])), /Subcommands:\n {2}grant /);
    assert.match(succeeded(await runCli(["lease", "keep-alive", "-h"])), /--once/);
    assert.match(succeeded(await runCli(["version"])), /^sisyphusctl version: \d+\.\d+\.\d+\nAPI version: sisyphus\.kv\.v1\n$/);
  });
});
