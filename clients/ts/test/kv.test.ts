import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SortOrder, SortTarget, type DeleteRangeRequest, type PutRequest, type RangeRequest } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { ClientClosedError, Code, ConnectError, InvalidArgumentError, KeyValue, UnsafeIntegerError } from "../src/index.js";
import { fakeClient, KV_MODES } from "./setup.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

for (const mode of KV_MODES) {
  describe(`KV calls (${mode.name})`, () => {
    it("puts and gets keys and values, as bytes and as strings", async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      try {
        const first = await client.put("greeting", "héllo");
        assert.equal(first.revision, 2);
        const second = await client.put(Uint8Array.of(0, 255), Uint8Array.of(1, 2, 3), { prevKv: true });
        assert.equal(second.revision, 3);
        assert.equal(second.prevKv, undefined);
        const got = await client.get("greeting");
        assert.ok(got.kv instanceof KeyValue);
        assert.equal(got.kv.keyString, "greeting");
        assert.equal(got.kv.valueString, "héllo");
        assert.deepEqual(got.kv.value, text("héllo"));
        assert.equal(got.kv.createRevision, 2);
        assert.equal(got.kv.modRevision, 2);
        assert.equal(got.kv.version, 1);
        assert.equal(got.kv.lease, 0n);
        assert.equal(got.revision, 3);
        assert.equal(got.header.memberId, 1n);
        assert.deepEqual((await client.get(Uint8Array.of(0, 255))).kv?.value, Uint8Array.of(1, 2, 3));
        assert.equal((await client.get("missing")).kv, undefined);
        assert.ok(fake.calls.every((c) => c.via === (mode.pipeline ? "pipeline" : "unary")));
        assert.equal(client.usesPipeline, mode.pipeline);
      } finally {
        await client.close();
      }
    });

    it("returns the previous pair of an overwrite when asked, and maps put options", async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      try {
        const { id } = await client.lease.grant(60);
        await client.put("k", "1");
        const overwrite = await client.put("k", "2", { prevKv: true, lease: id });
        assert.equal(overwrite.prevKv?.valueString, "1");
        assert.equal(overwrite.prevKv?.version, 1);
        const sent = fake.calls.filter((c) => c.method === "put").at(-1)?.request as PutRequest;
        assert.equal(sent.lease, id);
        assert.equal(sent.prevKv, true);
        await client.put("k", "", { ignoreValue: true, ignoreLease: true });
        const ignored = fake.calls.filter((c) => c.method === "put").at(-1)?.request as PutRequest;
        assert.equal(ignored.ignoreValue, true);
        assert.equal(ignored.ignoreLease, true);
      } finally {
        await client.close();
      }
    });

    it("reads ranges by prefix, by [key, rangeEnd), and from a key on", async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      try {
        for (const key of ["a", "dir/1", "dir/2", "dir/3", "dis", "z"]) await client.put(key, `v-${key}`);
        const prefixed = await client.range({ key: "dir/", prefix: true });
        assert.deepEqual(
          prefixed.kvs.map((kv) => kv.keyString),
          ["dir/1", "dir/2", "dir/3"],
        );
        assert.equal(prefixed.count, 3);
        assert.equal(prefixed.more, false);
        assert.equal(prefixed.revision, 7);
        const limited = await client.range({ key: "dir/", prefix: true, limit: 2 });
        assert.equal(limited.kvs.length, 2);
        assert.equal(limited.more, true);
        assert.equal(limited.count, 3);
        const between = await client.range({ key: "a", rangeEnd: "dis" });
        assert.deepEqual(
          between.kvs.map((kv) => kv.keyString),
          ["a", "dir/1", "dir/2", "dir/3"],
        );
        const fromKey = await client.range({ key: "dis", fromKey: true });
        assert.deepEqual(
          fromKey.kvs.map((kv) => kv.keyString),
          ["dis", "z"],
        );
        const all = await client.range({ key: "", prefix: true, countOnly: true });
        assert.equal(all.count, 6);
        assert.equal(all.kvs.length, 0);

        await client.range({ key: "a", revision: 3, sortOrder: "descend", sortTarget: "value", serializable: true, keysOnly: true, minModRevision: 2, maxCreateRevision: 9 });
        const sent = fake.calls.filter((c) => c.method === "range").at(-1)?.request as RangeRequest;
        assert.equal(sent.revision, 3n);
        assert.equal(sent.sortOrder, SortOrder.DESCEND);
        assert.equal(sent.sortTarget, SortTarget.VALUE);
        assert.equal(sent.serializable, true);
        assert.equal(sent.keysOnly, true);
        assert.equal(sent.minModRevision, 2n);
        assert.equal(sent.maxCreateRevision, 9n);
        await client.get("a", { revision: 2, serializable: true });
        const get = fake.calls.filter((c) => c.method === "range").at(-1)?.request as RangeRequest;
        assert.equal(get.revision, 2n);
        assert.equal(get.serializable, true);
        assert.equal(get.rangeEnd.length, 0);
      } finally {
        await client.close();
      }
    });

    it("deletes one key or a prefix, returning the deleted pairs when asked", async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      try {
        for (const key of ["dir/1", "dir/2", "other"]) await client.put(key, "v");
        const single = await client.delete("other");
        assert.equal(single.deleted, 1);
        assert.deepEqual(single.prevKvs, []);
        const prefix = await client.delete("dir/", { prefix: true, prevKv: true });
        assert.equal(prefix.deleted, 2);
        assert.deepEqual(
          prefix.prevKvs.map((kv) => kv.keyString),
          ["dir/1", "dir/2"],
        );
        assert.equal(prefix.revision, 6);
        const sent = fake.calls.filter((c) => c.method === "deleteRange").at(-1)?.request as DeleteRangeRequest;
        assert.deepEqual(sent.rangeEnd, text("dir0"));
        assert.equal((await client.delete("nothing")).deleted, 0);
      } finally {
        await client.close();
      }
    });
  });
}

