/**
 * Network partitions between real member processes, made by a test-controlled TCP proxy in front
 * of each member's peer port (partition-proxy.ts): bytes between the two sides stop moving, as
 * on a real network, nothing is reset. Under a light write load through every member:
 *   - the leader cut off from both followers cannot commit (a write sent to it fails with a
 *     retryable code, a linearizable read from it fails instead of answering), while the other
 *     two elect a leader and go on; the partition lasts until the connections across it have
 *     died of unanswered PINGs, and after heal the old leader follows, all three converge, every
 *     acknowledged write is everywhere and none of the old leader's unacknowledged ones is;
 *   - a follower cut off from the others does not stop the leader, catches up after heal, and
 *     never disrupted the leader (pre-vote: no term changed).
 * Members listen for peers on their own loopback IPs (127.77.<n>.<i>), so the proxy knows who
 * dialed by the source address. Every process and proxy is stopped in after().
 */
import assert from "node:assert/strict";
import { after, describe, it, type TestContext } from "node:test";
import { stopAllServers } from "../e2e/server-process.js";
import { PartitionProxy, type ProxiedMember } from "./partition-proxy.js";
import { b64, type CallOutcome, freePort, type MemberStatus, TestCluster } from "./test-cluster.js";

const clusters: TestCluster[] = [];
const proxies: PartitionProxy[] = [];
after(async () => {
  await stopAllServers();
  await Promise.all(proxies.map((p) => p.stop()));
  for (const c of clusters) c.removeData();
});

/** Deadline of a write or read sent to the cut-off side: long enough for an answer if there were one. */
const MINORITY_CALL_MS = 1_500;
/** Deadline of each write of the background load. */
const LOAD_CALL_MS = 1_000;
const RETRYABLE = new Set(["unavailable", "deadline_exceeded"]);
/**
 * Raft timing for these tests: the defaults (20 ms heartbeats, 100 ms election timeout) let a
 * busy shared machine's scheduling stalls start elections, and the assertions here are about
 * which terms changed and why; a 1 s election timeout keeps those stalls out of the picture.
 */
const RAFT_TIMING = ["--heartbeat-interval-ms", "50", "--election-timeout-ms", "1000"];

/** A cluster of `size` members whose peer traffic all goes through one PartitionProxy. */
async function startBehindProxies(size: number): Promise<{ c: TestCluster; proxy: PartitionProxy; members: ProxiedMember[] }> {
  // One /24 of loopback per test process (pid), so parallel runs never share addresses.
  const subnet = `127.77.${(process.pid % 250) + 1}`;
  const members: ProxiedMember[] = [];
  for (let i = 1; i <= size; i++) {
    const host = `${subnet}.${i}`;
    members.push({ name: `m${i}`, host, port: await freePort(host), proxyHost: `${subnet}.${100 + i}` });
  }
  const proxy = await PartitionProxy.start(members);
  proxies.push(proxy);
  const c = await TestCluster.start(size, RAFT_TIMING, {
    peerUrls: (name) => {
      const m = members.find((x) => x.name === name)!;
      return { listen: `http://${m.host}:${m.port}`, advertise: proxy.urlOf(name) };
    },
  });
  clusters.push(c);
  return { c, proxy, members };
}

/** The cluster's first leader; if there is none, says whether the proxy saw connections it could not place. */
async function firstLeader(c: TestCluster, proxy: PartitionProxy): Promise<string> {
  return c.waitForLeader().catch((err: unknown) => {
    const unknown = proxy.counters().unknownSources;
    if (unknown === 0) throw err;
    throw new Error(`${(err as Error).message}; the proxy refused ${unknown} peer connections from addresses that are no member's peer IP (do members dial from their --listen-peer-url address?)`);
  });
}

type Phase = "before" | "partitioned" | "healed";

interface Attempt {
  readonly key: string;
  readonly value: string;
  readonly via: string;
  readonly startedIn: Phase;
  endedIn?: Phase;
  outcome?: CallOutcome;
}

/**
 * One writer per member, each putting a new key through its member, one at a time with a short
 * pause between puts (a light load, bounded in count and time): every attempt and its outcome
 * is recorded with the phase of the test it started and ended in.
 */
class WriteLoad {
  readonly attempts: Attempt[] = [];
  phase: Phase = "before";
  private stopped = false;
  private readonly running: Promise<void>;
  private static readonly PAUSE_MS = 15;
  private static readonly MAX_ATTEMPTS = 5_000;

  constructor(
    private readonly c: TestCluster,
    private readonly prefix: string,
    maxDurationMs: number,
  ) {
    const deadline = Date.now() + maxDurationMs;
    this.running = Promise.all(this.c.running().map((via) => this.writer(via, deadline))).then(() => {});
  }

