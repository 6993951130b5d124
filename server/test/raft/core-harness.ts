/**
 * A tiny synchronous cluster for scenario tests of RaftCore: every node's Ready is processed
 * in the contract's order (persist to an in-memory "disk", send, apply, advance) and messages
 * are delivered in FIFO order except across cut links. No randomness beyond each node's seeded
 * timeout source; the seeded simulator (sim/) covers faults at scale.
 */
import {
  bootstrapState,
  RaftCore,
  type Entry,
  type HardState,
  type InitialState,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type SnapshotMeta,
} from "../../src/raft/index.js";

export interface Disk {
  hardState: HardState;
  snapshot: SnapshotMeta;
  entries: Entry[];
}

export interface HarnessNode {
  core: RaftCore;
  disk: Disk;
  applied: Entry[];
  readStates: ReadState[];
  /** Snapshot metas the driver was told to install. */
  installed: SnapshotMeta[];
}

export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

export function coreConfig(id: NodeId, overrides: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: seededRandom(Number(id) * 7919),
    preVote: true,
    checkQuorum: true,
    maxInflightAppends: 4,
    maxAppendBytes: 64 * 1024,
    maxUncommittedBytes: 1 << 30,
    ...overrides,
  };
}

export class Harness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  private queue: Message[] = [];
  private readonly cut = new Set<string>();
  /** Every message ever sent, for assertions about what went on the wire. */
  readonly sent: Message[] = [];

  constructor(
    founders: readonly NodeId[],
    private readonly overrides: Partial<RaftConfig> = {},
  ) {
    const initial = bootstrapState(founders.map((id) => ({ id, context: new Uint8Array(0) })));
    for (const id of founders) this.start(id, initial);
  }

  /** Starts (or restarts) a node from an initial state (a copy of its disk). */
  start(id: NodeId, initial: InitialState, applied = 0): HarnessNode {
    const disk: Disk = { hardState: initial.hardState, snapshot: initial.snapshot, entries: [...initial.entries] };
    const node: HarnessNode = { core: new RaftCore(coreConfig(id, this.overrides), initial, applied), disk, applied: [], readStates: [], installed: [] };
    this.nodes.set(id, node);
    return node;
  }

  /** Starts a node that joins an existing cluster: an empty log, no membership known. */
  startEmpty(id: NodeId): HarnessNode {
    return this.start(id, { hardState: { term: 0, vote: 0n, commit: 0 }, snapshot: { index: 0, term: 0, conf: { voters: [], learners: [] } }, entries: [] });
  }

  restart(id: NodeId): HarnessNode {
    const old = this.node(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    return this.start(id, { hardState: old.disk.hardState, snapshot: old.disk.snapshot, entries: old.disk.entries }, 0);
  }

  node(id: NodeId): HarnessNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  leader(): NodeId | undefined {
    const leaders = [...this.nodes.values()].filter((n) => n.core.status().role === "leader");
    // Several nodes may believe they lead in different terms; the highest term is the live one.
    leaders.sort((a, b) => b.core.status().term - a.core.status().term);
    return leaders[0]?.core.id;
  }

  /** Processes Readies and delivers messages until nothing is left, or `until` holds after a round (bounded). */
  stabilize(maxRounds = 10_000, until: () => boolean = () => false): void {
    for (let round = 0; round < maxRounds; round++) {
      if (until()) return;
      let progressed = false;
      for (const node of this.nodes.values()) {
        if (!node.core.hasReady()) continue;
        progressed = true;
        this.processReady(node);
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        progressed = true;
        this.nodes.get(m.to)?.core.step(m);
      }
      if (!progressed) return;
    }
    throw new Error(`cluster did not stabilize within ${maxRounds} rounds`);
  }

  tickAll(ticks = 1): void {
    for (let i = 0; i < ticks; i++) {
      for (const node of this.nodes.values()) node.core.tick();
      this.stabilize();
    }
  }

  /** Ticks until some node leads, bounded; returns it. */
  electLeader(maxTicks = 200): NodeId {
    for (let i = 0; i < maxTicks; i++) {
      const leader = this.leader();
      if (leader !== undefined) return leader;
      this.tickAll();
    }
    throw new Error(`no leader after ${maxTicks} ticks`);
  }

  private processReady(node: HarnessNode): void {
    const rd = node.core.ready();
    const disk = node.disk;
    if (rd.snapshot !== undefined) {
      disk.snapshot = rd.snapshot;
      disk.entries = [];
      node.installed.push(rd.snapshot);
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      disk.entries = disk.entries.filter((e) => e.index < first).concat(rd.entries);
    }
    if (rd.hardState !== undefined) disk.hardState = rd.hardState;
    for (const m of rd.messages) {
      this.sent.push(m);
      if (!this.cut.has(`${m.from}-${m.to}`)) this.queue.push(m);
    }
    node.applied.push(...rd.committedEntries);
    node.readStates.push(...rd.readStates);
    node.core.advance(rd);
  }
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** The data of the normal, non-empty entries a node applied, as text. */
export function appliedValues(node: HarnessNode): string[] {
  return node.applied.filter((e) => e.type === "normal" && e.data.length > 0).map((e) => text(e.data));
}
