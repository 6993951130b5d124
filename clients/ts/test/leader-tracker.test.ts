import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { LeaderTracker, UNREACHABLE_LEADER_HOLD_MS } from "../src/leader-tracker.js";

const CLUSTER = 0x5151n;

/** A tracker on a clock the test moves. */
function trackerWithClock(): { tracker: LeaderTracker; clock: { nowMs: number } } {
  const clock = { nowMs: 1_000 };
  return { tracker: new LeaderTracker(() => clock.nowMs), clock };
}

describe("LeaderTracker", () => {
  it("takes the leader of the highest term seen, also 'none' when a newer term has no leader yet", () => {
    const { tracker } = trackerWithClock();
    tracker.observeHeader(CLUSTER, 1n, 3n, 5n);
    assert.equal(tracker.leaderId, 3n);
    tracker.observeHeader(CLUSTER, 2n, 0n, 6n);
    assert.equal(tracker.leaderId, 0n, "term 6 has no leader yet");
    tracker.observeHeader(CLUSTER, 1n, 3n, 5n);
    assert.equal(tracker.leaderId, 0n, "a header of the older term is stale");
    tracker.observeHeader(CLUSTER, 1n, 2n, 6n);
    assert.equal(tracker.leaderId, 2n, "the leader of term 6, once elected");
    tracker.observeHeader(CLUSTER, 3n, 0n, 6n);
    assert.equal(tracker.leaderId, 2n, "a member that has not heard from it yet changes nothing");
  });

  it("takes a hint's leader without its term: a header of the current term overrides it", () => {
    const { tracker } = trackerWithClock();
    tracker.observeHeader(CLUSTER, 1n, 3n, 5n);
    tracker.observeHint(2n);
    assert.equal(tracker.leaderId, 2n);
    tracker.observeHeader(CLUSTER, 1n, 3n, 5n);
    assert.equal(tracker.leaderId, 3n, "term 5's leader is 3, whatever the hint said");
    tracker.observeHint(0n);
    assert.equal(tracker.leaderId, 3n, "a hint of no leader is no hint");
  });

  it("after the leader failed, ignores followers naming it at the same term for a while, but not the leader itself or a newer term", () => {
    const { tracker, clock } = trackerWithClock();
    tracker.observeHeader(CLUSTER, 3n, 3n, 5n);
    tracker.leaderFailed(1n);
    assert.equal(tracker.leaderId, 3n, "a follower failing says nothing of the leader");
    tracker.leaderFailed(3n);
    assert.equal(tracker.leaderId, 0n);
    tracker.observeHeader(CLUSTER, 1n, 3n, 5n);
    tracker.observeHint(3n);
    assert.equal(tracker.leaderId, 0n, "a follower still naming the failed leader");
    tracker.observeHeader(CLUSTER, 3n, 3n, 5n);
    assert.equal(tracker.leaderId, 3n, "the leader answered itself");

    tracker.leaderFailed(3n);
    clock.nowMs += UNREACHABLE_LEADER_HOLD_MS;
    tracker.observeHeader(CLUSTER, 1n, 3n, 5n);
    assert.equal(tracker.leaderId, 3n, "believed again once the hold is over");

    tracker.leaderFailed(3n);
    tracker.observeHeader(CLUSTER, 1n, 3n, 6n);
    assert.equal(tracker.leaderId, 3n, "re-elected in a newer term");
  });

  it("starts over for another cluster", () => {
    const { tracker } = trackerWithClock();
    tracker.observeHeader(CLUSTER, 1n, 3n, 9n);
    tracker.observeHeader(CLUSTER + 1n, 7n, 8n, 1n);
    assert.equal(tracker.leaderId, 8n, "term 1 of the other cluster is not older than term 9 of this one");
  });

  it("property: with one leader per term and no failure, the belief is the leader of the highest term any header named one in", () => {
    // A history: terms 1..n, each with its leader (or none: a split vote); headers come from
    // members at any of those terms, in any order, naming the term's leader or, if they have
    // not heard from it yet, no one.
    const history = fc.array(fc.option(fc.bigInt({ min: 1n, max: 5n }), { nil: 0n }), { minLength: 1, maxLength: 6 });
    const headers = (leaders: bigint[]) =>
      fc.array(
        fc.record({ termIndex: fc.nat({ max: leaders.length - 1 }), heardFromLeader: fc.boolean(), memberId: fc.bigInt({ min: 1n, max: 5n }) }),
        { maxLength: 30 },
      );
    fc.assert(
      fc.property(
        history.chain((leaders) => fc.tuple(fc.constant(leaders), headers(leaders))),
        ([leaders, seen]) => {
          const tracker = new LeaderTracker(() => 0);
          let highestTerm = 0;
          for (const { termIndex, heardFromLeader, memberId } of seen) {
            const term = termIndex + 1;
            tracker.observeHeader(CLUSTER, memberId, heardFromLeader ? leaders[termIndex] : 0n, BigInt(term));
            highestTerm = Math.max(highestTerm, term);
          }
          // After all headers: the leader of the highest term, if some header of that term named it.
          const named = seen.some((h) => h.termIndex + 1 === highestTerm && h.heardFromLeader);
          const expected = highestTerm === 0 || !named ? 0n : leaders[highestTerm - 1];
          assert.equal(tracker.leaderId, expected, `leaders by term ${leaders.join(",")}; headers ${JSON.stringify(seen, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`);
        },
      ),
      { numRuns: 300 },
    );
  });
});
