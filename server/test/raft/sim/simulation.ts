/**
 * The deterministic simulation of a Raft cluster (in the manner of TigerBeetle's VOPR and
 * FoundationDB's simulator): one seed picks a scenario (pre-vote and check-quorum on or off,
 * network loss, duplication and delay, crash, partition, transfer and membership rates) and
 * drives one run, exactly reproducible.
 *
 * A run is a sequence of steps. A step either delivers one message whose delivery tick has come
 * (chosen at random) or ticks every node once; on a tick, faults strike (crash, restart,
 * partition, heal, leadership transfer, membership change) and clients call and resend
 * operations. After every step each running node's Ready is processed and the safety
 * invariants are checked (see invariants.ts). Then the cluster is healed and run without faults:
 * it must elect a leader and converge (liveness), and the clients' history must be
 * linearizable.
 */
import { bootstrapState, decodeConfChange, RaftError, type Entry, type Message, type NodeId } from "../../../src/raft/index.js";
import { ClientWorkload } from "./client-workload.js";
import { InvariantChecker, InvariantViolation, describeLogTail, type InvariantName, type PersistedLog } from "./invariants.js";
import { EMPTY_KV_SNAPSHOT, KvStateMachine, type ApplyOutcome, type KvSnapshotState } from "./kv-state-machine.js";
import { checkLinearizable, describeOps, type HistoryOp } from "./linearizability.js";
import { MembershipScript, type MembershipHost } from "./membership-script.js";
import { Prng } from "./prng.js";
import { SimNetwork, type NetworkFaults } from "./sim-network.js";
import { SimNode, type DeliveryFate, type Disk, type NodeTuning } from "./sim-node.js";

export interface SimulationOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Steps with faults (DEFAULT_STEPS when absent); the healing phase comes on top. */
  readonly steps?: number;
  /** Ticks the healed cluster gets to elect a leader and converge. */
  readonly livenessTicks?: number;
  /**
   * Rewrites every message a node sends (identity when absent): the simulation's own tests use
   * it to plant a fault (a voter that grants every vote) and check that it is caught.
   */
  readonly tamper?: (message: Message) => Message;
}

/** The mix of faults and features of one run, drawn from its seed. Rates are per tick. */
export interface Scenario {
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly network: NetworkFaults;
  readonly crashRate: number;
  readonly restartRate: number;
  readonly maxDown: number;
  readonly midReadyCrashRate: number;
  readonly partitionRate: number;
  readonly healRate: number;
  readonly transferRate: number;
  readonly membershipCycles: number;
  readonly compactAfterEntries: number;
  /** Small values send one entry per append: catching up then takes many appends, each a chance for boundary bugs. */
  readonly maxAppendBytes: number;
  readonly maxInflightAppends: number;
  readonly clients: number;
  readonly opTimeoutTicks: number;
}

export type FailureKind = InvariantName | "harness";

export interface SimulationFailure {
  readonly kind: FailureKind;
  readonly step: number;
  readonly tick: number;
  readonly message: string;
  /** Short context: the nodes' state and the run's last events. */
  readonly context: string;
}

export interface SimulationStats {
  ticks: number;
  deliveries: number;
  leaderTerms: number;
  opsCalled: number;
  opsCompleted: number;
  /** Writes given up with their fate unknown to the client (resolved against the final log). */
  opsOpen: number;
  readsDropped: number;
  refusals: number;
  writesResent: number;
  writesApplied: number;
  crashes: number;
  midReadyCrashes: number;
  partitions: number;
  transfers: number;
  compactions: number;
  snapshotsInstalled: number;
  membershipChanges: number;
  highestIndex: number;
}

export interface SimulationReport {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly scenario: Scenario;
  readonly failure: SimulationFailure | undefined;
  readonly stats: SimulationStats;
}

/** Steps per run unless told otherwise: what npm test runs per seed (a 5-node cluster spends ~20 deliveries per tick). */
export const DEFAULT_STEPS = 6000;
const KEYS = ["a", "b", "c"];
const DEFAULT_LIVENESS_TICKS = 300;
/** A guard against a message storm within one tick (none is known): time moves on after this many deliveries. */
const MAX_DELIVERIES_PER_TICK = 2000;
const RECENT_EVENTS_KEPT = 20;
const PAIRWISE_LOG_CHECK_EVERY_STEPS = 64;

