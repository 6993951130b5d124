/**
 * The SDK's leader-aware routing against a real 3-member cluster: writes reach the leader
 * directly once the client has learned which endpoint is the leader's (the first write lands on
 * a follower, which forwards it and names the leader), reads stay on the first endpoint, and after the leader is SIGKILLed writes get
 * through again, to the new leader, within a bound.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { ConnectError, createClient, type Client, type PutResult } from "@sisyphusdb/client";
import { stopAllServers } from "../e2e/server-process.js";
import { TestCluster } from "./test-cluster.js";

/** The longest a client may take, from the leader's death, to get a write through again. */
const RECOVERY_MS_MAX = 5_000;
/** Writes tried after the kill before the test gives up (each bounded by its own deadline). */
const WRITES_AFTER_KILL_MAX = 100;
const DIRECT_WRITES = 10;
/** Writes after which the client must have found the leader's endpoint. */
const LEARN_WRITES_MAX = 20;

/**
 * Puts until one is answered by the leader itself, then DIRECT_WRITES more that all must be.
 * Which endpoint is the leader's is learned by a probe that runs beside the first writes, and a
 * write waits for it only briefly (member-discovery.ts), so on a loaded machine the second write
 * may still be forwarded; LEARN_WRITES_MAX bounds how long routing may take to settle.
 */
async function writesReachLeader(client: Client, prefix: string, leaderId: bigint): Promise<void> {
  let i = 0;
  while ((await client.put(`${prefix}/${i}`, String(i))).header.memberId !== leaderId) {
    i++;
    assert.ok(i < LEARN_WRITES_MAX, `${prefix}: none of ${LEARN_WRITES_MAX} writes was answered by the leader ${leaderId}`);
  }
  for (let j = 1; j <= DIRECT_WRITES; j++) {
    const put = await client.put(`${prefix}/${i + j}`, String(i + j));
    assert.deepEqual([put.header.memberId, put.header.leaderId], [leaderId, leaderId], `${prefix}: write ${i + j} was answered by ${put.header.memberId}, not the leader ${leaderId}`);
  }
}

const clusters: TestCluster[] = [];
after(async () => {
  await stopAllServers();
  for (const c of clusters) c.removeData();
});

describe("the SDK on a real 3-member cluster", () => {
  it("writes to the leader once it knows its endpoint, and keeps writing after the leader is killed", async (t) => {
    const cluster = await TestCluster.start(3);
    clusters.push(cluster);
    const clients: Client[] = [];
    try {
      const leaderName = await cluster.waitForLeader();
      const leaderId = BigInt((await cluster.status(leaderName)).memberId);
      const followers = cluster.running().filter((n) => n !== leaderName);
      const firstId = BigInt((await cluster.status(followers[0])).memberId);
      // A follower first: the first call lands there, and reads stay there.
      const endpoints = [...followers, leaderName].map((n) => cluster.url(n));
      t.diagnostic(`leader ${leaderName} (${leaderId}); endpoints ${followers.join(", ")}, ${leaderName}`);

      for (const pipeline of [true, false]) {
        const client = createClient({ endpoints, pipeline });
        clients.push(client);
        const first = await client.put(`first/${pipeline}`, "1");
        assert.deepEqual([first.header.memberId, first.header.leaderId], [firstId, leaderId], `pipeline ${pipeline}: the first write was forwarded by ${followers[0]}`);
        await writesReachLeader(client, `direct/${pipeline}`, leaderId);
        const read = await client.get(`direct/${pipeline}/0`);
        assert.equal(read.kv?.valueString, "0");
        assert.equal(read.header.memberId, firstId, `pipeline ${pipeline}: reads stay on the first endpoint`);
      }

      const client = clients[0];
      const killedAtMs = performance.now();
      await cluster.kill(leaderName);
      const failures: string[] = [];
      let recovered: PutResult | undefined;
      for (let i = 0; recovered === undefined && i < WRITES_AFTER_KILL_MAX && performance.now() - killedAtMs < RECOVERY_MS_MAX; i++) {
        try {
          recovered = await client.put(`after/${i}`, String(i), { timeoutMs: 2_000 });
        } catch (err) {
          failures.push(err instanceof ConnectError ? `${err.code}: ${err.rawMessage}` : String(err));
        }
      }
      const recoveryMs = performance.now() - killedAtMs;
      t.diagnostic(`first write after the kill acknowledged ${recoveryMs.toFixed(0)} ms after it; ${failures.length} failed before: ${failures.join(" | ")}`);
      assert.ok(recovered !== undefined, `no write got through within ${RECOVERY_MS_MAX} ms of the kill; failures: ${failures.join(" | ")}`);
      const newLeaderId = recovered.header.leaderId;
      assert.ok(newLeaderId !== 0n && newLeaderId !== leaderId, `the answer names a new leader (got ${newLeaderId})`);
      await writesReachLeader(client, "after-direct", newLeaderId);
      assert.equal((await client.get("after-direct/0")).kv?.valueString, "0");
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
