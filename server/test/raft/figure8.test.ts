/**
 * The Raft paper's figure 8, scripted step by step on five nodes: a leader must not commit an
 * entry of an earlier term by counting its replicas (§5.4.2), or a later leader may overwrite
 * an entry some node already applied. The seeded simulator rarely builds this exact history, so
 * it is written out here.
 *
 * How the script maps to the figure (S1..S5 are nodes 1..5, terms as in the figure):
 *   (a) S1 leads term 2 and replicates entry X (term 2, index i) to S2 only.
 *   (b) S1 is down; S5 wins term 3 with the votes of S3, S4 and appends its own entry at index i,
 *       which it replicates to no one. Our core appends a no-op on election, so that no-op IS the
 *       figure's term-3 entry at index i.
 *   (c) S5 is down; S1 comes back, wins term 4 and replicates X to S3: X is on S1, S2, S3, a
 *       majority, yet must not be committed. The figure's S1 has no entry of term 4 yet; ours
 *       appends a term-4 no-op at i+1, and if that no-op also reached a majority, committing it
 *       would legitimately commit X and hide the hazard. So the no-op reaches S2 only, and S3
 *       receives X but not the no-op: every append carries one entry (maxAppendBytes is tiny),
 *       and the link S1-S3 is cut right after S3 acknowledges X, before the no-op follows it.
 *       S4 stays down, so the entries on a majority are exactly those through i.
 *   (d1) S1 is down again; S5 wins term 5 with S3, S4 (its last term 3 beats their 2) and
 *        overwrites index i everywhere it reaches: nobody may have applied X.
 *   (d2) Instead S1 stays up and replicates an entry of term 4 to a majority: that commits X
 *        with it, and every node applies X at index i, then the new entry.
 *
 * Elections: nodes use pre-vote and check-quorum, so a follower that heard from its leader
 * within an election timeout ignores vote requests. The script ticks exactly the followers
 * that must forget their leader, electionTicks times, with randomized timeouts pinned to their
 * maximum (random() = 0.99) so that no node starts a campaign of its own meanwhile.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Entry, NodeId } from "../../src/raft/index.js";
import { appliedValues, bytes, Harness, text } from "./core-harness.js";

const S1 = 1n;
const S2 = 2n;
const S3 = 3n;
const S4 = 4n;
const S5 = 5n;
const ALL = [S1, S2, S3, S4, S5];
const ELECTION_TICKS = 10;
/** Elections in this script need at most one failed attempt (which teaches the candidate the current term). */
const CAMPAIGN_ATTEMPTS_MAX = 3;

interface Figure8 {
  h: Harness;
  /** The index of S1's term-2 entry X. */
  i: number;
}

function newCluster(): Harness {
  return new Harness(ALL, { electionTicks: ELECTION_TICKS, random: () => 0.99, maxAppendBytes: 1 });
}

/** Ticks the given nodes for one election timeout, so they stop honouring their leader's lease. */
function forgetLeader(h: Harness, ids: readonly NodeId[]): void {
  for (let t = 0; t < ELECTION_TICKS; t++) {
    for (const id of ids) h.node(id).core.tick();
    h.stabilize();
  }
}

/** Has `id` campaign until it leads (a rejected pre-vote may first teach it the current term). */
function elect(h: Harness, id: NodeId, expectedTerm: number): void {
  for (let attempt = 0; attempt < CAMPAIGN_ATTEMPTS_MAX; attempt++) {
    h.node(id).core.campaign();
    h.stabilize(10_000, () => h.node(id).core.status().role === "leader");
    if (h.node(id).core.status().role === "leader") break;
  }
  const s = h.node(id).core.status();
  assert.equal(s.role, "leader", `node ${id} should have won an election (term ${s.term})`);
  assert.equal(s.term, expectedTerm, `node ${id} leads in the figure's term`);
}

function matchOf(h: Harness, leader: NodeId, peer: NodeId): number {
  return h.node(leader).core.status().peers.find((p) => p.id === peer)?.match ?? 0;
}

function describeApplied(entry: Entry | undefined): string {
  return entry === undefined ? "nothing" : `term ${entry.term} ${entry.type} "${text(entry.data)}"`;
}

/** State-machine safety: no two nodes applied different entries at one index. */
function assertAppliedAgree(h: Harness): void {
  const byIndex = new Map<number, { id: NodeId; entry: Entry }>();
  for (const id of ALL) {
    const applied = h.node(id).applied;
    for (let k = 0; k < applied.length; k++) {
      const e = applied[k];
      if (k > 0) assert.equal(e.index, applied[k - 1].index + 1, `node ${id} applied index ${e.index} out of order`);
      const first = byIndex.get(e.index);
      if (first === undefined) {
        byIndex.set(e.index, { id, entry: e });
        continue;
      }
      assert.ok(
        first.entry.term === e.term && text(first.entry.data) === text(e.data),
        `index ${e.index}: node ${first.id} applied ${describeApplied(first.entry)}, node ${id} applied ${describeApplied(e)}`,
      );
    }
  }
}