  acked(filter: (a: Attempt) => boolean = () => true): Map<string, string> {
    return new Map(this.attempts.filter((a) => a.outcome?.ok === true && filter(a)).map((a) => [a.key, a.value]));
  }

  async waitForAcked(count: number, filter: (a: Attempt) => boolean, timeoutMs: number): Promise<void> {
    await this.c.waitUntil(`${count} acknowledged writes (${this.summary()})`, async () => this.acked(filter).size >= count, timeoutMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  summary(): string {
    const counts = new Map<string, number>();
    for (const a of this.attempts) {
      const label = `${a.via}/${a.startedIn}/${a.outcome === undefined ? "pending" : a.outcome.ok ? "ok" : a.outcome.code}`;
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => `${k}: ${n}`).join(", ");
  }

  private async writer(via: string, deadline: number): Promise<void> {
    while (!this.stopped && Date.now() < deadline && this.attempts.length < WriteLoad.MAX_ATTEMPTS) {
      const n = this.attempts.length;
      const attempt: Attempt = { key: `${this.prefix}${String(n).padStart(5, "0")}`, value: `v${n}-${via}`, via, startedIn: this.phase };
      this.attempts.push(attempt);
      try {
        attempt.outcome = await this.c.call(via, "sisyphus.kv.v1.KVService/Put", { key: b64(attempt.key), value: b64(attempt.value) }, LOAD_CALL_MS);
      } catch (err) {
        attempt.outcome = { ok: false, code: "client_error", message: (err as Error).message, body: {}, headers: new Headers() };
      }
      attempt.endedIn = this.phase;
      // A pause so the load stays light on a shared 2-core machine; not a wait for anything.
      await new Promise((resolve) => setTimeout(resolve, WriteLoad.PAUSE_MS));
    }
  }
}

/** Every key under `prefix` with its value, read through `name` (linearizable). */
async function readAll(c: TestCluster, name: string, prefix: string): Promise<Map<string, string>> {
  const end = Buffer.from(prefix);
  end[end.length - 1]++;
  const r = await c.call(name, "sisyphus.kv.v1.KVService/Range", { key: b64(prefix), rangeEnd: end.toString("base64") }, 5_000);
  if (!r.ok) throw new Error(`range ${prefix} via ${name}: ${r.code} ${r.message}`);
  const kvs = (r.body.kvs as { key: string; value?: string }[] | undefined) ?? [];
  return new Map(kvs.map((kv) => [Buffer.from(kv.key, "base64").toString(), Buffer.from(kv.value ?? "", "base64").toString()]));
}

async function statuses(c: TestCluster): Promise<Map<string, MemberStatus>> {
  return new Map(await Promise.all(c.running().map(async (n) => [n, await c.status(n)] as const)));
}

/** Waits until every member has the same committed and applied index (the load is stopped). */
async function waitConverged(c: TestCluster, timeoutMs: number): Promise<Map<string, MemberStatus>> {
  let last = new Map<string, MemberStatus>();
  await c.waitUntil(
    "all members at the same committed and applied index",
    async () => {
      last = await statuses(c);
      const indexes = new Set([...last.values()].map((s) => `${s.committedIndex}/${s.appliedIndex}`));
      const first = [...last.values()][0];
      return indexes.size === 1 && first.committedIndex === first.appliedIndex;
    },
    timeoutMs,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last statuses: ${JSON.stringify([...last])}`);
  });
  return last;
}

/** A refusal a client can retry and a person can read: UNAVAILABLE or DEADLINE_EXCEEDED, with a sentence saying why. */
function assertRetryableRefusal(r: CallOutcome, what: string): void {
  assert.ok(!r.ok, `${what} must fail, but it succeeded: ${JSON.stringify(r.body)}`);
  assert.ok(RETRYABLE.has(r.code ?? ""), `${what}: code ${r.code} (${r.message}) is not retryable`);
  assert.ok(
    typeof r.message === "string" && r.message.length >= 10 && /leader|quorum|deadline|reach|elect/i.test(r.message),
    `${what}: the message should say why in words, got ${JSON.stringify(r.message)}`,
  );
}

/**
 * After heal and convergence: every member holds exactly the same keys, every acknowledged write,
 * and none of the writes known not to have happened.
 */
async function assertSameDataEverywhere(c: TestCluster, prefix: string, acked: Map<string, string>, neverApplied: readonly Attempt[]): Promise<void> {
  const contents = new Map<string, Map<string, string>>();
  for (const name of c.running()) contents.set(name, await readAll(c, name, prefix));
  const [firstName, first] = [...contents][0];
  for (const [name, data] of contents) {
    assert.deepEqual(data, first, `${name} and ${firstName} hold different data under ${prefix}`);
    for (const [key, value] of acked) assert.equal(data.get(key), value, `acknowledged ${key} on ${name}`);
    for (const a of neverApplied) assert.equal(data.get(a.key), undefined, `${a.key} (sent via ${a.via}, refused: ${a.outcome?.code} ${a.outcome?.message}) was applied on ${name}`);
  }
}

/** For a failure: each member's role changes and peer connection events (the story of the partition). */
function printMemberLogs(t: TestContext, c: TestCluster, load: WriteLoad): void {
  t.diagnostic(`writes: ${load.summary()}`);
  for (const [name, p] of c.processes) {
    const lines = p.output.split("\n").filter((l) => /raft state changed|peer unreachable|reachable again/.test(l));
    t.diagnostic(`${name} (last ${Math.min(lines.length, 40)} of ${lines.length} role/connection events):\n${lines.slice(-40).join("\n")}`);
  }
}

/** The attempts whose refusal said the write certainly did not happen. */
function notApplied(load: WriteLoad): Attempt[] {
  return load.attempts.filter((a) => a.outcome !== undefined && !a.outcome.ok && a.outcome.headers.get("sisyphus-not-applied") !== null);
}

describe("a 3-member cluster under network partitions", () => {
  it("a leader cut off from both followers cannot commit; the others go on; after heal it follows and all converge", async (t) => {
    const { c, proxy, members } = await startBehindProxies(3);
    const context = `members ${members.map((m) => `${m.name}=${m.host}:${m.port}`).join(", ")}`;
    const old = await firstLeader(c, proxy);
    const oldId = (await c.status(old)).memberId;
    const majority = c.running().filter((n) => n !== old);
    const load = new WriteLoad(c, "a/", 30_000);
    try {
      await load.waitForAcked(30, () => true, 10_000);

      proxy.partition([[old], majority]);
      load.phase = "partitioned";
      const partitionedAt = Date.now();
      const [minorityPut, electedMs] = await Promise.all([
        c.call(old, "sisyphus.kv.v1.KVService/Put", { key: b64("a/minority"), value: b64("lost") }, MINORITY_CALL_MS),
        c
          .waitUntil(
            "a new leader among the majority",
            async () => {
              const s = await Promise.all(majority.map((n) => c.status(n)));
              return s[0].leader !== "0" && s[0].leader !== oldId && s.every((x) => x.leader === s[0].leader);
            },
            8_000,
          )
          .then(() => Date.now() - partitionedAt),
      ]);
      assertRetryableRefusal(minorityPut, `a put sent to the cut-off leader ${old} (${context})`);
      await c.waitUntil(`the cut-off ${old} stepped down (check-quorum)`, async () => (await c.status(old)).leader === "0", 5_000);
      const oldCommitted = (await c.status(old)).committedIndex;

      const majorityStatuses = await Promise.all(majority.map(async (n) => ({ n, s: await c.status(n) })));
      const leader = majorityStatuses.find((x) => x.s.memberId === x.s.leader)?.n;
      assert.ok(leader !== undefined, `a leader among ${majority.join(", ")}: ${JSON.stringify(majorityStatuses)}`);
      const fresh = await c.put(leader, "a/fresh", "after-partition");
      assert.ok(fresh.ok, `a write on the majority's leader ${leader}: ${fresh.code} ${fresh.message}`);
      const staleRead = await c.call(old, "sisyphus.kv.v1.KVService/Range", { key: b64("a/fresh") }, MINORITY_CALL_MS);
      assertRetryableRefusal(staleRead, `a linearizable read from the cut-off ${old} (it would be stale: ${JSON.stringify(staleRead.body.kvs ?? [])})`);

      // Keep the partition until the connections across it are dead on both sides (unanswered
      // PINGs) and the members' reconnect attempts are being held: heal must then recover from that.
      await c.waitUntil(
        "the connections across the partition died of unanswered PINGs",
        async () => {
          const pingDeaths = (name: string) => (c.processes.get(name)!.output.match(/no PING acknowledgement/g) ?? []).length;
          return pingDeaths(old) >= 2 && majority.every((n) => pingDeaths(n) >= 1) && proxy.counters().held > 0;
        },
        15_000,
      );
      await load.waitForAcked(20, (a) => a.startedIn === "partitioned" && a.via !== old, 5_000);
      assert.equal((await c.status(old)).committedIndex, oldCommitted, `the cut-off ${old} committed nothing while cut off`);
      const leaderTerm = (await c.status(leader)).raftTerm;

      proxy.heal();
      load.phase = "healed";
      const healedAt = Date.now();
      await c.waitUntil(
        `${old} follows ${leader}`,
        async () => {
          const s = await statuses(c);
          return [...s.values()].every((x) => x.leader === s.get(leader)!.memberId);
        },
        10_000,
      );
      await load.waitForAcked(10, (a) => a.startedIn === "healed" && a.via === old, 10_000);
      await load.stop();
      const converged = await waitConverged(c, 10_000);
      const followedMs = Date.now() - healedAt;
      assert.equal(converged.get(leader)!.raftTerm, leaderTerm, `the majority's leader kept its term through heal (${JSON.stringify([...converged])})`);

      const cutOffAttempts = load.attempts.filter((a) => a.via === old && a.startedIn === "partitioned" && a.endedIn === "partitioned");
      for (const a of cutOffAttempts) assertRetryableRefusal(a.outcome!, `put ${a.key} via the cut-off ${old}`);
      const acked = load.acked();
      acked.set("a/fresh", "after-partition");
      await assertSameDataEverywhere(c, "a/", acked, [...cutOffAttempts, ...notApplied(load), { key: "a/minority", value: "lost", via: old, startedIn: "partitioned", outcome: minorityPut }]);
      t.diagnostic(
        `leader cut off: new leader in ${electedMs} ms, converged ${followedMs} ms after heal; ${acked.size} writes acknowledged; ${load.summary()}; proxy ${JSON.stringify([...proxy.counters().accepted])}`,
      );
    } catch (err) {
      printMemberLogs(t, c, load);
      throw err;
    } finally {
      await load.stop();
    }
  });

