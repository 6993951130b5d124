// The gRPC fast path of the KV Pipeline stream (pipeline-fast-path.ts) against a real server
// process, through a raw node:http2 client that frames the bytes itself, to send what no
// generated client would: a message split byte by byte, 50 messages in one write, an oversized
// message, garbage, a compressed-flag byte, a half-close with calls in flight, a reset mid-stream,
// and a client that stops reading while it keeps sending (back-pressure).
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { PipelineRequestSchema, PipelineResponseSchema, type PipelineResponse } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { GrpcEnvelopeReader } from "../../src/wire/index.js";
import { connectHttp2, grpcFrame } from "../e2e/raw-rpc.js";
import { ServerProcess, stopAllServers } from "../e2e/server-process.js";
import { withDeadline } from "../e2e/streams.js";

const PATH = "/sisyphus.kv.v1.KVService/Pipeline";
const MAX_REQUEST_BYTES = 4096;
const STEP_TIMEOUT_MS = 10_000;

type PipelineRequestInit = MessageInitShape<typeof PipelineRequestSchema>;

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function frame(request: PipelineRequestInit): Buffer {
  return grpcFrame(toBinary(PipelineRequestSchema, create(PipelineRequestSchema, request)));
}

function put(id: number, key: string, value: Uint8Array = bytes("v")): Buffer {
  return frame({ id: BigInt(id), request: { case: "put", value: { key: bytes(key), value } } });
}

/** The end of a stream as the client saw it: the status from the trailers. */
interface StreamStatus {
  code: number;
  message: string;
  /** Responses (ready included) that had arrived when the trailers came. */
  responsesBefore: number;
}

/** One Pipeline stream over a raw HTTP/2 stream: requests written as framed bytes, responses decoded as they arrive. */
class RawPipeline {
  readonly stream: http2.ClientHttp2Stream;
  readonly responses: PipelineResponse[] = [];
  headers: http2.IncomingHttpHeaders | undefined;
  private status: StreamStatus | undefined;
  /** The response was one HEADERS frame ending the stream (the fast path must never send that: headers go first). */
  private trailersOnly = false;
  private closed = false;
  private readonly envelopes = new GrpcEnvelopeReader(64 * 1024 * 1024);
  private readonly listeners = new Set<() => void>();

  constructor(session: http2.ClientHttp2Session, extraHeaders: http2.OutgoingHttpHeaders = {}) {
    this.stream = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers", ...extraHeaders });
    this.stream.on("response", (headers, flags) => {
      this.headers = headers;
      this.trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      this.changed();
    });
    this.stream.on("data", (chunk: Buffer) => {
      this.envelopes.push(chunk, (message) => {
        this.responses.push(fromBinary(PipelineResponseSchema, message));
        return true;
      });
      this.changed();
    });
    this.stream.on("trailers", (trailers) => {
      const status = trailers["grpc-status"];
      this.status = { code: Number(status), message: decodeURIComponent(String(trailers["grpc-message"] ?? "")), responsesBefore: this.responses.length };
    });
    // A reset surfaces as 'close' without trailers; the error itself is expected in some cases.
    this.stream.on("error", () => {});
    this.stream.on("close", () => {
      this.closed = true;
      this.changed();
    });
  }

