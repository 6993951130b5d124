/**
 * RaftCore behaviour in readable scenarios (elections, replication, reads, transfer, membership,
 * snapshots, restarts), on the synchronous harness. Fault injection at scale is the seeded
 * simulator's job (simulation.test.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeId } from "../../src/raft/index.js";
import { appliedValues, bytes, Harness } from "./core-harness.js";

const A = 1n;
const B = 2n;
const C = 3n;
const D = 4n;

function threeNodes(overrides = {}): { h: Harness; leader: bigint } {
  const h = new Harness([A, B, C], overrides);
  h.node(A).core.campaign();
  h.stabilize();
  const leader = h.leader();
  assert.equal(leader, A, "node 1 campaigned first and should lead");
  return { h, leader: A };
}

describe("RaftCore elections", () => {
  it("a founder that campaigns becomes leader of term 2 after a pre-vote, and everyone follows it", () => {
    const { h } = threeNodes();
    for (const id of [A, B, C]) {
      const s = h.node(id).core.status();
      assert.equal(s.term, 2, `node ${id} term`);
      assert.equal(s.leaderId, A, `node ${id} leader`);
    }
  });

  it("elects a leader by timeouts alone", () => {
    const h = new Harness([A, B, C]);
    const leader = h.electLeader();
    const terms = new Set([...h.nodes.values()].map((n) => n.core.status().term));
    assert.equal(terms.size, 1, "all nodes in one term");
    for (const n of h.nodes.values()) assert.equal(n.core.status().leaderId, leader);
  });

  it("a lone founder elects itself at once", () => {
    const h = new Harness([A]);
    h.node(A).core.campaign();
    h.stabilize();
    assert.equal(h.leader(), A);
    const r = h.node(A).core.propose(bytes("x"));
    assert.ok(r.ok);
    h.stabilize();
    assert.deepEqual(appliedValues(h.node(A)), ["x"]);
  });

  it("pre-vote: an isolated follower does not raise its term, and does not disrupt the leader when it returns", () => {
    const { h } = threeNodes();
    h.isolate(C);
    h.tickAll(100);
    assert.equal(h.node(C).core.status().term, 2, "pre-vote failed, so the term stayed");
    h.heal();
    h.tickAll(5);
    assert.equal(h.leader(), A);
    assert.equal(h.node(A).core.status().term, 2);
  });

  it("two followers that time out together do not split the vote: one yields its pre-vote", () => {
    const { h } = threeNodes();
    h.node(A).core.propose(bytes("x"));
    h.stabilize();
    h.isolate(A);
    // Both survivors pre-campaign before either hears from the other.
    h.node(B).core.campaign();
    h.node(C).core.campaign();
    h.stabilize();
    const leaders = [B, C].filter((id) => h.node(id).core.status().role === "leader");
    assert.equal(leaders.length, 1, "exactly one of them leads after one round");
    assert.equal(h.node(leaders[0]).core.status().term, 3, "elected in the first term tried: no split vote");
  });

  it("two pre-candidates that never voted in their term (a fresh cluster) also do not both yield", () => {
    const h = new Harness([A, B, C]);
    // Neither has a vote nor a leader to forget: only the tie-break keeps both from granting.
    h.node(B).core.campaign();
    h.node(C).core.campaign();
    h.stabilize();
    const leaders = [B, C].filter((id) => h.node(id).core.status().role === "leader");
    assert.equal(leaders.length, 1, "exactly one of them leads after one round");
    assert.equal(h.node(leaders[0]).core.status().term, 2);
  });

  it("a pre-candidate asks again a voter that ignored it within the old leader's lease, and wins as that lease ends", () => {
    const electionTicks = 10;
    const heartbeatTicks = 2;
    const { h } = threeNodes({ electionTicks, heartbeatTicks });
    h.tickAll(heartbeatTicks); // a heartbeat round: B and C have just heard from A
    h.isolate(A);
    h.node(B).core.campaign();
    h.stabilize();
    assert.equal(h.node(B).core.status().role, "preCandidate", "C, within A's lease, ignored the pre-vote");
    const survivorLeader = (): NodeId | undefined => [B, C].find((id) => h.node(id).core.status().role === "leader");
    let ticks = 0;
    while (survivorLeader() === undefined && ticks < 10 * electionTicks) {
      h.node(B).core.tick();
      h.node(C).core.tick();
      h.stabilize();
      ticks++;
    }
    assert.equal(survivorLeader(), B, "B's repeated request won C's vote before either timed out again");
    assert.ok(ticks <= electionTicks + heartbeatTicks, `B led ${ticks} ticks after its campaign; C's lease ended after ${electionTicks}`);
  });

  it("check-quorum: a leader cut off from the others steps down, the rest elect a new leader", () => {
    const { h } = threeNodes();
    h.isolate(A);
    h.tickAll(60);
    assert.notEqual(h.node(A).core.status().role, "leader", "isolated leader must step down");
    const leader = h.leader();
    assert.ok(leader === B || leader === C, `new leader among B, C (got ${leader})`);
    assert.ok(h.node(leader).core.status().term > 2);
  });
});

describe("RaftCore replication", () => {
  it("lets only a leader with durable term and vote send before its save", () => {
    const lone = new Harness([A]).node(A).core;
    lone.campaign();
    const elected = lone.ready();
    assert.ok(elected.hardState !== undefined && elected.hardState.vote === A, "the election's term and vote are in this Ready");
    assert.equal(elected.sendBeforePersist, false, "a new term and vote must be durable first");
    lone.advance(elected);

    const { h } = threeNodes();
    const a = h.node(A).core;
    a.propose(bytes("x"));
    const steady = a.ready();
    assert.ok(steady.messages.some((m) => m.type === "append"), "the proposal's appends");
    assert.equal(steady.sendBeforePersist, true, "a steady leader's appends may overlap its fsync");
    a.advance(steady);

    const b = new Harness([A, B, C]).node(B).core;
    b.campaign();
    const preCandidate = b.ready();
    assert.ok(preCandidate.messages.some((m) => m.type === "preVote"));
    assert.equal(preCandidate.sendBeforePersist, false, "a pre-candidate's requests wait for its save");
    b.advance(preCandidate);
  });

  it("replicates proposals to every node and applies them in order", () => {
    const { h } = threeNodes();
    for (let i = 0; i < 20; i++) assert.ok(h.node(A).core.propose(bytes(`v${i}`)).ok);
    h.stabilize();
    const expected = Array.from({ length: 20 }, (_, i) => `v${i}`);
    for (const id of [A, B, C]) assert.deepEqual(appliedValues(h.node(id)), expected, `node ${id}`);
  });

  it("batches everything proposed between two Ready cycles into one append per follower", () => {
    const { h } = threeNodes();
    const before = h.sent.length;
    for (let i = 0; i < 50; i++) h.node(A).core.propose(bytes(`v${i}`));
    h.stabilize();
    const appends = h.sent.slice(before).filter((m) => m.type === "append" && m.entries.length > 0);
    const toB = appends.filter((m) => m.to === B);
    assert.equal(toB.length, 1, `one append carried all 50 entries to B (got ${toB.map((m) => (m.type === "append" ? m.entries.length : 0))})`);
  });

  it("a follower refuses proposals and names the leader", () => {
    const { h } = threeNodes();
    const r = h.node(B).core.propose(bytes("x"));
    assert.deepEqual(r, { ok: false, reason: "notLeader", leaderId: A });
  });

  it("a deposed leader's uncommitted entries are replaced by the new leader's log", () => {
    const { h } = threeNodes();
    h.node(A).core.propose(bytes("committed"));
    h.stabilize();
    h.isolate(A);
    const lost = h.node(A).core.propose(bytes("lost"));
    assert.ok(lost.ok);
    h.stabilize();
    h.tickAll(60);
    const leader = h.leader();
    assert.ok(leader !== undefined && leader !== A);
    assert.ok(h.node(leader).core.propose(bytes("after")).ok);
    h.stabilize();
    h.heal();
    h.tickAll(5);
    for (const id of [A, B, C]) assert.deepEqual(appliedValues(h.node(id)), ["committed", "after"], `node ${id}`);
    assert.ok(lost.ok);
    assert.notEqual(h.node(A).core.termAt(lost.index), lost.term, "the lost proposal's slot now holds another term's entry");
  });

  it("catches up a follower that missed many entries, with fast back-tracking over a divergent suffix", () => {
    const { h } = threeNodes();
    h.isolate(C);
    for (let i = 0; i < 30; i++) h.node(A).core.propose(bytes(`a${i}`));
    h.stabilize();
    h.heal();
    h.tickAll(3);
    assert.deepEqual(appliedValues(h.node(C)), Array.from({ length: 30 }, (_, i) => `a${i}`));
  });

  it("refuses proposals beyond the uncommitted byte limit while followers are unreachable", () => {
    const { h } = threeNodes({ maxUncommittedBytes: 1000 });
    h.isolate(A);
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      const r = h.node(A).core.propose(new Uint8Array(200));
      if (!r.ok) {
        assert.equal(r.reason, "tooLarge");
        refused++;
      }
    }
    assert.ok(refused > 0, "some proposals refused");
  });
});

describe("RaftCore linearizable reads (ReadIndex)", () => {
  it("the leader answers a read with its commit index after a heartbeat round", () => {
    const { h } = threeNodes();
    h.node(A).core.propose(bytes("x"));
    h.stabilize();
    const commit = h.node(A).core.status().commit;
    assert.ok(h.node(A).core.readIndex(7).ok);
    h.stabilize();
    assert.deepEqual(h.node(A).readStates, [{ context: 7, index: commit }]);
  });

  it("a follower's read is relayed to the leader and answered", () => {
    const { h } = threeNodes();
    h.node(A).core.propose(bytes("x"));
    h.stabilize();
    assert.ok(h.node(B).core.readIndex(9).ok);
    h.stabilize();
    assert.equal(h.node(B).readStates.length, 1);
    assert.equal(h.node(B).readStates[0].context, 9);
    assert.equal(h.node(B).readStates[0].index, h.node(A).core.status().commit);
  });

  it("a leader cut off from the quorum never confirms a read", () => {
    const { h } = threeNodes();
    h.isolate(A);
    h.node(A).core.readIndex(1);
    h.tickAll(30);
    assert.deepEqual(h.node(A).readStates, []);
  });

  it("a new leader holds reads until its no-op commits", () => {
    const h = new Harness([A, B, C]);
    h.node(A).core.campaign();
    h.stabilize(10_000, () => h.node(A).core.status().role === "leader");
    h.isolate(A);
    assert.ok(h.node(A).core.readIndex(5).ok);
    h.tickAll(5);
    assert.deepEqual(h.node(A).readStates, [], "no read point before the no-op commits");
    h.heal();
    h.tickAll(2);
    const core = h.node(A).core;
    assert.equal(h.node(A).readStates.length, 1);
    const point = h.node(A).readStates[0].index;
    assert.equal(core.termAt(point), core.status().term, `read point ${point} is the leader's no-op (an entry of its term)`);
  });
});

describe("RaftCore leadership transfer", () => {
  it("transfers leadership to an up-to-date follower by TimeoutNow", () => {
    const { h } = threeNodes();
    h.node(A).core.propose(bytes("x"));
    h.stabilize();
    h.node(A).core.transferLeadership(B);
    h.stabilize();
    assert.equal(h.leader(), B);
    assert.ok(h.sent.some((m) => m.type === "timeoutNow" && m.to === B));
  });

  it("refuses proposals while transferring", () => {
    const { h } = threeNodes();
    h.isolate(B);
    h.node(A).core.propose(bytes("x"));
    h.stabilize();
    h.node(A).core.transferLeadership(B);
    const r = h.node(A).core.propose(bytes("y"));
    assert.deepEqual(r, { ok: false, reason: "transferring", leaderId: A });
    h.tickAll(12);
    assert.ok(h.node(A).core.propose(bytes("z")).ok, "the transfer is abandoned after an election timeout");
  });
});

describe("RaftCore membership", () => {
  it("adds a learner, promotes it, removes a voter — one change at a time", () => {
    const { h } = threeNodes();
    h.node(A).core.propose(bytes("before"));
    h.stabilize();
    h.startEmpty(D);
    const add = h.node(A).core.proposeConfChange({ type: "addLearner", nodeId: D, context: new Uint8Array(0) });
    assert.ok(add.ok);
    const second = h.node(A).core.proposeConfChange({ type: "addVoter", nodeId: D, context: new Uint8Array(0) });
    assert.deepEqual(second, { ok: false, reason: "confChangePending", leaderId: A });
    h.stabilize();
    h.tickAll(3);
    assert.deepEqual(h.node(D).core.status().conf.learners, [D]);
    assert.deepEqual(appliedValues(h.node(D)), ["before"]);
    assert.ok(h.node(A).core.proposeConfChange({ type: "addVoter", nodeId: D, context: new Uint8Array(0) }).ok);
    h.stabilize();
    assert.deepEqual([...h.node(A).core.status().conf.voters].sort(), [A, B, C, D]);
    assert.ok(h.node(A).core.proposeConfChange({ type: "removeNode", nodeId: C, context: new Uint8Array(0) }).ok);
    h.stabilize();
    assert.deepEqual([...h.node(A).core.status().conf.voters].sort(), [A, B, D]);
    // C is gone: a write commits with A, B, D.
    h.isolate(C);
    h.node(A).core.propose(bytes("after"));
    h.stabilize();
    assert.deepEqual(appliedValues(h.node(D)), ["before", "after"]);
  });

  it("rejects changes that make no sense", () => {
    const { h } = threeNodes();
    h.node(A).core.propose(bytes("x"));
    h.stabilize();
    assert.deepEqual(h.node(A).core.proposeConfChange({ type: "addVoter", nodeId: B, context: new Uint8Array(0) }), {
      ok: false,
      reason: "invalidConfChange",
      leaderId: A,
    });
  });

  it("a leader that removes itself steps down and the others elect a new leader", () => {
    const { h } = threeNodes();
    h.node(A).core.propose(bytes("x"));
    h.stabilize();
    assert.ok(h.node(A).core.proposeConfChange({ type: "removeNode", nodeId: A, context: new Uint8Array(0) }).ok);
    h.stabilize();
    assert.notEqual(h.node(A).core.status().role, "leader");
    h.isolate(A);
    h.tickAll(60);
    const leader = h.leader();
    assert.ok(leader === B || leader === C);
    assert.ok(h.node(leader).core.propose(bytes("y")).ok);
    h.stabilize();
    assert.deepEqual(appliedValues(h.node(leader === B ? C : B)), ["x", "y"]);
  });
});

describe("RaftCore snapshots and restarts", () => {
  it("a follower behind the compacted log is sent the snapshot, then the entries after it", () => {
    const { h } = threeNodes();
    h.isolate(C);
    for (let i = 0; i < 10; i++) h.node(A).core.propose(bytes(`s${i}`));
    h.stabilize();
    const leader = h.node(A).core;
    const applied = leader.status().applied;
    const snap = { index: applied, term: leader.termAt(applied) ?? 0, conf: leader.status().conf };
    leader.compact(snap);
    h.node(B).core.compact({ ...snap });
    h.heal();
    h.tickAll(3);
    leader.propose(bytes("tail"));
    h.stabilize();
    assert.deepEqual(h.node(C).installed, [snap]);
    assert.equal(h.node(C).core.status().commit, leader.status().commit);
    assert.deepEqual(appliedValues(h.node(C)).at(-1), "tail");
  });

  it("a restarted node recovers its log and term and rejoins", () => {
    const { h } = threeNodes();
    for (let i = 0; i < 5; i++) h.node(A).core.propose(bytes(`r${i}`));
    h.stabilize();
    const term = h.node(B).core.status().term;
    h.restart(B);
    assert.equal(h.node(B).core.status().term, term);
    h.tickAll(3);
    assert.deepEqual(appliedValues(h.node(B)), ["r0", "r1", "r2", "r3", "r4"], "replays committed entries after restart");
  });

  it("a restart whose applied index is ahead of the recovered commit (a lost commit-only save) takes it as committed", () => {
    const { h } = threeNodes();
    for (let i = 0; i < 5; i++) h.node(A).core.propose(bytes(`r${i}`));
    h.stabilize();
    const before = h.node(B).core.status();
    assert.ok(before.commit >= 5 && before.applied === before.commit, `B committed and applied ${before.commit}`);
    const disk = h.node(B).disk;
    // The disk lost the commit-only saves: its hard state commits nothing past the bootstrap entries.
    const restarted = h.start(B, { hardState: { ...disk.hardState, commit: 1 }, snapshot: disk.snapshot, entries: disk.entries }, before.applied);
    const after = restarted.core.status();
    assert.equal(after.commit, before.applied, "commit recovered from the applied index");
    assert.equal(after.applied, before.applied);
    h.tickAll(3);
    assert.deepEqual(appliedValues(restarted), [], "nothing already applied is handed out again");
  });

  it("survives the leader restarting: a new leader is elected and no committed entry is lost", () => {
    const { h } = threeNodes();
    for (let i = 0; i < 5; i++) h.node(A).core.propose(bytes(`k${i}`));
    h.stabilize();
    h.restart(A);
    const leader = h.electLeader();
    h.node(leader).core.propose(bytes("after"));
    h.stabilize();
    h.tickAll(3);
    for (const id of [A, B, C]) assert.deepEqual(appliedValues(h.node(id)).slice(-6), ["k0", "k1", "k2", "k3", "k4", "after"], `node ${id}`);
  });
});
