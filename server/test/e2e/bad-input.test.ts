// Bad input against a real server (issue 4, "Limits"): requests over the size limit, invalid
// fields, unknown enum values, malformed Protobuf and JSON, then a seeded fuzz loop of random and
// mutated request bodies to every unary method. After each rejection the server still answers
// and the store's revision has not moved (nothing was partly written). The fuzz loop prints its
// seed; set SISYPHUS_FUZZ_SEED to replay a run.
import assert from "node:assert/strict";
import type http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, type DescField, type DescMessage, type DescMethod, type DescService, ScalarType, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { ClusterService } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { CompareOperator, KVService, SortOrder, SortTarget } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { LeaseService } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { MaintenanceService } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { WatchFilter } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { type Clients, createClients, type OpenTransport, openTransport, type ProtocolVariant } from "./protocols.js";
import { connectCall, connectHttp2, grpcCall, grpcFrame, type RawOutcome } from "./raw-rpc.js";
import { ServerProcess, stopAllServers } from "./server-process.js";
import { StreamReader } from "./streams.js";
import { bytes, expectCode } from "./suite.js";

const CALL_TIMEOUT_MS = 5_000;
const FUZZ_ITERATIONS = 1_200;
const FUZZ_TIME_BUDGET_MS = 20_000;
/** The fuzz loop must get at least this far within its time budget to count as having run. */
const FUZZ_MIN_ITERATIONS = 100;

const GRPC: ProtocolVariant = { name: "gRPC", protocol: "grpc", httpVersion: "2", binary: true, calls: { unary: true, serverStreams: true, bidi: true } };
const CONNECT_JSON: ProtocolVariant = {
  name: "Connect JSON over HTTP/1.1",
  protocol: "connect",
  httpVersion: "1.1",
  binary: false,
  calls: { unary: true, serverStreams: true, bidi: false },
};

after(() => stopAllServers());

/** A server and clients over both protocols, with the store's revision at hand. */
class Target {
  private constructor(
    readonly server: ServerProcess,
    readonly connections: Map<string, { open: OpenTransport; clients: Clients }>,
  ) {}

  static async start(args: string[] = []): Promise<Target> {
    const server = await ServerProcess.start({ args });
    const connections = new Map<string, { open: OpenTransport; clients: Clients }>();
    for (const variant of [GRPC, CONNECT_JSON]) {
      const open = openTransport(variant, server.url);
      connections.set(variant.name, { open, clients: createClients(open.transport) });
    }
    return new Target(server, connections);
  }

  clients(variant: ProtocolVariant): Clients {
    const found = this.connections.get(variant.name);
    assert.ok(found);
    return found.clients;
  }

  /** The store's revision, read through gRPC (which also shows the server still answers). */
  async revision(): Promise<bigint> {
    const status = await this.clients(GRPC).maintenance.status({}, { timeoutMs: CALL_TIMEOUT_MS });
    return status.header?.revision ?? 0n;
  }

  async stop(): Promise<void> {
    for (const { open } of this.connections.values()) open.close();
    await this.server.kill();
    this.server.removeData();
  }
}

/** Runs `reject`, which must fail, and checks that the revision did not move and the server still answers. */
async function rejectedWithoutWrite(target: Target, reject: () => Promise<unknown>): Promise<void> {
  const before = await target.revision();
  await reject();
  assert.equal(await target.revision(), before, "a rejected request wrote nothing");
}

interface BadCase {
  name: string;
  call: (c: Clients) => Promise<unknown>;
  code: Code;
  /** A field name (or other text) the error message must contain. */
  mentions?: string;
}

const key = bytes("bad/k");
const putOp = (k: Uint8Array) => ({ request: { case: "put" as const, value: { key: k, value: bytes("v") } } });
/** `count` put operations of `valueBytes` each, for requests over a size limit. */
const bigPuts = (prefix: string, count: number, valueBytes: number) =>
  Array.from({ length: count }, (_, i) => ({ request: { case: "put" as const, value: { key: bytes(`${prefix}${i}`), value: new Uint8Array(valueBytes) } } }));

