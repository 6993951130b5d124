// PipelineSession, the Pipeline protocol apart from any transport: the in-flight bound counted
// until responses are taken, refusals and when reading should stop, stream failures on bad ids,
// and how the stream ends (half-close, client gone, shutdown). Calls run against stub operations
// whose results the test releases one by one.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { PipelineRequestSchema, type PipelineRequest } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import type { KvOperations } from "../../src/api/kv-operations.js";
import type { MemberContext } from "../../src/api/member.js";
import { PipelineSession, PipelineStreams, type PipelineResponseInit } from "../../src/api/pipeline-session.js";

/** Range calls that stay pending until released, in any order. */
class PendingOperations {
  readonly pending = new Map<string, () => void>();

  range(req: { key: Uint8Array }): Promise<object> {
    return new Promise((resolve) => this.pending.set(new TextDecoder().decode(req.key), () => resolve({ count: 1n })));
  }

  release(key: string): void {
    const resolve = this.pending.get(key);
    assert.ok(resolve !== undefined, `no call pending for ${key}`);
    this.pending.delete(key);
    resolve();
  }
}

interface Harness {
  session: PipelineSession;
  ops: PendingOperations;
  streams: PipelineStreams;
  shutdown: AbortController;
  changes: () => number;
  observed: string[];
}

function harness(maxInFlight: number): Harness {
  const ops = new PendingOperations();
  const streams = new PipelineStreams();
  const shutdown = new AbortController();
  const observed: string[] = [];
  let changes = 0;
  // The session reads only these two fields of the member; the rest of MemberContext is never touched.
  const member = { pipelineMaxInFlight: maxInFlight, shutdown: shutdown.signal } as unknown as MemberContext;
  const session = new PipelineSession({
    ops: ops as unknown as KvOperations,
    member,
    observe: (op, code) => observed.push(`${op}:${code ?? "ok"}`),
    streams,
    onChange: () => changes++,
  });
  return { session, ops, streams, shutdown, changes: () => changes, observed };
}

function range(id: number, key = `k${id}`): PipelineRequest {
  return create(PipelineRequestSchema, { id: BigInt(id), request: { case: "range", value: { key: new TextEncoder().encode(key) } } });
}

