/**
 * The Node entry's own transports (connect-node, and over gRPC its own Pipeline stream) against
 * the fake served by a real HTTP/2 (h2c) or HTTP/1.1 server on 127.0.0.1, port 0: every protocol,
 * the bidi streams over real HTTP/2, error metadata in gRPC trailers, and connection refused.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, NOT_APPLIED_METADATA_KEY, type Protocol } from "../src/index.js";
import { refusedUrl, serveFake, type ServedFake } from "./h2-server.js";
import { take, within } from "./helpers.js";

describe("Node transports over a real HTTP/2 connection (h2c)", () => {
  let served: ServedFake;
  before(async () => {
    served = await serveFake("2");
  });
  after(async () => {
    await served.stop();
  });

  for (const protocol of ["grpc", "connect", "grpc-web"] as Protocol[]) {
    it(`${protocol}: pipelined KV calls, a watch and a keep-alive`, async () => {
      const client = createClient({ endpoints: [served.url], protocol });
      try {
        const watcher = client.watch(`${protocol}/`, { prefix: true });
        await within(watcher.ready, "the watcher");
        const puts = await within(Promise.all(Array.from({ length: 20 }, (_, i) => client.put(`${protocol}/${i}`, `v${i}`))), "the puts");
        assert.equal(new Set(puts.map((p) => p.revision)).size, 20);
        assert.equal((await client.get(`${protocol}/3`)).kv?.valueString, "v3");
        let events = 0;
        const it = watcher[Symbol.asyncIterator]();
        while (events < 20) events += (await take(it, 1, "watch events"))[0].events.length;
        const lease = await client.lease.grant(1);
        const keepAlive = client.lease.keepAlive(lease.id);
        await take(keepAlive[Symbol.asyncIterator](), 1, "a renewal");
        keepAlive.close();
      } finally {
        await client.close();
      }
    });
  }

  it("gRPC: reads the not-applied marker from the error trailers and retries the write", async () => {
    let failed = false;
    served.fake.before = (call) => {
      if (call.method === "put" && !failed) {
        failed = true;
        throw new ConnectError("not applied", Code.Unavailable, { [NOT_APPLIED_METADATA_KEY]: "1" });
      }
    };
    const client = createClient({ endpoints: [served.url], pipeline: false, retry: { initialBackoffMs: 1, maxBackoffMs: 2 } });
    try {
      const before = served.fake.count("put");
      await client.put("marked", "v");
      assert.equal(served.fake.count("put") - before, 2);
    } finally {
      served.fake.before = undefined;
      await client.close();
    }
  });

  for (const pipeline of [true, false]) {
    it(`retries a write refused by an endpoint with nothing listening on the next endpoint (${pipeline ? "pipeline" : "unary"})`, async () => {
      const client = createClient({ endpoints: [await refusedUrl(), served.url], pipeline, retry: { initialBackoffMs: 1, maxBackoffMs: 2 } });
      try {
        const before = served.fake.count("put");
        assert.ok((await within(client.put("refused-then-ok", "v"), "the write")).revision > 0);
        assert.equal(served.fake.count("put") - before, 1);
      } finally {
        await client.close();
      }
    });
  }

  it("fails with UNAVAILABLE when no endpoint accepts connections", async () => {
    const client = createClient({ endpoints: [await refusedUrl()], retry: { maxAttempts: 2, initialBackoffMs: 1, maxBackoffMs: 2 } });
    try {
      await assert.rejects(within(client.put("k", "v"), "the write"), (err: unknown) => err instanceof ConnectError && err.code === Code.Unavailable);
    } finally {
      await client.close();
    }
  });
});

describe("Node transports over HTTP/1.1", () => {
  let served: ServedFake;
  before(async () => {
    served = await serveFake("1.1");
  });
  after(async () => {
    await served.stop();
  });

  for (const protocol of ["connect", "grpc-web"] as Protocol[]) {
    it(`${protocol}: unary KV calls and a watch over Subscribe`, async () => {
      const client = createClient({ endpoints: [served.url], protocol, httpVersion: "1.1" });
      try {
        assert.equal(client.usesPipeline, false);
        const watcher = client.watch(`${protocol}-k`);
        await within(watcher.ready, "the watcher");
        await client.put(`${protocol}-k`, "v");
        assert.equal((await client.get(`${protocol}-k`)).kv?.valueString, "v");
        const [batch] = await take(watcher[Symbol.asyncIterator](), 1, "the event");
        assert.equal(batch.events[0].kv.valueString, "v");
        assert.ok(served.fake.streamsOpened.subscribe >= 1);
      } finally {
        await client.close();
      }
    });
  }
});
