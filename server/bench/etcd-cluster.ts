/**
 * A local etcd cluster of real processes (Debian's /usr/bin/etcd) for bench:etcd and the etcd
 * driver's test: N members on 127.0.0.1, client and peer ports picked free just before start
 * (etcd needs them up front for --initial-cluster and the advertised URLs), fresh data
 * directories under one temporary directory, etcd's default durability (every Raft log append
 * and backend commit fsynced) and its default timing, passed explicitly so the settings are on
 * record: --heartbeat-interval 100 --election-timeout 1000 (ms).
 *
 * Every process started here is killed by PID: by stop(), and by a process 'exit' hook when the
 * caller dies without reaching its finally block.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../test/cluster/test-cluster.js";

export const ETCD_BINARY = "/usr/bin/etcd";
export const ETCD_PACKAGE = "etcd-server";
/** etcd's defaults (ms), given explicitly. */
export const ETCD_HEARTBEAT_INTERVAL_MS = 100;
export const ETCD_ELECTION_TIMEOUT_MS = 1000;
const STARTUP_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 50;
/** What is kept of a member's output for failure messages. */
const OUTPUT_TAIL_CHARS = 8_000;

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

export class EtcdStartError extends Error {
  constructor(
    readonly member: string,
    readonly dataDir: string,
    reason: string,
    readonly output: string,
  ) {
    super(`etcd member ${member} (data dir ${dataDir}): ${reason}\n${output}`);
    this.name = "EtcdStartError";
  }
}

/** etcd's version as `etcd --version` prints it on its first line ("etcd Version: 3.4.23" -> "3.4.23"). */
export function etcdVersion(binary = ETCD_BINARY): string {
  const result = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (result.error !== undefined || result.status !== 0) throw new Error(`\`${binary} --version\` failed: ${result.error?.message ?? result.stderr}`);
  const firstLine = result.stdout.trim().split("\n")[0];
  return /^etcd Version: (\S+)$/.exec(firstLine)?.[1] ?? firstLine;
}

interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  child: ChildProcess;
  output: { text: string };
  exited: Promise<void>;
}

interface EtcdStatus {
  header?: { member_id?: string; raft_term?: string };
  leader?: string;
}

export class EtcdCluster {
  private constructor(
    readonly root: string,
    private readonly members: EtcdMember[],
  ) {}

  /** Starts `size` members and waits until every one answers /health with a leader elected. */
  static async start(size: number, binary = ETCD_BINARY): Promise<EtcdCluster> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-bench-"));
    const specs: { name: string; clientUrl: string; peerUrl: string; dataDir: string }[] = [];
    for (let i = 1; i <= size; i++) {
      specs.push({ name: `e${i}`, clientUrl: `http://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}`, dataDir: path.join(root, `e${i}`) });
    }
    const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(",");
    const members: EtcdMember[] = [];
    const cluster = new EtcdCluster(root, members);
    try {
      for (const spec of specs) {
        const child = spawn(
          binary,
          [
            "--name", spec.name,
            "--data-dir", spec.dataDir,
            "--listen-client-urls", spec.clientUrl,
            "--advertise-client-urls", spec.clientUrl,
            "--listen-peer-urls", spec.peerUrl,
            "--initial-advertise-peer-urls", spec.peerUrl,
            "--initial-cluster", initialCluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", `bench-${path.basename(root)}`,
            "--heartbeat-interval", String(ETCD_HEARTBEAT_INTERVAL_MS),
            "--election-timeout", String(ETCD_ELECTION_TIMEOUT_MS),
            "--logger", "zap",
            "--log-level", "warn",
          ],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        live.add(child);
        const output = { text: "" };
        const keep = (chunk: Buffer): void => {
          output.text = (output.text + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
        };
        child.stdout?.on("data", keep);
        child.stderr?.on("data", keep);
        // A spawn failure (no binary) emits "error" and maybe no "exit": either ends the process's life.
        const exited = new Promise<void>((resolve) => {
          child.once("exit", () => resolve());
          child.once("error", (err) => {
            output.text += `\n${err.message}`;
            resolve();
          });
        });
        members.push({ ...spec, child, output, exited });
      }
      await Promise.all(members.map((m) => cluster.waitHealthy(m)));
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  get clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  pids(): number[] {
    return this.members.flatMap((m) => (m.child.pid === undefined ? [] : [m.child.pid]));
  }

  /** The leader's client URL and Raft term, as every member reports them (bounded wait). */
  async leader(timeoutMs = STARTUP_TIMEOUT_MS): Promise<{ url: string; term: number }> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const statuses = await Promise.all(this.members.map(async (m) => ({ member: m, status: await status(m.clientUrl) })));
        const leaders = new Set(statuses.map((s) => s.status.leader));
        const leader = statuses.find((s) => s.status.header?.member_id !== undefined && s.status.header.member_id === s.status.leader);
        if (leaders.size === 1 && leader !== undefined) return { url: leader.member.clientUrl, term: Number(leader.status.header?.raft_term ?? 0) };
        last = JSON.stringify(statuses.map((s) => s.status));
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(POLL_INTERVAL_MS);
    }
    throw new Error(`etcd: no agreed leader within ${timeoutMs} ms; last: ${last}`);
  }

  async leaderUrl(timeoutMs = STARTUP_TIMEOUT_MS): Promise<string> {
    return (await this.leader(timeoutMs)).url;
  }

  /** A member that is not the leader (for follower-sent writes). */
  async followerUrl(): Promise<string> {
    const leader = await this.leaderUrl();
    const follower = this.members.find((m) => m.clientUrl !== leader);
    if (follower === undefined) throw new Error("etcd: a one-member cluster has no follower");
    return follower.clientUrl;
  }

  /** SIGKILLs every member and waits for them to be gone, then removes the data. */
  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        live.delete(m.child);
        if (m.child.exitCode === null && m.child.signalCode === null && m.child.pid !== undefined) process.kill(m.child.pid, "SIGKILL");
        await m.exited;
      }),
    );
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /** Waits until `member` answers GET /health with {"health":"true"} (it has a leader). */
  private async waitHealthy(member: EtcdMember): Promise<void> {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (member.child.pid === undefined || member.child.exitCode !== null || member.child.signalCode !== null) {
        throw new EtcdStartError(member.name, member.dataDir, `exited (code ${member.child.exitCode}, signal ${member.child.signalCode}) before becoming healthy`, member.output.text);
      }
      try {
        const response = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(2_000) });
        const body = (await response.json()) as { health?: string };
        if (body.health === "true") return;
        last = JSON.stringify(body);
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(POLL_INTERVAL_MS);
    }
    throw new EtcdStartError(member.name, member.dataDir, `not healthy within ${STARTUP_TIMEOUT_MS} ms (last: ${last})`, member.output.text);
  }
}

/** Maintenance.Status through etcd's JSON gateway (64-bit ids come as decimal strings). */
async function status(clientUrl: string): Promise<EtcdStatus> {
  const response = await fetch(`${clientUrl}/v3/maintenance/status`, { method: "POST", body: "{}", signal: AbortSignal.timeout(2_000) });
  if (!response.ok) throw new Error(`status of ${clientUrl}: HTTP ${response.status}`);
  return (await response.json()) as EtcdStatus;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
