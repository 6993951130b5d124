// RaftTransport between real members in this process (127.0.0.1, ephemeral ports): messages of
// every type arrive intact and in order, bursts travel in few batches, a peer that is down is
// reported unreachable and reached again once it starts, snapshots stream in chunks and reach the
// core only once staged, and forwarded proposals are answered on one multiplexed stream.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { Message, ProposeResult, SnapshotMessage } from "../../src/raft/index.js";
import { ForwardError, RAFT_PATHS } from "../../src/transport/index.js";
import { connectAll, startMember, type TestMember, waitUntil } from "./transport-harness.js";

const A = 1n;
const B = 2n;

/** One message of every type from `from` to `to` (no snapshot: that one has its own call and data), `round` making each distinct. */
function everyType(from: bigint, to: bigint, round: number): Message[] {
  const t = { from, to, term: 10 + round };
  return [
    { ...t, type: "append", prevIndex: 100 * round, prevTerm: 9, commit: 7, entries: [
      { term: 9, index: 100 * round + 1, type: "normal", data: Uint8Array.of(round, 1, 2, 3) },
      { term: 10, index: 100 * round + 2, type: "confChange", data: Uint8Array.of(8, 1) },
      { term: 10, index: 100 * round + 3, type: "normal", data: new Uint8Array(0) },
    ] },
    { ...t, type: "appendResponse", index: 50 + round, reject: round % 2 === 0, rejectHint: 40, hintTerm: 3 },
    { ...t, type: "heartbeat", commit: 44, context: round },
    { ...t, type: "heartbeatResponse", context: round },
    { ...t, type: "vote", lastIndex: 9 + round, lastTerm: 8, transfer: true },
    { ...t, type: "preVote", lastIndex: 9 + round, lastTerm: 8, transfer: false },
    { ...t, type: "voteResponse", reject: false },
    { ...t, type: "preVoteResponse", reject: true },
    { ...t, type: "timeoutNow" },
    { ...t, type: "readIndex", context: 1000 + round },
    { ...t, type: "readIndexResponse", context: 1000 + round, index: 77, reject: false },
  ];
}

/** Messages in a canonical order (type, term, sender: unique within one test's messages), for comparing collections. */
function canonical(messages: readonly Message[]): Message[] {
  const key = (m: Message): string => `${m.type}/${m.term}/${m.from}`;
  return [...messages].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
}

const APPEND_STREAM_TYPES = new Set(["append", "heartbeat", "readIndex"]);
const REPLY_TYPES = new Set(["appendResponse", "heartbeatResponse", "readIndexResponse"]);

function heartbeat(from: bigint, to: bigint, context: number): Message {
  return { type: "heartbeat", from, to, term: 1, commit: 0, context };
}