  it("a follower cut off from the others does not stop or disrupt the leader, and catches up after heal", async (t) => {
    const { c, proxy } = await startBehindProxies(3);
    const leader = await firstLeader(c, proxy);
    const before = await statuses(c);
    const term = before.get(leader)!.raftTerm;
    const isolated = c.running().find((n) => n !== leader)!;
    const load = new WriteLoad(c, "c/", 30_000);
    try {
      await load.waitForAcked(30, () => true, 10_000);

      proxy.partition([[isolated], c.running().filter((n) => n !== isolated)]);
      load.phase = "partitioned";
      await c.waitUntil(`${isolated} lost its leader`, async () => (await c.status(isolated)).leader === "0", 5_000);
      const put = await c.call(isolated, "sisyphus.kv.v1.KVService/Put", { key: b64("c/minority"), value: b64("maybe") }, MINORITY_CALL_MS);
      assertRetryableRefusal(put, `a put sent to the cut-off follower ${isolated}`);
      const read = await c.call(isolated, "sisyphus.kv.v1.KVService/Range", { key: b64("c/minority") }, MINORITY_CALL_MS);
      assertRetryableRefusal(read, `a linearizable read from the cut-off follower ${isolated}`);
      await load.waitForAcked(30, (a) => a.startedIn === "partitioned" && a.via !== isolated, 10_000);
      const during = await statuses(c);
      assert.equal(during.get(leader)!.leader, before.get(leader)!.memberId, `${leader} is still the leader`);
      for (const [name, s] of during) assert.equal(s.raftTerm, term, `${name}'s term while ${isolated} is cut off (pre-vote keeps it from raising its term)`);

      proxy.heal();
      load.phase = "healed";
      await c.waitUntil(`${isolated} follows ${leader} again`, async () => (await c.status(isolated)).leader === before.get(leader)!.memberId, 10_000);
      await load.waitForAcked(10, (a) => a.startedIn === "healed" && a.via === isolated, 10_000);
      await load.stop();
      const converged = await waitConverged(c, 10_000);
      for (const [name, s] of converged) {
        assert.equal(s.raftTerm, term, `${name}'s term after heal: the cut-off follower did not disrupt the leader`);
        assert.equal(s.leader, before.get(leader)!.memberId, `${name} follows ${leader}`);
      }
      for (const a of load.attempts.filter((x) => x.via === isolated && x.startedIn === "partitioned" && x.endedIn === "partitioned")) {
        assertRetryableRefusal(a.outcome!, `put ${a.key} via the cut-off ${isolated}`);
      }
      await assertSameDataEverywhere(c, "c/", load.acked(), notApplied(load));
      t.diagnostic(`follower cut off: ${load.acked().size} writes acknowledged; ${load.summary()}`);
    } catch (err) {
      printMemberLogs(t, c, load);
      throw err;
    } finally {
      await load.stop();
    }
  });
});
