/**
 * The invariant checker on hand-made observations: each Raft safety property must accept a
 * correct history and name itself when broken.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Entry, SnapshotMeta } from "../../../src/raft/index.js";
import { InvariantChecker, InvariantViolation, type InvariantName, type LogView, type PersistedLog } from "./invariants.js";

const NO_SNAPSHOT: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };

function entry(index: number, term: number, text = `e${index}@${term}`): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

function log(entries: Entry[], snapshot: SnapshotMeta = NO_SNAPSHOT): PersistedLog {
  return { snapshot, entries };
}

function view(entries: Entry[], firstIndex = 1): LogView {
  return { termAt: (i) => entries.find((e) => e.index === i)?.term, firstIndex: () => firstIndex };
}

function assertViolation(invariant: InvariantName, fn: () => void): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvariantViolation, `expected an InvariantViolation, got ${String(error)}`);
    assert.equal(error.invariant, invariant, error.message);
    return true;
  });
}

describe("InvariantChecker: election safety", () => {
  it("allows one leader per term, the same leader seen again, and new leaders in new terms", () => {
    const c = new InvariantChecker();
    c.observeRole(1n, "leader", 2, view([]));
    c.observeRole(1n, "leader", 2, view([]));
    c.observeRole(2n, "follower", 2, view([]));
    c.observeRole(2n, "leader", 3, view([]));
    assert.equal(c.leaderCount(), 2);
  });

  it("fails on a second leader in a term, even after the first stepped down", () => {
    const c = new InvariantChecker();
    c.observeRole(1n, "leader", 2, view([]));
    c.observeRole(1n, "follower", 3, view([]));
    assertViolation("electionSafety", () => c.observeRole(2n, "leader", 2, view([])));
  });
});

describe("InvariantChecker: log matching", () => {
  it("accepts logs that agree where their terms agree", () => {
    const c = new InvariantChecker();
    const a = [entry(1, 1), entry(2, 1), entry(3, 2)];
    const b = [entry(1, 1), entry(2, 1), entry(3, 3)];
    c.observePersistedEntries(1n, log(a), a);
    c.observePersistedEntries(2n, log(b), b);
    c.checkLogsPairwise(
      new Map([
        [1n, log(a)],
        [2n, log(b)],
      ]),
    );
  });

  it("fails when an (index, term) is written with other content", () => {
    const c = new InvariantChecker();
    c.observePersistedEntries(1n, log([entry(1, 1, "x")]), [entry(1, 1, "x")]);
    assertViolation("logMatching", () => c.observePersistedEntries(2n, log([entry(1, 1, "y")]), [entry(1, 1, "y")]));
  });

  it("fails when an (index, term) follows a different previous term", () => {
    const c = new InvariantChecker();
    const a = [entry(1, 1), entry(2, 2)];
    const b = [entry(1, 2, "other"), entry(2, 2)];
    c.observePersistedEntries(1n, log(a), a);
    assertViolation("logMatching", () => c.observePersistedEntries(2n, log(b), b));
  });

  it("takes the previous term of a log's first entry from its snapshot point", () => {
    const c = new InvariantChecker();
    const a = [entry(5, 2), entry(6, 3)];
    c.observePersistedEntries(1n, log([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 2), ...a]), a);
    const snap: SnapshotMeta = { index: 5, term: 2, conf: NO_SNAPSHOT.conf };
    c.observePersistedEntries(2n, log([entry(6, 3)], snap), [entry(6, 3)]);
    const badSnap: SnapshotMeta = { index: 5, term: 1, conf: NO_SNAPSHOT.conf };
    assertViolation("logMatching", () => c.observePersistedEntries(3n, log([entry(6, 3)], badSnap), [entry(6, 3)]));
  });

  it("the pairwise check finds a mismatch below an agreeing entry", () => {
    const c = new InvariantChecker();
    const a = log([entry(1, 1, "x"), entry(2, 2)]);
    const b = log([entry(1, 1, "y"), entry(2, 2)]);
    assertViolation("logMatching", () =>
      c.checkLogsPairwise(
        new Map([
          [1n, a],
          [2n, b],
        ]),
      ),
    );
  });
});

describe("InvariantChecker: state machine safety", () => {
  it("accepts nodes applying the same entries in order", () => {
    const c = new InvariantChecker();
    c.observeApplied(1n, entry(1, 1), 1);
    c.observeApplied(2n, entry(1, 1), 1);
    c.observeApplied(1n, entry(2, 1), 2);
    assert.equal(c.highestAppliedIndex(), 2);
    assert.deepEqual(c.appliedAt(2), entry(2, 1));
  });

  it("fails when two nodes apply different entries at one index", () => {
    const c = new InvariantChecker();
    c.observeApplied(1n, entry(1, 1), 1);
    assertViolation("stateMachineSafety", () => c.observeApplied(2n, entry(1, 2), 1));
  });

  it("fails on a gap or a repeat in one node's applied sequence", () => {
    const c = new InvariantChecker();
    assertViolation("stateMachineSafety", () => c.observeApplied(1n, entry(2, 1), 1));
  });

  it("fails when a snapshot's point disagrees with what was applied there", () => {
    const c = new InvariantChecker();
    c.observeApplied(1n, entry(1, 1), 1);
    c.observeSnapshotInstalled(2n, { index: 1, term: 1, conf: NO_SNAPSHOT.conf });
    assertViolation("stateMachineSafety", () => c.observeSnapshotInstalled(3n, { index: 1, term: 2, conf: NO_SNAPSHOT.conf }));
  });
});

describe("InvariantChecker: leader completeness", () => {
  it("requires leaders of later terms to hold every applied entry (or have compacted it)", () => {
    const c = new InvariantChecker();
    c.noteTerm(2);
    c.observeApplied(1n, entry(1, 2), 1);
    c.observeRole(2n, "leader", 3, view([entry(1, 2)]));
    c.observeRole(3n, "leader", 4, view([], 2));
    assertViolation("leaderCompleteness", () => c.observeRole(4n, "leader", 5, view([entry(1, 4)])));
  });

  it("does not hold a stale leader of an earlier term to entries committed after it", () => {
    const c = new InvariantChecker();
    c.noteTerm(5);
    c.observeApplied(1n, entry(1, 5), 1);
    // A deposed leader of term 4 that never saw term 5 may lack the entry.
    c.observeRole(2n, "leader", 4, view([entry(1, 4)]));
  });
});
