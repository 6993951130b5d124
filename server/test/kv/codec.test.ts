/**
 * The command codec and the engine key encoding: commands round-trip exactly; damaged command
 * bytes are MalformedCommandError (never a crash or a wrong command); the ordered key encoding
 * preserves bytewise order, is prefix-free and round-trips; version keys sort newest first.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type Command,
  CompareOperator,
  InvalidArgumentError,
  MalformedCommandError,
  type RequestOp,
  SortOrder,
  SortTarget,
  decodeCommand,
  encodeCommand,
} from "../../src/kv/index.js";
import {
  decodeOrdered,
  encodeOrdered,
  revisionOfVersionKey,
  sameVersionedKey,
  userKeyOfVersion,
  versionKey,
} from "../../src/kv/store-layout.js";
import { plain } from "./kv-harness.js";

const bytes = fc.uint8Array({ maxLength: 12 });
// Every safe integer, with the edges of the svarint's bigint path (|n| around 2^52, 2^53 - 1) drawn often.
const int = fc.oneof(
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.maxSafeInteger(),
  fc.constantFrom(2 ** 52 - 1, 2 ** 52, 2 ** 52 + 1, Number.MAX_SAFE_INTEGER, -(2 ** 52) + 1, -(2 ** 52), -(2 ** 52) - 1, -Number.MAX_SAFE_INTEGER),
);
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

const rangeOp = fc.record({
  key: bytes,
  rangeEnd: bytes,
  limit: int,
  revision: int,
  sortOrder: fc.constantFrom(SortOrder.Unspecified, SortOrder.Ascend, SortOrder.Descend, 9),
  sortTarget: fc.constantFrom(SortTarget.Key, SortTarget.Value, 0, 200),
  keysOnly: fc.boolean(),
  countOnly: fc.boolean(),
  minModRevision: int,
  maxModRevision: int,
  minCreateRevision: int,
  maxCreateRevision: int,
});
const putOp = fc.record({
  key: bytes,
  value: bytes,
  lease: int64,
  prevKv: fc.boolean(),
  ignoreValue: fc.boolean(),
  ignoreLease: fc.boolean(),
});
const deleteOp = fc.record({ key: bytes, rangeEnd: bytes, prevKv: fc.boolean() });
const compare = fc.record({
  key: bytes,
  rangeEnd: bytes,
  operator: fc.constantFrom(CompareOperator.Equal, CompareOperator.Less, 0, 7),
  target: fc.oneof(
    fc.record({ case: fc.constant("value" as const), value: bytes }),
    fc.record({ case: fc.constant("version" as const), value: int }),
    fc.record({ case: fc.constant("createRevision" as const), value: int }),
    fc.record({ case: fc.constant("modRevision" as const), value: int }),
    fc.record({ case: fc.constant("lease" as const), value: int64 }),
    fc.constant({ case: undefined }),
  ),
});
const { txn } = fc.letrec<{ txn: { compare: unknown[]; success: RequestOp[]; failure: RequestOp[] }; op: RequestOp }>((tie) => ({
  txn: fc.record({
    compare: fc.array(compare, { maxLength: 3 }),
    success: fc.array(tie("op"), { maxLength: 3 }),
    failure: fc.array(tie("op"), { maxLength: 3 }),
  }),
  op: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ case: fc.constant("range" as const), value: rangeOp }),
    fc.record({ case: fc.constant("put" as const), value: putOp }),
    fc.record({ case: fc.constant("deleteRange" as const), value: deleteOp }),
    fc.record({ case: fc.constant("txn" as const), value: tie("txn") }),
  ) as fc.Arbitrary<RequestOp>,
}));

const command: fc.Arbitrary<Command> = fc.oneof(
  putOp.map((request) => ({ type: "put" as const, request })),
  deleteOp.map((request) => ({ type: "deleteRange" as const, request })),
  txn.map((request) => ({ type: "txn" as const, request }) as Command),
  fc.record({ type: fc.constant("compact" as const), revision: int, physical: fc.boolean() }),
  fc.record({ type: fc.constant("leaseGrant" as const), id: int64, ttlSeconds: int }),
  fc.record({ type: fc.constant("leaseRevoke" as const), id: int64 }),
  fc.record({ type: fc.constant("leaseExpire" as const), ids: fc.array(int64, { maxLength: 4 }) }),
  fc.record({ type: fc.constant("leaseKeepAlive" as const), id: int64 }),
  fc.record({
    type: fc.constant("memberAdd" as const),
    id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    name: fc.string({ maxLength: 12 }),
    peerUrls: fc.array(fc.webUrl(), { maxLength: 3 }),
    learner: fc.boolean(),
  }),
  fc.record({ type: fc.constant("memberRemove" as const), id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
  fc.record({
    type: fc.constant("memberAttributes" as const),
    id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    name: fc.string({ maxLength: 12 }),
    clientUrls: fc.array(fc.webUrl(), { maxLength: 3 }),
  }),
);

describe("command codec", () => {
  it("round-trips every command exactly", () => {
    fc.assert(
      fc.property(command, (c) => {
        const decoded = decodeCommand(encodeCommand(c));
        assert.deepStrictEqual(plain(decoded), plain(c));
      }),
      { numRuns: 500 },
    );
  });

  it("decodes keys and values as copies, independent of the input buffer", () => {
    const encoded = encodeCommand({ type: "put", request: { key: Buffer.from("key"), value: Buffer.from("value") } });
    const decoded = decodeCommand(encoded);
    encoded.fill(0);
    assert.equal(decoded.type, "put");
    if (decoded.type === "put") assert.equal(Buffer.from(decoded.request.value).toString(), "value");
  });

  it("rejects every truncation and any trailing byte with MalformedCommandError", () => {
    fc.assert(
      fc.property(command, (c) => {
        const encoded = encodeCommand(c);
        for (let n = 0; n < encoded.length; n++) {
          assert.throws(() => decodeCommand(encoded.subarray(0, n)), MalformedCommandError, `prefix of ${n} bytes`);
        }
        const longer = new Uint8Array(encoded.length + 1);
        longer.set(encoded);
        assert.throws(() => decodeCommand(longer), MalformedCommandError);
      }),
      { numRuns: 150 },
    );
  });

  it("never fails on random bytes with anything but MalformedCommandError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (garbage) => {
        const input = Uint8Array.from([1, ...garbage]);
        try {
          decodeCommand(input);
        } catch (err) {
          assert.ok(err instanceof MalformedCommandError, `unexpected ${String(err)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses values the format cannot carry, naming the field", () => {
    assert.throws(() => encodeCommand({ type: "compact", revision: 1.5 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === "revision");
    assert.throws(
      () => encodeCommand({ type: "put", request: { key: Buffer.from("k"), value: Buffer.from(""), lease: 2n ** 64n } }),
      (e: unknown) => e instanceof InvalidArgumentError && e.field === "put.lease",
    );
  });

  it("bounds transaction nesting when decoding", () => {
    let t: { compare: []; success: RequestOp[]; failure: [] } = { compare: [], success: [], failure: [] };
    for (let i = 0; i < 40; i++) t = { compare: [], success: [{ case: "txn", value: t }], failure: [] };
    assert.throws(() => encodeCommand({ type: "txn", request: t }), InvalidArgumentError);
  });
});

describe("ordered key encoding", () => {
  const key = fc.uint8Array({ minLength: 1, maxLength: 8 }).map((k) => k.map((x) => [0, 1, 0xff, 0x61][x % 4]!));

  it("preserves bytewise order and is prefix-free", () => {
    fc.assert(
      fc.property(key, key, (a, c) => {
        const ea = Buffer.from(encodeOrdered(a));
        const ec = Buffer.from(encodeOrdered(c));
        assert.equal(Math.sign(Buffer.compare(ea, ec)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(c))));
        if (Buffer.compare(Buffer.from(a), Buffer.from(c)) !== 0) {
          assert.ok(!ec.subarray(0, ea.length).equals(ea), "one encoding is a prefix of another");
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("round-trips", () => {
    fc.assert(
      fc.property(key, (k) => {
        const { key: decoded, end } = decodeOrdered(encodeOrdered(k), 0);
        assert.deepEqual(Buffer.from(decoded), Buffer.from(k));
        assert.equal(end, encodeOrdered(k).length);
      }),
    );
  });

  it("sorts version keys by user key, then newest revision first", () => {
    fc.assert(
      fc.property(key, key, fc.nat(2 ** 53 - 1), fc.nat(2 ** 53 - 1), (a, c, ra, rc) => {
        const ka = Buffer.from(versionKey(a, ra));
        const kc = Buffer.from(versionKey(c, rc));
        const byKey = Buffer.compare(Buffer.from(a), Buffer.from(c));
        const expected = byKey !== 0 ? byKey : Math.sign(rc - ra);
        assert.equal(Math.sign(Buffer.compare(ka, kc)), expected);
        assert.equal(revisionOfVersionKey(ka), ra);
        assert.deepEqual(Buffer.from(userKeyOfVersion(ka)), Buffer.from(a));
        assert.equal(sameVersionedKey(ka, kc), byKey === 0);
      }),
      { numRuns: 3000 },
    );
  });
});
