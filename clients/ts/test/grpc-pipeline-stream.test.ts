/**
 * The Node entry's gRPC Pipeline stream (grpc-pipeline-stream.ts) against real HTTP/2 servers on
 * 127.0.0.1: a bare node:http2 server whose streams each test scripts (batching, trailers,
 * trailers-only responses, resets, back-pressure, protocol errors) and connect-node's server (the
 * status and metadata as Connect writes them). Through createClient too: the default Node client
 * uses this stream, and closing the client ends it and its connection.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import * as http2 from "node:http2";
import { after, describe, it } from "node:test";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { Http2SessionManager } from "@connectrpc/connect-node";
import {
  KVService,
  PipelineRequestSchema,
  PipelineResponseSchema,
  PutRequestSchema,
  type PipelineRequest,
  type PipelineResponse,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { ENVELOPE_HEADER_BYTES, EnvelopeReader, encodeEnvelopes } from "../src/grpc-envelope.js";
import { grpcPipelineStreams } from "../src/grpc-pipeline-stream.js";
import { Code, ConnectError, createClient, NOT_APPLIED_METADATA_KEY } from "../src/index.js";
import type { PipelineStream, PipelineStreamHandlers } from "../src/pipeline-stream.js";
import { isConnectionNotEstablished } from "../src/retry-policy.js";
import { refusedUrl, serveFake, serveHttp2, serveRoutes, type Served } from "./h2-server.js";
import { waitFor, within } from "./helpers.js";

type PipelineResponseInit = MessageInitShape<typeof PipelineResponseSchema>;

const PIPELINE_PATH = "/sisyphus.kv.v1.KVService/Pipeline";
const READY: PipelineResponseInit = { id: 0n, response: { case: "ready", value: { maxInFlight: 1024 } } };

function frameResponses(responses: PipelineResponseInit[]): Buffer {
  const messages = responses.map((r) => toBinary(PipelineResponseSchema, create(PipelineResponseSchema, r)));
  return encodeEnvelopes(messages, messages.reduce((sum, m) => sum + ENVELOPE_HEADER_BYTES + m.length, 0));
}

function putRequest(id: bigint, key: string, valueBytes = 0): PipelineRequest {
  return create(PipelineRequestSchema, { id, request: { case: "put", value: create(PutRequestSchema, { key: Buffer.from(key), value: new Uint8Array(valueBytes).fill(0x61) }) } });
}

function putAnswer(id: bigint, revision: bigint): PipelineResponseInit {
  return { id, response: { case: "put", value: { header: { revision } } } };
}

/** One stream on the scripted server: what it received, and how to answer. */
class ScriptedStream {
  readonly requests: PipelineRequest[] = [];
  /** 'data' events on the server's stream: one per DATA frame received. */
  dataChunks = 0;
  closed = false;
  private readonly reader = new EnvelopeReader();

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly headers: http2.IncomingHttpHeaders,
    private readonly changes: EventEmitter,
  ) {
    stream.on("data", (chunk: Buffer) => {
      this.dataChunks++;
      this.reader.push(chunk, (m) => this.requests.push(fromBinary(PipelineRequestSchema, m)));
      changes.emit("change");
    });
    stream.on("error", () => undefined);
    stream.on("close", () => {
      this.closed = true;
      changes.emit("change");
    });
  }

  /** Response headers of a gRPC response; trailers follow with finish(). */
  respond(headers: http2.OutgoingHttpHeaders = { "content-type": "application/grpc" }): void {
    this.stream.respond({ ":status": 200, ...headers }, { waitForTrailers: true });
  }

  send(...responses: PipelineResponseInit[]): void {
    this.stream.write(frameResponses(responses));
  }

  /** Ends the response with these trailers. */
  finish(trailers: http2.OutgoingHttpHeaders): void {
    this.stream.once("wantTrailers", () => this.stream.sendTrailers(trailers));
    this.stream.end();
  }

  whenReceived(count: number, what: string): Promise<void> {
    return waitFor(this.changes, () => this.requests.length >= count, what);
  }
}