describe("KV calls", () => {
  it("compacts (always a unary call)", async () => {
    const { fake, client } = fakeClient();
    try {
      await client.put("k", "1");
      await client.put("k", "2");
      const result = await client.compact(3, { physical: true });
      assert.equal(result.revision, 3);
      assert.equal(fake.store.compactRevision, 3n);
      assert.equal(fake.calls.find((c) => c.method === "compact")?.via, "unary");
      await assert.rejects(client.compact(2), (err: unknown) => err instanceof ConnectError && err.code === Code.OutOfRange);
    } finally {
      await client.close();
    }
  });

  it("rejects a revision the server sends above Number.MAX_SAFE_INTEGER with UnsafeIntegerError", async () => {
    const { fake, client } = fakeClient();
    try {
      fake.store.revision = 2n ** 60n;
      await assert.rejects(client.get("k"), (err: unknown) => err instanceof UnsafeIntegerError && err.value === 2n ** 60n && err.field === "header.revision");
    } finally {
      await client.close();
    }
  });

  it("rejects bad arguments before sending with InvalidArgumentError", async () => {
    const { fake, client } = fakeClient();
    try {
      await assert.rejects(client.get("k", { revision: 1.5 }), InvalidArgumentError);
      await assert.rejects(client.range({ key: "k", prefix: true, fromKey: true }), InvalidArgumentError);
      assert.equal(fake.calls.length, 0);
    } finally {
      await client.close();
    }
  });

  it("passes server errors through as ConnectErrors with their code", async () => {
    const { client } = fakeClient();
    try {
      await assert.rejects(client.put("", "v"), (err: unknown) => err instanceof ConnectError && err.code === Code.InvalidArgument);
      await assert.rejects(client.put("k", "v", { lease: 12345n }), (err: unknown) => err instanceof ConnectError && err.code === Code.NotFound);
    } finally {
      await client.close();
    }
  });

  it("checks its options", () => {
    assert.throws(() => fakeClient({ endpoints: [] }), InvalidArgumentError);
    assert.throws(() => fakeClient({ endpoints: ["localhost:7379"] }), InvalidArgumentError);
    assert.throws(() => fakeClient({ retry: { maxAttempts: 0 } }), InvalidArgumentError);
    assert.throws(() => fakeClient({ protocol: "grpc", httpVersion: "1.1" }), InvalidArgumentError);
    assert.throws(() => fakeClient({ httpVersion: "1.1", pipeline: true }), InvalidArgumentError);
  });

  it("fails every call after close() with ClientClosedError", async () => {
    const { client } = fakeClient();
    await client.close();
    await assert.rejects(client.put("k", "v"), ClientClosedError);
    await assert.rejects(client.get("k"), ClientClosedError);
    assert.throws(() => client.watch("k"), ClientClosedError);
  });
});