function drawScenario(rng: Prng, nodes: number): Scenario {
  const sometimes = (p: number, lo: number, hi: number): number => (rng.chance(p) ? lo + rng.next() * (hi - lo) : 0);
  return {
    preVote: rng.chance(0.8),
    checkQuorum: rng.chance(0.8),
    network: { dropRate: rng.next() * 0.1, duplicateRate: rng.next() * 0.05, delayTicksMax: rng.int(4) },
    crashRate: sometimes(0.7, 0.005, 0.02),
    restartRate: 0.05 + rng.next() * 0.15,
    maxDown: rng.chance(0.9) ? Math.floor((nodes - 1) / 2) : nodes,
    midReadyCrashRate: sometimes(0.5, 0.001, 0.005),
    partitionRate: sometimes(0.7, 0.005, 0.03),
    healRate: 0.03 + rng.next() * 0.07,
    transferRate: sometimes(0.5, 0.01, 0.03),
    membershipCycles: rng.chance(0.4) ? rng.between(1, 2) : 0,
    compactAfterEntries: rng.between(8, 60),
    // 1 byte: one entry per append (at least one is always sent).
    maxAppendBytes: rng.pick([1, 256, 1024]),
    maxInflightAppends: rng.pick([1, 2, 4, 8]),
    clients: rng.between(3, 5),
    opTimeoutTicks: rng.between(10, 40),
  };
}

export function runSimulation(options: SimulationOptions): SimulationReport {
  return new Simulation(options).run();
}

class Simulation {
  private readonly steps: number;
  private readonly rng: Prng;
  private readonly scenario: Scenario;
  private readonly invariants = new InvariantChecker();
  private readonly network: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  /** Nodes removed from the cluster and shut down for good. */
  private readonly removed = new Set<NodeId>();
  private readonly toRemove: NodeId[] = [];
  private readonly workload: ClientWorkload;
  private readonly membership: MembershipScript;
  private readonly membershipHost: MembershipHost = {
    leader: () => this.leader(),
    addEmptyNode: (id) => this.addEmptyNode(id),
    note: (event) => this.note(event),
  };
  private readonly tuning: NodeTuning;
  private readonly recentEvents: string[] = [];
  private faultsOn = true;
  private step = 0;
  private tick = 0;
  private deliveriesThisTick = 0;
  private readContexts = 0;
  private lastLeader = "";
  private readonly stats: SimulationStats = {
    ticks: 0,
    deliveries: 0,
    leaderTerms: 0,
    opsCalled: 0,
    opsCompleted: 0,
    opsOpen: 0,
    readsDropped: 0,
    refusals: 0,
    writesResent: 0,
    writesApplied: 0,
    crashes: 0,
    midReadyCrashes: 0,
    partitions: 0,
    transfers: 0,
    compactions: 0,
    snapshotsInstalled: 0,
    membershipChanges: 0,
    highestIndex: 0,
  };

  constructor(private readonly options: SimulationOptions) {
    this.steps = options.steps ?? DEFAULT_STEPS;
    this.rng = new Prng(options.seed);
    this.scenario = drawScenario(this.rng, options.nodes);
    this.network = new SimNetwork(this.rng, this.scenario.network);
    this.tuning = {
      preVote: this.scenario.preVote,
      checkQuorum: this.scenario.checkQuorum,
      compactAfterEntries: this.scenario.compactAfterEntries,
      maxAppendBytes: this.scenario.maxAppendBytes,
      maxInflightAppends: this.scenario.maxInflightAppends,
    };
    const founders: NodeId[] = [];
    for (let i = 1; i <= options.nodes; i++) founders.push(BigInt(i));
    const initial = bootstrapState(founders.map((id) => ({ id, context: new Uint8Array(0) })));
    for (const id of founders) {
      this.addNode(id, {
        hardState: initial.hardState,
        syncedHardState: initial.hardState,
        snapshot: initial.snapshot,
        snapshotState: EMPTY_KV_SNAPSHOT,
        entries: [...initial.entries],
      });
    }
    this.workload = new ClientWorkload(this.rng, { clients: this.scenario.clients, keys: KEYS, opTimeoutTicks: this.scenario.opTimeoutTicks, callRate: 0.3 }, {
      runningNodes: () => this.runningNodes(),
      node: (id) => this.nodes.get(id),
    });
    this.membership = new MembershipScript(this.rng, BigInt(options.nodes + 1), this.scenario.membershipCycles);
  }