/** A bare h2c server running `script` on each stream. */
class ScriptedServer {
  readonly streams: ScriptedStream[] = [];
  readonly changes = new EventEmitter();
  script: (stream: ScriptedStream) => void = (s) => {
    s.respond();
    s.send(READY);
  };
  private served: Served | undefined;

  get url(): string {
    return this.http2.url;
  }

  get http2(): Served {
    if (this.served === undefined) throw new Error("the scripted server is not started");
    return this.served;
  }

  async start(): Promise<this> {
    this.served = await serveHttp2((stream, headers) => {
      const scripted = new ScriptedStream(stream, headers, this.changes);
      this.streams.push(scripted);
      this.changes.emit("change");
      this.script(scripted);
    });
    return this;
  }

  whenStreams(count: number): Promise<ScriptedStream> {
    return waitFor(this.changes, () => this.streams.length >= count, `${count} stream(s) to open`).then(() => this.streams[count - 1]);
  }

  async stop(): Promise<void> {
    await this.served?.stop();
  }
}

/** The handlers a stream reports to, recording everything for the test. */
class Recorder implements PipelineStreamHandlers {
  readonly responses: PipelineResponse[] = [];
  readonly ends: (ConnectError | undefined)[] = [];
  /** Set when a response arrives after the end: the contract forbids it. */
  responseAfterEnd = false;
  readonly changes = new EventEmitter();

  onResponse(response: PipelineResponse): void {
    if (this.ends.length > 0) this.responseAfterEnd = true;
    this.responses.push(response);
    this.changes.emit("change");
  }

  onEnd(error: ConnectError | undefined): void {
    this.ends.push(error);
    this.changes.emit("change");
  }

  whenResponses(count: number): Promise<void> {
    return waitFor(this.changes, () => this.responses.length >= count, `${count} response(s)`);
  }

  /** Waits for the end and returns its error (undefined for status OK). */
  async whenEnded(): Promise<ConnectError | undefined> {
    await waitFor(this.changes, () => this.ends.length > 0, "the stream to end");
    assert.equal(this.ends.length, 1, "onEnd is called once");
    assert.equal(this.responseAfterEnd, false, "no response after the end");
    return this.ends[0];
  }
}

/** Opens the lean stream to `url` on its own session manager; abort() it in a finally. */
function open(url: string): { stream: PipelineStream; recorder: Recorder; sessionManager: Http2SessionManager } {
  const sessionManager = new Http2SessionManager(url);
  const recorder = new Recorder();
  const stream = grpcPipelineStreams(sessionManager, url)(recorder);
  return { stream, recorder, sessionManager };
}

