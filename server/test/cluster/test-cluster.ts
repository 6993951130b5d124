/**
 * A local cluster of real member processes for multi-process tests: N members on 127.0.0.1,
 * client ports chosen by the OS, peer ports picked free just before start (they must be known
 * up front for --initial-cluster), data under one temporary directory. Members are started and
 * killed by PID through ServerProcess, so everything started is killed when the test ends.
 * ClusterOptions.peerUrls places the peer ports elsewhere and lets members advertise another
 * address than they listen on (partition.test.ts puts a proxy in between).
 *
 * Calls go over the Connect protocol with JSON (fetch), which needs no client library and shows
 * exactly what a user sees: status codes and the error metadata.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ServerProcess } from "../e2e/server-process.js";

export interface MemberSpec {
  name: string;
  /** The URL the member listens for peers on (--listen-peer-url). */
  peerUrl: string;
  dataDir: string;
  /** The URL the other members reach it at (--initial-advertise-peer-urls), when not peerUrl (e.g. a proxy in between). */
  advertisePeerUrl?: string;
}

/** Where a member listens for peers and where the others reach it. */
export interface PeerUrls {
  listen: string;
  advertise: string;
}

export interface ClusterOptions {
  /** Each member's peer URLs (default: listen on a free port of 127.0.0.1, reached there directly). */
  peerUrls?: (name: string) => PeerUrls | Promise<PeerUrls>;
}

export interface CallOutcome {
  ok: boolean;
  /** Connect error code ("unavailable", ...) when not ok. */
  code?: string;
  message?: string;
  body: Record<string, unknown>;
  headers: Headers;
}

export interface MemberStatus {
  memberId: string;
  leader: string;
  raftTerm: number;
  appliedIndex: number;
  committedIndex: number;
}

/** A free TCP port on `host` (bound, read, released). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export class TestCluster {
  readonly processes = new Map<string, ServerProcess>();

  private constructor(
    readonly root: string,
    readonly specs: MemberSpec[],
    private readonly extraArgs: string[],
  ) {}

  static async start(size: number, extraArgs: string[] = [], options: ClusterOptions = {}): Promise<TestCluster> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "sisyphus-cluster-"));
    const specs: MemberSpec[] = [];
    for (let i = 1; i <= size; i++) {
      const name = `m${i}`;
      const dataDir = path.join(root, name);
      if (options.peerUrls === undefined) {
        specs.push({ name, peerUrl: `http://127.0.0.1:${await freePort()}`, dataDir });
      } else {
        const urls = await options.peerUrls(name);
        specs.push({ name, peerUrl: urls.listen, advertisePeerUrl: urls.advertise, dataDir });
      }
    }
    const cluster = new TestCluster(root, specs, extraArgs);
    await Promise.all(specs.map((s) => cluster.startMember(s.name)));
    return cluster;
  }

  initialCluster(): string {
    return this.specs.map((s) => `${s.name}=${s.advertisePeerUrl ?? s.peerUrl}`).join(",");
  }

  spec(name: string): MemberSpec {
    const spec = this.specs.find((s) => s.name === name);
    if (spec === undefined) throw new Error(`no member ${name}`);
    return spec;
  }

  /** Starts (or restarts, on the same data directory) a member. */
  async startMember(name: string, state: "new" | "existing" = "new", initialCluster = this.initialCluster()): Promise<ServerProcess> {
    const spec = this.spec(name);
    const member = await ServerProcess.start({
      dataDir: spec.dataDir,
      args: [
        "--name",
        name,
        "--listen-peer-url",
        spec.peerUrl,
        ...(spec.advertisePeerUrl === undefined ? [] : ["--initial-advertise-peer-urls", spec.advertisePeerUrl]),
        "--initial-cluster",
        initialCluster,
        "--initial-cluster-state",
        state,
        "--initial-cluster-token",
        `test-${path.basename(this.root)}`,
        ...this.extraArgs,
      ],
    });
    this.processes.set(name, member);
    return member;
  }

  /** Adds a spec for a member that will join later (member add, then startMember(name, "existing")). */
  async addSpec(name: string): Promise<MemberSpec> {
    const spec = { name, peerUrl: `http://127.0.0.1:${await freePort()}`, dataDir: path.join(this.root, name) };
    this.specs.push(spec);
    return spec;
  }

  url(name: string): string {
    const p = this.processes.get(name);
    if (p === undefined) throw new Error(`member ${name} is not running`);
    return p.url;
  }

  running(): string[] {
    return [...this.processes.keys()];
  }

  async kill(name: string): Promise<void> {
    await this.processes.get(name)?.kill();
    this.processes.delete(name);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.kill()));
    this.processes.clear();
  }

  removeData(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  async call(name: string, method: string, body: Record<string, unknown>, timeoutMs = 5000): Promise<CallOutcome> {
    const response = await fetch(`${this.url(name)}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": String(timeoutMs) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs + 2000),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (response.ok) return { ok: true, body: json, headers: response.headers };
    return { ok: false, code: json.code as string, message: json.message as string, body: json, headers: response.headers };
  }

  async put(name: string, key: string, value: string): Promise<CallOutcome> {
    return this.call(name, "sisyphus.kv.v1.KVService/Put", { key: b64(key), value: b64(value) });
  }

  /**
   * The value of `key` read through `name` (linearizable unless serializable is set), undefined
   * if absent. UNAVAILABLE (an election under way) is retried for a few seconds, as clients do.
   */
  async get(name: string, key: string, serializable = false): Promise<string | undefined> {
    const deadline = Date.now() + 5000;
    let r = await this.call(name, "sisyphus.kv.v1.KVService/Range", { key: b64(key), serializable });
    while (!r.ok && r.code === "unavailable" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      r = await this.call(name, "sisyphus.kv.v1.KVService/Range", { key: b64(key), serializable });
    }
    if (!r.ok) throw new Error(`get ${key} via ${name}: ${r.code} ${r.message}`);
    const kvs = (r.body.kvs as { value?: string }[] | undefined) ?? [];
    return kvs.length === 0 ? undefined : Buffer.from(kvs[0].value ?? "", "base64").toString();
  }

  async status(name: string): Promise<MemberStatus> {
    const r = await this.call(name, "sisyphus.kv.v1.MaintenanceService/Status", {}, 2000);
    if (!r.ok) throw new Error(`status of ${name}: ${r.code} ${r.message}`);
    const header = r.body.header as Record<string, string>;
    return {
      memberId: header.memberId,
      leader: String(r.body.leader ?? "0"),
      raftTerm: Number(header.raftTerm ?? 0),
      appliedIndex: Number(r.body.raftAppliedIndex ?? 0),
      committedIndex: Number(r.body.raftCommittedIndex ?? 0),
    };
  }

  /** Waits until the running members agree on a leader among them; returns its name. */
  async waitForLeader(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const statuses = await Promise.all(this.running().map(async (n) => ({ name: n, status: await this.status(n) })));
        const leaders = new Set(statuses.map((s) => s.status.leader));
        const leader = statuses.find((s) => s.status.memberId === s.status.leader);
        if (leaders.size === 1 && leader !== undefined) return leader.name;
        last = JSON.stringify(statuses);
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no agreed leader within ${timeoutMs} ms; last: ${last}`);
  }

  /** Polls `probe` until it returns true, bounded. */
  async waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await probe().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

export function b64(text: string): string {
  return Buffer.from(text).toString("base64");
}
