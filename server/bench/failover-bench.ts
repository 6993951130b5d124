/**
 * npm run bench:failover [-- --kills 20 --writers 16 --out docs/benchmarks]
 *
 * A local 3-member cluster (real processes on 127.0.0.1, default election settings) under a
 * steady write load, its leader killed with SIGKILL `--kills` times and restarted between rounds.
 * For each kill: the gap from the SIGKILL until the first write *sent after it* succeeds (the
 * time clients see no write succeed). At the end every acknowledged write is looked for on every
 * member; one missing is a lost acknowledged write.
 *
 * Writers send Connect JSON puts to the members in turn (a failed put moves on to the next
 * member after a pause of a few milliseconds, as a client with several endpoints does).
 * Writes: docs/benchmarks/failover.json (kills, gaps_ms, p50_ms, p99_ms, max_ms, acked_writes,
 * lost_acked_writes, ...) and failover.md.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { stopAllServers } from "../test/e2e/server-process.js";
import { b64, TestCluster } from "../test/cluster/test-cluster.js";
import { defaultRaftTiming } from "./server-defaults.js";

/** The members run with the server's default election settings, recorded from its flag table. */
const timing = defaultRaftTiming();

const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "20" },
    writers: { type: "string", default: "16" },
    out: { type: "string", default: path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../docs/benchmarks") },
  },
});
const KILLS = Number(values.kills);
const WRITERS = Number(values.writers);
/** Bounds: a round that cannot find a leader or see writes resume in this time fails the run. */
const ROUND_TIMEOUT_MS = 30_000;

interface Success {
  sentAt: number;
  doneAt: number;
}

/** A kill whose gap exceeds this is reported with the survivors' Raft transitions (the target p99 is 300 ms). */
const SLOW_GAP_MS = 300;