/** Steps (a) to (c): X sits on a majority (S1, S2, S3) but only entries through i, no newer term's entry, do. */
function runThroughC(): Figure8 {
  const h = newCluster();

  // (a) S1 leads term 2; X reaches S2 only.
  elect(h, S1, 2);
  h.stabilize();
  for (const other of [S3, S4, S5]) h.cutLink(S1, other);
  const proposal = h.node(S1).core.propose(bytes("X"));
  assert.ok(proposal.ok, "S1 accepts X");
  const i = proposal.index;
  h.stabilize();
  assert.equal(h.node(S2).core.termAt(i), 2, "S2 holds X");
  for (const id of [S3, S4, S5]) assert.equal(h.node(id).core.status().lastIndex, i - 1, `node ${id} lacks X`);
  assert.ok(h.node(S1).core.status().commit < i, "X on two of five nodes is not committed");

  // (b) S1 goes down; S5 wins term 3 with S3, S4 and appends its no-op at index i, sent to no one.
  h.isolate(S1);
  h.cutLink(S5, S2);
  forgetLeader(h, [S3, S4]);
  elect(h, S5, 3);
  h.isolate(S5);
  h.stabilize();
  assert.equal(h.node(S5).core.termAt(i), 3, "S5's term-3 entry sits at index i");
  for (const id of [S3, S4]) assert.equal(h.node(id).core.status().lastIndex, i - 1, `node ${id} did not receive S5's entry`);

  // (c) S5 and S4 are down; S1 restarts and wins term 4 with S2, S3.
  h.heal();
  h.isolate(S5);
  h.isolate(S4);
  h.restart(S1);
  forgetLeader(h, [S2]);
  elect(h, S1, 4);
  assert.equal(h.node(S1).core.termAt(i + 1), 4, "S1's term-4 no-op follows X");
  // Run until S3 acknowledges X (one entry per append), then cut S3 off before the no-op follows.
  h.stabilize(10_000, () => matchOf(h, S1, S3) >= i);
  assert.equal(matchOf(h, S1, S3), i, "S3 acknowledged X and nothing after it");
  h.cutLink(S1, S3);
  h.stabilize();
  assert.equal(h.node(S3).core.termAt(i), 2, "S3 holds X");
  assert.equal(h.node(S3).core.status().lastIndex, i, "S3 lacks the term-4 no-op");
  assert.equal(matchOf(h, S1, S2), i + 1, "S2 holds the term-4 no-op");

  // X is on S1, S2, S3: a majority, but of term 2 in a term-4 leader's log: not committed.
  for (const id of ALL) {
    const s = h.node(id).core.status();
    assert.ok(s.commit < i, `node ${id} must not commit X, an earlier term's entry counted by replicas (commit ${s.commit}, X at ${i})`);
    assert.ok(!appliedValues(h.node(id)).includes("X"), `node ${id} must not apply X yet`);
  }
  return { h, i };
}

describe("Raft figure 8: a leader commits an earlier term's entry only through an entry of its own term", () => {
  it("(d1) S1 fails again, S5 wins term 5 and overwrites X: no node ever applied X", () => {
    const { h, i } = runThroughC();
    h.heal();
    h.isolate(S1);
    h.restart(S5);
    forgetLeader(h, [S2, S3]);
    elect(h, S5, 5);
    const after = h.node(S5).core.propose(bytes("after"));
    assert.ok(after.ok);
    h.stabilize();
    for (const id of [S2, S3, S4, S5]) {
      assert.equal(h.node(id).core.termAt(i), 3, `node ${id}: S5's term-3 entry replaced X at index ${i}`);
      assert.deepEqual(appliedValues(h.node(id)), ["after"], `node ${id} applied what S5 committed, never X`);
    }
    assert.ok(!appliedValues(h.node(S1)).includes("X"), "S1 never applied X");
    assertAppliedAgree(h);
  });

  it("(d2) S1 commits an entry of term 4 on a majority: X commits with it and every node applies X, then that entry", () => {
    const { h, i } = runThroughC();
    h.heal();
    h.isolate(S4);
    h.isolate(S5);
    const y = h.node(S1).core.propose(bytes("Y"));
    assert.ok(y.ok);
    h.stabilize();
    h.tickAll(3);
    assert.ok(h.node(S1).core.status().commit >= y.index, `Y committed on S1, S2, S3 (commit ${h.node(S1).core.status().commit}, Y at ${y.index})`);
    // The nodes that were down catch up (S5 steps down from its stale term 3 and loses its entry at i).
    h.heal();
    h.tickAll(5);
    assert.equal(h.leader(), S1);
    for (const id of ALL) {
      const node = h.node(id);
      assert.deepEqual(appliedValues(node), ["X", "Y"], `node ${id} applied X then Y`);
      assert.equal(node.applied.find((e) => e.index === i)?.term, 2, `node ${id} applied X (term 2) at index ${i}`);
    }
    assertAppliedAgree(h);
  });
});