  run(): SimulationReport {
    let failure: SimulationFailure | undefined;
    try {
      for (let i = 0; i < this.steps; i++) this.runStep();
      const converged = this.heal();
      this.checkHistory(converged);
    } catch (error) {
      failure = this.describeFailure(error);
    }
    this.collectStats();
    return { seed: this.options.seed, nodes: this.options.nodes, steps: this.steps, scenario: this.scenario, failure, stats: this.stats };
  }

  // ------------------------------------------------------------------ nodes

  private addNode(id: NodeId, disk: Disk): void {
    const node = new SimNode(id, disk, this.tuning, {
      rng: this.rng,
      invariants: this.invariants,
      send: (m, attachment, incarnation) => this.send(m, attachment, incarnation),
      onApplied: (_node, entry, outcome) => this.onApplied(entry, outcome),
      nextReadContext: () => ++this.readContexts,
      crashMidReady: () => this.faultsOn && this.rng.chance(this.scenario.midReadyCrashRate),
    });
    this.nodes.set(id, node);
    node.start();
  }

  private addEmptyNode(id: NodeId): void {
    this.addNode(id, {
      hardState: { term: 0, vote: 0n, commit: 0 },
      syncedHardState: { term: 0, vote: 0n, commit: 0 },
      snapshot: { index: 0, term: 0, conf: { voters: [], learners: [] } },
      snapshotState: EMPTY_KV_SNAPSHOT,
      entries: [],
    });
    this.note(`node ${id} started empty, to join`);
  }

