/**
 * A local cluster of real SisyphusDB member processes for the SDK's multi-process tests: N
 * members on 127.0.0.1, client ports chosen by the OS (read back from the "member started" log
 * line), peer ports picked free just before start (--initial-cluster needs them up front), data
 * under one temporary directory. The server is dist/server/src/main.js of the repository (built
 * by the root `npm run build`), or the file SISYPHUS_TEST_SERVER_MAIN names. Every process
 * started here is killed by PID in stop(), and on the way out if the test process exits first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const MEMBER_START_TIMEOUT_MS = 20_000;
/** How many directories up from this file the repository root may be (it runs from a dist/ tree). */
const REPO_ROOT_DEPTH_MAX = 10;

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/** The repository root: the nearest directory above this file holding clients/ts/package.json. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < REPO_ROOT_DEPTH_MAX; i++) {
    if (fs.existsSync(path.join(dir, "clients/ts/package.json"))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`no repository root (with clients/ts/package.json) above ${fileURLToPath(import.meta.url)}`);
}

/** The server's entry point. */
export function serverMain(): string {
  const main = process.env.SISYPHUS_TEST_SERVER_MAIN ?? path.join(repoRoot(), "dist/server/src/main.js");
  if (!fs.existsSync(main)) throw new Error(`no server build at ${main}: run the root \`npm run build\`, or set SISYPHUS_TEST_SERVER_MAIN`);
  return main;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ClusterMember {
  name: string;
  /** The client URL, e.g. http://127.0.0.1:40123. */
  url: string;
  child: ChildProcess;
  /** Everything it printed (stdout and stderr), for failure messages. */
  output(): string;
}

/** What a member's Status says, read over the Connect protocol with JSON. */
export interface MemberView {
  memberId: bigint;
  leaderId: bigint;
}

export class LocalCluster {
  private constructor(
    readonly root: string,
    readonly members: ClusterMember[],
  ) {}

  static async start(size: number): Promise<LocalCluster> {
    const main = serverMain();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "sisyphus-sdk-cluster-"));
    const peers: { name: string; peerUrl: string }[] = [];
    for (let i = 1; i <= size; i++) peers.push({ name: `m${i}`, peerUrl: `http://127.0.0.1:${await freePort()}` });
    const initialCluster = peers.map((p) => `${p.name}=${p.peerUrl}`).join(",");
    const started = await Promise.allSettled(
      peers.map((p) =>
        startMember(main, [
          "--name",
          p.name,
          "--data-dir",
          path.join(root, p.name),
          "--listen-client-url",
          "http://127.0.0.1:0",
          "--listen-peer-url",
          p.peerUrl,
          "--initial-cluster",
          initialCluster,
          "--initial-cluster-state",
          "new",
          "--initial-cluster-token",
          `sdk-test-${path.basename(root)}`,
          "--log-level",
          "info",
        ], p.name),
      ),
    );
    const members = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const cluster = new LocalCluster(root, members);
    const failed = started.find((s) => s.status === "rejected");
    if (failed !== undefined) {
      await cluster.stop();
      throw failed.reason;
    }
    return cluster;
  }

  member(name: string): ClusterMember {
    const member = this.members.find((m) => m.name === name);
    if (member === undefined) throw new Error(`no member ${name}`);
    return member;
  }

  /** The member's view of the cluster (Status over Connect JSON), or undefined if it does not answer. */
  async view(name: string): Promise<MemberView | undefined> {
    try {
      const response = await fetch(`${this.member(name).url}/sisyphus.kv.v1.MaintenanceService/Status`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
        signal: AbortSignal.timeout(2_000),
      });
      if (!response.ok) return undefined;
      const body = (await response.json()) as { header?: { memberId?: string }; leader?: string };
      return { memberId: BigInt(body.header?.memberId ?? "0"), leaderId: BigInt(body.leader ?? "0") };
    } catch {
      return undefined;
    }
  }

  /** Waits until the members named agree on a leader among them; returns their views by name. */
  async waitForLeader(names: readonly string[], timeoutMs = 10_000): Promise<Map<string, MemberView>> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const views = new Map<string, MemberView>();
      for (const name of names) {
        const view = await this.view(name);
        if (view !== undefined) views.set(name, view);
      }
      const leaders = new Set([...views.values()].map((v) => v.leaderId));
      const [leaderId] = leaders;
      if (views.size === names.length && leaders.size === 1 && [...views.values()].some((v) => v.memberId === leaderId)) return views;
      last = [...views].map(([n, v]) => `${n}: member ${v.memberId} leader ${v.leaderId}`).join("; ");
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`no agreed leader among ${names.join(", ")} within ${timeoutMs} ms; last: ${last}`);
  }

  /** SIGKILLs a member and waits for it to be gone. */
  async kill(name: string): Promise<void> {
    await killChild(this.member(name).child);
  }

  /** Kills every member and removes the data. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => killChild(m.child)));
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  await exited;
}

async function startMember(main: string, args: string[], name: string): Promise<ClusterMember> {
  const child = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  child.once("exit", () => live.delete(child));
  let output = "";
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within ${MEMBER_START_TIMEOUT_MS} ms:\n${output}`)), MEMBER_START_TIMEOUT_MS);
      const onStarted = (): void => {
        // Whole lines only: a chunk may end inside the JSON of the line looked for.
        for (const line of output.split("\n").slice(0, -1)) {
          if (!line.includes('"member started"')) continue;
          clearTimeout(timer);
          child.stdout?.off("data", onStarted);
          child.stderr?.off("data", onStarted);
          resolve((JSON.parse(line) as { clientUrl: string }).clientUrl);
          return;
        }
      };
      child.stdout?.on("data", onStarted);
      child.stderr?.on("data", onStarted);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (code ${code}, signal ${signal}) before starting:\n${output}`));
      });
    });
    return { name, url, child, output: () => output };
  } catch (err) {
    await killChild(child);
    throw err;
  }
}