const BAD_FIELDS: BadCase[] = [
  { name: "Put with an empty key", call: (c) => c.kv.put({ key: new Uint8Array(), value: bytes("v") }), code: Code.InvalidArgument, mentions: "key" },
  { name: "Range with an empty key", call: (c) => c.kv.range({ key: new Uint8Array() }), code: Code.InvalidArgument, mentions: "key" },
  { name: "DeleteRange with an empty key", call: (c) => c.kv.deleteRange({ key: new Uint8Array() }), code: Code.InvalidArgument, mentions: "key" },
  { name: "Put with a key over 4096 bytes", call: (c) => c.kv.put({ key: new Uint8Array(4097).fill(0x6b), value: bytes("v") }), code: Code.InvalidArgument, mentions: "key" },
  { name: "Range with range_end before key", call: (c) => c.kv.range({ key: bytes("b"), rangeEnd: bytes("a") }), code: Code.InvalidArgument, mentions: "range_end" },
  { name: "DeleteRange with range_end equal to key", call: (c) => c.kv.deleteRange({ key: bytes("b"), rangeEnd: bytes("b") }), code: Code.InvalidArgument, mentions: "range_end" },
  { name: "Range with a negative limit", call: (c) => c.kv.range({ key, limit: -1n }), code: Code.InvalidArgument, mentions: "limit" },
  { name: "Range with a negative revision", call: (c) => c.kv.range({ key, revision: -5n }), code: Code.InvalidArgument, mentions: "revision" },
  { name: "Range with a negative min_mod_revision", call: (c) => c.kv.range({ key, minModRevision: -1n }), code: Code.InvalidArgument, mentions: "min_mod_revision" },
  { name: "Range with a revision beyond 2^53", call: (c) => c.kv.range({ key, revision: 1n << 60n }), code: Code.InvalidArgument, mentions: "revision" },
  { name: "Range with sort_order 99", call: (c) => c.kv.range({ key, sortOrder: 99 as SortOrder }), code: Code.InvalidArgument, mentions: "sort_order" },
  { name: "Range with sort_target 99", call: (c) => c.kv.range({ key, sortTarget: 99 as SortTarget }), code: Code.InvalidArgument, mentions: "sort_target" },
  {
    name: "Txn with compare operator 99",
    call: (c) => c.kv.txn({ compare: [{ key, operator: 99 as CompareOperator, target: { case: "version", value: 1n } }], success: [putOp(key)] }),
    code: Code.InvalidArgument,
    mentions: "operator",
  },
  {
    name: "Txn with a compare without target",
    call: (c) => c.kv.txn({ compare: [{ key, operator: CompareOperator.EQUAL }], success: [putOp(key)] }),
    code: Code.InvalidArgument,
    mentions: "target",
  },
  {
    name: "Txn with an empty compare key",
    call: (c) => c.kv.txn({ compare: [{ key: new Uint8Array(), operator: CompareOperator.EQUAL, target: { case: "version", value: 0n } }], success: [putOp(key)] }),
    code: Code.InvalidArgument,
    mentions: "key",
  },
  {
    name: "Txn with an operation left empty",
    call: (c) => c.kv.txn({ success: [putOp(key), { request: { case: undefined } }] }),
    code: Code.InvalidArgument,
    mentions: "success[1]",
  },
  { name: "Txn whose second put has an empty key", call: (c) => c.kv.txn({ success: [putOp(key), putOp(new Uint8Array())] }), code: Code.InvalidArgument, mentions: "success[1]" },
  { name: "Txn writing one key twice", call: (c) => c.kv.txn({ success: [putOp(key), putOp(key)] }), code: Code.InvalidArgument },
  {
    name: "Txn with more than 128 operations",
    call: (c) => c.kv.txn({ success: Array.from({ length: 129 }, (_, i) => putOp(bytes(`bad/many/${i}`))) }),
    code: Code.ResourceExhausted,
  },
  { name: "Put with value and ignore_value", call: (c) => c.kv.put({ key, value: bytes("v"), ignoreValue: true }), code: Code.InvalidArgument, mentions: "value" },
  { name: "Put with a negative lease", call: (c) => c.kv.put({ key, value: bytes("v"), lease: -1n }), code: Code.InvalidArgument, mentions: "lease" },
  { name: "Compact to revision 0", call: (c) => c.kv.compact({ revision: 0n }), code: Code.InvalidArgument, mentions: "revision" },
  { name: "Compact to a negative revision", call: (c) => c.kv.compact({ revision: -3n }), code: Code.InvalidArgument, mentions: "revision" },
  { name: "Grant with a negative TTL", call: (c) => c.lease.grant({ ttl: -1n }), code: Code.InvalidArgument, mentions: "ttl" },
  { name: "Grant with a negative id", call: (c) => c.lease.grant({ ttl: 10n, id: -1n }), code: Code.InvalidArgument, mentions: "id" },
  { name: "Grant with a TTL above the maximum", call: (c) => c.lease.grant({ ttl: 9_000_000_001n }), code: Code.OutOfRange },
  { name: "Revoke lease 0", call: (c) => c.lease.revoke({ id: 0n }), code: Code.InvalidArgument, mentions: "id" },
  { name: "KeepAliveOnce with a negative id", call: (c) => c.lease.keepAliveOnce({ id: -1n }), code: Code.InvalidArgument, mentions: "id" },
  { name: "a deadline above --max-timeout-ms", call: (c) => c.kv.range({ key }, { timeoutMs: 400_000 }), code: Code.InvalidArgument },
];

