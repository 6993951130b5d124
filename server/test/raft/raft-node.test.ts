/**
 * RaftNode (the driver) with real timers in one process: three nodes over an in-memory network,
 * each with an in-memory log store and a map as its state machine. Checks what the API layer
 * relies on: proposals resolve with their apply result on the leader and, forwarded, on a
 * follower; read barriers; failover with a retryable error while there is no leader; snapshots
 * catching up a lagging node; refusals as typed errors.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, describe, it } from "node:test";
import {
  bootstrapState,
  RaftCore,
  RaftNode,
  RaftUnavailableError,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type InitialState,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftApplier,
  type RaftLogStore,
  type RaftMessenger,
  type SnapshotMeta,
} from "../../src/raft/index.js";
import { coreConfig } from "./core-harness.js";

class MemoryLog implements RaftLogStore {
  hardState: HardState = { term: 0, vote: 0n, commit: 0 };
  snapshot: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };
  entries: Entry[] = [];
  compactions = 0;

  async save(update: { hardState?: HardState; snapshot?: SnapshotMeta; entries: readonly Entry[] }): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (update.snapshot !== undefined) {
      this.snapshot = update.snapshot;
      this.entries = [];
    }
    if (update.entries.length > 0) {
      const first = update.entries[0].index;
      this.entries = this.entries.filter((e) => e.index < first).concat(update.entries);
    }
    if (update.hardState !== undefined) this.hardState = update.hardState;
  }

  async compact(snapshot: SnapshotMeta): Promise<void> {
    this.snapshot = snapshot;
    this.entries = this.entries.filter((e) => e.index > snapshot.index);
    this.compactions++;
  }

  state(): InitialState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries };
  }
}

/** "key=value" commands; the result of an apply is the previous value. */
class MapMachine implements RaftApplier<string | undefined> {
  data = new Map<string, string>();
  applied = 0;
  snapshots = new Map<number, Map<string, string>>();
  staged = new Map<number, Map<string, string>>();
  members: ConfState = { voters: [], learners: [] };

  async apply(index: number, bytes: Uint8Array): Promise<string | undefined> {
    const [k, v] = Buffer.from(bytes).toString().split("=");
    const prev = this.data.get(k);
    this.data.set(k, v);
    this.applied = index;
    return prev;
  }

  async applyConfChange(index: number, _change: ConfChange, conf: ConfState): Promise<void> {
    this.members = conf;
    this.applied = index;
  }

  async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const staged = this.staged.get(meta.index);
    assert.ok(staged, `snapshot ${meta.index} was staged before install`);
    this.data = new Map(staged);
    this.applied = meta.index;
  }

  async createSnapshot(): Promise<number> {
    this.snapshots.set(this.applied, new Map(this.data));
    return this.applied;
  }
}

interface Member {
  id: NodeId;
  node: RaftNode<string | undefined>;
  log: MemoryLog;
  machine: MapMachine;
}

class Network implements RaftMessenger {
  constructor(
    private readonly cluster: Cluster,
    private readonly from: NodeId,
  ) {}

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (this.cluster.isCut(m.from, m.to)) continue;
      setImmediate(() => {
        const target = this.cluster.members.get(m.to);
        if (target === undefined) return;
        if (m.type === "snapshot") {
          const source = this.cluster.members.get(m.from)!;
          const data = source.machine.snapshots.get(m.snapshot.index);
          assert.ok(data, `leader holds snapshot ${m.snapshot.index}`);
          target.machine.staged.set(m.snapshot.index, new Map(data));
        }
        target.node.step(m);
      });
    }
  }

  async forward(leader: NodeId, data: Uint8Array): Promise<ProposeResult> {
    await new Promise((r) => setImmediate(r));
    const target = this.cluster.members.get(leader);
    if (target === undefined || this.cluster.isCut(this.from, leader)) {
      throw new RaftUnavailableError("leader unreachable", true, leader);
    }
    return target.node.acceptForwarded(data);
  }
}

