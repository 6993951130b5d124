/**
 * The end-to-end suite of the public API (issue 4): one set of cases, registered once per
 * protocol variant (kv-e2e.test.ts), each run against its own real server process. Semantics are
 * those of the .proto comments. Every response's header is checked by HeaderCheck (non-zero
 * cluster and member IDs, stable across calls).
 *
 * Cases run in order inside a variant and the server is theirs alone, so a case can assert exact
 * revision arithmetic ("this write created revision r + 1"). Each case works under its own key
 * prefix; the cases that compact do so at their own latest revision, which no later case reads
 * below.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  CompareOperator,
  SortOrder,
  SortTarget,
  type CompareSchema,
  type PipelineRequestSchema,
  type PipelineResponse,
  type RangeRequestSchema,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import type { KeepAliveRequestSchema } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { EventType, type Event, type KeyValue, type ResponseHeader } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import { WatchFilter, type WatchRequestSchema, type WatchResponse } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { SERVER_VERSION } from "../../src/version.js";
import { HeaderCheck } from "./header-check.js";
import { type Clients, createClients, type OpenTransport, openTransport, type ProtocolVariant } from "./protocols.js";
import { ServerProcess } from "./server-process.js";
import { RequestStream, StreamReader, withDeadline } from "./streams.js";

/** Longest wait for one expected message on a stream. */
const MESSAGE_TIMEOUT_MS = 5_000;
/** A lease with this TTL is granted for the expiry case; the server checks every 250 ms. */
const SHORT_TTL_SECONDS = 1;
const LEASE_EXPIRY_TIMEOUT_MS = 10_000;
const SNAPSHOT_MAGIC = "SISYSNP1";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => decoder.decode(data);

