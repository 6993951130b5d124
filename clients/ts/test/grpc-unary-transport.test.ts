/**
 * The Node entry's lean unary gRPC calls (grpc-unary-transport.ts) against real HTTP/2 servers on
 * 127.0.0.1: connect-node's server (answers, errors with metadata in trailers, deadlines), and a
 * bare node:http2 server scripting what connect-node never sends (a trailers-only error, a reset,
 * two messages, no status, a wrong content type).
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient as createServiceClient, type ConnectRouter } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { KVService, RangeResponseSchema } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { ENVELOPE_HEADER_BYTES, encodeEnvelopes } from "../src/grpc-envelope.js";
import { leanGrpcUnaryTransport } from "../src/grpc-unary-transport.js";
import { isConnectionNotEstablished } from "../src/retry-policy.js";
import { refusedUrl, serveHttp2, serveRoutes, type Served } from "./h2-server.js";
import { within } from "./helpers.js";

const servers: Served[] = [];
const managers: Http2SessionManager[] = [];
after(async () => {
  for (const m of managers) m.abort();
  await Promise.all(servers.map((s) => s.stop()));
});

function kvClient(url: string) {
  const sessionManager = new Http2SessionManager(url);
  managers.push(sessionManager);
  const transport = leanGrpcUnaryTransport(createGrpcTransport({ baseUrl: url, sessionManager }), sessionManager, url);
  return createServiceClient(KVService, transport);
}

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await within(promise, "the call to fail");
  } catch (err) {
    if (err instanceof ConnectError) return err;
    throw err;
  }
  throw new Error("the call succeeded");
}

function rangeAnswer(key: string): Buffer {
  const bytes = toBinary(RangeResponseSchema, create(RangeResponseSchema, { count: 1n, kvs: [{ key: Buffer.from(key), value: Buffer.from("v") }] }));
  return encodeEnvelopes([bytes], ENVELOPE_HEADER_BYTES + bytes.length);
}

describe("lean unary gRPC calls", () => {
  it("round-trip against connect-node's server: answer, error metadata from trailers, deadline", async () => {
    const served = await serveRoutes((router: ConnectRouter) =>
      router.service(KVService, {
        range: (req) => ({ count: 7n, kvs: [{ key: req.key, value: Buffer.from("value") }] }),
        put: () => {
          throw new ConnectError("shutting down", Code.Unavailable, { "sisyphus-not-applied": "1" });
        },
        deleteRange: () => new Promise(() => undefined),
      }),
    );
    servers.push(served);
    const kv = kvClient(served.url);
    const res = await within(kv.range({ key: Buffer.from("k") }), "range");
    assert.equal(res.count, 7n);
    assert.deepEqual(Buffer.from(res.kvs[0].value).toString(), "value");
    const put = await rejection(kv.put({ key: Buffer.from("k"), value: Buffer.from("v") }));
    assert.deepEqual([put.code, put.rawMessage, put.metadata.get("sisyphus-not-applied")], [Code.Unavailable, "shutting down", "1"]);
    const started = Date.now();
    const slow = await rejection(kv.deleteRange({ key: Buffer.from("k") }, { timeoutMs: 150 }));
    assert.equal(slow.code, Code.DeadlineExceeded);
    assert.ok(Date.now() - started < 3000, "the deadline ends the call promptly");
  });

  it("an aborted signal cancels the call and resets its stream", async () => {
    let reset = false;
    const served = await serveHttp2((stream) => {
      stream.on("close", () => (reset = stream.rstCode === http2.constants.NGHTTP2_CANCEL));
      stream.on("error", () => undefined);
    });
    servers.push(served);
    const abort = new AbortController();
    const call = kvClient(served.url).range({ key: Buffer.from("k") }, { signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    const err = await rejection(call);
    assert.equal(err.code, Code.Canceled);
    await within(new Promise<void>((resolve) => { const t = setInterval(() => { if (reset) { clearInterval(t); resolve(); } }, 5); }), "the server to see the reset");
  });

  it("reads the server's scripted answers: trailers-only error, reset, two messages, no status, wrong content type", async () => {
    const scripts: Record<string, (stream: http2.ServerHttp2Stream) => void> = {
      "trailers-only": (s) => s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "5", "grpc-message": "no%20such" }, { endStream: true }),
      reset: (s) => s.close(http2.constants.NGHTTP2_INTERNAL_ERROR),
      "two-messages": (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end(Buffer.concat([rangeAnswer("a"), rangeAnswer("b")]));
      },
      "no-status": (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" });
        s.end(rangeAnswer("a"));
      },
      "content-type": (s) => {
        s.respond({ ":status": 200, "content-type": "text/html" });
        s.end("<html>");
      },
    };
    const served = await serveHttp2((stream) => {
      stream.on("error", () => undefined);
      let body = "";
      stream.on("data", (c: Buffer) => (body += c.subarray(ENVELOPE_HEADER_BYTES).toString("latin1")));
      stream.on("end", () => {
        const name = Object.keys(scripts).find((k) => body.includes(k));
        if (name === undefined) stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
        else scripts[name](stream);
      });
    });
    servers.push(served);
    const kv = kvClient(served.url);
    const call = (name: string) => rejection(kv.range({ key: Buffer.from(name) }));
    const expected: [string, Code, RegExp][] = [
      ["trailers-only", Code.NotFound, /^no such$/],
      ["reset", Code.Unavailable, /reset|error code NGHTTP2_INTERNAL_ERROR/],
      ["two-messages", Code.Unimplemented, /2 messages/],
      ["no-status", Code.Internal, /without a status/],
      ["content-type", Code.Unknown, /content type/],
    ];
    for (const [name, code, message] of expected) {
      const err = await call(name);
      assert.equal(err.code, code, `${name}: ${err.message}`);
      assert.match(err.rawMessage, message, name);
    }
  });

  it("a refused connection is UNAVAILABLE caused by the system error (so writes may be retried)", async () => {
    const err = await rejection(kvClient(await refusedUrl()).put({ key: Buffer.from("k"), value: Buffer.from("v") }));
    assert.equal(err.code, Code.Unavailable);
    assert.ok(isConnectionNotEstablished(err), `expected ECONNREFUSED in the cause chain: ${err.message}`);
  });
});