describe("gRPC Pipeline stream on node:http2", () => {
  const server = new ScriptedServer();
  const started = server.start();
  after(async () => {
    await server.stop();
  });

  /** Runs `test` with a stream to the scripted server whose streams follow `script`. */
  async function withStream(script: (s: ScriptedStream) => void, test: (opened: ReturnType<typeof open>) => Promise<void>): Promise<void> {
    await started;
    server.script = script;
    const opened = open(server.url);
    try {
      await test(opened);
    } finally {
      opened.stream.cancel(new ConnectError("test over", Code.Canceled));
      opened.sessionManager.abort();
    }
  }

  it("is what the Node client uses by default: a gRPC POST without a deadline", async () => {
    await started;
    server.script = (s) => {
      s.respond();
      s.send(READY);
      s.stream.on("data", () => {
        for (const request of s.requests.splice(0)) s.send(putAnswer(request.id, 7n));
      });
    };
    const client = createClient({ endpoints: [server.url] });
    try {
      const before = server.streams.length;
      assert.equal((await within(client.put("k", "v"), "the put")).revision, 7);
      const { headers } = server.streams[before];
      assert.equal(headers[":method"], "POST");
      assert.equal(headers[":path"], PIPELINE_PATH);
      assert.equal(headers["content-type"], "application/grpc");
      assert.equal(headers.te, "trailers");
      assert.match(String(headers["user-agent"]), /^sisyphusdb-client-ts/);
      assert.equal(headers["grpc-timeout"], undefined);
    } finally {
      await client.close();
    }
  });

  it("writes the requests sent in one turn of the event loop as one DATA frame", async () => {
    await withStream(
      (s) => {
        s.respond();
        s.send(READY);
      },
      async ({ stream }) => {
        const scripted = await server.whenStreams(server.streams.length + 1);
        for (let id = 1n; id <= 100n; id++) stream.send(putRequest(id, `k${id}`));
        await scripted.whenReceived(100, "the 100 requests");
        assert.equal(scripted.dataChunks, 1, `100 requests sent in one turn arrived in ${scripted.dataChunks} DATA frames`);
        assert.deepEqual(
          scripted.requests.map((r) => r.id),
          Array.from({ length: 100 }, (_, i) => BigInt(i + 1)),
        );
        // A later turn is a later write.
        stream.send(putRequest(101n, "k101"));
        await scripted.whenReceived(101, "the 101st request");
        assert.equal(scripted.dataChunks, 2);
      },
    );
  });

  it("delivers every response of a chunk in order, and a response split over many frames whole", async () => {
    const big = new Uint8Array(1 << 20).map((_, i) => i % 251);
    await withStream(
      (s) => {
        s.respond();
        s.stream.write(frameResponses([READY, ...Array.from({ length: 200 }, (_, i) => putAnswer(BigInt(200 - i), BigInt(i + 1)))]));
        s.send({ id: 201n, response: { case: "range", value: { kvs: [{ key: Buffer.from("big"), value: big }], count: 1n } } });
      },
      async ({ recorder }) => {
        await recorder.whenResponses(202);
        assert.equal(recorder.responses[0].response.case, "ready");
        assert.deepEqual(
          recorder.responses.slice(1, 201).map((r) => r.id),
          Array.from({ length: 200 }, (_, i) => BigInt(200 - i)),
        );
        const last = recorder.responses[201];
        assert.equal(last.response.case, "range");
        assert.deepEqual(last.response.case === "range" ? last.response.value.kvs[0].value : undefined, big);
      },
    );
  });

  it("sends the requests made before the stream is connected once it is", async () => {
    await withStream(
      (s) => {
        s.respond();
        s.send(READY);
      },
      async ({ stream }) => {
        const before = server.streams.length;
        stream.send(putRequest(1n, "early-1"));
        stream.send(putRequest(2n, "early-2"));
        const scripted = await server.whenStreams(before + 1);
        await scripted.whenReceived(2, "the early requests");
        assert.deepEqual(
          scripted.requests.map((r) => r.id),
          [1n, 2n],
        );
      },
    );
  });

  it("ends without an error on status OK in the trailers", async () => {
    await withStream(
      (s) => {
        s.respond();
        s.send(READY);
        s.finish({ "grpc-status": "0" });
      },
      async ({ recorder }) => {
        assert.equal(await within(recorder.whenEnded(), "the end"), undefined);
        assert.equal(recorder.responses.length, 1);
      },
    );
  });

  it("ends with the code, message and metadata of an error status in the trailers", async () => {
    await withStream(
      (s) => {
        s.respond({ "content-type": "application/grpc", "x-response-header": "h" });
        s.send(READY);
        s.finish({ "grpc-status": String(Code.Unavailable), "grpc-message": encodeURIComponent("shutting down: 100% sure"), [NOT_APPLIED_METADATA_KEY]: "1" });
      },
      async ({ recorder }) => {
        const error = await within(recorder.whenEnded(), "the end");
        assert.ok(error instanceof ConnectError);
        assert.equal(error.code, Code.Unavailable);
        assert.equal(error.rawMessage, "shutting down: 100% sure");
        assert.equal(error.metadata.get(NOT_APPLIED_METADATA_KEY), "1");
        assert.equal(error.metadata.get("x-response-header"), "h");
      },
    );
  });

  it("reads the status of a trailers-only response (headers with END_STREAM)", async () => {
    await withStream(
      (s) => {
        s.stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": String(Code.ResourceExhausted), "grpc-message": "too many streams", [NOT_APPLIED_METADATA_KEY]: "1" },
          { endStream: true },
        );
      },
      async ({ recorder }) => {
        const error = await within(recorder.whenEnded(), "the end");
        assert.equal(error?.code, Code.ResourceExhausted);
        assert.equal(error.rawMessage, "too many streams");
        assert.equal(error.metadata.get(NOT_APPLIED_METADATA_KEY), "1");
      },
    );
  });

  for (const [name, rstCode] of [
    ["INTERNAL_ERROR", http2.constants.NGHTTP2_INTERNAL_ERROR],
    ["CANCEL", http2.constants.NGHTTP2_CANCEL],
  ] as const) {
    it(`ends with UNAVAILABLE when the server resets the stream (${name})`, async () => {
      await withStream(
        (s) => {
          s.respond();
          s.send(READY);
          s.stream.on("data", () => s.stream.close(rstCode));
        },
        async ({ stream, recorder }) => {
          await recorder.whenResponses(1);
          stream.send(putRequest(1n, "k"));
          const error = await within(recorder.whenEnded(), "the end");
          assert.equal(error?.code, Code.Unavailable, `got ${String(error)}`);
        },
      );
    });
  }

  it("ends with UNAVAILABLE when the connection drops", async () => {
    const served = await serveHttp2((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.write(frameResponses([READY]));
    });
    const { stream, recorder, sessionManager } = open(served.url);
    try {
      await recorder.whenResponses(1);
      await served.stop();
      const error = await within(recorder.whenEnded(), "the end");
      assert.equal(error?.code, Code.Unavailable, `got ${String(error)}`);
    } finally {
      stream.cancel(new ConnectError("test over", Code.Canceled));
      sessionManager.abort();
      await served.stop();
    }
  });

  it("ends with UNAVAILABLE, showing that nothing was sent, when no connection can be made", async () => {
    const { stream, recorder, sessionManager } = open(await refusedUrl());
    try {
      stream.send(putRequest(1n, "k"));
      const error = await within(recorder.whenEnded(), "the end");
      assert.equal(error?.code, Code.Unavailable);
      assert.ok(isConnectionNotEstablished(error), `ECONNREFUSED is not in the cause chain of ${String(error)}`);
    } finally {
      sessionManager.abort();
    }
  });

  const protocolErrors: { name: string; script: (s: ScriptedStream) => void; code: Code }[] = [
    { name: "an HTTP status other than 200", script: (s) => s.stream.respond({ ":status": 503 }, { endStream: true }), code: Code.Unavailable },
    {
      name: "another content type",
      script: (s) => {
        s.respond({ "content-type": "text/html" });
        s.stream.end("<html></html>");
      },
      code: Code.Unknown,
    },
    {
      name: "a compressed message",
      script: (s) => {
        s.respond();
        const bytes = frameResponses([READY]);
        bytes[0] = 1;
        s.stream.write(bytes);
      },
      code: Code.Internal,
    },
    {
      name: "an undecodable message",
      script: (s) => {
        s.respond();
        s.stream.write(encodeEnvelopes([Uint8Array.of(0xff, 0xff, 0xff)], 8));
      },
      code: Code.Internal,
    },
    {
      name: "a message cut short by the end of the stream",
      script: (s) => {
        s.respond();
        s.stream.write(frameResponses([READY]).subarray(0, 7));
        s.finish({ "grpc-status": "0" });
      },
      code: Code.Internal,
    },
    {
      name: "no status",
      script: (s) => {
        s.stream.respond({ ":status": 200, "content-type": "application/grpc" });
        s.stream.end(frameResponses([READY]));
      },
      code: Code.Internal,
    },
  ];
  for (const { name, script, code } of protocolErrors) {
    it(`ends with ${Code[code]} on ${name}`, async () => {
      await withStream(script, async ({ recorder }) => {
        const error = await within(recorder.whenEnded(), "the end");
        assert.equal(error?.code, code, `got ${String(error)}`);
      });
    });
  }

  it("holds requests while the stream is full and loses none (back-pressure)", async () => {
    let resume: () => void = () => undefined;
    await withStream(
      (s) => {
        s.respond();
        s.send(READY);
        // Read nothing until the client has sent everything: its writes fill the flow-control window.
        s.stream.pause();
        resume = () => s.stream.resume();
      },
      async ({ stream, recorder }) => {
        await recorder.whenResponses(1);
        const scripted = server.streams[server.streams.length - 1];
        const count = 400;
        const valueBytes = 16 << 10;
        // In many turns, so that requests gather while the stream waits for 'drain'.
        for (let id = 1; id <= count; id++) {
          stream.send(putRequest(BigInt(id), `k${id}`, valueBytes));
          if (id % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        assert.ok(scripted.requests.length < count, "the server read before it was resumed");
        resume();
        await scripted.whenReceived(count, `all ${count} requests (${(count * valueBytes) >> 20} MiB)`);
        assert.deepEqual(
          scripted.requests.map((r) => Number(r.id)),
          Array.from({ length: count }, (_, i) => i + 1),
        );
        assert.ok(scripted.requests.every((r) => r.request.case === "put" && r.request.value.value.length === valueBytes));
      },
    );
  });

  it("cancel() resets the stream and reports nothing after", async () => {
    await withStream(
      (s) => {
        s.respond();
        s.send(READY);
      },
      async ({ stream, recorder }) => {
        await recorder.whenResponses(1);
        const scripted = server.streams[server.streams.length - 1];
        stream.cancel(new ConnectError("done", Code.Canceled));
        await waitFor(server.changes, () => scripted.closed, "the server to see the stream close");
        assert.equal(scripted.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
        stream.send(putRequest(1n, "after-cancel"));
        assert.deepEqual(recorder.ends, []);
      },
    );
  });

  it("closing the client ends the Pipeline stream and the connection", async () => {
    await started;
    server.script = (s) => {
      s.respond();
      s.send(READY);
      s.stream.on("data", () => {
        for (const request of s.requests.splice(0)) s.send(putAnswer(request.id, 1n));
      });
    };
    const before = server.streams.length;
    const client = createClient({ endpoints: [server.url] });
    try {
      await within(client.put("k", "v"), "the put");
    } finally {
      await client.close();
    }
    const scripted = server.streams[before];
    await waitFor(server.changes, () => scripted.closed, "the Pipeline stream to close");
    await waitFor(server.http2.changes, () => server.http2.connections.open === 0, "the connection to close");
  });
});

describe("gRPC Pipeline stream against connect-node's server", () => {
  it("shares one connection with the unary calls and streams of its endpoint", async () => {
    const served = await serveFake("2");
    const client = createClient({ endpoints: [served.url] });
    try {
      const watcher = client.watch("k");
      await within(watcher.ready, "the watcher");
      await within(Promise.all(Array.from({ length: 10 }, (_, i) => client.put(`k${i}`, "v"))), "the puts");
      await client.compact(2);
      assert.equal(served.fake.pipelineStats.streams, 1);
      assert.equal(served.connections.accepted, 1);
    } finally {
      await client.close();
      await served.stop();
    }
  });

  it("reads the status and metadata connect-node writes in the trailers", async () => {
    const routes = (router: ConnectRouter): void => {
      router.service(KVService, {
        async *pipeline() {
          yield READY;
          throw new ConnectError("not applied", Code.Unavailable, { [NOT_APPLIED_METADATA_KEY]: "1" });
        },
      });
    };
    const served = await serveRoutes(routes);
    const { recorder, stream, sessionManager } = open(served.url);
    try {
      const error = await within(recorder.whenEnded(), "the end");
      assert.equal(recorder.responses[0]?.response.case, "ready");
      assert.equal(error?.code, Code.Unavailable);
      assert.equal(error.rawMessage, "not applied");
      assert.equal(error.metadata.get(NOT_APPLIED_METADATA_KEY), "1");
    } finally {
      stream.cancel(new ConnectError("test over", Code.Canceled));
      sessionManager.abort();
      await served.stop();
    }
  });
});
