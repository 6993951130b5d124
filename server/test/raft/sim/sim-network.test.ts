/** The simulated network: delays within bounds, loss, duplication, partitions at send and at delivery, determinism. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message, NodeId } from "../../../src/raft/index.js";
import { Prng } from "./prng.js";
import { NO_FAULTS, SimNetwork, type NetworkFaults } from "./sim-network.js";

function heartbeat(from: NodeId, to: NodeId, commit = 0): Message {
  return { type: "heartbeat", from, to, term: 1, commit, context: 0 };
}

/** Delivers everything due by each tick until the network is empty (bounded); returns [tick, commit] per delivery. */
function drain(net: SimNetwork, ticks: number): [number, number][] {
  const out: [number, number][] = [];
  for (let now = 0; now <= ticks; now++) {
    for (let taken = net.takeDeliverable(now); taken !== undefined; taken = net.takeDeliverable(now)) {
      if (taken.reachable && taken.envelope.message.type === "heartbeat") out.push([now, taken.envelope.message.commit]);
    }
  }
  return out;
}

function network(seed: number, faults: Partial<NetworkFaults> = {}): SimNetwork {
  return new SimNetwork(new Prng(seed), { ...NO_FAULTS, ...faults });
}

describe("SimNetwork", () => {
  it("delivers every message within its delay bound, and reorders them", () => {
    const net = network(1, { delayTicksMax: 3 });
    for (let i = 0; i < 200; i++) assert.equal(net.send(heartbeat(1n, 2n, i), 0, undefined, 0), "queued");
    assert.equal(net.takeDeliverable(-1), undefined, "nothing is due before it was sent");
    const delivered = drain(net, 3);
    assert.equal(delivered.length, 200);
    assert.equal(net.inFlightCount(), 0);
    const order = delivered.map(([, commit]) => commit);
    assert.notDeepEqual(order, [...order].sort((a, b) => a - b), "200 messages came out in send order");
    assert.ok(new Set(delivered.map(([tick]) => tick)).size > 1, "every message had the same delay");
  });

  it("loses messages at its drop rate and duplicates at its duplicate rate", () => {
    const lossy = network(2, { dropRate: 1 });
    assert.equal(lossy.send(heartbeat(1n, 2n), 0, undefined, 0), "lost");
    assert.equal(lossy.inFlightCount(), 0);
    const doubling = network(3, { duplicateRate: 1 });
    doubling.send(heartbeat(1n, 2n, 7), 0, undefined, 0);
    assert.deepEqual(drain(doubling, 0), [
      [0, 7],
      [0, 7],
    ]);
    const some = network(4, { dropRate: 0.1 });
    let lost = 0;
    for (let i = 0; i < 1000; i++) if (some.send(heartbeat(1n, 2n), 0, undefined, 0) === "lost") lost++;
    assert.ok(lost > 50 && lost < 150, `dropRate 0.1 lost ${lost} of 1,000`);
  });

  it("a partition cuts messages across it, at send and at delivery, until healed", () => {
    const net = network(5);
    net.send(heartbeat(1n, 3n, 1), 0, undefined, 0);
    net.partition([[1n, 2n], [3n]]);
    assert.ok(net.isPartitioned());
    assert.equal(net.describePartition(), "{1,2} | {3}");
    assert.equal(net.send(heartbeat(1n, 3n, 2), 0, undefined, 0), "cut");
    assert.equal(net.send(heartbeat(1n, 2n, 3), 0, undefined, 0), "queued");
    assert.equal(net.canReach(3n, 1n), false);
    assert.equal(net.canReach(4n, 1n), false, "an unlisted node is in a group of its own");
    const taken: { commit: number; reachable: boolean }[] = [];
    for (let t = net.takeDeliverable(0); t !== undefined; t = net.takeDeliverable(0)) {
      const m = t.envelope.message;
      if (m.type === "heartbeat") taken.push({ commit: m.commit, reachable: t.reachable });
    }
    taken.sort((a, b) => a.commit - b.commit);
    assert.deepEqual(taken, [
      { commit: 1, reachable: false },
      { commit: 3, reachable: true },
    ]);
    net.heal();
    assert.equal(net.send(heartbeat(1n, 3n, 4), 0, undefined, 0), "queued");
    assert.equal(net.describePartition(), "none");
  });

  it("is a function of its seed", () => {
    const run = (seed: number): [number, number][] => {
      const net = network(seed, { delayTicksMax: 3, dropRate: 0.2, duplicateRate: 0.2 });
      for (let i = 0; i < 100; i++) net.send(heartbeat(1n, 2n, i), 0, undefined, 0);
      return drain(net, 3);
    };
    assert.deepEqual(run(9), run(9));
    assert.notDeepEqual(run(9), run(10));
  });

  it("carries a snapshot's state and the sender's incarnation with the message", () => {
    const net = network(6);
    const state = { appliedIndex: 5, pairs: new Map([["k", "v"]]) };
    const snap: Message = { type: "snapshot", from: 1n, to: 2n, term: 3, snapshot: { index: 5, term: 2, conf: { voters: [1n, 2n], learners: [] } } };
    net.send(snap, 0, state, 4);
    const taken = net.takeDeliverable(0);
    assert.equal(taken?.envelope.attachment, state);
    assert.equal(taken?.envelope.senderIncarnation, 4);
  });
});
