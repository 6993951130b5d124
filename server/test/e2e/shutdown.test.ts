// Graceful shutdown of a real server process (SIGTERM) under load: unary puts from 16 writers,
// a Pipeline stream with calls in flight, and a Watch stream. Every call gets an answer (OK, or
// UNAVAILABLE / a connection error once the member is draining), the Pipeline answers every
// request it accepted before its stream ends, the Watch stream ends with UNAVAILABLE instead of
// hanging, the process exits 0 well within --shutdown-timeout-ms, and after a restart every
// acknowledged put is there.
import assert from "node:assert/strict";
import http from "node:http";
import { after, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { PipelineRequest, PipelineResponse } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import type { WatchRequest } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { createClients, openTransport, type ProtocolVariant } from "./protocols.js";
import { ServerProcess, stopAllServers } from "./server-process.js";
import { RequestStream, StreamReader, withDeadline } from "./streams.js";
import { bytes, text } from "./suite.js";

const GRPC: ProtocolVariant = { name: "gRPC", protocol: "grpc", httpVersion: "2", binary: true, calls: { unary: true, serverStreams: true, bidi: true } };
const WRITERS = 16;
const PUTS_PER_WRITER_MAX = 5_000;
const ACKS_BEFORE_SIGTERM = 300;
const PIPELINE_CALLS_MAX = 20_000;
const PIPELINE_WINDOW = 64;
const STEP_TIMEOUT_MS = 20_000;

after(() => stopAllServers());

it("SIGTERM drains calls in flight, ends streams with UNAVAILABLE, exits 0, and loses no acknowledged put", async (t) => {
  const server = await ServerProcess.start({ args: ["--shutdown-timeout-ms", "8000"] });
  const connection = openTransport(GRPC, server.url);
  const clients = createClients(connection.transport);
  const acked = new Map<string, bigint>();
  const failures: ConnectError[] = [];
  let feeder: NodeJS.Timeout | undefined;
  try {
    const watchRequests = new RequestStream<WatchRequest>();
    watchRequests.push({ request: { case: "create", value: { key: bytes("drain/"), rangeEnd: bytes("drain0") } } } as WatchRequest);
    const watch = new StreamReader(clients.watch.watch(watchRequests), "Watch");
    await watch.next(STEP_TIMEOUT_MS, "the watch's created response");

    let stopWriting = false;
    let sigtermSent = false;
    let reachedAcks: () => void = () => {};
    const enoughAcks = new Promise<void>((resolve) => (reachedAcks = resolve));
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < PUTS_PER_WRITER_MAX && !stopWriting; i++) {
        const key = `drain/${w}/${i}`;
        try {
          const res = await clients.kv.put({ key: bytes(key), value: bytes(key) }, { timeoutMs: STEP_TIMEOUT_MS });
          acked.set(key, res.header?.revision ?? 0n);
          if (acked.size >= ACKS_BEFORE_SIGTERM) reachedAcks();
        } catch (err) {
          const error = ConnectError.from(err);
          assert.ok(sigtermSent, `a put failed before SIGTERM: ${error.message}`);
          failures.push(error);
          return;
        }
      }
    });
    await enoughAcks;

    // A pipeline kept busy: at most PIPELINE_WINDOW calls in flight, refilled as answers arrive.
    const pipelineRequests = new RequestStream<PipelineRequest>();
    const pipeline = new StreamReader<PipelineResponse>(clients.kv.pipeline(pipelineRequests), "Pipeline");
    await pipeline.next(STEP_TIMEOUT_MS, "the pipeline's ready message");
    let sent = 0;
    const feedPipeline = (): void => {
      while (!sigtermSent && sent < PIPELINE_CALLS_MAX && sent - pipeline.received.length < PIPELINE_WINDOW) {
        sent++;
        pipelineRequests.push({ id: BigInt(sent), request: { case: "put", value: { key: bytes(`drain/p/${sent}`), value: bytes("p") } } } as PipelineRequest);
      }
    };
    feeder = setInterval(feedPipeline, 1);
    feedPipeline();
    await withDeadline(pipeline.nextUntil(() => pipeline.received.length > 100, STEP_TIMEOUT_MS, "100 pipeline answers", PIPELINE_CALLS_MAX), STEP_TIMEOUT_MS, "100 pipeline answers");

    sigtermSent = true;
    const exit = await withDeadline(server.stop(STEP_TIMEOUT_MS), STEP_TIMEOUT_MS, "the server to exit after SIGTERM");
    clearInterval(feeder);
    stopWriting = true;
    await withDeadline(Promise.all(writers), STEP_TIMEOUT_MS, "the writers to finish");
    assert.equal(exit, 0, `exit code after SIGTERM; server output:\n${server.output.slice(-3000)}`);
    assert.match(server.output, /"member stopped"/);

    for (const error of failures) {
      assert.ok([Code.Unavailable, Code.Canceled, Code.Internal, Code.Unknown].includes(error.code), `a put failed during the drain with ${error.message}`);
    }

    // The pipeline answered each request it accepted, once, before its stream ended.
    const pipelineEnd = await pipeline.endedAfterAnything(STEP_TIMEOUT_MS);
    if (!pipelineEnd.ok) assert.ok([Code.Unavailable, Code.Canceled, Code.Internal, Code.Unknown].includes(pipelineEnd.error.code), pipelineEnd.error.message);
    const answered = new Set<bigint>();
    for (const response of pipeline.received) {
      if (response.id === 0n) continue;
      assert.ok(!answered.has(response.id), `pipeline id ${response.id} answered twice`);
      answered.add(response.id);
      if (response.response.case === "put") {
        acked.set(`drain/p/${response.id}`, response.response.value.header?.revision ?? 0n);
      } else {
        assert.equal(response.response.case, "error", `pipeline id ${response.id}`);
        assert.deepEqual([response.response.value.code, response.response.value.notApplied], [Code.Unavailable, true], `pipeline id ${response.id}: ${response.response.value.message}`);
      }
    }

    t.diagnostic(`${acked.size} puts acknowledged, ${failures.length} writers stopped by the drain, ${answered.size} of ${sent} pipeline calls answered`);
    const watchEnd = await watch.endedAfterAnything(STEP_TIMEOUT_MS);
    assert.ok(!watchEnd.ok, "the watch stream must end with an error, not cleanly");
    assert.ok([Code.Unavailable, Code.Canceled, Code.Internal, Code.Unknown].includes(watchEnd.error.code), watchEnd.error.message);
    connection.close();

    const restarted = await ServerProcess.start({ dataDir: server.dataDir });
    const again = openTransport(GRPC, restarted.url);
    try {
      const all = await createClients(again.transport).kv.range({ key: bytes("drain/"), rangeEnd: bytes("drain0") });
      const stored = new Map(all.kvs.map((kv) => [text(kv.key), kv.modRevision]));
      for (const [key, revision] of acked) {
        assert.equal(stored.get(key), revision, `acknowledged put ${key} at revision ${revision} after the restart`);
      }
    } finally {
      again.close();
      await restarted.stop();
      restarted.removeData();
    }
  } finally {
    clearInterval(feeder);
    connection.close();
  }
});

it("an idle HTTP/1.1 keep-alive connection does not hold SIGTERM up until the drain deadline", async () => {
  const drainMs = 20_000;
  const server = await ServerProcess.start({ args: ["--shutdown-timeout-ms", String(drainMs)] });
  const agent = new http.Agent({ keepAlive: true });
  try {
    // One answered request leaves the connection open and idle, as curl --keepalive, browsers and fetch do.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${server.url}/healthz`, { agent }, (res) => {
        res.resume();
        res.once("end", () => resolve(res.statusCode ?? 0));
      });
      req.once("error", reject);
      req.end();
    });
    assert.equal(status, 200);
    assert.equal(Object.values(agent.freeSockets).flat().length, 1, "the connection stays open, idle");
    const exitCode = await server.stop(drainMs - 5_000);
    assert.equal(exitCode, 0);
    const stopped = /"ms":(\d+),[^\n]*"member stopped"/.exec(server.output);
    assert.ok(stopped !== null, `no "member stopped" line in:\n${server.output}`);
    assert.ok(Number(stopped[1]) < drainMs / 2, `the member took ${stopped[1]} ms to stop, waiting on the idle connection`);
  } finally {
    agent.destroy();
  }
});
