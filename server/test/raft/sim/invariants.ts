/**
 * Raft's safety properties (Raft paper, figure 3), checked as the simulation runs. The simulated
 * drivers report every durable write, every applied entry and every node's role and term after
 * each step; a broken property throws InvariantViolation at once, naming it.
 *
 *  electionSafety:     at most one leader per term, over the whole run (term -> leader is kept).
 *  logMatching:        two logs holding an entry with the same index and term are identical up to
 *                      it. Checked on the persisted logs incrementally: every (index, term) ever
 *                      written anywhere must always come with the same content and the same term
 *                      at index - 1; by induction from the log's start (or a snapshot point) that
 *                      gives identical prefixes, across nodes and across time. checkLogsPairwise()
 *                      also compares the current logs directly.
 *  leaderCompleteness: an entry applied anywhere is in the log of every leader of a later term
 *                      (or behind its snapshot). An entry is committed in some term tc no greater
 *                      than the highest term seen when it is first applied (maxTermSeen), so every
 *                      leader of a term above that bound must hold it; checked when such a leader
 *                      is first seen (a leader's log only grows while it leads).
 *  stateMachineSafety: no two nodes apply different entries at one index (a global index ->
 *                      entry map), each node applies indexes in order without gaps, and an
 *                      installed snapshot's point agrees with what was applied there.
 */
import type { Entry, NodeId, Role, SnapshotMeta } from "../../../src/raft/index.js";

export type InvariantName = "electionSafety" | "logMatching" | "leaderCompleteness" | "stateMachineSafety" | "liveness" | "linearizability" | "coreError";

export class InvariantViolation extends Error {
  override readonly name: string = "InvariantViolation";
  constructor(
    readonly invariant: InvariantName,
    message: string,
  ) {
    super(`${invariant}: ${message}`);
  }
}

/** What the leader-completeness check needs of a leader's (in-memory) log. */
export interface LogView {
  /** The term of the entry at index, undefined if absent or compacted. */
  termAt(index: number): number | undefined;
  /** The first index still in the log (everything before is behind the snapshot). */
  firstIndex(): number;
}

/** A durable log as the drivers keep it: entries after the snapshot point, contiguous. */
export interface PersistedLog {
  readonly snapshot: SnapshotMeta;
  readonly entries: readonly Entry[];
}

interface AppliedRecord {
  readonly entry: Entry;
  readonly node: NodeId;
  /** No term above this one had been seen when the entry was first applied: it was committed in a term <= this. */
  readonly commitTermBound: number;
}

interface WrittenRecord {
  readonly entry: Entry;
  readonly prevTerm: number;
  readonly node: NodeId;
}

export function sameEntry(a: Entry, b: Entry): boolean {
  return a.index === b.index && a.term === b.term && a.type === b.type && Buffer.from(a.data).equals(Buffer.from(b.data));
}