/** Each running member's "raft state changed" log lines since `sinceMs` (performance.now() time), as "+ms role term". */
function raftTransitionsSince(cluster: TestCluster, sinceMs: number): Record<string, string[]> {
  const sinceEpochMs = Date.now() - (performance.now() - sinceMs);
  const out: Record<string, string[]> = {};
  for (const name of cluster.running()) {
    out[name] = (cluster.processes.get(name)?.output ?? "")
      .split("\n")
      .filter((line) => line.includes('"raft state changed"'))
      .map((line) => JSON.parse(line) as { time: number; role: string; term: number })
      .filter((e) => e.time >= sinceEpochMs)
      .map((e) => `+${e.time - Math.round(sinceEpochMs)}ms ${e.role} term ${e.term}`);
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const cluster = await TestCluster.start(3);
  const acked = new Map<string, string>();
  const successes: Success[] = [];
  let stop = false;
  let serial = 0;
  try {
    await cluster.waitForLeader(ROUND_TIMEOUT_MS);
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      let target = w;
      while (!stop) {
        const running = cluster.running();
        const via = running[target % running.length];
        const n = serial++;
        const key = `w/${String(n).padStart(8, "0")}`;
        const sentAt = performance.now();
        try {
          const r = await cluster.put(via, key, `v${n}`);
          if (r.ok) {
            acked.set(key, `v${n}`);
            successes.push({ sentAt, doneAt: performance.now() });
            continue;
          }
        } catch {
          // The member went away mid-call: outcome unknown, not acknowledged.
        }
        target++;
        await new Promise((r) => setTimeout(r, 5));
      }
    });

    const gaps: number[] = [];
    /** When a status poll first saw the survivors agree on a new leader (an upper bound on the election). */
    const elections: number[] = [];
    /** Kills whose gap exceeded SLOW_GAP_MS, with what each survivor logged about its Raft role meanwhile. */
    const slowKills: { kill: number; gap_ms: number; raft: Record<string, string[]> }[] = [];
    for (let k = 0; k < KILLS; k++) {
      const leader = await cluster.waitForLeader(ROUND_TIMEOUT_MS);
      // Steady state first: writes have been succeeding for a while.
      const warmFrom = performance.now();
      await cluster.waitUntil("writes flowing", async () => successes.some((s) => s.sentAt > warmFrom + 300), ROUND_TIMEOUT_MS);
      const killedAt = performance.now();
      await cluster.kill(leader);
      const elected = cluster.waitForLeader(ROUND_TIMEOUT_MS).then(() => performance.now() - killedAt);
      await cluster.waitUntil("a write sent after the kill to succeed", async () => successes.some((s) => s.sentAt > killedAt), ROUND_TIMEOUT_MS);
      const first = Math.min(...successes.filter((s) => s.sentAt > killedAt).map((s) => s.doneAt));
      gaps.push(first - killedAt);
      const electionMs = await elected;
      elections.push(electionMs);
      if (first - killedAt > SLOW_GAP_MS) slowKills.push({ kill: k + 1, gap_ms: first - killedAt, raft: raftTransitionsSince(cluster, killedAt) });
      process.stdout.write(
        `kill ${k + 1}/${KILLS}: ${leader} killed, a new leader seen after ${electionMs.toFixed(1)} ms, writes resumed after ${(first - killedAt).toFixed(1)} ms\n`,
      );
      await cluster.startMember(leader);
      const newLeader = await cluster.waitForLeader(ROUND_TIMEOUT_MS);
      await cluster.waitUntil(
        `${leader} caught up`,
        async () => (await cluster.status(leader)).appliedIndex >= (await cluster.status(newLeader)).committedIndex - WRITERS,
        ROUND_TIMEOUT_MS,
      );
      successes.splice(0, successes.length - 1000);
    }
    stop = true;
    await Promise.all(writers);

    let lost = 0;
    for (const name of cluster.running()) {
      const r = await cluster.call(name, "sisyphus.kv.v1.KVService/Range", { key: b64("w/"), rangeEnd: b64("w0") }, 60_000);
      if (!r.ok) throw new Error(`reading back from ${name}: ${r.code} ${r.message}`);
      const stored = new Map(((r.body.kvs as { key: string; value: string }[]) ?? []).map((kv) => [Buffer.from(kv.key, "base64").toString(), Buffer.from(kv.value, "base64").toString()]));
      for (const [key, value] of acked) if (stored.get(key) !== value) lost++;
    }

    const sorted = [...gaps].sort((a, b) => a - b);
    const round = (x: number): number => Math.round(x * 10) / 10;
    const result = {
      benchmark: "failover",
      command: "npm run bench:failover",
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      settings: { members: 3, writers: WRITERS, heartbeat_interval_ms: timing.heartbeatIntervalMs, election_timeout_ms: timing.electionTimeoutMs, protocol: "Connect JSON over HTTP/1.1 (fetch)" },
      kills: KILLS,
      gaps_ms: gaps.map(round),
      leader_seen_ms: elections.map(round),
      p50_ms: round(percentile(sorted, 50)),
      p99_ms: round(percentile(sorted, 99)),
      max_ms: round(sorted[sorted.length - 1] ?? 0),
      acked_writes: acked.size,
      lost_acked_writes: lost,
      slow_kills: slowKills,
    };
    fs.mkdirSync(values.out, { recursive: true });
    fs.writeFileSync(path.join(values.out, "failover.json"), `${JSON.stringify(result, null, 2)}\n`);
    const table = [
      "# Failover: leader killed with SIGKILL under write load",
      "",
      `\`${result.command}\` on ${result.machine.cpus} cores (${result.machine.model}), Node ${result.machine.node}, ${result.date}.`,
      `3 members on 127.0.0.1, ${WRITERS} writers, default election settings (heartbeat ${timing.heartbeatIntervalMs} ms, election timeout ${timing.electionTimeoutMs} ms).`,
      "",
      "| kills | p50 gap | p99 gap | max gap | acknowledged writes | lost acknowledged writes |",
      "|---:|---:|---:|---:|---:|---:|",
      `| ${KILLS} | ${result.p50_ms} ms | ${result.p99_ms} ms | ${result.max_ms} ms | ${acked.size} | ${lost} |`,
      "",
      `Gaps (ms): ${result.gaps_ms.join(", ")}`,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(values.out, "failover.md"), table);
    process.stdout.write(`\n${table}`);
    if (lost > 0) process.exitCode = 1;
  } finally {
    stop = true;
    await stopAllServers();
    cluster.removeData();
  }
}

await main();
