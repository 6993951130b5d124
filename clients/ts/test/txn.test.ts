import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals } from "@bufbuild/protobuf";
import { CompareOperator, SortOrder, SortTarget, TxnRequestSchema } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { cmp, op, type GetResult, type PutResult, type RangeResult } from "../src/index.js";
import { fakeClient, KV_MODES } from "./setup.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("txn builder", () => {
  it("maps comparisons and operations to the TxnRequest", async () => {
    const { client } = fakeClient();
    try {
      const request = client
        .txn()
        .if(
          cmp.value("k").equal("v"),
          cmp.version("k").greater(0),
          cmp.createRevision("k").less(5),
          cmp.modRevision("k").notEqual(7n),
          cmp.lease("k").equal(9n),
          cmp.version("dir/", { prefix: true }).greater(1),
        )
        .then(op.put("k", "v2", { lease: 9n, prevKv: true }), op.get("x", { revision: 3 }))
        .else(
          op.delete("dir/", { prefix: true, prevKv: true }),
          op.range({ key: "a", rangeEnd: "c", limit: 2, sortOrder: "descend", sortTarget: "modRevision" }),
          op.txn({ if: [cmp.value("n").equal("1")], then: [op.put("n", "2")] }),
        )
        .toRequest();
      const expected = create(TxnRequestSchema, {
        compare: [
          { key: text("k"), operator: CompareOperator.EQUAL, target: { case: "value", value: text("v") } },
          { key: text("k"), operator: CompareOperator.GREATER, target: { case: "version", value: 0n } },
          { key: text("k"), operator: CompareOperator.LESS, target: { case: "createRevision", value: 5n } },
          { key: text("k"), operator: CompareOperator.NOT_EQUAL, target: { case: "modRevision", value: 7n } },
          { key: text("k"), operator: CompareOperator.EQUAL, target: { case: "lease", value: 9n } },
          { key: text("dir/"), rangeEnd: text("dir0"), operator: CompareOperator.GREATER, target: { case: "version", value: 1n } },
        ],
        success: [
          { request: { case: "put", value: { key: text("k"), value: text("v2"), lease: 9n, prevKv: true } } },
          { request: { case: "range", value: { key: text("x"), revision: 3n } } },
        ],
        failure: [
          { request: { case: "deleteRange", value: { key: text("dir/"), rangeEnd: text("dir0"), prevKv: true } } },
          {
            request: {
              case: "range",
              value: { key: text("a"), rangeEnd: text("c"), limit: 2n, sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.MOD_REVISION },
            },
          },
          {
            request: {
              case: "txn",
              value: {
                compare: [{ key: text("n"), operator: CompareOperator.EQUAL, target: { case: "value", value: text("1") } }],
                success: [{ request: { case: "put", value: { key: text("n"), value: text("2") } } }],
              },
            },
          },
        ],
      });
      assert.ok(equals(TxnRequestSchema, request, expected), "the request differs from the expected one");
    } finally {
      await client.close();
    }
  });

  it("is immutable: each call returns a new builder", async () => {
    const { client } = fakeClient();
    try {
      const base = client.txn().if(cmp.version("k").equal(0));
      base.then(op.put("k", "1"));
      assert.equal(base.toRequest().success.length, 0);
    } finally {
      await client.close();
    }
  });

  it("is not a promise: awaiting a builder rejects with a TypeError instead of running it", async () => {
    const { fake, client } = fakeClient();
    try {
      const builder = client.txn().if(cmp.version("k").equal(0));
      await assert.rejects(async () => {
        // TypeScript itself refuses `await builder`; a JavaScript caller gets the TypeError.
        await (builder as unknown);
      }, TypeError);
      assert.throws(() => client.txn().then((() => undefined) as never), TypeError);
      assert.equal(fake.count("txn"), 0);
    } finally {
      await client.close();
    }
  });

  for (const mode of KV_MODES) {
    it(`commits, and types and decodes each branch's results (${mode.name})`, async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      try {
        await client.put("k", "v");
        const swap = client.txn().if(cmp.value("k").equal("v")).then(op.put("k", "w", { prevKv: true }), op.get("k")).else(op.range({ key: "k", prefix: true }));
        const first = await swap.commit();
        assert.equal(first.succeeded, true);
        if (first.succeeded) {
          const [put, get]: [PutResult, GetResult] = first.responses;
          assert.equal(put.prevKv?.valueString, "v");
          assert.equal(get.kv?.valueString, "w");
          assert.equal(first.revision, put.revision);
        }
        const second = await swap.commit();
        assert.equal(second.succeeded, false);
        if (!second.succeeded) {
          const [range]: [RangeResult] = second.responses;
          assert.deepEqual(
            range.kvs.map((kv) => kv.valueString),
            ["w"],
          );
        }
        assert.equal(fake.calls.filter((c) => c.method === "txn")[0].via, mode.pipeline ? "pipeline" : "unary");
      } finally {
        await client.close();
      }
    });
  }

  it("decodes nested transactions", async () => {
    const { client } = fakeClient();
    try {
      const result = await client
        .txn()
        .then(op.txn({ if: [cmp.version("n").equal(0)], then: [op.put("n", "1")], else: [op.get("n")] }))
        .commit();
      assert.equal(result.succeeded, true);
      if (result.succeeded) {
        const [nested] = result.responses;
        assert.equal(nested.succeeded, true);
        if (nested.succeeded) assert.ok(nested.responses[0].revision > 0);
      }
      assert.equal((await client.get("n")).kv?.valueString, "1");
    } finally {
      await client.close();
    }
  });
});