export function describeEntry(e: Entry): string {
  if (e.type === "confChange") return `${e.index}@${e.term}:conf`;
  if (e.data.length === 0) return `${e.index}@${e.term}:noop`;
  const text = Buffer.from(e.data).toString("utf8");
  return `${e.index}@${e.term}:${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

/** The last `n` entries of a log, one short line. */
export function describeLogTail(log: PersistedLog, n = 6): string {
  const tail = log.entries.slice(-n).map(describeEntry).join(" ");
  const skipped = log.entries.length > n ? "... " : "";
  return `snapshot ${log.snapshot.index}@${log.snapshot.term} | ${skipped}${tail}`;
}

export class InvariantChecker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly written = new Map<string, WrittenRecord>();
  private readonly applied = new Map<number, AppliedRecord>();
  private maxTermSeen = 0;
  private highestApplied = 0;

  /** The highest term any node has reached (in memory or on disk) so far. */
  noteTerm(term: number): void {
    if (term > this.maxTermSeen) this.maxTermSeen = term;
  }

  /** A node's role and term after a step. `log` is its in-memory log, read if it is a new leader. */
  observeRole(node: NodeId, role: Role, term: number, log: LogView): void {
    this.noteTerm(term);
    if (role !== "leader") return;
    const known = this.leaders.get(term);
    if (known === undefined) {
      this.leaders.set(term, node);
      this.checkLeaderHoldsCommitted(node, term, log);
    } else if (known !== node) {
      throw new InvariantViolation("electionSafety", `term ${term} has two leaders: node ${known} and node ${node}`);
    }
  }

  private checkLeaderHoldsCommitted(node: NodeId, term: number, log: LogView): void {
    const first = log.firstIndex();
    for (const [index, record] of this.applied) {
      if (record.commitTermBound >= term || index < first) continue;
      const held = log.termAt(index);
      if (held !== record.entry.term) {
        throw new InvariantViolation(
          "leaderCompleteness",
          `node ${node}, leader of term ${term}, has ${held === undefined ? "no entry" : `term ${held}`} at index ${index}, ` +
            `where node ${record.node} applied ${describeEntry(record.entry)} (committed in a term <= ${record.commitTermBound})`,
        );
      }
    }
  }

  /**
   * A node durably wrote `entries` (contiguous) into `log`, which already holds them; the entry
   * before the first comes from the log or its snapshot point.
   */
  observePersistedEntries(node: NodeId, log: PersistedLog, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    let prevTerm = termInLog(log, entries[0].index - 1);
    if (prevTerm === undefined) {
      throw new InvariantViolation("logMatching", `node ${node} wrote entry ${entries[0].index} with no entry or snapshot before it: ${describeLogTail(log)}`);
    }
    for (const entry of entries) {
      const key = `${entry.index}:${entry.term}`;
      const seen = this.written.get(key);
      if (seen === undefined) {
        this.written.set(key, { entry, prevTerm, node });
      } else if (!sameEntry(seen.entry, entry) || seen.prevTerm !== prevTerm) {
        throw new InvariantViolation(
          "logMatching",
          `node ${node} wrote ${describeEntry(entry)} after an entry of term ${prevTerm}; node ${seen.node} wrote ` +
            `${describeEntry(seen.entry)} after an entry of term ${seen.prevTerm}`,
        );
      }
      prevTerm = entry.term;
    }
  }

  /** Compares every pair of current persisted logs directly (slower; run now and then). */
  checkLogsPairwise(logs: ReadonlyMap<NodeId, PersistedLog>): void {
    const ids = [...logs.keys()];
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) checkPair(ids[i], logs.get(ids[i])!, ids[j], logs.get(ids[j])!);
    }
  }

  /** A node applied `entry`; `expectedIndex` is the index its state machine must apply next. */
  observeApplied(node: NodeId, entry: Entry, expectedIndex: number): void {
    if (entry.index !== expectedIndex) {
      throw new InvariantViolation("stateMachineSafety", `node ${node} applied index ${entry.index}, expected ${expectedIndex} next`);
    }
    const first = this.applied.get(entry.index);
    if (first === undefined) {
      this.applied.set(entry.index, { entry, node, commitTermBound: this.maxTermSeen });
      if (entry.index > this.highestApplied) this.highestApplied = entry.index;
    } else if (!sameEntry(first.entry, entry)) {
      throw new InvariantViolation(
        "stateMachineSafety",
        `index ${entry.index}: node ${first.node} applied ${describeEntry(first.entry)}, node ${node} applied ${describeEntry(entry)}`,
      );
    }
  }

  /** A node installed a snapshot: its point must agree with what was applied at that index. */
  observeSnapshotInstalled(node: NodeId, snapshot: SnapshotMeta): void {
    const record = this.applied.get(snapshot.index);
    if (record !== undefined && record.entry.term !== snapshot.term) {
      throw new InvariantViolation(
        "stateMachineSafety",
        `node ${node} installed a snapshot at ${snapshot.index}@${snapshot.term}, but node ${record.node} applied ${describeEntry(record.entry)} there`,
      );
    }
  }

  /** The entry applied at index (by any node), if any has been. */
  appliedAt(index: number): Entry | undefined {
    return this.applied.get(index)?.entry;
  }

  highestAppliedIndex(): number {
    return this.highestApplied;
  }

  leaderCount(): number {
    return this.leaders.size;
  }
}

function termInLog(log: PersistedLog, index: number): number | undefined {
  if (index === log.snapshot.index) return log.snapshot.term;
  const first = log.snapshot.index + 1;
  if (index < first || index >= first + log.entries.length) return undefined;
  return log.entries[index - first].term;
}

function checkPair(aId: NodeId, a: PersistedLog, bId: NodeId, b: PersistedLog): void {
  const lo = Math.max(a.snapshot.index + 1, b.snapshot.index + 1);
  const hi = Math.min(a.snapshot.index + a.entries.length, b.snapshot.index + b.entries.length);
  // The highest index where the two logs hold entries of the same term: everything from lo up to it must be equal.
  let agree = hi;
  while (agree >= lo && termInLog(a, agree) !== termInLog(b, agree)) agree--;
  for (let i = lo; i <= agree; i++) {
    const ea = a.entries[i - a.snapshot.index - 1];
    const eb = b.entries[i - b.snapshot.index - 1];
    if (!sameEntry(ea, eb)) {
      throw new InvariantViolation(
        "logMatching",
        `nodes ${aId} and ${bId} agree at index ${agree} (term ${termInLog(a, agree)}) but differ at ${i}: ` +
          `${describeEntry(ea)} vs ${describeEntry(eb)}\n  node ${aId}: ${describeLogTail(a)}\n  node ${bId}: ${describeLogTail(b)}`,
      );
    }
  }
}