class Cluster {
  readonly members = new Map<NodeId, Member>();
  private readonly cut = new Set<NodeId>();

  constructor(ids: NodeId[], snapshotEntries = 1000) {
    const initial = bootstrapState(ids.map((id) => ({ id, context: new Uint8Array(0) })));
    for (const id of ids) this.start(id, initial, snapshotEntries);
  }

  start(id: NodeId, initial: InitialState, snapshotEntries: number, machine = new MapMachine()): Member {
    const log = new MemoryLog();
    log.hardState = initial.hardState;
    log.snapshot = initial.snapshot;
    log.entries = [...initial.entries];
    const core = new RaftCore(coreConfig(id, { random: Math.random }), initial, machine.applied);
    const node = new RaftNode<string | undefined>({
      core,
      log,
      messenger: new Network(this, id),
      applier: machine,
      options: { tickMs: 5, snapshotEntries, readTimeoutMs: 500 },
      initial: { appliedIndex: machine.applied, state: initial },
    });
    const member = { id, node, log, machine };
    this.members.set(id, member);
    node.start();
    return member;
  }

  isCut(a: NodeId, b: NodeId): boolean {
    return this.cut.has(a) || this.cut.has(b);
  }

  isolate(id: NodeId): void {
    this.cut.add(id);
  }

  heal(): void {
    this.cut.clear();
  }

  async stop(id: NodeId): Promise<Member> {
    const m = this.members.get(id)!;
    this.members.delete(id);
    await m.node.close();
    return m;
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.stop(id);
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.node.isLeader() && !this.cut.has(m.id));
  }

  async waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

const put = (k: string, v: string): Uint8Array => Buffer.from(`${k}=${v}`);
const clusters: Cluster[] = [];
after(async () => {
  for (const c of clusters) await c.closeAll();
});

function newCluster(ids: NodeId[], snapshotEntries?: number): Cluster {
  const c = new Cluster(ids, snapshotEntries);
  clusters.push(c);
  return c;
}

describe("RaftNode", () => {
  it("resolves a leader's proposal with its apply result, and a follower's forwarded one too", async () => {
    const c = newCluster([1n, 2n, 3n]);
    const leader = await c.waitFor("a leader", () => c.leader());
    assert.equal(await leader.node.propose(put("a", "1")), undefined);
    assert.equal(await leader.node.propose(put("a", "2")), "1");
    const follower = [...c.members.values()].find((m) => m !== leader)!;
    assert.equal(await follower.node.propose(put("a", "3")), "2", "forwarded write returns the result of its own apply");
    assert.equal(follower.machine.data.get("a"), "3", "the follower applied its own write before answering");
    const writes = await Promise.all(Array.from({ length: 200 }, (_, i) => follower.node.propose(put(`k${i}`, "x"))));
    assert.equal(writes.length, 200);
    await c.waitFor("all members applied everything", () => [...c.members.values()].every((m) => m.machine.data.size === 201));
  });

  it("a read barrier waits until this member has applied everything committed before it", async () => {
    const c = newCluster([1n, 2n, 3n]);
    const leader = await c.waitFor("a leader", () => c.leader());
    await leader.node.propose(put("r", "1"));
    for (const m of c.members.values()) {
      await m.node.readBarrier();
      assert.equal(m.machine.data.get("r"), "1", `member ${m.id} reads its own applied state after the barrier`);
    }
  });

  it("fails writes with a retryable not-applied error while no leader is known, then works after failover", async () => {
    const c = newCluster([1n, 2n, 3n]);
    const leader = await c.waitFor("a leader", () => c.leader());
    await leader.node.propose(put("f", "1"));
    await c.stop(leader.id);
    const survivor = [...c.members.values()][0];
    const outcome = await survivor.node.propose(put("f", "2")).then(
      () => "ok",
      (err: unknown) => err,
    );
    if (outcome !== "ok") {
      assert.ok(outcome instanceof RaftUnavailableError, `got ${String(outcome)}`);
    }
    const next = await c.waitFor("a new leader", () => c.leader());
    assert.notEqual(next.id, leader.id);
    assert.equal(await next.node.propose(put("f", "3")), outcome === "ok" ? "2" : "1");
  });

  it("a read on a leader cut off from the others fails within the read timeout instead of returning stale data", async () => {
    const c = newCluster([1n, 2n, 3n]);
    const leader = await c.waitFor("a leader", () => c.leader());
    await leader.node.propose(put("s", "1"));
    c.isolate(leader.id);
    await assert.rejects(leader.node.readBarrier(), RaftUnavailableError);
  });

  it("takes snapshots, compacts the log, and catches up a member that was away by snapshot", async () => {
    const c = newCluster([1n, 2n, 3n], 50);
    const leader = await c.waitFor("a leader", () => c.leader());
    const away = [...c.members.values()].find((m) => m !== leader)!;
    c.isolate(away.id);
    for (let i = 0; i < 300; i++) await leader.node.propose(put(`s${i}`, String(i)));
    await c.waitFor("the leader compacted its log", () => leader.log.compactions > 0 && leader.node.status().firstIndex > 10);
    c.heal();
    await c.waitFor("the member that was away caught up", () => away.machine.data.get("s299") === "299", 10_000);
    assert.ok(away.log.snapshot.index > 0, "it installed a snapshot");
  });
});

