/**
 * The lean h2-grpc drivers (loadtest/src/h2-grpc-driver.ts):
 *   - against a scripted local HTTP/2 server: the request's headers, and every way a call ends
 *     (trailers-only status, HTTP error, malformed body, reset stream, lost connection and lazy
 *     reconnect, the client's own deadline with the stream cancelled, the server's stream limit);
 *   - against a real one-member SisyphusDB (h2-grpc) and a real one-member etcd (etcd-h2-grpc,
 *     Debian's etcd-server, installed when missing as etcd-driver.test.ts does): runLoad for
 *     about a second each of put, get and txn with no errors, a put read back through another
 *     client, and an empty key rejected as INVALID_ARGUMENT.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import type net from "node:net";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { DRIVERS, type KvDriver, loadEtcdPackageDefinition } from "../../../loadtest/src/drivers.js";
import { errorCodeName } from "../../../loadtest/src/error-codes.js";
import { GrpcCallError } from "../../../loadtest/src/h2-grpc-driver.js";
import { DEFAULT_CONFIG, type LoadConfig } from "../../../loadtest/src/load-config.js";
import { runLoad } from "../../../loadtest/src/run-load.js";
import { ensureDebianPackage } from "../../bench/debian-package.js";
import { ETCD_BINARY, ETCD_PACKAGE, EtcdCluster } from "../../bench/etcd-cluster.js";
import { ServerProcess, stopAllServers } from "../e2e/server-process.js";

const INSTALL_TIMEOUT_MS = 60_000;
const CALL_DEADLINE_MS = 5_000;
const WAIT_MS = 5_000;

/** Polls `probe` until true, bounded by WAIT_MS. */
async function waitFor(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A gRPC length-prefixed message of `payload`. */
function frame(payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** The rejection of `call` as a GrpcCallError (fails the test when it resolves or rejects with anything else). */
async function rejection(call: Promise<void>): Promise<GrpcCallError> {
  const err = await call.then(
    () => assert.fail("the call succeeded"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GrpcCallError, `rejected with ${String(err)}`);
  return err;
}

const KEY = Buffer.from("k");
const VALUE = Buffer.from("v");

describe("the h2-grpc driver against a scripted HTTP/2 server", () => {
  /** What the server does with each stream, by its :path's method name; set per test. */
  let answer: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void = () => {};
  const server = http2.createServer({ settings: { maxConcurrentStreams: 4 } });
  const sessions = new Set<http2.ServerHttp2Session>();
  let url = "";

  before(async () => {
    server.on("session", (session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
    });
    server.on("stream", (stream, headers) => {
      // A stream a test resets, or the client cancels, emits 'error' here; the tests check the client's side.
      stream.on("error", () => {});
      answer(stream, headers);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });

  after(async () => {
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const driver = (timeoutMs = CALL_DEADLINE_MS): KvDriver => DRIVERS["h2-grpc"](url, { timeoutMs });
  const ok = (stream: http2.ServerHttp2Stream): void => {
    stream.resume();
    stream.once("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame(Buffer.from([0x0a, 0x00])));
    });
  };

  it("sends a gRPC POST to /<service>/<Method> with the deadline, and resolves on grpc-status 0", async () => {
    const seen: http2.IncomingHttpHeaders[] = [];
    answer = (stream, headers) => {
      seen.push(headers);
      ok(stream);
    };
    const d = DRIVERS["etcd-h2-grpc"](url, { timeoutMs: 1_500 });
    try {
      await d.put(KEY, VALUE);
      await d.get(KEY, { serializable: true });
      await d.txn(KEY, VALUE);
    } finally {
      await d.close();
    }
    assert.deepEqual(
      seen.map((h) => [h[":method"], h[":path"], h["content-type"], h.te, h["grpc-timeout"]]),
      ["Put", "Range", "Txn"].map((m) => ["POST", `/etcdserverpb.KV/${m}`, "application/grpc", "trailers", "1500m"]),
    );
  });

  it("rejects a trailers-only error with its code and decoded message", async () => {
    answer = (stream) => stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "9", "grpc-message": "not%20now%3A%20busy" }, { endStream: true });
    const d = driver();
    try {
      const err = await rejection(d.put(KEY, VALUE));
      assert.equal(err.code, 9);
      assert.equal(errorCodeName(err), "FAILED_PRECONDITION");
      assert.equal(err.grpcMessage, "not now: busy");
    } finally {
      await d.close();
    }
  });

  it("rejects a status in the trailers after a message", async () => {
    answer = (stream) => {
      stream.resume();
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "3", "grpc-message": "key is not provided" }));
      stream.end(frame(Buffer.alloc(0)));
    };
    const d = driver();
    try {
      const err = await rejection(d.put(KEY, VALUE));
      assert.equal(errorCodeName(err), "INVALID_ARGUMENT");
      assert.equal(err.grpcMessage, "key is not provided");
    } finally {
      await d.close();
    }
  });

  it("maps an HTTP error without grpc-status (503 -> UNAVAILABLE, 404 -> UNIMPLEMENTED)", async () => {
    for (const [status, code] of [
      [503, "UNAVAILABLE"],
      [404, "UNIMPLEMENTED"],
    ] as const) {
      answer = (stream) => stream.respond({ ":status": status }, { endStream: true });
      const d = driver();
      try {
        assert.equal(errorCodeName(await rejection(d.get(KEY))), code, `HTTP ${status}`);
      } finally {
        await d.close();
      }
    }
  });

  it("rejects status 0 with a malformed body as INTERNAL", async () => {
    answer = (stream) => {
      stream.resume();
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      // The envelope announces 10 bytes; 2 follow.
      stream.end(Buffer.from([0, 0, 0, 0, 10, 1, 2]));
    };
    const d = driver();
    try {
      const err = await rejection(d.get(KEY));
      assert.equal(errorCodeName(err), "INTERNAL");
      assert.match(err.message, /one message of 10/);
    } finally {
      await d.close();
    }
  });

  it("maps a reset stream (REFUSED_STREAM -> UNAVAILABLE)", async () => {
    answer = (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    const d = driver();
    try {
      assert.equal(errorCodeName(await rejection(d.put(KEY, VALUE))), "UNAVAILABLE");
    } finally {
      await d.close();
    }
  });

  it("rejects pending calls when the connection is lost, and reconnects on the next call", async () => {
    let streams = 0;
    answer = (stream) => {
      streams++;
      if (streams === 1) stream.session?.destroy();
      else ok(stream);
    };
    const d = driver();
    try {
      assert.equal(errorCodeName(await rejection(d.put(KEY, VALUE))), "UNAVAILABLE");
      await d.put(KEY, VALUE);
      assert.equal(streams, 2);
    } finally {
      await d.close();
    }
  });

  it("rejects with UNAVAILABLE when nothing listens", async () => {
    const closed = http2.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const d = DRIVERS["h2-grpc"](`http://127.0.0.1:${port}`, { timeoutMs: CALL_DEADLINE_MS });
    try {
      assert.equal(errorCodeName(await rejection(d.put(KEY, VALUE))), "UNAVAILABLE");
    } finally {
      await d.close();
    }
  });

  it("a server that never answers: DEADLINE_EXCEEDED at the client's deadline, and the stream is cancelled", async () => {
    const resets: number[] = [];
    answer = (stream) => {
      stream.resume();
      stream.once("close", () => resets.push(stream.rstCode));
    };
    const d = driver(50);
    try {
      const err = await rejection(d.get(KEY));
      assert.equal(err.code, 4);
      assert.equal(errorCodeName(err), "DEADLINE_EXCEEDED");
      await waitFor("the server to see the stream reset", () => resets.length === 1);
      assert.deepEqual(resets, [http2.constants.NGHTTP2_CANCEL]);
    } finally {
      await d.close();
    }
  });

  it("keeps to the server's stream limit: 40 concurrent calls on a 4-stream connection all succeed", async () => {
    let active = 0;
    let maxActive = 0;
    answer = (stream) => {
      active++;
      maxActive = Math.max(maxActive, active);
      stream.once("close", () => active--);
      // Hold each stream a little so the calls pile up against the limit.
      setTimeout(() => ok(stream), 5);
    };
    const d = driver();
    try {
      await Promise.all(Array.from({ length: 40 }, () => d.put(KEY, VALUE)));
    } finally {
      await d.close();
    }
    assert.ok(maxActive <= 4, `the server saw ${maxActive} concurrent streams, its limit is 4`);
  });
});

/** runLoad for about a second of each workload through `client`; no errors, some ops. */
function loadTests(client: string, endpoint: () => string): void {
  for (const workload of ["put", "get", "txn"] as const) {
    it(`runs ${workload} for a second with no errors`, async () => {
      const config: LoadConfig = {
        ...DEFAULT_CONFIG,
        endpoints: [endpoint()],
        client,
        workload,
        clients: 16,
        keys: 50,
        keyPrefix: "h2-driver-test/",
        durationMs: 1_000,
        warmupMs: 0,
        timeoutMs: CALL_DEADLINE_MS,
        preload: workload === "get",
      };
      const r = await runLoad(config);
      assert.ok(r.ops > 0, `no ${workload} succeeded against ${endpoint()}: ${JSON.stringify(r.errors_by_code)}`);
      assert.equal(r.errors, 0, `${workload} against ${endpoint()} failed: ${JSON.stringify(r.errors_by_code)}`);
      assert.equal(r.config.driver, client);
    });
  }
}

describe("the h2-grpc driver against a real SisyphusDB", { timeout: 60_000 }, () => {
  let server: ServerProcess | undefined;

  before(async () => {
    server = await ServerProcess.start();
  });

  after(async () => {
    await stopAllServers();
    server?.removeData();
  });

  const url = (): string => server?.url ?? assert.fail("no server");

  loadTests("h2-grpc", url);

  /** The value of `key` read back through the Connect JSON API (another client), undefined if absent. */
  async function readBack(key: string): Promise<string | undefined> {
    const response = await fetch(`${url()}/sisyphus.kv.v1.KVService/Range`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: Buffer.from(key).toString("base64") }),
      signal: AbortSignal.timeout(CALL_DEADLINE_MS),
    });
    const body = (await response.json()) as { kvs?: { value?: string }[] };
    assert.equal(response.status, 200, JSON.stringify(body));
    return body.kvs?.[0] === undefined ? undefined : Buffer.from(body.kvs[0].value ?? "", "base64").toString();
  }

  it("a put and a txn through the driver read back through the Connect API", async () => {
    const d = DRIVERS["h2-grpc"](url(), { timeoutMs: CALL_DEADLINE_MS });
    try {
      await d.put(Buffer.from("h2-driver-test/put"), Buffer.from("put by h2-grpc"));
      await d.txn(Buffer.from("h2-driver-test/txn"), Buffer.from("txn by h2-grpc"));
    } finally {
      await d.close();
    }
    assert.equal(await readBack("h2-driver-test/put"), "put by h2-grpc");
    assert.equal(await readBack("h2-driver-test/txn"), "txn by h2-grpc");
  });

  it("a put with an empty key is INVALID_ARGUMENT", async () => {
    const d = DRIVERS["h2-grpc"](url(), { timeoutMs: CALL_DEADLINE_MS });
    try {
      assert.equal(errorCodeName(await rejection(d.put(Buffer.alloc(0), VALUE))), "INVALID_ARGUMENT");
    } finally {
      await d.close();
    }
  });
});