  private runningNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.running);
  }

  /** The running node that leads in the highest term. */
  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      if (!node.running) continue;
      const st = node.raft().status();
      if (st.role === "leader" && st.term > bestTerm) {
        best = node;
        bestTerm = st.term;
      }
    }
    return best;
  }

  private onApplied(entry: Entry, outcome: ApplyOutcome | undefined): void {
    if (outcome !== undefined) this.workload.noteApplied(outcome.opId);
    if (entry.type !== "confChange") return;
    const change = decodeConfChange(entry.data);
    this.membership.onApplied(change);
    if (change.type === "removeNode" && !this.removed.has(change.nodeId) && !this.toRemove.includes(change.nodeId)) {
      this.toRemove.push(change.nodeId);
    }
  }

  private note(event: string): void {
    this.recentEvents.push(`step ${this.step} tick ${this.tick}: ${event}`);
    if (this.recentEvents.length > RECENT_EVENTS_KEPT) this.recentEvents.shift();
  }

  // ------------------------------------------------------------------ steps

  private runStep(): void {
    this.step++;
    // Time moves on only once every message due by now is delivered: a message is never later than its delay.
    if (this.network.deliverableCount(this.tick) > 0 && this.deliveriesThisTick < MAX_DELIVERIES_PER_TICK) this.deliverOne();
    else this.runTick();
    for (const node of this.nodes.values()) {
      if (node.running && !node.processReadies()) this.note(`node ${node.id} crashed mid-Ready`);
    }
    for (const id of this.toRemove.splice(0)) {
      this.removed.add(id);
      this.nodes.get(id)?.crash();
      this.note(`node ${id} removed from the cluster and shut down`);
    }
    this.observeRoles();
    if (this.step % PAIRWISE_LOG_CHECK_EVERY_STEPS === 0) this.invariants.checkLogsPairwise(this.persistedLogs());
  }

  private deliverOne(): void {
    const taken = this.network.takeDeliverable(this.tick);
    if (taken === undefined) return;
    this.deliveriesThisTick++;
    const { envelope, reachable } = taken;
    const m = envelope.message;
    const to = this.nodes.get(m.to);
    const delivered = reachable && to !== undefined && to.running;
    if (delivered) {
      this.stats.deliveries++;
      to.receive(m, envelope.attachment);
    }
    if (m.type === "snapshot") {
      // The transport reports a finished (or failed) snapshot stream to the sender's core.
      const from = this.nodes.get(m.from);
      if (from !== undefined && from.running && from.incarnation === envelope.senderIncarnation) from.raft().reportSnapshot(m.to, delivered);
    }
  }

  private send(m: Message, attachment: KvSnapshotState | undefined, incarnation: number): DeliveryFate {
    const to = this.nodes.get(m.to);
    if (to === undefined || !to.running) return "down";
    const sent = this.options.tamper === undefined ? m : this.options.tamper(m);
    return this.network.send(sent, this.tick, attachment, incarnation);
  }

  private runTick(): void {
    this.tick++;
    this.deliveriesThisTick = 0;
    for (const node of this.nodes.values()) if (node.running) node.raft().tick();
    if (this.faultsOn) this.injectFaults();
    this.membership.onTick(this.tick, this.membershipHost);
    this.workload.onTick(this.tick);
  }

  private injectFaults(): void {
    const s = this.scenario;
    const members = [...this.nodes.values()].filter((n) => !this.removed.has(n.id));
    const down = members.filter((n) => !n.running);
    if (down.length < s.maxDown && this.rng.chance(s.crashRate)) {
      const up = members.filter((n) => n.running);
      if (up.length > 0) {
        // Half the crashes hit the leader: leader changes with entries in flight are where Raft gets subtle.
        const leader = this.leader();
        const victim = leader !== undefined && this.rng.chance(0.5) ? leader : this.rng.pick(up);
        victim.crash();
        this.note(`node ${victim.id} crashed`);
      }
    }
    for (const node of down) {
      if (this.rng.chance(s.restartRate)) {
        node.start();
        this.note(`node ${node.id} restarted`);
      }
    }
    if (!this.network.isPartitioned()) {
      if (members.length > 1 && this.rng.chance(s.partitionRate)) {
        const leader = this.leader();
        let order = this.rng.shuffled(members.map((n) => n.id));
        let cut = this.rng.between(1, order.length - 1);
        if (leader !== undefined && this.rng.chance(0.5)) {
          // Strand the leader in a minority: it may go on believing it leads while the others move on.
          order = [leader.id, ...order.filter((id) => id !== leader.id)];
          cut = this.rng.between(1, Math.max(1, Math.floor((order.length - 1) / 2)));
        }
        this.network.partition([order.slice(0, cut), order.slice(cut)]);
        this.stats.partitions++;
        this.note(`partition ${this.network.describePartition()}`);
      }
    } else if (this.rng.chance(s.healRate)) {
      this.network.heal();
      this.note("partition healed");
    }
    if (this.rng.chance(s.transferRate)) {
      const leader = this.leader();
      if (leader !== undefined) {
        const others = leader
          .raft()
          .status()
          .conf.voters.filter((id) => id !== leader.id);
        if (others.length > 0) {
          const target = this.rng.pick(others);
          leader.raft().transferLeadership(target);
          this.stats.transfers++;
          this.note(`node ${leader.id} asked to transfer leadership to ${target}`);
        }
      }
    }
  }

  /** Election safety and leader completeness, from every running node's role and term. */
  private observeRoles(): void {
    for (const node of this.nodes.values()) {
      if (!node.running) continue;
      const core = node.raft();
      const st = core.status();
      this.invariants.observeRole(node.id, st.role, st.term, { termAt: (i) => core.termAt(i), firstIndex: () => core.status().firstIndex });
      if (st.role === "leader") {
        const key = `${node.id}@${st.term}`;
        if (key !== this.lastLeader) {
          this.lastLeader = key;
          this.note(`node ${node.id} leads term ${st.term}`);
        }
      }
    }
  }

  private persistedLogs(): Map<NodeId, PersistedLog> {
    const logs = new Map<NodeId, PersistedLog>();
    for (const [id, node] of this.nodes) logs.set(id, node.disk);
    return logs;
  }

  // ------------------------------------------------------------------ the end

  /**
   * Heals everything and runs without faults until the cluster converges (true) — a leader, and
   * every member running with the leader's whole log applied and the same state — or the
   * liveness budget runs out (a violation).
   */
  private heal(): boolean {
    this.faultsOn = false;
    this.network.heal();
    this.network.faults = { dropRate: 0, duplicateRate: 0, delayTicksMax: 1 };
    this.workload.stopIssuing();
    for (const node of this.nodes.values()) {
      if (!node.running && !this.removed.has(node.id)) node.start();
    }
    this.note("healed: no more faults, clients finish");
    const livenessTicks = this.options.livenessTicks ?? DEFAULT_LIVENESS_TICKS;
    const deadline = this.tick + livenessTicks;
    // A tick brings a bounded number of messages (heartbeats and appends per peer), so steps are bounded too.
    const maxSteps = livenessTicks * 500;
    let lag = "not checked yet";
    for (let i = 0; i < maxSteps && this.tick < deadline; i++) {
      const before = this.tick;
      this.runStep();
      if (this.tick === before) continue;
      const reason = this.convergenceLag();
      if (reason === undefined) return true;
      lag = reason;
    }
    throw new InvariantViolation("liveness", `the healed cluster did not converge within ${livenessTicks} ticks: ${lag}`);
  }

  /** Why the cluster has not converged yet, or undefined if it has. */
  private convergenceLag(): string | undefined {
    if (this.workload.busy()) return "a client operation is still under way";
    const leader = this.leader();
    if (leader === undefined) return "no leader";
    const st = leader.raft().status();
    if (st.commit !== st.lastIndex) return `leader ${leader.id} has committed ${st.commit} of ${st.lastIndex}`;
    if (leader.raft().termAt(st.commit) !== st.term) return `leader ${leader.id} has not committed an entry of its term ${st.term}`;
    const state = leader.stateMachine().describe();
    for (const id of [...st.conf.voters, ...st.conf.learners]) {
      const node = this.nodes.get(id);
      if (node === undefined || !node.running) return `member ${id} is not running`;
      const applied = node.stateMachine().appliedIndex;
      if (applied !== st.commit) return `member ${id} has applied ${applied} of ${st.commit}`;
      if (node.stateMachine().describe() !== state) return `member ${id} holds ${node.stateMachine().describe()}, the leader ${state}`;
    }
    return undefined;
  }

  /**
   * Replays the log every node agreed on into a reference state machine (the converged replicas
   * must equal it), resolves the writes whose fate the clients never learned against it, and
   * checks the history for linearizability.
   */
  private checkHistory(converged: boolean): void {
    const reference = new KvStateMachine(EMPTY_KV_SNAPSHOT);
    const inLog = new Map<number, { index: number; swapped: boolean }>();
    const last = this.invariants.highestAppliedIndex();
    for (let i = 1; i <= last; i++) {
      const e = this.invariants.appliedAt(i);
      if (e === undefined) throw new InvariantViolation("stateMachineSafety", `no node applied index ${i} (the highest applied is ${last})`);
      const outcome = reference.apply(e);
      if (outcome === undefined) continue;
      const earlier = inLog.get(outcome.opId);
      if (earlier !== undefined) throw new InvariantViolation("linearizability", `op ${outcome.opId} was applied twice, at ${earlier.index} and ${i}`);
      inLog.set(outcome.opId, { index: i, swapped: outcome.swapped });
    }
    this.stats.writesApplied = inLog.size;
    const leader = this.leader();
    if (converged && leader !== undefined && leader.stateMachine().describe() !== reference.describe()) {
      throw new InvariantViolation("stateMachineSafety", `replicas hold ${leader.stateMachine().describe()}, replaying the log gives ${reference.describe()}`);
    }
    const history: HistoryOp[] = [...this.workload.completed];
    for (const h of this.workload.completed) {
      if (h.op.kind === "get") continue;
      const found = inLog.get(h.id);
      const swapped = h.op.kind === "cas" ? h.op.result : true;
      if (found === undefined || found.swapped !== swapped) {
        throw new InvariantViolation("linearizability", `op ${h.id} was acknowledged (swapped ${String(swapped)}) but the log has ${found === undefined ? "no entry for it" : `swapped ${String(found.swapped)}`}`);
      }
    }
    for (const w of this.workload.open) {
      const found = inLog.get(w.id);
      if (found !== undefined && !w.mayBeInLog) {
        throw new InvariantViolation("linearizability", `op ${w.id} was refused or reported failed, yet applied at index ${found.index}`);
      }
      if (found !== undefined) {
        // It took effect; only its answer was lost. It took effect no later than its first apply
        // anywhere: from then on every linearizable read must see it (its entry is committed), so
        // the check may place its response there, which keeps the search from branching on it.
        const op = w.what.kind === "put" ? w.what : { ...w.what, result: found.swapped };
        const ret = this.workload.firstAppliedAt(w.id);
        if (ret === undefined) throw new Error(`op ${w.id} is in the applied log but was never seen applied`);
        history.push({ id: w.id, client: w.client, key: w.key, call: w.call, ret, fate: "done", op });
      } else if (!converged) {
        const op = w.what.kind === "put" ? w.what : { ...w.what, result: undefined };
        history.push({ id: w.id, client: w.client, key: w.key, call: w.call, ret: Infinity, fate: "maybe", op });
      }
      // Not in the converged log: it never took effect (nothing uncommitted is left to commit later).
    }
    const result = checkLinearizable(history);
    if (!result.ok) {
      const ops = result.ops.length > 40 ? [...result.ops.slice(0, 40)] : result.ops;
      throw new InvariantViolation(
        "linearizability",
        `key ${result.key}: ${result.reason === "inconclusive" ? "search budget exhausted" : "no linearization exists"}; ` +
          `longest linearizable prefix: ${result.longestPrefix.join(",")}\n${describeOps(ops)}${result.ops.length > 40 ? "\n..." : ""}`,
      );
    }
  }

  // ------------------------------------------------------------------ reporting

  private describeFailure(error: unknown): SimulationFailure {
    let kind: FailureKind;
    let message: string;
    if (error instanceof InvariantViolation) {
      kind = error.invariant;
      message = error.message;
    } else if (error instanceof RaftError) {
      kind = "coreError";
      message = `the core threw ${error.name}: ${error.message}\n${error.stack ?? ""}`;
    } else {
      kind = "harness";
      message = error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error);
    }
    return { kind, step: this.step, tick: this.tick, message, context: this.describeCluster() };
  }

  private describeCluster(): string {
    const lines: string[] = [];
    lines.push(`partition: ${this.network.describePartition()}; in flight: ${this.network.inFlightCount()}`);
    for (const node of this.nodes.values()) {
      let head: string;
      if (this.removed.has(node.id)) head = "removed";
      else if (!node.running) head = "down";
      else {
        const st = node.raft().status();
        head = `${st.role} term ${st.term} vote ${st.vote} leader ${st.leaderId} commit ${st.commit} applied ${st.applied} log [${st.firstIndex}, ${st.lastIndex}]`;
        if (st.peers.length > 0) head += ` peers ${st.peers.map((p) => `${p.id}:${p.state} ${p.match}/${p.next}${p.recentActive ? "" : " inactive"}`).join(", ")}`;
      }
      lines.push(`node ${node.id}: ${head}; disk hard state ${node.disk.hardState.term}/${node.disk.hardState.vote}/${node.disk.hardState.commit}, ${describeLogTail(node.disk)}`);
    }
    lines.push("recent events:", ...this.recentEvents.map((e) => `  ${e}`));
    return lines.join("\n");
  }

  private collectStats(): void {
    const s = this.stats;
    s.ticks = this.tick;
    s.leaderTerms = this.invariants.leaderCount();
    const w = this.workload.counters;
    s.opsCalled = w.calls;
    s.opsCompleted = w.completed;
    s.opsOpen = w.open;
    s.readsDropped = w.readsDropped;
    s.refusals = w.refusals;
    s.writesResent = w.retriesAfterFailure;
    s.membershipChanges = this.membership.changesDone;
    s.highestIndex = this.invariants.highestAppliedIndex();
    for (const node of this.nodes.values()) {
      s.crashes += node.counters.crashes;
      s.midReadyCrashes += node.counters.midReadyCrashes;
      s.compactions += node.counters.compactions;
      s.snapshotsInstalled += node.counters.snapshotsInstalled;
    }
  }
}

/** The one-line command that replays a run. */
export function reproCommand(report: Pick<SimulationReport, "seed" | "nodes" | "steps">): string {
  return `npm run test:sim -- --seed ${report.seed} --nodes ${report.nodes} --steps ${report.steps}`;
}

/** A failure, printed: what broke, where, how to replay it, and the cluster's state then. */
export function describeReport(report: SimulationReport): string {
  const f = report.failure;
  if (f === undefined) return `seed ${report.seed} (${report.nodes} nodes): ok`;
  return [
    `seed ${report.seed}, ${report.nodes} nodes: ${f.kind} violated at step ${f.step} (tick ${f.tick})`,
    `reproduce: ${reproCommand(report)}`,
    `scenario: ${JSON.stringify(report.scenario)}`,
    f.message,
    f.context,
  ].join("\n");
}
