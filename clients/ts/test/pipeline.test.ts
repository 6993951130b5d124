/**
 * The Pipeline session's behaviour, over both stream implementations: Connect's bidi call (on the
 * fake's router transport, as with any custom transport) and the Node entry's own gRPC stream on
 * node:http2 (the default in Node), against the fake served over h2c.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PutRequest, RangeRequest } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { Code, ConnectError, createClient, type Client } from "../src/index.js";
import type { FakeServer } from "./fake-server.js";
import { serveFake } from "./h2-server.js";
import { gate, waitFor, within } from "./helpers.js";
import { fakeClient } from "./setup.js";

const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

interface Setup {
  fake: FakeServer;
  client: Client;
  /** Closes the client and stops the server, if any. */
  stop(): Promise<void>;
}

const STREAMS: { name: string; start(): Promise<Setup> }[] = [
  {
    name: "Connect bidi call",
    start: () => {
      const { fake, client } = fakeClient();
      return Promise.resolve({ fake, client, stop: () => client.close() });
    },
  },
  {
    name: "gRPC stream on node:http2",
    start: async () => {
      const served = await serveFake("2");
      const client = createClient({ endpoints: [served.url], retry: { initialBackoffMs: 1, maxBackoffMs: 5 } });
      return {
        fake: served.fake,
        client,
        stop: async () => {
          await client.close();
          await served.stop();
        },
      };
    },
  },
];

for (const stream of STREAMS) describe(`pipeline (${stream.name})`, () => {
  it("multiplexes concurrent KV calls over one stream", async () => {
    const { fake, client, stop } = await stream.start();
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => client.put(`k${i}`, `v${i}`)));
      assert.deepEqual(new Set(results.map((r) => r.revision)).size, 50);
      assert.equal(fake.pipelineStats.streams, 1);
      assert.equal(fake.calls.length, 50);
      assert.ok(fake.calls.every((c) => c.via === "pipeline"));
    } finally {
      await stop();
    }
  });

  it("routes out-of-order responses to the right caller", async () => {
    const { fake, client, stop } = await stream.start();
    try {
      for (let i = 0; i < 20; i++) await client.put(`k${i}`, `v${i}`);
      // Hold every read, then release them in reverse order: the responses come back reversed.
      const gates = new Map<string, ReturnType<typeof gate>>();
      fake.before = async (call) => {
        if (call.method !== "range") return;
        const key = decode((call.request as RangeRequest).key);
        const g = gate();
        gates.set(key, g);
        fake.changes.emit("change");
        await g.promise;
      };
      const order: string[] = [];
      const reads = Array.from({ length: 20 }, (_, i) =>
        client.get(`k${i}`).then((r) => {
          order.push(r.kv?.keyString ?? "missing");
          return r;
        }),
      );
      await waitFor(fake.changes, () => gates.size === 20, "all 20 reads to reach the fake");
      for (let i = 19; i >= 0; i--) gates.get(`k${i}`)?.open();
      const results = await within(Promise.all(reads), "the reads to complete");
      results.forEach((r, i) => assert.equal(r.kv?.valueString, `v${i}`, `read ${i} got another call's answer`));
      assert.deepEqual(
        order,
        Array.from({ length: 20 }, (_, i) => `k${19 - i}`),
      );
    } finally {
      await stop();
    }
  });

  it("lets a fast read overtake a slow write", async () => {
    const { fake, client, stop } = await stream.start();
    try {
      const slow = gate();
      fake.before = async (call) => {
        if (call.method === "put") await slow.promise;
      };
      const put = client.put("slow", "1");
      const get = await within(client.get("other"), "the read while the write is held");
      assert.equal(get.kv, undefined);
      slow.open();
      assert.equal((await within(put, "the write")).revision, 2);
    } finally {
      await stop();
    }
  });

  it("keeps at most max_in_flight calls on the stream and queues the rest; all complete", async () => {
    const { fake, client, stop } = await stream.start();
    fake.pipelineMaxInFlight = 4;
    try {
      const held: ReturnType<typeof gate>[] = [];
      fake.before = async () => {
        const g = gate();
        held.push(g);
        fake.changes.emit("change");
        await g.promise;
      };
      const puts = Array.from({ length: 30 }, (_, i) => client.put(`k${i}`, `v${i}`));
      await waitFor(fake.changes, () => held.length === 4, "4 calls in flight");
      // Release one call at a time: each release lets exactly one more in.
      for (let released = 0; released < 30; released++) {
        held[released].open();
        const expected = Math.min(30, released + 5);
        await waitFor(fake.changes, () => held.length >= expected, `${expected} calls to have arrived`);
        assert.ok(held.length <= expected, `${held.length} calls arrived after ${released + 1} releases; at most ${expected} may`);
      }
      const results = await within(Promise.all(puts), "all 30 writes");
      assert.equal(new Set(results.map((r) => r.revision)).size, 30);
      assert.equal(fake.pipelineStats.overLimit, 0, "the fake answered some calls RESOURCE_EXHAUSTED");
      assert.ok(fake.pipelineStats.peakInFlight <= 4, `peak in flight ${fake.pipelineStats.peakInFlight}`);
    } finally {
      await stop();
    }
  });

  it("on a stream failure, fails the writes in flight with UNAVAILABLE and retries the reads", async () => {
    const { fake, client, stop } = await stream.start();
    try {
      await client.put("r", "value");
      let holding = true;
      fake.before = async (_call, signal) => {
        if (!holding) return;
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      };
      const put = client.put("w", "1");
      const get = client.get("r");
      await waitFor(fake.changes, () => fake.calls.length === 3, "the write and the read to reach the fake");
      holding = false;
      assert.equal(fake.drop("pipeline"), 1);
      await assert.rejects(within(put, "the write to fail"), (err: unknown) => err instanceof ConnectError && err.code === Code.Unavailable);
      assert.equal((await within(get, "the read to be retried")).kv?.valueString, "value");
      assert.equal(fake.count("put"), 2, "the warm-up write and one attempt of the failed write");
      assert.equal(fake.count("range"), 2, "the read and its retry");
      assert.equal(fake.pipelineStats.streams, 2, "a new stream for the retry");
    } finally {
      await stop();
    }
  });

  it("retries the writes still queued (never sent) when the stream fails", async () => {
    const { fake, client, stop } = await stream.start();
    fake.pipelineMaxInFlight = 1;
    try {
      await client.put("warmup", "x");
      let holding = true;
      fake.before = async (_call, signal) => {
        if (!holding) return;
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      };
      const inFlight = client.put("a", "1");
      const queued = client.put("b", "2");
      await waitFor(fake.changes, () => fake.count("put") === 2, "the first write to reach the fake");
      holding = false;
      fake.drop("pipeline");
      await assert.rejects(within(inFlight, "the write in flight to fail"), (err: unknown) => err instanceof ConnectError && err.code === Code.Unavailable);
      const done = await within(queued, "the queued write to be retried");
      assert.ok(done.revision > 0);
      const sentB = fake.calls.filter((c) => c.method === "put" && decode((c.request as PutRequest).key) === "b");
      assert.equal(sentB.length, 1, "the queued write reached the fake exactly once");
    } finally {
      await stop();
    }
  });

  it("a per-call error leaves the stream open", async () => {
    const { fake, client, stop } = await stream.start();
    try {
      await assert.rejects(client.put("", "v"), (err: unknown) => err instanceof ConnectError && err.code === Code.InvalidArgument);
      await client.put("k", "v");
      assert.equal(fake.pipelineStats.streams, 1);
    } finally {
      await stop();
    }
  });
});