describe("RaftNode clock after a stall", () => {
  /** Sends nothing anywhere; records what the node sends. */
  class RecordingMessenger implements RaftMessenger {
    readonly sent: Message[] = [];
    send(messages: readonly Message[]): void {
      this.sent.push(...messages);
    }
    async forward(): Promise<ProposeResult> {
      throw new RaftUnavailableError("no forwarding in this test", true, 0n);
    }
  }

  it("a follower stalled past its election timeout reads the leader's queued heartbeat before its timeout can fire", async () => {
    const [A, B, C] = [1n, 2n, 3n];
    const initial = bootstrapState([A, B, C].map((id) => ({ id, context: new Uint8Array(0) })));
    const messenger = new RecordingMessenger();
    const log = new MemoryLog();
    log.hardState = initial.hardState;
    log.entries = [...initial.entries];
    const node = new RaftNode<string | undefined>({
      core: new RaftCore(coreConfig(B, { random: () => 0 }), initial, 0),
      log,
      messenger,
      applier: new MapMachine(),
      options: { tickMs: 5, snapshotEntries: 1000, readTimeoutMs: 500 },
      initial: { appliedIndex: 0, state: initial },
    });
    const heartbeat: Message = { type: "heartbeat", from: A, to: B, term: 1, commit: 0, context: 0 };
    // The leader's heartbeats reach the node through a real socket, as from the transport.
    const server = net.createServer((socket) => socket.on("data", () => node.step(heartbeat)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
    try {
      await new Promise<void>((resolve) => client.once("connect", resolve));
      node.step({ ...heartbeat });
      node.start();
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(node.leaderId(), A, "the node follows A");
      const sentBefore = messenger.sent.length;
      // From a timer callback: write a heartbeat into the socket, then block the event loop for
      // six election timeouts (10 ticks of 5 ms, randomized to at most 20). When the block ends
      // the ticker fires before the poll phase reads the heartbeat waiting in the socket.
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          client.write("x");
          const until = performance.now() + 600;
          while (performance.now() < until);
          resolve();
        }, 1),
      );
      await new Promise((resolve) => setTimeout(resolve, 30));
      const campaigned = messenger.sent.slice(sentBefore).filter((m) => m.type === "preVote" || m.type === "vote");
      assert.deepEqual(campaigned, [], "no (pre-)vote request after the stall");
      assert.equal(node.leaderId(), A, "still following A");
    } finally {
      await node.close();
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