describe("RaftTransport between two members", () => {
  let a: TestMember;
  let b: TestMember;

  before(async () => {
    [a, b] = await Promise.all([startMember(A), startMember(B)]);
    connectAll([a, b]);
    await waitUntil(
      () => [a, b].every((m) => m.transport.stats().every((s) => s.connected && s.inboundAppendStream)),
      "both members connected, each with the other's Append stream open",
    );
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("delivers messages of every type intact, in order per stream, in both directions", async () => {
    const toB = [0, 1, 2].flatMap((round) => everyType(A, B, round));
    const toA = [0, 1, 2].flatMap((round) => everyType(B, A, round));
    b.recorder.delivered.length = 0;
    a.recorder.delivered.length = 0;
    a.transport.send(toB);
    b.transport.send(toA);
    for (const [member, sent] of [[b, toB], [a, toA]] as const) {
      await member.recorder.waitFor(() => member.recorder.delivered.length >= sent.length, `${sent.length} messages at member ${member.id}`);
      const got = member.recorder.delivered;
      assert.deepStrictEqual(canonical(got), canonical(sent), "every message arrives exactly once, unchanged");
      for (const group of [APPEND_STREAM_TYPES, REPLY_TYPES]) {
        const inGroup = (m: Message): boolean => group.has(m.type);
        assert.deepStrictEqual(got.filter(inGroup), sent.filter(inGroup), `messages of ${[...group].join("/")} keep their order`);
      }
    }
  });

  it("carries a burst of 10,000 small messages in far fewer batches, in order", async () => {
    const count = 10_000;
    const perTurn = 250;
    b.recorder.delivered.length = 0;
    const before = { sent: a.transport.stats()[0], received: b.transport.stats()[0] };
    for (let context = 1; context <= count; context++) {
      a.transport.send([heartbeat(A, B, context)]);
      if (context % perTurn === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await b.recorder.waitFor(() => b.recorder.delivered.length >= count, `${count} heartbeats at B`);
    const contexts = b.recorder.delivered.map((m) => (m.type === "heartbeat" ? m.context : -1));
    assert.deepStrictEqual(contexts, Array.from({ length: count }, (_, i) => i + 1), "all delivered, in order");
    const sent = a.transport.stats()[0];
    const received = b.transport.stats()[0];
    const batchesSent = sent.batchesSent - before.sent.batchesSent;
    const batchesReceived = received.batchesReceived - before.received.batchesReceived;
    assert.equal(sent.messagesSent - before.sent.messagesSent, count);
    assert.equal(batchesReceived, batchesSent, "every batch sent arrived as one");
    assert.ok(batchesSent < count / 5, `${count} messages took ${batchesSent} batches`);
  });

  it("cuts a large burst into batches of at most maxBatchBytes, in order", async () => {
    const entryBytes = 64 * 1024;
    const count = 160; // 10 MiB, with maxBatchBytes 4 MiB: at least 3 batches
    b.recorder.delivered.length = 0;
    const batchesBefore = b.transport.stats()[0].batchesReceived;
    const appends: Message[] = Array.from({ length: count }, (_, i) => ({
      type: "append",
      from: A,
      to: B,
      term: 2,
      prevIndex: i,
      prevTerm: 2,
      commit: 0,
      entries: [{ term: 2, index: i + 1, type: "normal", data: new Uint8Array(entryBytes).fill(i) }],
    }));
    a.transport.send(appends);
    await b.recorder.waitFor(() => b.recorder.delivered.length >= count, `${count} appends at B`);
    assert.deepStrictEqual(b.recorder.delivered, appends);
    const batches = b.transport.stats()[0].batchesReceived - batchesBefore;
    const minBatches = Math.ceil((count * entryBytes) / a.transport.limits.maxBatchBytes);
    assert.ok(batches >= minBatches && batches < count, `${count} appends of ${entryBytes} bytes took ${batches} batches (at least ${minBatches})`);
  });

  it("drops a message to an unknown peer (debug log) or not from this member (warning), without throwing", () => {
    a.transport.send([heartbeat(A, 99n, 1), heartbeat(3n, B, 1)]);
    assert.ok(a.recorder.logs.some((r) => r.level === "debug" && r.message === "dropped a message to an unknown peer"));
    assert.ok(a.recorder.logs.some((r) => r.level === "warn" && r.message === "dropped a message not from this member"));
    assert.ok(!a.recorder.unreachable.includes(99n));
  });

  it("streams a 3 MiB snapshot in chunks; the core gets the message only after staging", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 12_345);
    a.recorder.snapshotData = async function* () {
      for (let offset = 0; offset < data.length; offset += 700_000) yield data.subarray(offset, offset + 700_000);
    };
    const pieceSizes: number[] = [];
    b.recorder.stageWith = async (message, pieces) => {
      const received: Buffer[] = [];
      for await (const piece of pieces) {
        pieceSizes.push(piece.length);
        received.push(Buffer.from(piece));
      }
      assert.equal(b.recorder.delivered.filter((m) => m.type === "snapshot").length, 0, "not delivered while staging");
      b.recorder.stagedSnapshots.push(Buffer.concat(received));
      b.recorder.events.push(`staged ${message.snapshot.index}`);
    };
    const snapshot: SnapshotMessage = { type: "snapshot", from: A, to: B, term: 7, snapshot: { index: 1000, term: 6, conf: { voters: [A, B, 3n], learners: [4n] } } };
    try {
      a.transport.send([snapshot]);
      await a.recorder.waitFor(() => a.recorder.snapshotReports.length > 0, "the snapshot report at A");
      assert.deepStrictEqual(a.recorder.snapshotReports, [{ peer: B, ok: true }]);
      assert.ok(b.recorder.stagedSnapshots[0]?.equals(data), "B staged exactly the bytes A sent");
      assert.ok(pieceSizes.every((n) => n <= a.transport.limits.snapshotChunkBytes) && pieceSizes.length >= 12, `pieces: ${pieceSizes.join(",")}`);
      assert.deepStrictEqual(b.recorder.events, ["staged 1000", "delivered snapshot 1000"]);
      assert.deepStrictEqual(b.recorder.delivered.filter((m) => m.type === "snapshot"), [snapshot]);
    } finally {
      b.recorder.stageWith = undefined;
    }
  });

  it("reports a snapshot the follower could not stage as failed, and never delivers it", async () => {
    a.recorder.snapshotReports.length = 0;
    b.recorder.events.length = 0;
    a.recorder.snapshotData = async function* () {
      yield randomBytes(600_000);
    };
    b.recorder.stageWith = async (_message, pieces) => {
      for await (const piece of pieces) if (piece.length > 0) throw new Error("disk full");
    };
    try {
      a.transport.send([{ type: "snapshot", from: A, to: B, term: 7, snapshot: { index: 2000, term: 6, conf: { voters: [A, B], learners: [] } } }]);
      await a.recorder.waitFor(() => a.recorder.snapshotReports.length > 0, "the snapshot report at A");
      assert.deepStrictEqual(a.recorder.snapshotReports, [{ peer: B, ok: false }]);
      assert.ok(a.recorder.logs.some((r) => r.message === "sending a snapshot failed" && JSON.stringify(r.fields).includes("disk full")));
      assert.deepStrictEqual(b.recorder.events, [], "the core never heard of it");
    } finally {
      b.recorder.stageWith = undefined;
    }
  });

  it("answers many concurrent forwarded proposals on one stream, accepted and refused", async () => {
    let nextIndex = 0;
    b.recorder.forwardWith = (command) => (command[0] === 0xff ? { ok: false, reason: "notLeader", leaderId: 3n } : { ok: true, index: ++nextIndex, term: 4 });
    const forwardCalls: string[] = [];
    const handle = b.transport.handle.bind(b.transport);
    b.transport.handle = (req, res) => {
      if (req.url === RAFT_PATHS.forward) forwardCalls.push(req.url);
      return handle(req, res);
    };
    const count = 1_000;
    const results = await Promise.all(Array.from({ length: count }, (_, i) => a.transport.forward(B, Uint8Array.of(i % 10 === 0 ? 0xff : 1, i & 0xff))));
    let accepted = 0;
    const expected = results.map((_, i): ProposeResult => (i % 10 === 0 ? { ok: false, reason: "notLeader", leaderId: 3n } : { ok: true, index: ++accepted, term: 4 }));
    assert.deepStrictEqual(results, expected);
    assert.equal(forwardCalls.length, 1, "one Forward stream carried them all");
  });

  it("never sends a forward aborted before it was written, and keeps the stream working", async () => {
    const seen: number[] = [];
    b.recorder.forwardWith = (command) => {
      seen.push(command[0]);
      return { ok: true, index: seen.length, term: 4 };
    };
    const controller = new AbortController();
    const aborted = a.transport.forward(B, Uint8Array.of(1), controller.signal);
    controller.abort(new Error("the caller gave up"));
    await assert.rejects(aborted, /the caller gave up/);
    assert.deepStrictEqual(await a.transport.forward(B, Uint8Array.of(2)), { ok: true, index: 1, term: 4 });
    assert.deepStrictEqual(seen, [2]);
  });

  it("rejects a forward the leader cannot take, or to a member it does not know, as certainly not proposed", async () => {
    b.recorder.forwardWith = () => {
      throw new Error("the member is closing");
    };
    await assert.rejects(a.transport.forward(B, Uint8Array.of(1)), (err: unknown) => err instanceof ForwardError && err.notProposed && /the member is closing/.test(err.message));
    await assert.rejects(a.transport.forward(42n, Uint8Array.of(1)), (err: unknown) => err instanceof ForwardError && err.notProposed && err.leader === 42n);
  });
});

describe("RaftTransport with a peer that is down", () => {
  it("reports it unreachable, and delivers again once it starts (reconnecting with backoff)", async () => {
    const a = await startMember(A);
    let c = await startMember(3n);
    const { port, url } = c.server;
    await c.stop();
    try {
      a.transport.setPeers(new Map([[A, a.server.url], [3n, url]]));
      a.transport.send([heartbeat(A, 3n, 1)]);
      await a.recorder.waitFor(() => a.recorder.unreachable.includes(3n), "C reported unreachable");
      assert.equal(a.transport.stats()[0].connected, false);
      assert.ok(a.recorder.logs.some((r) => r.level === "warn" && r.message === "peer unreachable"));

      c = await startMember(3n, { port });
      c.transport.setPeers(new Map([[A, a.server.url], [3n, url]]));
      let context = 1;
      // As Raft does: keep sending (a heartbeat per check) until one gets through.
      await waitUntil(() => {
        a.transport.send([heartbeat(A, 3n, ++context)]);
        return c.recorder.delivered.length > 0;
      }, "a heartbeat delivered to C after it started");
      const stats = a.transport.stats()[0];
      assert.ok(stats.connected && stats.reconnects > 0, `stats: ${JSON.stringify(stats, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
      assert.ok(a.recorder.logs.some((r) => r.message === "peer reachable again"));
    } finally {
      await Promise.all([a.stop(), c.stop()]);
    }
  });
});