/** Lets the calls' promise chains run (a released call reaches the session a few microtasks later). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function summary(responses: readonly PipelineResponseInit[]): string[] {
  return responses.map((r) => {
    const response = r.response;
    if (response?.case === "error") return `${r.id}:error ${Code[response.value.code ?? 0]}${response.value.notApplied ? " not applied" : ""}`;
    return `${r.id}:${response?.case}`;
  });
}

describe("PipelineSession", () => {
  it("starts with a ready message and counts itself open until closed", () => {
    const { session, streams } = harness(4);
    assert.deepEqual(session.readyResponse(), { id: 0n, response: { case: "ready", value: { maxInFlight: 4 } } });
    assert.equal(streams.open, 1);
    session.close();
    session.close();
    assert.equal(streams.open, 0);
  });

  it("keeps a call in flight until its response is taken; refuses calls beyond the bound", async () => {
    const { session, ops, observed } = harness(2);
    assert.ok(session.receive(range(1)));
    assert.ok(session.receive(range(2)));
    assert.ok(session.receive(range(3)));
    assert.deepEqual(summary(session.takeResponses()), ["3:error ResourceExhausted"]);

    ops.release("k1");
    await settle();
    // Answered but not taken: still in flight.
    assert.ok(session.receive(range(4)));
    assert.deepEqual(summary(session.takeResponses()), ["1:range", "4:error ResourceExhausted"]);
    assert.ok(session.receive(range(5)));
    assert.deepEqual([...ops.pending.keys()].sort(), ["k2", "k5"]);
    assert.deepEqual(observed, ["range:ok"]);
    session.close();
  });

  it("stops accepting requests while maxInFlight refusals wait to be taken", async () => {
    const { session } = harness(2);
    for (let id = 1; id <= 3; id++) session.receive(range(id));
    assert.equal(session.acceptingRequests, true, "one refusal waiting");
    session.receive(range(4));
    assert.equal(session.acceptingRequests, false, "two refusals waiting");
    let resumed = false;
    const waiting = session.untilAcceptingRequests().then(() => (resumed = true));
    await settle();
    assert.equal(resumed, false);
    assert.deepEqual(summary(session.takeResponses()), ["3:error ResourceExhausted", "4:error ResourceExhausted"]);
    await waiting;
    assert.equal(session.acceptingRequests, true);
    session.close();
  });

  it("fails the stream with INVALID_ARGUMENT on a zero or duplicate id", () => {
    const zero = harness(4);
    assert.equal(zero.session.receive(range(0)), false);
    const zeroEnd = zero.session.end();
    assert.ok(zeroEnd instanceof ConnectError && zeroEnd.code === Code.InvalidArgument, String(zeroEnd));
    assert.equal(zero.session.receive(range(1)), false, "nothing more is taken after a failure");

    const duplicate = harness(4);
    duplicate.session.receive(range(7));
    assert.equal(duplicate.session.receive(range(7)), false);
    const duplicateEnd = duplicate.session.end();
    assert.ok(duplicateEnd instanceof ConnectError && duplicateEnd.code === Code.InvalidArgument && /7 is already in flight/.test(duplicateEnd.rawMessage));
    zero.session.close();
    duplicate.session.close();
  });

  it("ends OK after a half-close only once every response was taken", async () => {
    const { session, ops, changes } = harness(4);
    session.receive(range(1));
    const before = changes();
    session.endOfRequests();
    assert.ok(changes() > before, "the transport is told");
    assert.equal(session.end(), undefined, "a call is in flight");
    ops.release("k1");
    await settle();
    assert.equal(session.end(), undefined, "its response is not taken yet");
    assert.deepEqual(summary(session.takeResponses()), ["1:range"]);
    assert.equal(session.end(), "ok");
    session.close();
  });

  it("ends at once when the client goes away, unless the member is shutting down", async () => {
    const gone = harness(4);
    gone.session.receive(range(1));
    gone.session.clientGone();
    assert.equal(gone.session.end(), "clientGone");
    gone.session.close();

    const draining = harness(4);
    draining.session.receive(range(1));
    draining.shutdown.abort();
    draining.session.clientGone();
    assert.equal(draining.session.end(), undefined, "the call in flight finishes first");
    draining.ops.release("k1");
    await settle();
    draining.session.takeResponses();
    const end = draining.session.end();
    assert.ok(end instanceof ConnectError && end.code === Code.Unavailable, String(end));
    draining.session.close();
  });

  it("at shutdown answers new calls UNAVAILABLE not applied, finishes the rest, then ends UNAVAILABLE", async () => {
    const { session, ops, shutdown, changes } = harness(4);
    session.receive(range(1));
    const before = changes();
    shutdown.abort();
    assert.ok(changes() > before, "the transport is told of the shutdown");
    session.receive(range(2));
    assert.deepEqual([...ops.pending.keys()], ["k1"], "the new call did not run");
    assert.deepEqual(summary(session.takeResponses()), ["2:error Unavailable not applied"]);
    assert.equal(session.end(), undefined);
    ops.release("k1");
    await settle();
    assert.deepEqual(summary(session.takeResponses()), ["1:range"]);
    const end = session.end();
    assert.ok(end instanceof ConnectError && end.code === Code.Unavailable, String(end));
    session.close();
  });

  it("answers a request with no call set with INVALID_ARGUMENT and keeps the stream open", async () => {
    const { session, observed } = harness(4);
    session.receive(create(PipelineRequestSchema, { id: 9n }));
    await settle();
    assert.deepEqual(summary(session.takeResponses()), ["9:error InvalidArgument"]);
    assert.equal(session.end(), undefined);
    assert.deepEqual(observed, [`none:${Code.InvalidArgument}`]);
    session.close();
  });
});
