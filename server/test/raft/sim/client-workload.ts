/**
 * Simulated clients and the history they record. Each client runs one operation at a time on a
 * small key set: put(k, v) with a value unique to the run, cas(k, expected, v) with an expected
 * value it saw (or none), and linearizable get(k) (ReadIndex, then the local state machine).
 *
 * A client sends to the node it believes leads (learned from answers and refusals), else (and now
 * and then regardless) to a random running node, and on a refusal (notLeader, transferring, ...)
 * retries at a later tick. A write whose
 * proposal certainly failed (another entry took its index) is resent; a write whose outcome
 * became unknown (the node crashed, or jumped past it by a snapshot) or that timed out is given
 * up with fate "maybe": it may or may not take effect. A read that is lost is resent (it has no
 * effect); a read that times out is left out of the history.
 *
 * Times in the history come from one counter bumped at every call and every response, so they
 * order events exactly as they happened in the run.
 */
import { NO_NODE, type NodeId, type ProposeResult } from "../../../src/raft/index.js";
import type { HistoryOp, KvOp } from "./linearizability.js";
import type { KvCommand } from "./kv-state-machine.js";
import type { Prng } from "./prng.js";
import type { ProposalOutcome, ReadOutcome, SimNode } from "./sim-node.js";

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: readonly string[];
  /** A client gives up an operation this many ticks after calling it. */
  readonly opTimeoutTicks: number;
  /** Per tick, the probability that an idle client calls a new operation. */
  readonly callRate: number;
}

/** The cluster as clients see it. */
export interface ClientView {
  runningNodes(): readonly SimNode[];
  node(id: NodeId): SimNode | undefined;
}

type Pending =
  | { readonly kind: "get" }
  | { readonly kind: "put"; readonly value: string }
  | { readonly kind: "cas"; readonly expected: string | null; readonly value: string };

interface Operation {
  readonly id: number;
  readonly client: number;
  readonly key: string;
  readonly what: Pending;
  readonly call: number;
  readonly deadlineTick: number;
  /** Some attempt was accepted into a log and not proven to have failed: it may take effect. */
  mayBeInLog: boolean;
  /** Bumped per attempt: answers to an abandoned attempt are ignored. */
  attempt: number;
  inFlight: boolean;
}

interface Client {
  readonly index: number;
  current: Operation | undefined;
  leaderHint: NodeId;
  /** The last value this client saw per key, used as a cas's expectation. */
  readonly seen: Map<string, string | null>;
}

/** An operation that ended with its fate open: the simulation resolves it against the final log. */
export interface OpenWrite {
  readonly id: number;
  readonly client: number;
  readonly key: string;
  readonly call: number;
  readonly what: Exclude<Pending, { kind: "get" }>;
  readonly mayBeInLog: boolean;
}

export class ClientWorkload {
  private readonly clients: Client[] = [];
  private clock = 0;
  private nextOpId = 1;
  private issuing = true;
  /** Operations that completed with a known result. */
  readonly completed: HistoryOp[] = [];
  /** Writes given up or with unknown outcome. */
  readonly open: OpenWrite[] = [];
  /** History time at which each write was first applied by any node (it was committed by then). */
  private readonly firstApplied = new Map<number, number>();
  readonly counters = { calls: 0, completed: 0, open: 0, readsDropped: 0, refusals: 0, retriesAfterFailure: 0 };

  constructor(
    private readonly rng: Prng,
    private readonly options: WorkloadOptions,
    private readonly cluster: ClientView,
  ) {
    for (let i = 0; i < options.clients; i++) this.clients.push({ index: i, current: undefined, leaderHint: NO_NODE, seen: new Map() });
  }

  /** No new operations from now on (operations under way still finish). */
  stopIssuing(): void {
    this.issuing = false;
  }

  /** Some node applied the entry of write `opId`: the first time stamps it in history time. */
  noteApplied(opId: number): void {
    if (!this.firstApplied.has(opId)) this.firstApplied.set(opId, ++this.clock);
  }

  firstAppliedAt(opId: number): number | undefined {
    return this.firstApplied.get(opId);
  }

  busy(): boolean {
    return this.clients.some((c) => c.current !== undefined);
  }

  /** Every tick: time out, resend, and start operations. */
  onTick(tick: number): void {
    for (const client of this.clients) {
      const op = client.current;
      if (op !== undefined && tick >= op.deadlineTick) {
        this.giveUp(client, op);
        continue;
      }
      if (op === undefined) {
        if (this.issuing && this.rng.chance(this.options.callRate)) this.callNew(client, tick);
      } else if (!op.inFlight) {
        this.attempt(client, op);
      }
    }
  }