  /** The answers to requests (the ready message left out). */
  get answers(): PipelineResponse[] {
    return this.responses.filter((r) => r.id !== 0n);
  }

  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.stream.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Resolves once condition() holds (checked on every header, message and close). */
  waitFor(condition: () => boolean, what: string, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
    return withDeadline(
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (condition()) {
            this.listeners.delete(check);
            resolve();
          } else if (this.closed) {
            this.listeners.delete(check);
            reject(new Error(`the stream closed before ${what}: ${this.describe()}`));
          }
        };
        this.listeners.add(check);
        check();
      }),
      timeoutMs,
      `${what} (${this.describe()})`,
    );
  }

  async ready(): Promise<PipelineResponse> {
    await this.waitFor(() => this.responses.length > 0, "the ready message");
    return this.responses[0];
  }

  /** The status in the trailers once the stream has closed; fails if it closed without trailers. */
  async ended(timeoutMs = STEP_TIMEOUT_MS): Promise<StreamStatus> {
    await withDeadline(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!this.closed) return;
          this.listeners.delete(check);
          resolve();
        };
        this.listeners.add(check);
        check();
      }),
      timeoutMs,
      `the end of the stream (${this.describe()})`,
    );
    if (this.trailersOnly) throw new Error(`a trailers-only response: ${this.describe()}`);
    if (this.status === undefined) throw new Error(`the stream closed without trailers: ${this.describe()}`);
    return this.status;
  }

  describe(): string {
    return `${this.responses.length} responses, headers ${JSON.stringify(this.headers)}, status ${JSON.stringify(this.status)}, rst code ${this.stream.rstCode}`;
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** Every answer's id exactly once, and exactly the ids 1..n. */
function assertAnsweredOnce(answers: PipelineResponse[], n: number): void {
  const ids = answers.map((a) => Number(a.id)).sort((a, b) => a - b);
  assert.deepEqual(ids, Array.from({ length: n }, (_, i) => i + 1), "each request answered exactly once");
}

async function inFlightPipelineStreams(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith('sisyphus_rpc_in_flight{method="sisyphus.kv.v1.KVService/Pipeline"}'));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

after(() => stopAllServers());

describe("KV Pipeline over plain gRPC (fast path), raw HTTP/2", () => {
  let server: ServerProcess;
  let session: http2.ClientHttp2Session;

  before(async () => {
    server = await ServerProcess.start({ args: ["--max-request-bytes", String(MAX_REQUEST_BYTES)] });
    session = connectHttp2(server.url);
  });

  after(async () => {
    session?.close();
    await server?.kill();
    server?.removeData();
  });

  it("sends headers at once, then the ready message; half-closing ends it with grpc-status 0 in trailers", async () => {
    const pipeline = new RawPipeline(session);
    const ready = await pipeline.ready();
    assert.equal(pipeline.headers?.[":status"], 200);
    assert.equal(pipeline.headers?.["content-type"], "application/grpc");
    assert.equal(pipeline.headers?.["sisyphus-pipeline-max-in-flight"], "1024");
    assert.equal(ready.id, 0n);
    assert.ok(ready.response.case === "ready" && ready.response.value.maxInFlight === 1024);
    pipeline.stream.end();
    assert.deepEqual(await pipeline.ended(), { code: 0, message: "", responsesBefore: 1 });
  });

  it("takes messages split byte by byte over many writes", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    const body = Buffer.concat([put(1, "split/1"), put(2, "split/2")]);
    for (const byte of body) await pipeline.write(Buffer.of(byte));
    await pipeline.waitFor(() => pipeline.answers.length === 2, "2 answers");
    assertAnsweredOnce(pipeline.answers, 2);
    assert.ok(pipeline.answers.every((a) => a.response.case === "put"), pipeline.describe());
    pipeline.stream.end();
    assert.equal((await pipeline.ended()).code, 0);
  });

  it("takes 50 messages in one write and answers each once", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    await pipeline.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => put(i + 1, `batch/${i}`))));
    await pipeline.waitFor(() => pipeline.answers.length === 50, "50 answers");
    assertAnsweredOnce(pipeline.answers, 50);
    const revisions = pipeline.answers.map((a) => (a.response.case === "put" ? a.response.value.header?.revision : undefined));
    assert.equal(new Set(revisions).size, 50, "50 puts, 50 revisions");
    pipeline.stream.end();
    assert.equal((await pipeline.ended()).code, 0);
  });

  it("half-closed with 100 calls in flight: answers all of them, then grpc-status 0", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    pipeline.stream.end(Buffer.concat(Array.from({ length: 100 }, (_, i) => put(i + 1, `halfclose/${i}`))));
    const status = await pipeline.ended();
    assert.equal(status.code, 0, status.message);
    assert.equal(status.responsesBefore, 101, "the ready message and 100 answers came before the trailers");
    assertAnsweredOnce(pipeline.answers, 100);
    assert.ok(pipeline.answers.every((a) => a.response.case === "put"), pipeline.describe());
  });

  it("fails the stream with RESOURCE_EXHAUSTED on a message over --max-request-bytes", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    await pipeline.write(put(1, "big", new Uint8Array(MAX_REQUEST_BYTES)));
    const status = await pipeline.ended();
    assert.equal(Code[status.code], Code[Code.ResourceExhausted], status.message);
    assert.match(status.message, new RegExp(`larger than the limit of ${MAX_REQUEST_BYTES} bytes`));
  });

  it("refuses an oversized message from its header alone, without waiting for its bytes", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    await pipeline.write(grpcFrame(new Uint8Array(0), 100 * 1024 * 1024));
    const status = await pipeline.ended();
    assert.equal(Code[status.code], Code[Code.ResourceExhausted], status.message);
  });

  it("fails the stream with INVALID_ARGUMENT on garbage (a flag byte that is not 0)", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    await pipeline.write(Buffer.from("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    const status = await pipeline.ended();
    assert.equal(Code[status.code], Code[Code.InvalidArgument], status.message);
    assert.match(status.message, /flags 71/);
  });

  it("fails the stream with INVALID_ARGUMENT on flag byte 1 (compressed, but no grpc-encoding)", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    const compressed = put(1, "flag");
    compressed[0] = 1;
    await pipeline.write(compressed);
    const status = await pipeline.ended();
    assert.equal(Code[status.code], Code[Code.InvalidArgument], status.message);
    assert.match(status.message, /flags 1 /);
  });

  it("fails the stream with INVALID_ARGUMENT naming the type on a message that does not decode", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    await pipeline.write(grpcFrame(Uint8Array.of(0x0f, 0xff, 0xff)));
    const status = await pipeline.ended();
    assert.equal(Code[status.code], Code[Code.InvalidArgument], status.message);
    assert.match(status.message, /sisyphus\.kv\.v1\.PipelineRequest/);
  });

  it("fails the stream with INVALID_ARGUMENT when the client half-closes inside a message", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    pipeline.stream.end(put(1, "cut").subarray(0, 8));
    const status = await pipeline.ended();
    assert.equal(Code[status.code], Code[Code.InvalidArgument], status.message);
  });

  it("ends the stream with DEADLINE_EXCEEDED when its grpc-timeout passes", async () => {
    const pipeline = new RawPipeline(session, { "grpc-timeout": "200m" });
    await pipeline.ready();
    const status = await pipeline.ended();
    assert.equal(Code[status.code], Code[Code.DeadlineExceeded], status.message);
  });

  it("survives a client reset mid-stream and serves the next stream", async () => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    await pipeline.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => put(i + 1, `reset/${i}`))));
    await pipeline.waitFor(() => pipeline.answers.length > 0, "a first answer");
    pipeline.stream.close(http2.constants.NGHTTP2_CANCEL);
    await pipeline.waitFor(() => pipeline.stream.closed, "the reset stream to close");
    assert.equal(pipeline.stream.rstCode, http2.constants.NGHTTP2_CANCEL);

    const next = new RawPipeline(session);
    await next.ready();
    next.stream.end(put(1, "reset/after"));
    assert.equal((await next.ended()).code, 0);
    assert.ok(next.answers[0]?.response.case === "put", next.describe());
    await waitUntil(async () => (await inFlightPipelineStreams(server)) === 0, "the server to count no Pipeline stream in flight");
    assert.equal(server.child.exitCode, null, "the server still runs");
  });
});