type Unary = (request: object, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: unknown) => void) => void;
type EtcdKv = grpc.Client & { Range: Unary };

describe("the etcd-h2-grpc driver against a real etcd", { timeout: INSTALL_TIMEOUT_MS + 60_000 }, () => {
  let cluster: EtcdCluster | undefined;
  let etcdUrl = "";

  before(async () => {
    const etcd = ensureDebianPackage({ packageName: ETCD_PACKAGE, binary: ETCD_BINARY, timeoutMs: INSTALL_TIMEOUT_MS, log: (line) => process.stderr.write(`${line}\n`), logPrefix: "h2-grpc-driver.test" });
    cluster = await EtcdCluster.start(1, etcd.path);
    etcdUrl = await cluster.leaderUrl();
  });

  after(async () => {
    await cluster?.stop();
  });

  loadTests("etcd-h2-grpc", () => etcdUrl);

  it("a put and a txn through the driver read back through grpc-js", async () => {
    const d = DRIVERS["etcd-h2-grpc"](etcdUrl, { timeoutMs: CALL_DEADLINE_MS });
    try {
      await d.put(Buffer.from("h2-driver-test/put"), Buffer.from("put by etcd-h2-grpc"));
      await d.txn(Buffer.from("h2-driver-test/txn"), Buffer.from("txn by etcd-h2-grpc"));
    } finally {
      await d.close();
    }
    const kvCtor = (grpc.loadPackageDefinition(loadEtcdPackageDefinition()) as unknown as { etcdserverpb: { KV: grpc.ServiceClientConstructor } }).etcdserverpb.KV;
    const client = new kvCtor(new URL(etcdUrl).host, grpc.credentials.createInsecure()) as unknown as EtcdKv;
    try {
      for (const [key, value] of [
        ["h2-driver-test/put", "put by etcd-h2-grpc"],
        ["h2-driver-test/txn", "txn by etcd-h2-grpc"],
      ]) {
        const range = await new Promise<{ kvs?: { value: Buffer }[] }>((resolve, reject) =>
          client.Range.call(client, { key: Buffer.from(key) }, { deadline: Date.now() + CALL_DEADLINE_MS }, (err, response) => (err === null ? resolve(response as { kvs?: { value: Buffer }[] }) : reject(err))),
        );
        assert.equal(range.kvs?.length, 1, `${key}: ${JSON.stringify(range)}`);
        assert.equal(Buffer.from(range.kvs[0].value).toString(), value);
      }
    } finally {
      client.close();
    }
  });

  it("a put with an empty key is INVALID_ARGUMENT (key is not provided)", async () => {
    const d = DRIVERS["etcd-h2-grpc"](etcdUrl, { timeoutMs: CALL_DEADLINE_MS });
    try {
      const err = await rejection(d.put(Buffer.alloc(0), VALUE));
      assert.equal(errorCodeName(err), "INVALID_ARGUMENT");
      assert.match(err.grpcMessage, /key is not provided/);
    } finally {
      await d.close();
    }
  });
});
