/**
 * Deterministic simulation of the Raft core (sim/simulation.ts): hundreds of seeded runs of 3-
 * and 5-node clusters under message loss, duplication, delay and reordering, partitions, crashes
 * (also in the middle of a Ready), compaction and snapshots, leadership transfers and membership
 * changes, with the safety invariants checked after every step, liveness after healing and the
 * clients' history checked for linearizability. A failing seed prints what broke and the command
 * that replays it (npm run test:sim -- --seed S --nodes N --steps X).
 *
 * The negative controls plant a fault through the network (a voter that grants every vote,
 * followers that read without waiting) and check that the simulation catches it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message } from "../../src/raft/index.js";
import { DEFAULT_STEPS, describeReport, runSimulation, type SimulationReport } from "./sim/simulation.js";

const STEPS = DEFAULT_STEPS;
const SEEDS_PER_TEST = 25;
const GROUPS: readonly { readonly nodes: 3 | 5; readonly firstSeed: number; readonly seeds: number }[] = [
  { nodes: 3, firstSeed: 1, seeds: 150 },
  { nodes: 5, firstSeed: 1, seeds: 150 },
];

function runSeeds(nodes: 3 | 5, first: number, count: number, tamper?: (m: Message) => Message): SimulationReport[] {
  const reports: SimulationReport[] = [];
  for (let seed = first; seed < first + count; seed++) reports.push(runSimulation({ seed, nodes, steps: STEPS, tamper }));
  return reports;
}

for (const group of GROUPS) {
  describe(`Raft simulation: ${group.nodes} nodes, ${STEPS} steps per seed`, () => {
    for (let first = group.firstSeed; first < group.firstSeed + group.seeds; first += SEEDS_PER_TEST) {
      const last = Math.min(first + SEEDS_PER_TEST, group.firstSeed + group.seeds) - 1;
      it(`seeds ${first}..${last} keep every invariant, converge and stay linearizable`, () => {
        const reports = runSeeds(group.nodes, first, last - first + 1);
        const failed = reports.filter((r) => r.failure !== undefined);
        assert.equal(failed.length, 0, `${failed.length} seed(s) failed:\n\n${failed.map(describeReport).join("\n\n")}`);
        // The runs must do real work, or passing means nothing.
        const totals = reports.reduce((t, r) => ({ ops: t.ops + r.stats.opsCompleted, writes: t.writes + r.stats.writesApplied }), { ops: 0, writes: 0 });
        assert.ok(totals.ops > 20 * reports.length, `only ${totals.ops} operations completed over ${reports.length} runs`);
        assert.ok(totals.writes > 10 * reports.length, `only ${totals.writes} writes applied over ${reports.length} runs`);
      });
    }
  });
}

describe("Raft simulation: reproducibility and coverage", () => {
  it("one seed is one run: the same seed replays identically, another seed differs", () => {
    const a = runSimulation({ seed: 4242, nodes: 5, steps: STEPS });
    const b = runSimulation({ seed: 4242, nodes: 5, steps: STEPS });
    const c = runSimulation({ seed: 4243, nodes: 5, steps: STEPS });
    assert.deepEqual(b, a);
    assert.notDeepEqual(c.stats, a.stats);
  });

  it("the seeds exercise every fault and feature", () => {
    const reports = [...runSeeds(3, 1, 25), ...runSeeds(5, 1, 25)];
    const sum = (pick: (r: SimulationReport) => number): number => reports.reduce((n, r) => n + pick(r), 0);
    const coverage = {
      leaderChanges: sum((r) => Math.max(0, r.stats.leaderTerms - 1)),
      crashes: sum((r) => r.stats.crashes),
      midReadyCrashes: sum((r) => r.stats.midReadyCrashes),
      partitions: sum((r) => r.stats.partitions),
      transfers: sum((r) => r.stats.transfers),
      compactions: sum((r) => r.stats.compactions),
      snapshotsInstalled: sum((r) => r.stats.snapshotsInstalled),
      membershipChanges: sum((r) => r.stats.membershipChanges),
      writesOfUnknownFate: sum((r) => r.stats.opsOpen),
      preVoteOff: reports.filter((r) => !r.scenario.preVote).length,
      checkQuorumOff: reports.filter((r) => !r.scenario.checkQuorum).length,
    };
    for (const [what, count] of Object.entries(coverage)) assert.ok(count > 0, `no ${what} in 50 seeds: ${JSON.stringify(coverage)}`);
  });
});

describe("Raft simulation: negative controls (a planted fault must be caught)", () => {
  it("voters that grant every vote break election safety", () => {
    const grantAll = (m: Message): Message => (m.type === "voteResponse" || m.type === "preVoteResponse" ? { ...m, reject: false } : m);
    const reports = runSeeds(3, 1, 20, grantAll);
    const caught = reports.filter((r) => r.failure !== undefined);
    assert.ok(caught.length > 0, "20 seeds with vote-granting voters all passed");
    const kinds = new Set(caught.map((r) => r.failure!.kind));
    assert.ok(kinds.has("electionSafety"), `caught as ${[...kinds].join(", ")}, not as electionSafety`);
    assert.match(describeReport(caught[0]), /npm run test:sim -- --seed \d+ --nodes 3 --steps \d+/);
  });

  it("followers that read before the leader's commit point break linearizability", () => {
    const readAtOnce = (m: Message): Message => (m.type === "readIndexResponse" ? { ...m, index: 0 } : m);
    const reports = runSeeds(3, 1, 20, readAtOnce);
    const kinds = new Set(reports.flatMap((r) => (r.failure === undefined ? [] : [r.failure.kind])));
    assert.ok(kinds.has("linearizability"), `caught as [${[...kinds].join(", ")}], not as linearizability`);
  });
});