describe("KV Pipeline fast path under back-pressure", () => {
  const MAX_IN_FLIGHT = 16;
  const BATCH = 200;
  /** Requests the client may send while not reading; a server that kept reading would take them all. */
  const REQUESTS_MAX = 100_000;
  /** A write that does not drain within this long means the server stopped reading. */
  const STALL_MS = 1_000;
  let server: ServerProcess;
  let session: http2.ClientHttp2Session;

  before(async () => {
    server = await ServerProcess.start({ args: ["--pipeline-max-in-flight", String(MAX_IN_FLIGHT)] });
    session = connectHttp2(server.url);
  });

  after(async () => {
    session?.close();
    await server?.kill();
    server?.removeData();
  });

  it("a client that sends without reading is refused, then stopped; once it reads, every request is answered", async (t) => {
    const pipeline = new RawPipeline(session);
    await pipeline.ready();
    pipeline.stream.pause();

    let sent = 0;
    let stalled = false;
    while (sent < REQUESTS_MAX && !stalled) {
      const batch = Buffer.concat(Array.from({ length: BATCH }, (_, i) => put(sent + i + 1, `bp/${sent + i}`)));
      sent += BATCH;
      if (pipeline.stream.write(batch)) continue;
      const drained = new Promise<boolean>((resolve) => pipeline.stream.once("drain", () => resolve(true)));
      const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STALL_MS).unref());
      stalled = !(await Promise.race([drained, timer]));
    }
    t.diagnostic(`the client sent ${sent} requests; ${stalled ? "then its writes stalled" : "its writes never stalled"}`);
    assert.ok(stalled, `the server read all ${sent} requests of a client that does not read its responses`);

    pipeline.stream.resume();
    await pipeline.waitFor(() => pipeline.answers.length === sent, `answers to all ${sent} requests`, 60_000);
    assertAnsweredOnce(pipeline.answers, sent);
    const done = pipeline.answers.filter((a) => a.response.case === "put");
    const refused = pipeline.answers.filter((a) => a.response.case === "error");
    for (const r of refused) assert.ok(r.response.case === "error" && r.response.value.code === Code.ResourceExhausted, `id ${r.id}: ${JSON.stringify(r.response.value)}`);
    assert.ok(refused.length > 0, "requests beyond the in-flight bound were refused");
    assert.ok(done.length >= MAX_IN_FLIGHT, `${done.length} puts done`);
    t.diagnostic(`${done.length} puts done, ${refused.length} refused`);

    // Exactly the accepted puts ran.
    const count = new RawPipeline(session);
    await count.ready();
    count.stream.end(frame({ id: 1n, request: { case: "range", value: { key: bytes("bp/"), rangeEnd: bytes("bp0"), countOnly: true } } }));
    assert.equal((await count.ended()).code, 0);
    const range = count.answers[0]?.response;
    assert.ok(range?.case === "range", count.describe());
    assert.equal(range.value.count, BigInt(done.length));

    pipeline.stream.end();
    assert.equal((await pipeline.ended()).code, 0);
  });
});