describe("bad input", () => {
  let target: Target;
  let small: Target;
  before(async () => {
    [target, small] = await Promise.all([Target.start(), Target.start(["--max-request-bytes", "65536"])]);
  });
  after(async () => {
    await Promise.all([target?.stop(), small?.stop()]);
  });

  for (const variant of [GRPC, CONNECT_JSON]) {
    describe(variant.name, () => {
      it("a request over the default 1.5 MiB limit (a 2 MiB value) is RESOURCE_EXHAUSTED", async () => {
        const c = target.clients(variant);
        await rejectedWithoutWrite(target, () => expectCode(c.kv.put({ key, value: new Uint8Array(2 * 1024 * 1024) }), Code.ResourceExhausted));
        await rejectedWithoutWrite(target, () =>
          expectCode(c.kv.txn({ success: bigPuts("bad/big/", 3, 600 * 1024) }), Code.ResourceExhausted),
        );
      });

      it("with --max-request-bytes 65536: 70 KB is RESOURCE_EXHAUSTED, a request just under the limit is accepted", async () => {
        const c = small.clients(variant);
        // The limit is on the request as sent: JSON carries bytes as base64 (4/3 larger).
        const underLimitBytes = variant.binary ? 60_000 : 45_000;
        await rejectedWithoutWrite(small, () => expectCode(c.kv.put({ key, value: new Uint8Array(70_000) }), Code.ResourceExhausted));
        await rejectedWithoutWrite(small, () =>
          expectCode(c.kv.txn({ success: bigPuts("bad/t/", 2, 40_000) }), Code.ResourceExhausted),
        );
        const before = await small.revision();
        await c.kv.put({ key, value: new Uint8Array(underLimitBytes) });
        assert.equal(await small.revision(), before + 1n);
      });

      for (const bad of BAD_FIELDS) {
        it(`${bad.name}: ${Code[bad.code]}${bad.mentions === undefined ? "" : ` naming ${bad.mentions}`}`, async () => {
          await rejectedWithoutWrite(target, () => expectCode(bad.call(target.clients(variant)), bad.code, bad.mentions));
        });
      }

      it("watchers with filter 99, an empty key or a negative start revision are canceled with a reason naming the field", async () => {
        const c = target.clients(variant);
        const cases = [
          { create: { key, filters: [99 as WatchFilter] }, field: "filters" },
          { create: { key: new Uint8Array() }, field: "key" },
          { create: { key, startRevision: -1n }, field: "start_revision" },
        ];
        for (const { create: watchCreate, field } of cases) {
          const abort = new AbortController();
          try {
            const reader = new StreamReader(c.watch.subscribe({ create: watchCreate }, { signal: abort.signal }), "Subscribe");
            const first = (await reader.next(CALL_TIMEOUT_MS, "the cancellation")).response;
            assert.ok(first?.canceled, `canceled (${field})`);
            assert.ok(first.cancelReason.includes(field), `the reason names ${field}: ${first.cancelReason}`);
            assert.ok((await reader.ended(CALL_TIMEOUT_MS)).ok);
          } finally {
            abort.abort();
          }
        }
        const reader = new StreamReader(c.watch.subscribe({}), "Subscribe");
        const error = await reader.failed(CALL_TIMEOUT_MS);
        assert.equal(Code[error.code], Code[Code.InvalidArgument]);
        assert.match(error.rawMessage, /create/);
      });
    });
  }

  describe("malformed bytes", () => {
    let session: http2.ClientHttp2Session;
    before(() => {
      session = connectHttp2(target.server.url);
    });
    after(() => session?.close());

    // Bytes that are not a valid Protobuf encoding of any message.
    const notProtobuf: [string, Uint8Array][] = [
      ["wire type 7", Uint8Array.of(0x0f, 0x01)],
      ["a length beyond the end", Uint8Array.of(0x0a, 0x10, 0x01)],
      ["a varint of 11 bytes", Uint8Array.of(0x08, ...new Array<number>(10).fill(0xff), 0x01)],
      ["field number 0", Uint8Array.of(0x00, 0x01)],
      ["an unterminated varint", Uint8Array.of(0x18, 0xff, 0xff)],
    ];

    // KVService/Put is served by the server's own unary fast path, LeaseService/Grant by connect-node.
    for (const path of ["/sisyphus.kv.v1.KVService/Put", "/sisyphus.kv.v1.LeaseService/Grant"]) {
      const method = path.slice(path.lastIndexOf(".") + 1);
      for (const [what, payload] of notProtobuf) {
        it(`gRPC ${method} with ${what} is INVALID_ARGUMENT`, async () => {
          await rejectedWithoutWrite(target, async () => {
            assertCode(await grpcCall(session, path, grpcFrame(payload), CALL_TIMEOUT_MS), Code.InvalidArgument);
          });
        });
        it(`Connect binary ${method} with ${what} is INVALID_ARGUMENT`, async () => {
          await rejectedWithoutWrite(target, async () => {
            assertCode(await connectCall(target.server.url, path, "application/proto", payload, CALL_TIMEOUT_MS), Code.InvalidArgument);
          });
        });
      }
    }

    it("gRPC Subscribe (a server stream) with bytes that are not Protobuf is INVALID_ARGUMENT", async () => {
      assertCode(await grpcCall(session, "/sisyphus.kv.v1.WatchService/Subscribe", grpcFrame(notProtobuf[0][1]), CALL_TIMEOUT_MS), Code.InvalidArgument);
    });

    it("a gRPC frame that declares more bytes than it carries is rejected, not INTERNAL", async () => {
      await rejectedWithoutWrite(target, async () => {
        const outcome = await grpcCall(session, "/sisyphus.kv.v1.KVService/Put", grpcFrame(Uint8Array.of(0x0a, 0x01, 0x61), 100), CALL_TIMEOUT_MS);
        assert.ok(outcome.code !== undefined && ACCEPTABLE_FAILURES.has(outcome.code), `got ${describeOutcome(outcome)}`);
      });
    });

    it("a gRPC body of two messages for a unary method is rejected, not INTERNAL", async () => {
      const message = toBinary(KVService.method.put.input, create(KVService.method.put.input, { key: bytes("bad/two"), value: bytes("v") }));
      await rejectedWithoutWrite(target, async () => {
        const outcome = await grpcCall(session, "/sisyphus.kv.v1.KVService/Put", Buffer.concat([grpcFrame(message), grpcFrame(message)]), CALL_TIMEOUT_MS);
        assert.ok(outcome.code !== undefined && ACCEPTABLE_FAILURES.has(outcome.code), `got ${describeOutcome(outcome)}`);
      });
    });

    const badJson: [string, string, string, string | undefined][] = [
      ["not JSON", "/sisyphus.kv.v1.KVService/Put", "{not json", undefined],
      ["an array instead of an object", "/sisyphus.kv.v1.KVService/Put", "[1,2]", undefined],
      ["a number for the bytes field key", "/sisyphus.kv.v1.KVService/Put", '{"key": 123}', "key"],
      ["invalid base64 in key", "/sisyphus.kv.v1.KVService/Put", '{"key": "!!!"}', "key"],
      ["a string that is no number for limit", "/sisyphus.kv.v1.KVService/Range", '{"key": "YQ==", "limit": "many"}', "limit"],
      ["sortOrder 99", "/sisyphus.kv.v1.KVService/Range", '{"key": "YQ==", "sortOrder": 99}', "sort_order"],
      ["an object for a bool", "/sisyphus.kv.v1.KVService/Put", '{"key": "YQ==", "prevKv": {}}', "prev_kv"],
      ["a truncated document", "/sisyphus.kv.v1.KVService/Txn", '{"success": [{"put": {"key": "YQ=="}}', undefined],
    ];
    for (const [what, path, body, field] of badJson) {
      it(`Connect JSON with ${what} is INVALID_ARGUMENT${field === undefined ? "" : ` naming ${field}`}`, async () => {
        await rejectedWithoutWrite(target, async () => {
          const outcome = await connectCall(target.server.url, path, "application/json", body, CALL_TIMEOUT_MS);
          assertCode(outcome, Code.InvalidArgument);
          if (field !== undefined) {
            const camel = field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
            assert.ok(outcome.message.includes(field) || outcome.message.includes(camel), `the message names ${field}: ${outcome.message}`);
          }
        });
      });
    }
    it("Connect JSON: an unknown field or enum name is ignored (ProtoJSON forward compatibility), not an error", async () => {
      // connect-node parses JSON with ignoreUnknownFields, under which an unrecognized enum
      // name reads as the field being unset; an unknown enum number is still rejected (above).
      for (const body of ['{"key": "YQ==", "sortOrder": "SORT_ORDER_SIDEWAYS"}', '{"key": "YQ==", "futureField": 1}']) {
        const outcome = await connectCall(target.server.url, "/sisyphus.kv.v1.KVService/Range", "application/json", body, CALL_TIMEOUT_MS);
        assert.equal(outcome.code, undefined, `${body}: ${describeOutcome(outcome)}`);
      }
    });
  });

  describe("fuzz", () => {
    it(`${FUZZ_ITERATIONS} random and mutated bodies to every unary method over gRPC and Connect: never INTERNAL, UNKNOWN or a dropped call`, async (t) => {
      const fuzzTarget = await Target.start();
      const session = connectHttp2(fuzzTarget.server.url);
      const seed = Number(process.env.SISYPHUS_FUZZ_SEED ?? 20_240_611);
      const random = mulberry32(seed);
      const methods = unaryMethods();
      const codes = new Map<string, number>();
      /** Unacceptable answers by signature (wire, code, message start), with the methods and the first example. */
      const violations = new Map<string, { count: number; methods: Set<string>; example: string }>();
      const started = Date.now();
      let iterations = 0;
      try {
        for (; iterations < FUZZ_ITERATIONS && Date.now() - started < FUZZ_TIME_BUDGET_MS; iterations++) {
          const method = methods[iterations % methods.length];
          const path = `/${method.parent.typeName}/${method.name}`;
          const wire = (["grpc", "connect-proto", "connect-json"] as const)[Math.floor(random() * 3)];
          const body = wire === "connect-json" ? fuzzJson(method.input, random) : fuzzProtobuf(method.input, random);
          const context = `seed ${seed}, iteration ${iterations}: ${wire} ${path} body ${typeof body === "string" ? JSON.stringify(body) : Buffer.from(body).toString("hex")}`;
          let outcome: RawOutcome;
          try {
            outcome =
              wire === "grpc"
                ? await grpcCall(session, path, grpcFrame(body as Uint8Array), CALL_TIMEOUT_MS)
                : await connectCall(fuzzTarget.server.url, path, wire === "connect-json" ? "application/json" : "application/proto", body, CALL_TIMEOUT_MS);
          } catch (err) {
            assert.fail(`${context}: ${(err as Error).message}`);
          }
          const name = outcome.code === undefined ? "OK" : Code[outcome.code];
          codes.set(name, (codes.get(name) ?? 0) + 1);
          if (outcome.code !== undefined && !ACCEPTABLE_FAILURES.has(outcome.code)) {
            const signature = `${wire} ${name} "${outcome.message.split(":")[0]}"`;
            const seen = violations.get(signature) ?? { count: 0, methods: new Set<string>(), example: `${context}: answered ${describeOutcome(outcome)}` };
            seen.count++;
            seen.methods.add(method.name);
            violations.set(signature, seen);
          }
        }
        t.diagnostic(`seed ${seed}: ${iterations} calls in ${Date.now() - started} ms; codes ${JSON.stringify(Object.fromEntries(codes))}`);
        const report = [...violations].map(([signature, v]) => `${signature} ${v.count}x in ${[...v.methods].join(", ")}; first: ${v.example}`);
        assert.equal(report.length, 0, `answers outside ${[...ACCEPTABLE_FAILURES].map((c) => Code[c]).join(", ")} and OK:\n${report.join("\n")}`);
        assert.ok(iterations >= FUZZ_MIN_ITERATIONS, `only ${iterations} iterations within ${FUZZ_TIME_BUDGET_MS} ms`);
        assert.equal(fuzzTarget.server.child.exitCode, null, `the server is still running:\n${fuzzTarget.server.output.slice(-2000)}`);
        const healthz = await fetch(`${fuzzTarget.server.url}/healthz`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
        assert.equal(healthz.status, 200);
        const errorLines = fuzzTarget.server.output.split("\n").filter((line) => line.includes('"level":50'));
        assert.deepEqual(errorLines.slice(0, 5), [], `the server logged ${errorLines.length} errors`);
      } finally {
        session.close();
        await fuzzTarget.stop();
      }
    });
  });
});

/** The failures a bad request may get; INTERNAL and UNKNOWN mean a server bug. */
const ACCEPTABLE_FAILURES = new Set<Code>([Code.InvalidArgument, Code.ResourceExhausted, Code.NotFound, Code.OutOfRange, Code.FailedPrecondition, Code.AlreadyExists]);

function assertCode(outcome: RawOutcome, code: Code): void {
  assert.equal(outcome.code === undefined ? "OK" : Code[outcome.code], Code[code], describeOutcome(outcome));
}

function describeOutcome(outcome: RawOutcome): string {
  return `${outcome.code === undefined ? "OK" : Code[outcome.code]}: ${outcome.message}`;
}

function unaryMethods(): DescMethod[] {
  const services: DescService[] = [KVService, LeaseService, ClusterService, MaintenanceService, Health];
  return services.flatMap((s) => s.methods.filter((m) => m.methodKind === "unary"));
}

/** A small seeded PRNG (mulberry32): the same seed gives the same run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(random: () => number, maxLength: number): Uint8Array {
  return Uint8Array.from({ length: Math.floor(random() * (maxLength + 1)) }, () => Math.floor(random() * 256));
}

/** Protobuf bodies: random bytes, well-formed fields with random numbers and values, or a valid message with bytes flipped. */
function fuzzProtobuf(input: DescMessage, random: () => number): Uint8Array {
  const kind = random();
  if (kind < 0.35) return randomBytes(random, 48);
  if (kind < 0.7) {
    const parts: number[] = [];
    const fields = Math.floor(random() * 5);
    for (let i = 0; i < fields; i++) {
      const field = input.fields.length > 0 && random() < 0.8 ? input.fields[Math.floor(random() * input.fields.length)].number : 1 + Math.floor(random() * 20);
      const wireType = [0, 1, 2, 5][Math.floor(random() * 4)];
      parts.push(...varint(BigInt((field << 3) | wireType)));
      if (wireType === 0) parts.push(...varint(randomInt64(random)));
      else if (wireType === 1) parts.push(...randomBytes(random, 0), ...Array.from({ length: 8 }, () => Math.floor(random() * 256)));
      else if (wireType === 5) parts.push(...Array.from({ length: 4 }, () => Math.floor(random() * 256)));
      else {
        const payload = randomBytes(random, 24);
        parts.push(...varint(BigInt(payload.length)), ...payload);
      }
    }
    return Uint8Array.from(parts);
  }
  const valid = toBinary(input, create(input, sampleInit(input)));
  const mutated = Uint8Array.from(valid);
  const flips = 1 + Math.floor(random() * 3);
  for (let i = 0; i < flips && mutated.length > 0; i++) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
  return random() < 0.3 ? mutated.subarray(0, Math.floor(random() * mutated.length)) : mutated;
}

/** JSON bodies: random text, or objects with the message's field names and random, often wrong-typed, values. */
function fuzzJson(input: DescMessage, random: () => number): string {
  if (random() < 0.2) return Buffer.from(randomBytes(random, 32)).toString("latin1");
  return JSON.stringify(randomJsonMessage(input, random, 0));
}

function randomJsonMessage(input: DescMessage, random: () => number, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of input.fields) {
    if (random() < 0.5) continue;
    out[random() < 0.8 ? field.jsonName : field.name] = randomJsonValue(field, random, depth);
  }
  if (random() < 0.1) out[`unknown${Math.floor(random() * 10)}`] = 1;
  return out;
}

