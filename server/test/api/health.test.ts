// The gRPC health service as probes use it: @grpc/grpc-js with the upstream health.proto loaded by
// @grpc/proto-loader, against an in-process connect-node server on an ephemeral port; plus the
// HealthStatus rules (coalescing, shutdown, abort) checked directly.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { HealthStatus, ServingStatus, registerHealth } from "../../src/api/health.js";

const thirdPartyProtoDir = fileURLToPath(new URL("../../../../third_party/proto", import.meta.url));
const responseTimeoutMs = 5_000;

/** A HealthCheckResponse as proto-loader decodes it (enums as their names). */
interface HealthResponse {
  status: "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
}

/** Rejects with a message naming what was awaited when promise takes longer than timeoutMs. */
async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once condition() holds, checking every few milliseconds; rejects after timeoutMs. */
async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface TestServer {
  readonly address: string;
  close(): Promise<void>;
}

async function startServer(routes: (router: ConnectRouter) => void): Promise<TestServer> {
  const server = http2.createServer(connectNodeAdapter({ routes }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}

/** A grpc-js client of grpc.health.v1.Health built from the vendored upstream proto. */
class HealthClient {
  readonly #client: grpc.Client;
  readonly #check: grpc.MethodDefinition<object, object>;
  readonly #watch: grpc.MethodDefinition<object, object>;
  readonly #calls = new Set<grpc.ClientReadableStream<HealthResponse>>();

  constructor(address: string) {
    const definition = protoLoader.loadSync("grpc/health/v1/health.proto", {
      includeDirs: [thirdPartyProtoDir],
      enums: String,
      defaults: true,
    });
    const service = definition["grpc.health.v1.Health"] as grpc.ServiceDefinition;
    this.#check = service.Check as grpc.MethodDefinition<object, object>;
    this.#watch = service.Watch as grpc.MethodDefinition<object, object>;
    this.#client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  check(service: string): Promise<HealthResponse> {
    return withDeadline(
      new Promise<HealthResponse>((resolve, reject) => {
        this.#client.makeUnaryRequest(
          this.#check.path,
          this.#check.requestSerialize,
          // proto-loader decodes to plain objects of the shape HealthResponse describes.
          (bytes: Buffer) => this.#check.responseDeserialize(bytes) as HealthResponse,
          { service },
          (error, response) => (error ? reject(error) : resolve(response as HealthResponse)),
        );
      }),
      responseTimeoutMs,
      `Check("${service}") response`,
    );
  }

  watch(service: string): WatchCall {
    const call = this.#client.makeServerStreamRequest(
      this.#watch.path,
      this.#watch.requestSerialize,
      (bytes: Buffer) => this.#watch.responseDeserialize(bytes) as HealthResponse,
      { service },
    );
    this.#calls.add(call);
    return new WatchCall(call);
  }

  close(): void {
    for (const call of this.#calls) call.cancel();
    this.#client.close();
  }
}

class WatchCall {
  readonly #responses: AsyncIterator<HealthResponse>;

  constructor(readonly call: grpc.ClientReadableStream<HealthResponse>) {
    this.#responses = call[Symbol.asyncIterator]();
  }

  /** The next status the server sends. */
  async next(): Promise<HealthResponse["status"]> {
    const next = await withDeadline(this.#responses.next(), responseTimeoutMs, "Watch message");
    assert.ok(next.done !== true, "the Watch stream ended instead of sending a status");
    return next.value.status;
  }

  /** Resolves when the server ends the stream with OK (and rejects on any other end). */
  async ended(): Promise<void> {
    const next = await withDeadline(this.#responses.next(), responseTimeoutMs, "end of the Watch stream");
    assert.ok(next.done === true, `expected the Watch stream to end, got ${JSON.stringify(next.value)}`);
  }
}

describe("grpc.health.v1.Health through @grpc/grpc-js", () => {
  const health = new HealthStatus();
  let server: TestServer | undefined;
  let client: HealthClient | undefined;

  before(async () => {
    server = await startServer((router) => registerHealth(router, health));
    client = new HealthClient(server.address);
  });

  after(async () => {
    client?.close();
    health.shutdown();
    await server?.close();
  });

  function healthClient(): HealthClient {
    assert.ok(client !== undefined, "the test server did not start");
    return client;
  }

  it("reports the whole server as SERVING", async () => {
    assert.deepEqual(await healthClient().check(""), { status: "SERVING" });
  });

  it("fails Check of an unknown service with NOT_FOUND", async () => {
    await assert.rejects(healthClient().check("no.such.Service"), (error: grpc.ServiceError) => {
      assert.equal(error.code, grpc.status.NOT_FOUND, `expected NOT_FOUND, got ${error.code} ${error.details}`);
      return true;
    });
  });

  it("reports a service's status as set", async () => {
    health.set("sisyphus.kv.v1.KVService", ServingStatus.NOT_SERVING);
    assert.deepEqual(await healthClient().check("sisyphus.kv.v1.KVService"), { status: "NOT_SERVING" });
    health.set("sisyphus.kv.v1.KVService", ServingStatus.SERVING);
    assert.deepEqual(await healthClient().check("sisyphus.kv.v1.KVService"), { status: "SERVING" });
  });

  it("streams SERVING then NOT_SERVING to a watcher as the status changes", async () => {
    health.set("watched", ServingStatus.SERVING);
    const watch = healthClient().watch("watched");
    assert.equal(await watch.next(), "SERVING");
    health.set("watched", ServingStatus.NOT_SERVING);
    assert.equal(await watch.next(), "NOT_SERVING");
    health.set("watched", ServingStatus.SERVING);
    assert.equal(await watch.next(), "SERVING");
    watch.call.cancel();
  });

  it("sends SERVICE_UNKNOWN for an unknown service and keeps watching until it is known", async () => {
    const watch = healthClient().watch("late.Service");
    assert.equal(await watch.next(), "SERVICE_UNKNOWN");
    health.set("late.Service", ServingStatus.SERVING);
    assert.equal(await watch.next(), "SERVING");
    watch.call.cancel();
  });

  it("ends the server side of a Watch when the client cancels it", async () => {
    await waitUntil(() => health.watchCount === 0, responseTimeoutMs, "earlier watches ending");
    const watch = healthClient().watch("");
    assert.equal(await watch.next(), "SERVING");
    assert.equal(health.watchCount, 1);
    watch.call.cancel();
    await waitUntil(() => health.watchCount === 0, responseTimeoutMs, "the cancelled watch ending on the server");
  });
});

describe("HealthStatus.shutdown through @grpc/grpc-js", () => {
  it("sends NOT_SERVING to every watcher, then ends their streams with OK", async () => {
    const health = new HealthStatus();
    health.set("sisyphus.kv.v1.KVService", ServingStatus.SERVING);
    const server = await startServer((router) => registerHealth(router, health));
    const client = new HealthClient(server.address);
    try {
      const wholeServer = client.watch("");
      const kv = client.watch("sisyphus.kv.v1.KVService");
      assert.equal(await wholeServer.next(), "SERVING");
      assert.equal(await kv.next(), "SERVING");

      health.shutdown();
      assert.equal(await wholeServer.next(), "NOT_SERVING");
      await wholeServer.ended();
      assert.equal(await kv.next(), "NOT_SERVING");
      await kv.ended();
      assert.equal(health.watchCount, 0);

      assert.deepEqual(await client.check(""), { status: "NOT_SERVING" });
      health.set("", ServingStatus.SERVING); // ignored after shutdown
      assert.deepEqual(await client.check(""), { status: "NOT_SERVING" });
      const late = client.watch("");
      assert.equal(await late.next(), "NOT_SERVING");
      await late.ended();
    } finally {
      client.close();
      health.shutdown();
      await server.close();
    }
  });
});

describe("HealthStatus", () => {
  it("starts with the whole server SERVING and nothing else known", () => {
    const health = new HealthStatus();
    assert.equal(health.get(""), ServingStatus.SERVING);
    assert.equal(health.get("x"), undefined);
  });

  it("delivers only the newest of several changes made before the watcher reads", async () => {
    const health = new HealthStatus();
    const abort = new AbortController();
    const watch = health.watch("svc", abort.signal);
    assert.deepEqual(await watch.next(), { done: false, value: ServingStatus.SERVICE_UNKNOWN });
    health.set("svc", ServingStatus.SERVING);
    health.set("svc", ServingStatus.NOT_SERVING);
    health.set("svc", ServingStatus.UNKNOWN);
    assert.deepEqual(await watch.next(), { done: false, value: ServingStatus.UNKNOWN });
    abort.abort();
    assert.deepEqual(await watch.next(), { done: true, value: undefined });
    assert.equal(health.watchCount, 0);
  });

  it("does not repeat a status that did not change", async () => {
    const health = new HealthStatus();
    const abort = new AbortController();
    const watch = health.watch("", abort.signal);
    assert.deepEqual(await watch.next(), { done: false, value: ServingStatus.SERVING });
    const following = watch.next();
    health.set("", ServingStatus.SERVING);
    // Let the watch take that unchanged status before the real change arrives.
    await new Promise((resolve) => setImmediate(resolve));
    health.set("", ServingStatus.NOT_SERVING);
    assert.deepEqual(await withDeadline(following, responseTimeoutMs, "the changed status"), {
      done: false,
      value: ServingStatus.NOT_SERVING,
    });
    abort.abort();
    assert.deepEqual(await watch.next(), { done: true, value: undefined });
  });

  it("ends a waiting watch when its signal aborts", async () => {
    const health = new HealthStatus();
    const abort = new AbortController();
    const watch = health.watch("", abort.signal);
    assert.deepEqual(await watch.next(), { done: false, value: ServingStatus.SERVING });
    const waiting = watch.next();
    abort.abort();
    assert.deepEqual(await withDeadline(waiting, responseTimeoutMs, "end of the aborted watch"), { done: true, value: undefined });
    assert.equal(health.watchCount, 0);
  });

  it("refuses SERVICE_UNKNOWN as a status to set", () => {
    assert.throws(() => new HealthStatus().set("svc", ServingStatus.SERVICE_UNKNOWN), RangeError);
  });
});