/** The end of the range of keys with this prefix (kv.proto "Key ranges"). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

/** Awaits a call that must fail with `code`; returns the error. `mentions` must appear in its message. */
export async function expectCode(call: Promise<unknown>, code: Code, mentions?: string): Promise<ConnectError> {
  let result: unknown;
  try {
    result = await call;
  } catch (err) {
    const error = ConnectError.from(err);
    assert.equal(Code[error.code], Code[code], `expected ${Code[code]}, got ${Code[error.code]}: ${error.message}`);
    if (mentions !== undefined) assert.ok(error.rawMessage.includes(mentions), `expected the message to mention "${mentions}": ${error.rawMessage}`);
    return error;
  }
  assert.fail(`expected ${Code[code]}, the call succeeded with ${JSON.stringify(result, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
}

function revisionOf(response: { header?: ResponseHeader }): bigint {
  assert.ok(response.header, "the response has a header");
  return response.header.revision;
}

/** The key, value and revisions of a KeyValue as a plain object, for readable assertion diffs. */
function view(kv: KeyValue | undefined): { key: string; value: string; create: bigint; mod: bigint; version: bigint; lease: bigint } | undefined {
  if (kv === undefined) return undefined;
  return { key: text(kv.key), value: text(kv.value), create: kv.createRevision, mod: kv.modRevision, version: kv.version, lease: kv.lease };
}

function eventView(e: Event): { type: string; key: string; value: string; mod: bigint; prev?: string } {
  const v: { type: string; key: string; value: string; mod: bigint; prev?: string } = {
    type: EventType[e.type],
    key: text(e.kv?.key ?? new Uint8Array()),
    value: text(e.kv?.value ?? new Uint8Array()),
    mod: e.kv?.modRevision ?? 0n,
  };
  if (e.prevKv !== undefined) v.prev = text(e.prevKv.value);
  return v;
}

/** What one variant's cases share: the server, the clients and the header check. */
interface SuiteContext {
  variant: ProtocolVariant;
  server: ServerProcess;
  clients: Clients;
  headers: HeaderCheck;
  connection: OpenTransport;
}

/** Registers the whole suite for one protocol variant, against a server of its own. */
export function defineKvSuite(variant: ProtocolVariant): void {
  describe(variant.name, () => {
    const ctx = {} as SuiteContext;
    before(async () => {
      ctx.variant = variant;
      ctx.server = await ServerProcess.start({ args: ["--name", "e2e"] });
      ctx.headers = new HeaderCheck();
      ctx.connection = openTransport(variant, ctx.server.url, [ctx.headers.interceptor]);
      ctx.clients = createClients(ctx.connection.transport);
    });
    after(async () => {
      ctx.connection?.close();
      if (ctx.server !== undefined) {
        await ctx.server.kill();
        ctx.server.removeData();
      }
    });

    if (variant.calls.unary) defineUnaryCases(ctx);
    if (variant.calls.serverStreams) defineServerStreamCases(ctx);
    if (variant.calls.bidi) defineBidiCases(ctx);
    if (variant.calls.unary) defineEndpointCases(ctx);

    it("every response header carried the cluster and member IDs the server started with", () => {
      assert.ok(ctx.headers.checked >= 20, `${ctx.headers.checked} headers checked`);
      const started = ctx.server.output.split("\n").find((line) => line.includes('"member started"'));
      assert.ok(started, "the server logged its start");
      const ids = JSON.parse(started) as { clusterId: string; memberId: string };
      assert.deepEqual([ctx.headers.clusterId, ctx.headers.memberId], [BigInt(ids.clusterId), BigInt(ids.memberId)]);
    });
  });
}

function defineUnaryCases(ctx: SuiteContext): void {
  describe("KV", () => {
    it("put then get returns the value, and the put's revision is the read's header revision", async () => {
      const { kv } = ctx.clients;
      const put = await kv.put({ key: bytes("pg/k"), value: bytes("v") });
      const got = await kv.range({ key: bytes("pg/k") });
      assert.deepEqual(view(got.kvs[0]), { key: "pg/k", value: "v", create: revisionOf(put), mod: revisionOf(put), version: 1n, lease: 0n });
      assert.equal(got.count, 1n);
      assert.equal(got.more, false);
      assert.equal(revisionOf(got), revisionOf(put));
      const missing = await kv.range({ key: bytes("pg/missing") });
      assert.deepEqual(missing.kvs, []);
      assert.equal(missing.count, 0n);
    });

    it("create_revision, mod_revision and version across put, put, delete, put", async () => {
      const { kv } = ctx.clients;
      const key = bytes("rev/k");
      const get = async () => view((await kv.range({ key })).kvs[0]);
      const r1 = revisionOf(await kv.put({ key, value: bytes("1") }));
      assert.deepEqual(await get(), { key: "rev/k", value: "1", create: r1, mod: r1, version: 1n, lease: 0n });
      const r2 = revisionOf(await kv.put({ key, value: bytes("2") }));
      assert.equal(r2, r1 + 1n, "each write creates exactly one revision");
      assert.deepEqual(await get(), { key: "rev/k", value: "2", create: r1, mod: r2, version: 2n, lease: 0n });
      const del = await kv.deleteRange({ key });
      assert.equal(del.deleted, 1n);
      assert.equal(revisionOf(del), r2 + 1n);
      assert.equal(await get(), undefined);
      const r4 = revisionOf(await kv.put({ key, value: bytes("4") }));
      assert.equal(r4, r2 + 2n);
      assert.deepEqual(await get(), { key: "rev/k", value: "4", create: r4, mod: r4, version: 1n, lease: 0n }, "a put after a delete creates the key anew");
    });

    it("range: prefix, from-key, all keys, limit with more and count, keys_only, count_only", async () => {
      const { kv } = ctx.clients;
      const prefix = bytes("rng/");
      for (const k of ["a", "b", "c", "d", "e"]) await kv.put({ key: bytes(`rng/${k}`), value: bytes(`value-${k}`) });
      await kv.put({ key: bytes("rng0"), value: bytes("outside the prefix") });
      const keys = (kvs: KeyValue[]) => kvs.map((kv) => text(kv.key));

      const all = await kv.range({ key: prefix, rangeEnd: prefixEnd(prefix) });
      assert.deepEqual(keys(all.kvs), ["rng/a", "rng/b", "rng/c", "rng/d", "rng/e"]);
      assert.deepEqual(all.kvs.map((kv) => text(kv.value)), ["value-a", "value-b", "value-c", "value-d", "value-e"]);
      assert.equal(all.count, 5n);
      assert.equal(all.more, false);

      const fromKey = await kv.range({ key: bytes("rng/c"), rangeEnd: new Uint8Array([0]) });
      assert.deepEqual(keys(fromKey.kvs).slice(0, 4), ["rng/c", "rng/d", "rng/e", "rng0"], "from-key starts at the key and runs past the prefix");
      assert.ok(keys(fromKey.kvs).every((k) => k >= "rng/c"));
      assert.equal(fromKey.count, BigInt(fromKey.kvs.length));

      const everything = await kv.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), keysOnly: true });
      assert.ok(everything.count >= 6n);
      for (const k of ["pg/k", "rng/a", "rng/e", "rng0"]) assert.ok(keys(everything.kvs).includes(k), `all keys include ${k}`);
      const sorted = [...keys(everything.kvs)].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(keys(everything.kvs), sorted, "keys come in ascending bytewise order");

      const limited = await kv.range({ key: prefix, rangeEnd: prefixEnd(prefix), limit: 2n });
      assert.deepEqual(keys(limited.kvs), ["rng/a", "rng/b"]);
      assert.equal(limited.more, true);
      assert.equal(limited.count, 5n, "count ignores limit");
      const exact = await kv.range({ key: prefix, rangeEnd: prefixEnd(prefix), limit: 5n });
      assert.equal(exact.more, false);

      const keysOnly = await kv.range({ key: prefix, rangeEnd: prefixEnd(prefix), keysOnly: true });
      assert.deepEqual(keys(keysOnly.kvs), keys(all.kvs));
      assert.ok(keysOnly.kvs.every((kv) => kv.value.length === 0 && kv.modRevision > 0n), "keys_only keeps metadata and drops values");

      const countOnly = await kv.range({ key: prefix, rangeEnd: prefixEnd(prefix), countOnly: true });
      assert.deepEqual(countOnly.kvs, []);
      assert.equal(countOnly.count, 5n);
    });

    it("range: sort order and target, sort before limit, revision filters, a past revision", async () => {
      const { kv } = ctx.clients;
      const prefix = bytes("sort/");
      // Put order and values chosen so that key, value, version, create and mod order all differ.
      const writes: [string, string][] = [["d", "2"], ["b", "1"], ["e", "4"], ["a", "3"], ["c", "5"], ["b", "1"], ["b", "1"], ["e", "4"]];
      const model = new Map<string, { key: string; value: string; version: bigint; create: bigint; mod: bigint }>();
      let afterFifth = 0n;
      for (const [i, [k, v]] of writes.entries()) {
        const revision = revisionOf(await kv.put({ key: bytes(`sort/${k}`), value: bytes(v) }));
        const old = model.get(k);
        model.set(k, { key: `sort/${k}`, value: v, version: (old?.version ?? 0n) + 1n, create: old?.create ?? revision, mod: revision });
        if (i === 4) afterFifth = revision;
      }
      const byTarget: Record<number, (e: { key: string; value: string; version: bigint; create: bigint; mod: bigint }) => string | bigint> = {
        [SortTarget.KEY]: (e) => e.key,
        [SortTarget.VALUE]: (e) => e.value,
        [SortTarget.VERSION]: (e) => e.version,
        [SortTarget.CREATE_REVISION]: (e) => e.create,
        [SortTarget.MOD_REVISION]: (e) => e.mod,
      };
      const expected = (target: SortTarget, order: SortOrder): string[] => {
        const field = byTarget[target];
        const direction = order === SortOrder.DESCEND ? -1 : 1;
        // Ties keep ascending key order (kv.proto SortTarget).
        return [...model.values()]
          .sort((x, y) => {
            const a = field(x);
            const b = field(y);
            return a < b ? -direction : a > b ? direction : x.key < y.key ? -1 : 1;
          })
          .map((e) => e.key);
      };
      const keysOf = async (req: Omit<MessageInitShape<typeof RangeRequestSchema>, "key" | "rangeEnd" | "$typeName">) => {
        const res = await kv.range({ key: prefix, rangeEnd: prefixEnd(prefix), ...req });
        return { keys: res.kvs.map((e) => text(e.key)), more: res.more, count: res.count };
      };
      for (const target of [SortTarget.KEY, SortTarget.VALUE, SortTarget.VERSION, SortTarget.CREATE_REVISION, SortTarget.MOD_REVISION]) {
        for (const order of [SortOrder.ASCEND, SortOrder.DESCEND]) {
          assert.deepEqual((await keysOf({ sortOrder: order, sortTarget: target })).keys, expected(target, order), `sort by ${SortTarget[target]} ${SortOrder[order]}`);
        }
      }
      assert.deepEqual((await keysOf({ sortTarget: SortTarget.VALUE })).keys, expected(SortTarget.VALUE, SortOrder.ASCEND), "an unspecified order with a target sorts ascending");
      const top2 = await keysOf({ sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.VALUE, limit: 2n });
      assert.deepEqual(top2, { keys: expected(SortTarget.VALUE, SortOrder.DESCEND).slice(0, 2), more: true, count: 5n }, "the whole range is sorted before limit");

      const inKeyOrder = (keep: (e: { create: bigint; mod: bigint }) => boolean) => [...model.values()].filter(keep).map((e) => e.key).sort();
      const minMod = model.get("c")?.mod ?? 0n;
      const maxCreate = model.get("b")?.create ?? 0n;
      assert.deepEqual(await keysOf({ minModRevision: minMod }), { keys: inKeyOrder((e) => e.mod >= minMod), more: false, count: 5n }, "count ignores the filters");
      assert.deepEqual((await keysOf({ maxModRevision: minMod - 1n })).keys, inKeyOrder((e) => e.mod <= minMod - 1n));
      assert.deepEqual((await keysOf({ minCreateRevision: maxCreate + 1n })).keys, inKeyOrder((e) => e.create >= maxCreate + 1n));
      assert.deepEqual((await keysOf({ maxCreateRevision: maxCreate })).keys, inKeyOrder((e) => e.create <= maxCreate));

      const past = await kv.range({ key: prefix, rangeEnd: prefixEnd(prefix), revision: afterFifth });
      assert.deepEqual(
        past.kvs.map((e) => [text(e.key), e.version]),
        [["sort/a", 1n], ["sort/b", 1n], ["sort/c", 1n], ["sort/d", 1n], ["sort/e", 1n]],
        "the range as it was after the fifth write",
      );
      assert.ok(revisionOf(past) > afterFifth, "the header carries the current revision, not the one read");
    });

    it("reads at past revisions; a future revision is OUT_OF_RANGE", async () => {
      const { kv } = ctx.clients;
      const key = bytes("past/k");
      const r1 = revisionOf(await kv.put({ key, value: bytes("one") }));
      const r2 = revisionOf(await kv.put({ key, value: bytes("two") }));
      const r3 = revisionOf(await kv.deleteRange({ key }));
      const at = async (revision: bigint) => view((await kv.range({ key, revision })).kvs[0]);
      assert.equal(await at(r1 - 1n), undefined);
      assert.equal((await at(r1))?.value, "one");
      assert.deepEqual(await at(r2), { key: "past/k", value: "two", create: r1, mod: r2, version: 2n, lease: 0n });
      assert.equal(await at(r3), undefined);
      await expectCode(kv.range({ key, revision: r3 + 1000n }), Code.OutOfRange);
    });

    it("Compact: reads below the compacted revision fail OUT_OF_RANGE naming it; the newest versions stay", async () => {
      const { kv, maintenance } = ctx.clients;
      const key = bytes("cmp/k");
      const r1 = revisionOf(await kv.put({ key, value: bytes("old") }));
      const r2 = revisionOf(await kv.put({ key, value: bytes("new") }));
      const compacted = await kv.compact({ revision: r2, physical: true });
      assert.ok(revisionOf(compacted) >= r2);
      const err = await expectCode(kv.range({ key, revision: r1 }), Code.OutOfRange);
      assert.match(err.rawMessage, new RegExp(`\\b${r2}\\b`), `the message names the compacted revision ${r2}`);
      assert.equal(text((await kv.range({ key, revision: r2 })).kvs[0].value), "new");
      assert.equal(text((await kv.range({ key })).kvs[0].value), "new");
      assert.equal(text((await kv.range({ key: bytes("pg/k") })).kvs[0].value), "v", "keys written before the compaction are still there");
      assert.equal((await maintenance.status({})).compactRevision, r2);
      await expectCode(kv.compact({ revision: r2 }), Code.OutOfRange);
      await expectCode(kv.compact({ revision: 0n }), Code.InvalidArgument, "revision");
      await expectCode(kv.compact({ revision: revisionOf(compacted) + 10n }), Code.OutOfRange);
    });

    it("DeleteRange returns prev_kvs in key order; deleting nothing creates no revision", async () => {
      const { kv } = ctx.clients;
      const prefix = bytes("del/");
      for (const k of ["c", "a", "b"]) await kv.put({ key: bytes(`del/${k}`), value: bytes(`v${k}`) });
      const before = revisionOf(await kv.put({ key: bytes("del0"), value: bytes("outside") }));
      const single = await kv.deleteRange({ key: bytes("del/a"), prevKv: true });
      assert.equal(single.deleted, 1n);
      assert.deepEqual(single.prevKvs.map((e) => [text(e.key), text(e.value)]), [["del/a", "va"]]);
      assert.equal(revisionOf(single), before + 1n);
      const ranged = await kv.deleteRange({ key: prefix, rangeEnd: prefixEnd(prefix), prevKv: true });
      assert.equal(ranged.deleted, 2n);
      assert.deepEqual(ranged.prevKvs.map((e) => [text(e.key), text(e.value)]), [["del/b", "vb"], ["del/c", "vc"]]);
      assert.equal(revisionOf(ranged), before + 2n, "one revision for the whole range");
      const without = await kv.deleteRange({ key: bytes("del0") });
      assert.deepEqual(without.prevKvs, [], "no prev_kvs unless asked for");
      const nothing = await kv.deleteRange({ key: prefix, rangeEnd: prefixEnd(prefix), prevKv: true });
      assert.equal(nothing.deleted, 0n);
      assert.equal(revisionOf(nothing), revisionOf(without), "deleting nothing leaves the revision");
    });

    it("Put prev_kv, ignore_value and ignore_lease", async () => {
      const { kv, lease } = ctx.clients;
      const key = bytes("pp/k");
      const first = await kv.put({ key, value: bytes("v1"), prevKv: true });
      assert.equal(first.prevKv, undefined, "no prev_kv for a key that did not exist");
      const second = await kv.put({ key, value: bytes("v2"), prevKv: true });
      assert.deepEqual(view(second.prevKv), { key: "pp/k", value: "v1", create: revisionOf(first), mod: revisionOf(first), version: 1n, lease: 0n });

      const l1 = (await lease.grant({ ttl: 300n })).id;
      const l2 = (await lease.grant({ ttl: 300n })).id;
      try {
        await kv.put({ key, value: bytes("v3"), lease: l1 });
        await kv.put({ key, ignoreValue: true, lease: l2 });
        assert.deepEqual(
          [text((await kv.range({ key })).kvs[0].value), (await kv.range({ key })).kvs[0].lease],
          ["v3", l2],
          "ignore_value keeps the value and moves the key to the new lease",
        );
        await kv.put({ key, value: bytes("v4"), ignoreLease: true });
        const now = (await kv.range({ key })).kvs[0];
        assert.deepEqual([text(now.value), now.lease, now.version], ["v4", l2, 5n], "ignore_lease keeps the lease");
        await expectCode(kv.put({ key: bytes("pp/missing"), ignoreValue: true }), Code.NotFound);
        await expectCode(kv.put({ key: bytes("pp/missing"), value: bytes("x"), ignoreLease: true }), Code.NotFound);
        await expectCode(kv.put({ key, value: bytes("x"), ignoreValue: true }), Code.InvalidArgument, "value");
        await expectCode(kv.put({ key, value: bytes("x"), lease: 987_654_321n }), Code.NotFound);
        await kv.put({ key, value: bytes("v5") });
        assert.equal((await kv.range({ key })).kvs[0].lease, 0n, "a put without lease detaches the key");
      } finally {
        await lease.revoke({ id: l1 });
        await lease.revoke({ id: l2 });
      }
    });

    it("Txn: every compare target and operator against less, equal and greater values", async () => {
      const { kv, lease } = ctx.clients;
      const key = bytes("txc/k");
      const leaseId = (await lease.grant({ ttl: 300n })).id;
      try {
        const created = revisionOf(await kv.put({ key, value: bytes("b") }));
        const modified = revisionOf(await kv.put({ key, value: bytes("m"), lease: leaseId }));
        type Target = MessageInitShape<typeof CompareSchema>["target"];
        const targets: { name: string; below: Target; equal: Target; above: Target }[] = [
          { name: "value", below: { case: "value", value: bytes("a") }, equal: { case: "value", value: bytes("m") }, above: { case: "value", value: bytes("z") } },
          { name: "version", below: { case: "version", value: 1n }, equal: { case: "version", value: 2n }, above: { case: "version", value: 3n } },
          {
            name: "create_revision",
            below: { case: "createRevision", value: created - 1n },
            equal: { case: "createRevision", value: created },
            above: { case: "createRevision", value: created + 1n },
          },
          {
            name: "mod_revision",
            below: { case: "modRevision", value: modified - 1n },
            equal: { case: "modRevision", value: modified },
            above: { case: "modRevision", value: modified + 1n },
          },
          { name: "lease", below: { case: "lease", value: leaseId - 1n }, equal: { case: "lease", value: leaseId }, above: { case: "lease", value: leaseId + 1n } },
        ];
        // The key's field compared with a target below it, equal to it, above it.
        const truth: Record<number, [boolean, boolean, boolean]> = {
          [CompareOperator.EQUAL]: [false, true, false],
          [CompareOperator.NOT_EQUAL]: [true, false, true],
          [CompareOperator.LESS]: [false, false, true],
          [CompareOperator.GREATER]: [true, false, false],
        };
        const before = revisionOf(await kv.range({ key }));
        for (const t of targets) {
          for (const operator of [CompareOperator.EQUAL, CompareOperator.NOT_EQUAL, CompareOperator.LESS, CompareOperator.GREATER]) {
            for (const [i, target] of [t.below, t.equal, t.above].entries()) {
              const res = await kv.txn({ compare: [{ key, operator, target }], success: [{ request: { case: "range", value: { key } } }] });
              const want = truth[operator][i];
              assert.equal(res.succeeded, want, `${t.name} ${CompareOperator[operator]} ${["below", "equal", "above"][i]}`);
              assert.equal(res.responses.length, want ? 1 : 0, "only the branch taken runs");
            }
          }
        }
        assert.equal(revisionOf(await kv.range({ key })), before, "transactions that do not write create no revision");

        const missing = bytes("txc/missing");
        const holds = async (compare: MessageInitShape<typeof CompareSchema>) => (await kv.txn({ compare: [compare] })).succeeded;
        assert.equal(await holds({ key: missing, operator: CompareOperator.EQUAL, target: { case: "version", value: 0n } }), true, "a missing key has version 0");
        assert.equal(await holds({ key: missing, operator: CompareOperator.EQUAL, target: { case: "createRevision", value: 0n } }), true);
        const emptyValue = { case: "value" as const, value: new Uint8Array() };
        assert.equal(await holds({ key: missing, operator: CompareOperator.EQUAL, target: emptyValue }), false, "a value compare on a missing key is false");
        assert.equal(await holds({ key: missing, operator: CompareOperator.NOT_EQUAL, target: { case: "value", value: bytes("x") } }), false);

        await kv.put({ key: bytes("txc/r/a"), value: bytes("1") });
        await kv.put({ key: bytes("txc/r/b"), value: bytes("1") });
        await kv.put({ key: bytes("txc/r/b"), value: bytes("2") });
        const r = { key: bytes("txc/r/"), rangeEnd: prefixEnd(bytes("txc/r/")) };
        assert.equal(await holds({ ...r, operator: CompareOperator.GREATER, target: { case: "version", value: 0n } }), true, "holds for every key of the range");
        assert.equal(await holds({ ...r, operator: CompareOperator.EQUAL, target: { case: "version", value: 1n } }), false, "fails when one key of the range differs");
        const emptyRange = { key: bytes("txc/none/"), rangeEnd: prefixEnd(bytes("txc/none/")) };
        assert.equal(await holds({ ...emptyRange, operator: CompareOperator.EQUAL, target: emptyValue }), false, "a value compare on an empty range is false");
        // Any int64 is a valid compare target, also past 2^53 (the codec's zigzag used to refuse past 2^52).
        for (const [operator, value, expected] of [
          [CompareOperator.LESS, 2n ** 52n + 1n, true],
          [CompareOperator.LESS, 2n ** 62n, true],
          [CompareOperator.GREATER, -(2n ** 62n), true],
          [CompareOperator.EQUAL, 2n ** 63n - 1n, false],
        ] as const) {
          assert.equal(await holds({ ...r, operator, target: { case: "modRevision", value } }), expected, `mod_revision ${operator} ${value}`);
        }
      } finally {
        await lease.revoke({ id: leaseId });
      }
    });

    it("Txn: then/else branches, nested txn, reads see earlier writes, one revision for everything", async () => {
      const { kv } = ctx.clients;
      const k = (s: string) => bytes(`txb/${s}`);
      await kv.put({ key: k("flag"), value: bytes("on") });
      await kv.put({ key: k("gone"), value: bytes("soon deleted") });
      const flagIs = (v: string): MessageInitShape<typeof CompareSchema> => ({ key: k("flag"), operator: CompareOperator.EQUAL, target: { case: "value", value: bytes(v) } });
      const put = (key: string, value: string) => ({ request: { case: "put" as const, value: { key: k(key), value: bytes(value) } } });

      const before = revisionOf(await kv.range({ key: k("flag") }));
      const then = await kv.txn({
        compare: [flagIs("on")],
        success: [
          put("a", "1"),
          { request: { case: "range", value: { key: k("a") } } },
          {
            request: {
              case: "txn",
              value: {
                compare: [{ key: k("a"), operator: CompareOperator.EQUAL, target: { case: "version", value: 1n } }],
                success: [put("b", "nested then")],
                failure: [put("c", "nested else")],
              },
            },
          },
          { request: { case: "deleteRange", value: { key: k("gone"), prevKv: true } } },
        ],
        failure: [put("else", "1")],
      });
      assert.equal(then.succeeded, true);
      assert.deepEqual(then.responses.map((r) => r.response.case), ["put", "range", "txn", "deleteRange"]);
      const revision = revisionOf(then);
      assert.equal(revision, before + 1n, "the whole transaction is one revision");
      const read = then.responses[1].response;
      assert.ok(read.case === "range");
      assert.equal(text(read.value.kvs[0].value), "1", "a range after a put in the same branch sees it");
      const nested = then.responses[2].response;
      assert.ok(nested.case === "txn");
      assert.equal(nested.value.succeeded, true, "the nested compare sees the put before it");
      assert.deepEqual(nested.value.responses.map((r) => r.response.case), ["put"]);
      const deleted = then.responses[3].response;
      assert.ok(deleted.case === "deleteRange");
      assert.equal(deleted.value.deleted, 1n);
      assert.equal(text(deleted.value.prevKvs[0].value), "soon deleted");

      const now = await kv.range({ key: k(""), rangeEnd: prefixEnd(k("")) });
      assert.deepEqual(
        now.kvs.map((e) => [text(e.key), text(e.value), e.modRevision]),
        [["txb/a", "1", revision], ["txb/b", "nested then", revision], ["txb/flag", "on", before - 1n]],
        "every write of the transaction carries its revision; nested else and outer else did not run",
      );
      const beforeTxn = await kv.range({ key: k(""), rangeEnd: prefixEnd(k("")), revision: revision - 1n });
      assert.deepEqual(beforeTxn.kvs.map((e) => text(e.key)), ["txb/flag", "txb/gone"], "no part of the transaction is visible a revision earlier");

      const otherwise = await kv.txn({ compare: [flagIs("off")], success: [put("then", "1")], failure: [put("else", "1")] });
      assert.equal(otherwise.succeeded, false);
      assert.deepEqual(otherwise.responses.map((r) => r.response.case), ["put"]);
      assert.equal((await kv.range({ key: k("then") })).count, 0n);
      assert.equal((await kv.range({ key: k("else") })).count, 1n);

      const current = revisionOf(await kv.range({ key: k("flag") }));
      await expectCode(kv.txn({ success: [put("dup", "1"), put("dup", "2")] }), Code.InvalidArgument);
      await expectCode(kv.txn({ compare: [{ key: k("flag"), operator: CompareOperator.UNSPECIFIED, target: { case: "version", value: 1n } }] }), Code.InvalidArgument, "operator");
      assert.equal(revisionOf(await kv.range({ key: k("flag") })), current, "rejected transactions write nothing");
    });
  });

  describe("Lease", () => {
    it("grant, attach keys, time_to_live with keys, KeepAliveOnce, Leases, revoke deletes the keys", async () => {
      const { kv, lease } = ctx.clients;
      const granted = await lease.grant({ ttl: 60n });
      assert.ok(granted.id > 0n);
      assert.ok(granted.ttl >= 60n);
      const chosen = await lease.grant({ ttl: 120n, id: 7_000_001n });
      assert.equal(chosen.id, 7_000_001n);
      await expectCode(lease.grant({ ttl: 10n, id: 7_000_001n }), Code.AlreadyExists);
      await expectCode(lease.grant({ ttl: 0n }), Code.InvalidArgument, "ttl");

      await kv.put({ key: bytes("lease/b"), value: bytes("1"), lease: granted.id });
      await kv.put({ key: bytes("lease/a"), value: bytes("2"), lease: granted.id });
      await kv.put({ key: bytes("lease/other"), value: bytes("3"), lease: chosen.id });
      const ttl = await lease.timeToLive({ id: granted.id, keys: true });
      assert.equal(ttl.grantedTtl, 60n);
      assert.ok(ttl.ttl > 0n && ttl.ttl <= 60n, `ttl ${ttl.ttl}`);
      assert.deepEqual(ttl.keys.map(text), ["lease/a", "lease/b"], "attached keys in key order");
      assert.deepEqual((await lease.timeToLive({ id: granted.id })).keys, [], "keys only when asked for");

      const renewed = await lease.keepAliveOnce({ id: granted.id });
      assert.deepEqual([renewed.id, renewed.ttl], [granted.id, 60n]);
      const listed = (await lease.leases({})).leases;
      const ids = listed.map((l) => l.id);
      assert.ok(ids.includes(granted.id) && ids.includes(chosen.id), `Leases lists both: ${ids.join(", ")}`);
      assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? -1 : 1)), "by ascending ID");
      assert.equal(listed.find((l) => l.id === chosen.id)?.grantedTtl, 120n);

      const before = revisionOf(await kv.range({ key: bytes("lease/a") }));
      const revoked = await lease.revoke({ id: granted.id });
      assert.equal(revisionOf(revoked), before + 1n, "revoking deletes the keys in one revision");
      const left = await kv.range({ key: bytes("lease/"), rangeEnd: prefixEnd(bytes("lease/")) });
      assert.deepEqual(left.kvs.map((e) => text(e.key)), ["lease/other"]);
      assert.equal((await lease.timeToLive({ id: granted.id })).ttl, -1n);
      assert.equal((await lease.keepAliveOnce({ id: granted.id })).ttl, 0n, "renewing a revoked lease answers ttl 0");
      await expectCode(lease.revoke({ id: granted.id }), Code.NotFound);
      await lease.revoke({ id: chosen.id });
      assert.ok(!(await lease.leases({})).leases.some((l) => l.id === chosen.id || l.id === granted.id));
    });
  });

  describe("Maintenance and Cluster", () => {
    it("Status reports the version, the revision, the db size and itself as leader", async () => {
      const { kv, maintenance } = ctx.clients;
      const revision = revisionOf(await kv.put({ key: bytes("status/k"), value: bytes("v") }));
      const status = await maintenance.status({});
      assert.equal(status.version, SERVER_VERSION);
      assert.equal(revisionOf(status), revision);
      assert.ok(status.dbSizeBytes > 0n, `db size ${status.dbSizeBytes}`);
      assert.equal(status.leader, ctx.headers.memberId);
      assert.deepEqual(status.errors, []);
    });

    it("MemberList lists this one member with its client URL", async () => {
      const list = await ctx.clients.cluster.memberList({});
      assert.equal(list.members.length, 1);
      const [member] = list.members;
      assert.equal(member.id, list.header?.memberId);
      assert.equal(member.name, "e2e");
      assert.deepEqual(member.clientUrls, [ctx.server.url]);
      assert.equal(member.isLearner, false);
    });
  });
}

function defineServerStreamCases(ctx: SuiteContext): void {
  describe("server streams", () => {
    it("Subscribe: the created response, history from a past revision, then live events", async () => {
      const { kv, watch } = ctx.clients;
      const prefix = bytes("sub/");
      const r1 = revisionOf(await kv.put({ key: bytes("sub/a"), value: bytes("1") }));
      await kv.put({ key: bytes("sub/b"), value: bytes("2") });
      const abort = new AbortController();
      try {
        const reader = new StreamReader(watch.subscribe({ create: { key: prefix, rangeEnd: prefixEnd(prefix), startRevision: r1 } }, { signal: abort.signal }), "Subscribe");
        const created = (await reader.next(MESSAGE_TIMEOUT_MS, "the created response")).response;
        assert.ok(created);
        assert.deepEqual([created.created, created.canceled, created.watchId], [true, false, 0n]);
        const history = await collectEvents(reader, 2, "history");
        assert.deepEqual(history.map(eventView), [
          { type: "PUT", key: "sub/a", value: "1", mod: r1 },
          { type: "PUT", key: "sub/b", value: "2", mod: r1 + 1n },
        ]);
        const r3 = revisionOf(await kv.deleteRange({ key: bytes("sub/a") }));
        const live = await collectEvents(reader, 1, "a live event");
        assert.deepEqual(live.map(eventView), [{ type: "DELETE", key: "sub/a", value: "", mod: r3 }]);
      } finally {
        abort.abort();
      }
    });

    it("Subscribe from a compacted revision is canceled with compact_revision", async () => {
      const { kv, watch } = ctx.clients;
      await kv.put({ key: bytes("subc/k"), value: bytes("1") });
      const compactAt = revisionOf(await kv.put({ key: bytes("subc/k"), value: bytes("2") }));
      await kv.compact({ revision: compactAt });
      const abort = new AbortController();
      try {
        const reader = new StreamReader(watch.subscribe({ create: { key: bytes("subc/k"), startRevision: compactAt - 1n } }, { signal: abort.signal }), "Subscribe");
        // watch.proto: the first response carries the cancellation.
        const canceled = (await reader.next(MESSAGE_TIMEOUT_MS, "the cancellation")).response;
        assert.ok(canceled);
        assert.deepEqual([canceled.created, canceled.canceled, canceled.compactRevision, canceled.events.length], [true, true, compactAt, 0]);
        const end = await reader.ended(MESSAGE_TIMEOUT_MS);
        assert.ok(end.ok, "the stream ends after the cancellation");
      } finally {
        abort.abort();
      }
    });

    it("a lease with a short TTL expires and its keys are deleted in one revision", async () => {
      const { kv, lease, watch } = ctx.clients;
      const prefix = bytes("expire/");
      const granted = await lease.grant({ ttl: BigInt(SHORT_TTL_SECONDS) });
      const abort = new AbortController();
      try {
        const start = revisionOf(await kv.range({ key: prefix })) + 1n;
        const reader = new StreamReader(watch.subscribe({ create: { key: prefix, rangeEnd: prefixEnd(prefix), startRevision: start } }, { signal: abort.signal }), "Subscribe");
        await kv.put({ key: bytes("expire/a"), value: bytes("1"), lease: granted.id });
        await kv.put({ key: bytes("expire/b"), value: bytes("2"), lease: granted.id });
        const events = await collectEvents(reader, 4, "the puts and the expiry's deletes", LEASE_EXPIRY_TIMEOUT_MS);
        const deletes = events.filter((e) => e.type === EventType.DELETE).map(eventView);
        assert.equal(deletes.length, 2, JSON.stringify(events.map(eventView), (_, v: unknown) => (typeof v === "bigint" ? String(v) : v)));
        assert.deepEqual(deletes.map((d) => d.key), ["expire/a", "expire/b"]);
        assert.equal(deletes[0].mod, deletes[1].mod, "one revision for the whole expiry");
        assert.equal((await kv.range({ key: prefix, rangeEnd: prefixEnd(prefix) })).count, 0n);
        assert.equal((await lease.timeToLive({ id: granted.id })).ttl, -1n);
        assert.ok(!(await lease.leases({})).leases.some((l) => l.id === granted.id));
      } finally {
        abort.abort();
      }
    });

    it("Snapshot streams chunks down to remaining_bytes 0, the last with the SHA-256 of the file", async () => {
      const { kv, maintenance } = ctx.clients;
      await kv.put({ key: bytes("snap/k"), value: bytes("v".repeat(10_000)) });
      const revision = revisionOf(await kv.range({ key: bytes("snap/k") }));
      const reader = new StreamReader(maintenance.snapshot({}), "Snapshot");
      const chunks = await reader.nextUntil((c) => c.remainingBytes === 0n, 30_000, "the last chunk");
      assert.ok((await reader.ended(MESSAGE_TIMEOUT_MS)).ok);
      const file = Buffer.concat(chunks.map((c) => c.blob));
      assert.equal(file.subarray(0, SNAPSHOT_MAGIC.length).toString("latin1"), SNAPSHOT_MAGIC);
      assert.equal(revisionOf(chunks[0]), revision, "the first chunk's header revision is the snapshot's revision");
      let remaining = BigInt(file.length);
      for (const [i, chunk] of chunks.entries()) {
        assert.ok(chunk.blob.length > 0 && chunk.blob.length <= 1024 * 1024, `chunk ${i} has ${chunk.blob.length} bytes`);
        remaining -= BigInt(chunk.blob.length);
        assert.equal(chunk.remainingBytes, remaining, `remaining_bytes after chunk ${i}`);
        if (i < chunks.length - 1) assert.equal(chunk.sha256.length, 0, `no digest on chunk ${i}`);
      }
      const last = chunks[chunks.length - 1];
      assert.equal(Buffer.from(last.sha256).toString("hex"), createHash("sha256").update(file).digest("hex"));
    });
  });
}

/** Reads responses until `count` events have arrived (fragments and batches flattened). */
async function collectEvents(reader: StreamReader<{ response?: WatchResponse } | WatchResponse>, count: number, what: string, timeoutMs = MESSAGE_TIMEOUT_MS): Promise<Event[]> {
  const events: Event[] = [];
  const deadline = Date.now() + timeoutMs;
  while (events.length < count) {
    const message = await reader.next(Math.max(1, deadline - Date.now()), `${what} (${events.length} of ${count} events so far)`);
    const response = "events" in message ? message : message.response;
    assert.ok(response, "a response");
    assert.equal(response.canceled, false, `unexpected cancellation: ${response.cancelReason}`);
    events.push(...response.events);
  }
  assert.equal(events.length, count, `expected exactly ${count} events`);
  return events;
}

type WatchRequestInit = MessageInitShape<typeof WatchRequestSchema>;
type PipelineRequestInit = MessageInitShape<typeof PipelineRequestSchema>;
type KeepAliveRequestInit = MessageInitShape<typeof KeepAliveRequestSchema>;

/** A Watch stream: send requests, read responses. */
interface WatchStream {
  send(...requests: WatchRequestInit[]): void;
  reader: StreamReader<WatchResponse>;
  close(): void;
}

function openWatch(ctx: SuiteContext, name = "Watch"): WatchStream {
  const requests = new RequestStream<WatchRequestInit>();
  const abort = new AbortController();
  const reader = new StreamReader(ctx.clients.watch.watch(requests, { signal: abort.signal }), name);
  return {
    send: (...reqs) => requests.push(...reqs),
    reader,
    close: () => {
      requests.end();
      abort.abort();
    },
  };
}

/** Reads Watch responses until the stream-wide progress response; returns the events per watch_id before it. */
async function eventsUntilProgress(stream: WatchStream): Promise<{ events: Map<bigint, Event[]>; progressRevision: bigint; responses: WatchResponse[] }> {
  stream.send({ request: { case: "progress", value: {} } });
  const responses = await stream.reader.nextUntil((r) => r.watchId === 0n && !r.created && !r.canceled && r.events.length === 0, MESSAGE_TIMEOUT_MS, "the progress response");
  const events = new Map<bigint, Event[]>();
  for (const r of responses.slice(0, -1)) {
    if (r.events.length === 0) continue;
    events.set(r.watchId, [...(events.get(r.watchId) ?? []), ...r.events]);
  }
  return { events, progressRevision: revisionOf(responses[responses.length - 1]), responses };
}

function defineBidiCases(ctx: SuiteContext): void {
  describe("Watch", () => {
    it("several watchers on one stream: created in order, events per watcher, cancel, duplicate and negative ids", async () => {
      const { kv } = ctx.clients;
      const stream = openWatch(ctx);
      try {
        const prefix = bytes("wm/a/");
        stream.send(
          { request: { case: "create", value: { key: prefix, rangeEnd: prefixEnd(prefix), watchId: 10n } } },
          { request: { case: "create", value: { key: bytes("wm/b") } } },
          { request: { case: "create", value: { key: bytes("wm/c"), watchId: 10n } } },
          { request: { case: "create", value: { key: bytes("wm/c"), watchId: -3n } } },
        );
        const [first, second, duplicate, negative] = [
          await stream.reader.next(MESSAGE_TIMEOUT_MS, "create 1"),
          await stream.reader.next(MESSAGE_TIMEOUT_MS, "create 2"),
          await stream.reader.next(MESSAGE_TIMEOUT_MS, "create 3"),
          await stream.reader.next(MESSAGE_TIMEOUT_MS, "create 4"),
        ];
        assert.deepEqual([first.watchId, first.created, first.canceled], [10n, true, false]);
        const auto = second.watchId;
        assert.ok(second.created && !second.canceled && auto > 0n && auto !== 10n, `server-chosen id ${auto}`);
        assert.ok(duplicate.canceled && duplicate.cancelReason.includes("watch_id"), `duplicate id refused: ${duplicate.cancelReason}`);
        assert.ok(negative.canceled && negative.cancelReason.includes("watch_id"), `negative id refused: ${negative.cancelReason}`);

        const ra = revisionOf(await kv.put({ key: bytes("wm/a/1"), value: bytes("x") }));
        const rb = revisionOf(await kv.put({ key: bytes("wm/b"), value: bytes("y") }));
        await kv.put({ key: bytes("wm/c"), value: bytes("not watched by anyone") });
        const round1 = await eventsUntilProgress(stream);
        assert.deepEqual(round1.events.get(10n)?.map(eventView), [{ type: "PUT", key: "wm/a/1", value: "x", mod: ra }]);
        assert.deepEqual(round1.events.get(auto)?.map(eventView), [{ type: "PUT", key: "wm/b", value: "y", mod: rb }]);
        assert.equal(round1.events.size, 2);

        stream.send({ request: { case: "cancel", value: { watchId: 10n } } });
        const canceled = await stream.reader.next(MESSAGE_TIMEOUT_MS, "the cancel response");
        assert.deepEqual([canceled.watchId, canceled.canceled], [10n, true]);
        await kv.put({ key: bytes("wm/a/2"), value: bytes("after cancel") });
        const rb2 = revisionOf(await kv.put({ key: bytes("wm/b"), value: bytes("z") }));
        const round2 = await eventsUntilProgress(stream);
        assert.deepEqual([...round2.events.keys()], [auto], "no event for the canceled watcher");
        assert.deepEqual(round2.events.get(auto)?.map(eventView), [{ type: "PUT", key: "wm/b", value: "z", mod: rb2 }]);
        assert.ok(round2.progressRevision >= rb2, "progress revision covers every event before it");

        stream.send({ request: { case: "cancel", value: { watchId: 999n } } });
        const unknown = await stream.reader.next(MESSAGE_TIMEOUT_MS, "the unknown-cancel response");
        assert.deepEqual([unknown.watchId, unknown.canceled], [999n, true]);
      } finally {
        stream.close();
      }
    });

    it("from a past start revision: history replay, then live events, each exactly once", async () => {
      const { kv } = ctx.clients;
      const prefix = bytes("wh/");
      const r1 = revisionOf(await kv.put({ key: bytes("wh/1"), value: bytes("a") }));
      const r2 = revisionOf(await kv.put({ key: bytes("wh/2"), value: bytes("b") }));
      const r3 = revisionOf(await kv.put({ key: bytes("wh/1"), value: bytes("c") }));
      const stream = openWatch(ctx);
      try {
        stream.send({ request: { case: "create", value: { key: prefix, rangeEnd: prefixEnd(prefix), startRevision: r1 + 1n } } });
        const created = await stream.reader.next(MESSAGE_TIMEOUT_MS, "created");
        assert.ok(created.created);
        const history = await collectEvents(stream.reader, 2, "history");
        assert.deepEqual(history.map(eventView), [
          { type: "PUT", key: "wh/2", value: "b", mod: r2 },
          { type: "PUT", key: "wh/1", value: "c", mod: r3 },
        ]);
        const r4 = revisionOf(await kv.deleteRange({ key: prefix, rangeEnd: prefixEnd(prefix) }));
        const live = await collectEvents(stream.reader, 2, "live deletes");
        assert.deepEqual(live.map(eventView), [
          { type: "DELETE", key: "wh/1", value: "", mod: r4 },
          { type: "DELETE", key: "wh/2", value: "", mod: r4 },
        ]);
        const rest = await eventsUntilProgress(stream);
        assert.equal(rest.events.size, 0, "nothing more, in particular no duplicate");
      } finally {
        stream.close();
      }
    });

    it("prev_kv and the no-put / no-delete filters; progress with no watchers", async () => {
      const { kv } = ctx.clients;
      const key = bytes("wf/k");
      const stream = openWatch(ctx);
      try {
        const progressEmpty = await eventsUntilProgress(stream);
        assert.equal(progressEmpty.progressRevision, revisionOf(await kv.range({ key })), "an idle stream's progress is the current revision");
        stream.send(
          { request: { case: "create", value: { key, prevKv: true, watchId: 1n } } },
          { request: { case: "create", value: { key, filters: [WatchFilter.NO_PUT], watchId: 2n } } },
          { request: { case: "create", value: { key, filters: [WatchFilter.NO_DELETE, WatchFilter.NO_DELETE], watchId: 3n } } },
        );
        for (let i = 1n; i <= 3n; i++) assert.equal((await stream.reader.next(MESSAGE_TIMEOUT_MS, `created ${i}`)).watchId, i);
        const r1 = revisionOf(await kv.put({ key, value: bytes("v1") }));
        const r2 = revisionOf(await kv.put({ key, value: bytes("v2") }));
        const r3 = revisionOf(await kv.deleteRange({ key }));
        const { events } = await eventsUntilProgress(stream);
        assert.deepEqual(events.get(1n)?.map(eventView), [
          { type: "PUT", key: "wf/k", value: "v1", mod: r1 },
          { type: "PUT", key: "wf/k", value: "v2", mod: r2, prev: "v1" },
          { type: "DELETE", key: "wf/k", value: "", mod: r3, prev: "v2" },
        ]);
        assert.deepEqual(events.get(2n)?.map(eventView), [{ type: "DELETE", key: "wf/k", value: "", mod: r3 }]);
        assert.deepEqual(events.get(3n)?.map(eventView), [
          { type: "PUT", key: "wf/k", value: "v1", mod: r1 },
          { type: "PUT", key: "wf/k", value: "v2", mod: r2 },
        ]);
      } finally {
        stream.close();
      }
    });

    it("a start revision below the compaction cancels that watcher with compact_revision; the stream stays usable", async () => {
      const { kv } = ctx.clients;
      const key = bytes("wc/k");
      await kv.put({ key, value: bytes("1") });
      const compactAt = revisionOf(await kv.put({ key, value: bytes("2") }));
      await kv.compact({ revision: compactAt });
      const stream = openWatch(ctx);
      try {
        stream.send({ request: { case: "create", value: { key, startRevision: compactAt - 1n, watchId: 5n } } });
        // watch.proto: canceled at once: one response with created, canceled and compact_revision.
        const refused = await stream.reader.next(MESSAGE_TIMEOUT_MS, "the cancellation");
        assert.deepEqual(
          [refused.watchId, refused.created, refused.canceled, refused.compactRevision, refused.events.length],
          [5n, true, true, compactAt, 0],
        );
        stream.send({ request: { case: "create", value: { key, startRevision: compactAt, watchId: 6n } } });
        const created = await stream.reader.next(MESSAGE_TIMEOUT_MS, "created");
        assert.deepEqual([created.watchId, created.canceled], [6n, false]);
        const events = await collectEvents(stream.reader, 1, "the event at the compacted revision");
        assert.deepEqual(events.map(eventView), [{ type: "PUT", key: "wc/k", value: "2", mod: compactAt }]);
      } finally {
        stream.close();
      }
    });

    it("fragment: a revision larger than one response arrives in fragments that reassemble to every event", async () => {
      const { kv } = ctx.clients;
      const prefix = bytes("wfrag/");
      const big = (fill: number, size: number) => new Uint8Array(size).fill(fill);
      // Three 500 KiB keys first, then one Txn (under the 1.5 MiB request limit) that overwrites two
      // with 700 KiB values and deletes the third: with prev_kv its events take ~2.9 MiB, more
      // than the 1.5 MiB a watch response may carry.
      for (const [i, name] of ["a", "b", "c"].entries()) await kv.put({ key: bytes(`wfrag/${name}`), value: big(0x41 + i, 500 * 1024) });
      const stream = openWatch(ctx);
      try {
        stream.send(
          { request: { case: "create", value: { key: prefix, rangeEnd: prefixEnd(prefix), prevKv: true, fragment: true, watchId: 1n } } },
          { request: { case: "create", value: { key: prefix, rangeEnd: prefixEnd(prefix), prevKv: true, watchId: 2n } } },
        );
        assert.equal((await stream.reader.next(MESSAGE_TIMEOUT_MS, "created 1")).watchId, 1n);
        assert.equal((await stream.reader.next(MESSAGE_TIMEOUT_MS, "created 2")).watchId, 2n);
        const txn = await kv.txn({
          success: [
            { request: { case: "put", value: { key: bytes("wfrag/a"), value: big(0x61, 700 * 1024) } } },
            { request: { case: "put", value: { key: bytes("wfrag/b"), value: big(0x62, 700 * 1024) } } },
            { request: { case: "deleteRange", value: { key: bytes("wfrag/c") } } },
          ],
        });
        const revision = revisionOf(txn);
        const responses = await stream.reader.nextUntil(
          (r) => r.watchId === 1n && !r.fragment,
          MESSAGE_TIMEOUT_MS * 2,
          "the last fragment",
          100,
        );
        const parts = responses.filter((r) => r.watchId === 1n);
        const refusal = responses.find((r) => r.watchId === 2n) ?? (await stream.reader.next(MESSAGE_TIMEOUT_MS, "the non-fragment watcher's cancellation"));
        assert.ok(parts.length >= 2, `split into ${parts.length} responses`);
        assert.deepEqual(parts.map((p) => p.fragment), [...parts.slice(1).map(() => true), false], "fragment set on every part but the last");
        const events = parts.flatMap((p) => p.events);
        assert.deepEqual(
          events.map((e) => [EventType[e.type], text(e.kv?.key ?? new Uint8Array()), e.kv?.modRevision, e.kv?.value.length, e.prevKv?.value.length]),
          [
            ["PUT", "wfrag/a", revision, 700 * 1024, 500 * 1024],
            ["PUT", "wfrag/b", revision, 700 * 1024, 500 * 1024],
            ["DELETE", "wfrag/c", revision, 0, 500 * 1024],
          ],
        );
        assert.ok(Buffer.from(events[0].kv?.value ?? []).equals(Buffer.from(big(0x61, 700 * 1024))), "values arrive intact");
        assert.ok(Buffer.from(events[2].prevKv?.value ?? []).equals(Buffer.from(big(0x43, 500 * 1024))));
        assert.equal(refusal.watchId, 2n);
        assert.ok(refusal.canceled && refusal.cancelReason.includes("fragment"), `a watcher without fragment is canceled: ${refusal.cancelReason}`);
      } finally {
        stream.close();
      }
    });
  });

  describe("Lease KeepAlive", () => {
    it("renews on each request in order; an unknown lease gets ttl 0 and the stream stays open", async () => {
      const { lease } = ctx.clients;
      const granted = await lease.grant({ ttl: 30n });
      const requests = new RequestStream<KeepAliveRequestInit>();
      const reader = new StreamReader(lease.keepAlive(requests), "KeepAlive");
      try {
        requests.push({ id: granted.id }, { id: 424_242n }, { id: granted.id });
        const answers = [await reader.next(MESSAGE_TIMEOUT_MS), await reader.next(MESSAGE_TIMEOUT_MS), await reader.next(MESSAGE_TIMEOUT_MS)];
        assert.deepEqual(answers.map((a) => [a.id, a.ttl]), [[granted.id, 30n], [424_242n, 0n], [granted.id, 30n]]);
        requests.end();
        assert.ok((await reader.ended(MESSAGE_TIMEOUT_MS)).ok, "half-closing ends the stream cleanly");
      } finally {
        requests.end();
        await lease.revoke({ id: granted.id });
      }
    });
  });

  describe("Pipeline", () => {
    it("ready first; 200 concurrent calls each answered once, matched by id; errors leave the stream open", async (t) => {
      const requests = new RequestStream<PipelineRequestInit>();
      let headerLimit: string | null = null;
      const reader = new StreamReader(ctx.clients.kv.pipeline(requests, { onHeader: (h) => (headerLimit = h.get("sisyphus-pipeline-max-in-flight")) }), "Pipeline");
      try {
        const ready = await reader.next(MESSAGE_TIMEOUT_MS, "the ready message");
        assert.equal(ready.id, 0n);
        assert.ok(ready.response.case === "ready");
        assert.equal(ready.response.value.maxInFlight, 1024);
        assert.equal(headerLimit, "1024");

        const start = revisionOf(await ctx.clients.kv.range({ key: bytes("pl/") }));
        const n = 100;
        const batch: PipelineRequestInit[] = [];
        for (let i = 0; i < n; i++) batch.push(pipelineRequest(BigInt(i + 1), { case: "put", value: { key: bytes(`pl/${i}`), value: bytes(`v${i}`) } }));
        for (let i = 0; i < n; i++) batch.push(pipelineRequest(BigInt(n + i + 1), { case: "range", value: { key: bytes(`pl/${i}`), serializable: i % 2 === 0 } }));
        requests.push(...batch);
        const answers = await readPipelineAnswers(reader, 2 * n);
        const order = answers.map((a) => Number(a.id));
        const outOfOrder = order.filter((id, i) => i > 0 && id < order[i - 1]).length;
        t.diagnostic(`${outOfOrder} of ${2 * n} responses overtook an earlier request`);
        const byId = new Map(answers.map((a) => [a.id, a]));
        assert.equal(byId.size, 2 * n, "every id answered exactly once");
        const putRevisions = new Map<number, bigint>();
        for (let i = 0; i < n; i++) {
          const put = byId.get(BigInt(i + 1))?.response;
          assert.ok(put?.case === "put", `put ${i}: ${put?.case}`);
          putRevisions.set(i, revisionOf(put.value));
          const range = byId.get(BigInt(n + i + 1))?.response;
          assert.ok(range?.case === "range", `range ${i}: ${range?.case}`);
        }
        const revisions = [...putRevisions.values()].sort((a, b) => (a < b ? -1 : 1));
        assert.deepEqual(revisions, Array.from({ length: n }, (_, i) => start + BigInt(i + 1)), "100 puts, 100 consecutive revisions");

        // Ids may be reused once answered; these reads come after every put was answered, so see them.
        requests.push(...Array.from({ length: n }, (_, i) => pipelineRequest(BigInt(i + 1), { case: "range", value: { key: bytes(`pl/${i}`) } })));
        for (const answer of await readPipelineAnswers(reader, n)) {
          const i = Number(answer.id) - 1;
          assert.ok(answer.response.case === "range");
          assert.deepEqual(view(answer.response.value.kvs[0]), { key: `pl/${i}`, value: `v${i}`, create: putRevisions.get(i), mod: putRevisions.get(i), version: 1n, lease: 0n });
        }

        requests.push(
          pipelineRequest(500n, { case: "put", value: { key: new Uint8Array(), value: bytes("x") } }),
          pipelineRequest(501n, { case: undefined }),
          pipelineRequest(502n, { case: "range", value: { key: bytes("pl/0"), revision: 1_000_000_000n } }),
          pipelineRequest(503n, { case: "txn", value: { success: [{ request: { case: "put", value: { key: bytes("pl/txn"), value: bytes("t") } } }] } }),
        );
        const mixed = new Map((await readPipelineAnswers(reader, 4)).map((a) => [a.id, a.response]));
        const emptyKey = mixed.get(500n);
        assert.ok(emptyKey?.case === "error");
        assert.equal(emptyKey.value.code, Code.InvalidArgument);
        assert.match(emptyKey.value.message, /key/);
        const noCall = mixed.get(501n);
        assert.ok(noCall?.case === "error" && noCall.value.code === Code.InvalidArgument, "a request with no call set");
        const future = mixed.get(502n);
        assert.ok(future?.case === "error" && future.value.code === Code.OutOfRange, "a future revision");
        assert.ok(mixed.get(503n)?.case === "txn", "the stream still works after errors");

        requests.end();
        assert.ok((await reader.ended(MESSAGE_TIMEOUT_MS)).ok, "half-closing ends the stream cleanly");
      } finally {
        requests.end();
      }
    });

    it("a zero id fails the whole stream with INVALID_ARGUMENT", async () => {
      const requests = new RequestStream<PipelineRequestInit>();
      const reader = new StreamReader(ctx.clients.kv.pipeline(requests), "Pipeline");
      try {
        assert.equal((await reader.next(MESSAGE_TIMEOUT_MS, "ready")).response.case, "ready");
        requests.push(pipelineRequest(0n, { case: "range", value: { key: bytes("pl/0") } }));
        const error = await reader.failed(MESSAGE_TIMEOUT_MS);
        assert.equal(Code[error.code], Code[Code.InvalidArgument], error.message);
        assert.match(error.rawMessage, /id/);
      } finally {
        requests.end();
      }
    });

    it("requests beyond --pipeline-max-in-flight are answered RESOURCE_EXHAUSTED and not run", async () => {
      const limited = await ServerProcess.start({ args: ["--pipeline-max-in-flight", "4"] });
      const connection = openTransport(ctx.variant, limited.url);
      const { kv } = createClients(connection.transport);
      const requests = new RequestStream<PipelineRequestInit>();
      try {
        const reader = new StreamReader(kv.pipeline(requests), "Pipeline");
        const ready = await reader.next(MESSAGE_TIMEOUT_MS, "ready");
        assert.ok(ready.response.case === "ready" && ready.response.value.maxInFlight === 4);
        const n = 32;
        requests.push(...Array.from({ length: n }, (_, i) => pipelineRequest(BigInt(i + 1), { case: "put", value: { key: bytes(`lim/${i}`), value: bytes("v") } })));
        const answers = await readPipelineAnswers(reader, n);
        const refused = answers.filter((a) => a.response.case === "error");
        const done = answers.filter((a) => a.response.case === "put");
        assert.equal(refused.length + done.length, n, "each answer is a put or an error");
        assert.ok(refused.length > 0, "some requests exceeded the limit");
        for (const r of refused) assert.ok(r.response.case === "error" && r.response.value.code === Code.ResourceExhausted, `id ${r.id}`);
        const stored = await kv.range({ key: bytes("lim/"), rangeEnd: prefixEnd(bytes("lim/")), keysOnly: true });
        assert.deepEqual(
          stored.kvs.map((e) => text(e.key)).sort(),
          done.map((a) => `lim/${Number(a.id) - 1}`).sort(),
          "exactly the accepted puts ran",
        );
        requests.push(pipelineRequest(100n, { case: "range", value: { key: bytes("lim/0") } }));
        const after = await readPipelineAnswers(reader, 1);
        assert.equal(after[0].response.case, "range", "the stream stays open");
      } finally {
        requests.end();
        connection.close();
        await limited.kill();
        limited.removeData();
      }
    });
  });
}

function pipelineRequest(id: bigint, request: PipelineRequestInit["request"]): PipelineRequestInit {
  return { id, request };
}

async function readPipelineAnswers(reader: StreamReader<PipelineResponse>, count: number): Promise<PipelineResponse[]> {
  const answers: PipelineResponse[] = [];
  for (let i = 0; i < count; i++) answers.push(await reader.next(MESSAGE_TIMEOUT_MS, `pipeline answer ${i + 1} of ${count}`));
  return answers;
}

function defineEndpointCases(ctx: SuiteContext): void {
  describe("HTTP endpoints (HTTP/1.1 fetch)", () => {
    it("/healthz, /readyz and /metrics", async () => {
      const get = (path: string) => withDeadline(fetch(`${ctx.server.url}${path}`), MESSAGE_TIMEOUT_MS, `GET ${path}`);
      const healthz = await get("/healthz");
      assert.equal(healthz.status, 200);
      assert.equal(await healthz.text(), "ok\n");
      const readyz = await get("/readyz");
      assert.equal(readyz.status, 200);
      await readyz.text();
      const revision = revisionOf(await ctx.clients.kv.put({ key: bytes("metrics/k"), value: bytes("v") }));
      const metrics = await get("/metrics");
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/);
      const body = await metrics.text();
      const sample = (name: string, labels = ""): number | undefined => {
        const line = body.split("\n").find((l) => l.startsWith(`${name}${labels} `) || (labels === "" && l.startsWith(`${name}{`)));
        return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
      };
      assert.ok((sample("sisyphus_rpc_requests_total", '{method="sisyphus.kv.v1.KVService/Put",code="ok"}') ?? 0) > 0, "Put calls counted by method and code");
      assert.ok((sample("sisyphus_rpc_requests_total", '{method="sisyphus.kv.v1.KVService/Range",code="ok"}') ?? 0) > 0);
      assert.ok(sample("sisyphus_rpc_requests_total", '{method="sisyphus.kv.v1.LeaseService/Revoke",code="not_found"}') !== undefined, "failures counted by code");
      assert.equal(sample("sisyphus_mvcc_revision"), Number(revision));
      assert.ok(body.split("\n").some((l) => /^sisyphus_process_resident_memory_bytes \d/.test(l)), "process metrics");
      assert.ok(body.includes("sisyphus_rpc_duration_seconds_bucket{"), "latency histogram");
      assert.equal((await get("/nope")).status, 404);
    });
  });
}