function randomJsonValue(field: DescField, random: () => number, depth: number): unknown {
  const wrongType = random() < 0.25;
  if (wrongType) return [null, true, "x", -1, 1.5, [], {}, "9223372036854775808", "-0", 1e300][Math.floor(random() * 10)];
  const single = (): unknown => {
    if (field.message !== undefined) return depth < 3 ? randomJsonMessage(field.message, random, depth + 1) : {};
    if (field.enum !== undefined) {
      const values = field.enum.values;
      return random() < 0.7 ? values[Math.floor(random() * values.length)].name : Math.floor(random() * 200) - 50;
    }
    switch (field.scalar) {
      case ScalarType.BOOL:
        return random() < 0.5;
      case ScalarType.STRING:
        return field.name.includes("url") ? "http://127.0.0.1:1" : String.fromCharCode(...randomBytes(random, 12));
      case ScalarType.BYTES:
        return Buffer.from(randomBytes(random, 12)).toString("base64");
      default:
        return random() < 0.5 ? String(randomInt64(random)) : Math.floor(random() * 2000) - 1000;
    }
  };
  if (field.fieldKind === "list") return Array.from({ length: Math.floor(random() * 3) }, single);
  return single();
}

/** A plausible request for the method's input type: a key, small numbers. */
function sampleInit(input: DescMessage): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const field of input.fields) {
    if (field.fieldKind !== "scalar") continue;
    const current = (create(input) as unknown as Record<string, unknown>)[field.localName];
    if (current instanceof Uint8Array) init[field.localName] = bytes(`fuzz/${field.name}`);
    else if (typeof current === "bigint") init[field.localName] = 3n;
    else if (typeof current === "number") init[field.localName] = 1;
    else if (typeof current === "boolean") init[field.localName] = true;
  }
  return init;
}

function randomInt64(random: () => number): bigint {
  const choice = random();
  if (choice < 0.4) return BigInt(Math.floor(random() * 100));
  if (choice < 0.6) return (1n << 64n) - BigInt(1 + Math.floor(random() * 100)); // a negative int64 as a varint
  return BigInt(Math.floor(random() * 2 ** 32)) * BigInt(Math.floor(random() * 2 ** 31));
}

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
