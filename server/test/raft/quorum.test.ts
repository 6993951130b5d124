/**
 * Quorum arithmetic against brute-force definitions (fast-check) and a few worked examples.
 * committed index: the largest i such that at least a majority of voters have matched >= i.
 * vote: won when a majority granted; lost when even every missing vote could not make one.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { committedIndex, majorityCommittedIndex, majorityVoteResult, type MajorityConfig, type NodeId, type QuorumConfig, voteResult } from "../../src/raft/index.js";

const SEED = process.env.SISYPHUS_SEED === undefined ? undefined : Number(process.env.SISYPHUS_SEED);

function bruteCommitted(voters: MajorityConfig, match: ReadonlyMap<NodeId, number>): number {
  if (voters.size === 0) return Infinity;
  const quorum = Math.floor(voters.size / 2) + 1;
  const candidates = [0, ...[...voters].map((id) => match.get(id) ?? 0)];
  let best = 0;
  for (const i of candidates) {
    const atLeast = [...voters].filter((id) => (match.get(id) ?? 0) >= i).length;
    if (atLeast >= quorum && i > best) best = i;
  }
  return best;
}

function bruteVote(voters: MajorityConfig, votes: ReadonlyMap<NodeId, boolean>): "won" | "lost" | "pending" {
  if (voters.size === 0) return "won";
  const quorum = Math.floor(voters.size / 2) + 1;
  const ids = [...voters];
  const granted = ids.filter((id) => votes.get(id) === true).length;
  const open = ids.filter((id) => !votes.has(id)).length;
  if (granted >= quorum) return "won";
  return granted + open >= quorum ? "pending" : "lost";
}

const voterSet = fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { maxLength: 7 }).map((ids) => new Set(ids.map(BigInt)) as MajorityConfig);
const matchMap = fc.array(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.nat(20))).map((pairs) => new Map(pairs.map(([id, i]) => [BigInt(id), i])));
const voteMap = fc.array(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.boolean())).map((pairs) => new Map(pairs.map(([id, v]) => [BigInt(id), v])));
const config = fc.oneof(
  voterSet.map((a) => [a] as QuorumConfig),
  fc.tuple(voterSet, voterSet).map(([a, b]) => [a, b] as QuorumConfig),
);

describe("quorum", () => {
  it("committed index is the largest index a majority has matched (single and joint configs)", () => {
    fc.assert(
      fc.property(config, matchMap, (cfg, match) => {
        const expected = Math.min(...cfg.map((half) => bruteCommitted(half, match)));
        assert.equal(committedIndex(cfg, (id) => match.get(id)), expected);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("an election is won by a majority of every half, lost when any half can no longer reach one", () => {
    fc.assert(
      fc.property(config, voteMap, (cfg, votes) => {
        const halves = cfg.map((half) => bruteVote(half, votes));
        const expected = halves.includes("lost") ? "lost" : halves.every((r) => r === "won") ? "won" : "pending";
        assert.equal(voteResult(cfg, votes), expected);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("worked examples", () => {
    const three = new Set([1n, 2n, 3n]);
    const match = new Map([
      [1n, 10],
      [2n, 7],
      [3n, 3],
    ]);
    assert.equal(majorityCommittedIndex(three, (id) => match.get(id)), 7);
    assert.equal(majorityCommittedIndex(new Set([1n, 2n, 3n, 4n]), (id) => match.get(id)), 3, "4 voters need 3: 10, 7, 3 -> 3");
    assert.equal(majorityCommittedIndex(new Set(), () => 0), Infinity);
    // Joint: the old config {1,2,3} has committed 7, the new {3,4,5} only 0 (4 and 5 have matched nothing).
    assert.equal(committedIndex([new Set([3n, 4n, 5n]), three], (id) => match.get(id)), 0);
    assert.equal(majorityVoteResult(three, new Map([[1n, true], [2n, true]])), "won");
    assert.equal(majorityVoteResult(three, new Map([[1n, true], [2n, false]])), "pending");
    assert.equal(majorityVoteResult(three, new Map([[1n, false], [2n, false]])), "lost");
    assert.equal(voteResult([new Set([1n]), three], new Map([[1n, true], [2n, true]])), "won");
    assert.equal(voteResult([new Set([4n]), three], new Map([[1n, true], [2n, true]])), "pending");
  });
});