  private callNew(client: Client, tick: number): void {
    const key = this.rng.pick(this.options.keys);
    const id = this.nextOpId++;
    const roll = this.rng.next();
    let what: Pending;
    if (roll < 0.4) what = { kind: "get" };
    else if (roll < 0.8) what = { kind: "put", value: `v${id}` };
    else what = { kind: "cas", expected: client.seen.get(key) ?? null, value: `v${id}` };
    const op: Operation = {
      id,
      client: client.index,
      key,
      what,
      call: ++this.clock,
      deadlineTick: tick + this.options.opTimeoutTicks,
      mayBeInLog: false,
      attempt: 0,
      inFlight: false,
    };
    client.current = op;
    this.counters.calls++;
    this.attempt(client, op);
  }

  private target(client: Client): SimNode | undefined {
    // Now and then a client ignores what it knows and tries any node (a reconnect, a load balancer):
    // that is how operations reach a deposed leader that still believes it leads.
    const hinted = client.leaderHint === NO_NODE || this.rng.chance(0.2) ? undefined : this.cluster.node(client.leaderHint);
    if (hinted !== undefined && hinted.running) return hinted;
    const running = this.cluster.runningNodes();
    return running.length === 0 ? undefined : this.rng.pick(running);
  }

  private attempt(client: Client, op: Operation): void {
    const node = this.target(client);
    if (node === undefined) return;
    const attempt = ++op.attempt;
    let result: ProposeResult;
    if (op.what.kind === "get") {
      result = node.read(op.key, (outcome) => this.onRead(client, op, attempt, outcome));
    } else {
      const command: KvCommand =
        op.what.kind === "put"
          ? { id: op.id, key: op.key, kind: "put", value: op.what.value }
          : { id: op.id, key: op.key, kind: "cas", expected: op.what.expected, value: op.what.value };
      result = node.propose(command, (outcome) => this.onProposal(client, op, attempt, outcome));
    }
    if (result.ok) {
      op.inFlight = true;
      if (op.what.kind !== "get") op.mayBeInLog = true;
      client.leaderHint = node.id;
    } else {
      this.counters.refusals++;
      // Try the leader it names next time, or another node at random.
      client.leaderHint = result.leaderId !== node.id ? result.leaderId : NO_NODE;
    }
  }

  private onRead(client: Client, op: Operation, attempt: number, outcome: ReadOutcome): void {
    if (client.current !== op || op.attempt !== attempt) return;
    op.inFlight = false;
    if (outcome.kind === "lost") {
      client.leaderHint = NO_NODE;
      return;
    }
    client.seen.set(op.key, outcome.value);
    this.complete(client, op, { kind: "get", result: outcome.value });
  }

  private onProposal(client: Client, op: Operation, attempt: number, outcome: ProposalOutcome): void {
    if (client.current !== op || op.attempt !== attempt || op.what.kind === "get") return;
    op.inFlight = false;
    switch (outcome.kind) {
      case "applied":
        if (op.what.kind === "put") {
          client.seen.set(op.key, op.what.value);
          this.complete(client, op, { kind: "put", value: op.what.value });
        } else {
          if (outcome.swapped) client.seen.set(op.key, op.what.value);
          this.complete(client, op, { kind: "cas", expected: op.what.expected, value: op.what.value, result: outcome.swapped });
        }
        return;
      case "failed":
        // Certainly not applied: another entry holds its index. Resend at the next tick.
        op.mayBeInLog = false;
        client.leaderHint = NO_NODE;
        this.counters.retriesAfterFailure++;
        return;
      case "unknown":
        this.giveUp(client, op);
        return;
    }
  }

  private complete(client: Client, op: Operation, result: KvOp): void {
    this.completed.push({ id: op.id, client: op.client, key: op.key, call: op.call, ret: ++this.clock, fate: "done", op: result });
    this.counters.completed++;
    client.current = undefined;
  }

  private giveUp(client: Client, op: Operation): void {
    client.current = undefined;
    client.leaderHint = NO_NODE;
    if (op.what.kind === "get") {
      this.counters.readsDropped++;
      return;
    }
    // Kept even when no attempt can be in a log (all refused or certainly failed), so the final
    // log can confirm that it never took effect.
    this.open.push({ id: op.id, client: op.client, key: op.key, call: op.call, what: op.what, mayBeInLog: op.mayBeInLog });
    this.counters.open++;
  }
}
