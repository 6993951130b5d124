// Interoperability with implementations that share no code with the server: @grpc/grpc-js with
// @grpc/proto-loader reading proto/ directly (not gen/), `buf curl` over server reflection on
// all three protocols, and the system curl on Connect JSON over HTTP/1.1 and HTTP/2. The buf
// curl and curl command lines are the README's (readme-commands.ts), run verbatim through
// /bin/sh with SISYPHUS set to the server's URL.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { README_COMMANDS } from "./readme-commands.js";
import { ServerProcess, stopAllServers } from "./server-process.js";
import { withDeadline } from "./streams.js";

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const CALL_TIMEOUT_MS = 5_000;
const COMMAND_TIMEOUT_MS = 30_000;
const curlMissing = spawnSync("curl", ["--version"]).status !== 0;

after(() => stopAllServers());

let server: ServerProcess;
before(async () => {
  server = await ServerProcess.start();
});
after(async () => {
  await server?.kill();
  server?.removeData();
});

/** Shapes of the proto-loader objects used here (keepCase, longs and enums as strings, oneofs named). */
interface Header {
  cluster_id: string;
  member_id: string;
  revision: string;
}
interface KeyValue {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
  version: string;
}
interface RangeResponse {
  header: Header;
  kvs: KeyValue[];
  count: string;
}
interface TxnResponse {
  header: Header;
  succeeded: boolean;
  responses: { response: string; range?: RangeResponse; put?: { header: Header } }[];
}
interface WatchResponse {
  watch_id: string;
  created: boolean;
  events: { type: string; kv: KeyValue }[];
}
interface PipelineResponse {
  id: string;
  response: string;
  ready?: { max_in_flight: number };
  put?: { header: Header };
  range?: RangeResponse;
}
type Unary = (request: object, options: { deadline: Date }, callback: (err: grpc.ServiceError | null, response: unknown) => void) => void;
type KvClient = grpc.Client & { Put: Unary; Range: Unary; Txn: Unary; Pipeline: () => grpc.ClientDuplexStream<object, PipelineResponse> };
type WatchClient = grpc.Client & { Watch: () => grpc.ClientDuplexStream<object, WatchResponse> };

describe("@grpc/grpc-js with @grpc/proto-loader on proto/", () => {
  let kv: KvClient;
  let watch: WatchClient;
  before(() => {
    const definition = protoLoader.loadSync(["sisyphus/kv/v1/kv.proto", "sisyphus/kv/v1/watch.proto"], {
      includeDirs: [`${repoRoot}proto`],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    // loadPackageDefinition returns a nested namespace object; its shape comes from the .proto files.
    const v1 = (grpc.loadPackageDefinition(definition) as unknown as { sisyphus: { kv: { v1: Record<string, grpc.ServiceClientConstructor> } } }).sisyphus.kv.v1;
    const address = new URL(server.url).host;
    kv = new v1.KVService(address, grpc.credentials.createInsecure()) as unknown as KvClient;
    watch = new v1.WatchService(address, grpc.credentials.createInsecure()) as unknown as WatchClient;
  });
  after(() => {
    kv?.close();
    watch?.close();
  });

  const call = <T>(method: Unary, request: object): Promise<T> =>
    new Promise((resolve, reject) => {
      method(request, { deadline: new Date(Date.now() + CALL_TIMEOUT_MS) }, (err, response) => (err === null ? resolve(response as T) : reject(err)));
    });

  it("Put, Range and Txn", async () => {
    const put = await call<{ header: Header }>(kv.Put.bind(kv), { key: Buffer.from("grpcjs/k"), value: Buffer.from("v1") });
    assert.ok(BigInt(put.header.revision) > 1n);
    assert.notEqual(put.header.cluster_id, "0");
    assert.notEqual(put.header.member_id, "0");
    const range = await call<RangeResponse>(kv.Range.bind(kv), { key: Buffer.from("grpcjs/k") });
    assert.equal(range.count, "1");
    assert.equal(range.kvs[0].value.toString(), "v1");
    assert.equal(range.kvs[0].mod_revision, put.header.revision);

    const txn = await call<TxnResponse>(kv.Txn.bind(kv), {
      compare: [{ key: Buffer.from("grpcjs/k"), operator: "COMPARE_OPERATOR_EQUAL", value: Buffer.from("v1") }],
      success: [{ put: { key: Buffer.from("grpcjs/k"), value: Buffer.from("v2") } }, { range: { key: Buffer.from("grpcjs/k") } }],
      failure: [],
    });
    assert.equal(txn.succeeded, true);
    assert.deepEqual(txn.responses.map((r) => r.response), ["put", "range"]);
    assert.equal(txn.responses[1].range?.kvs[0].value.toString(), "v2");
    assert.equal(BigInt(txn.header.revision), BigInt(put.header.revision) + 1n);
  });

  it("an invalid request fails with INVALID_ARGUMENT and a message naming the field", async () => {
    await assert.rejects(call(kv.Range.bind(kv), { key: Buffer.alloc(0) }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.message);
      assert.match(err.details, /key/);
      return true;
    });
    await assert.rejects(call(kv.Range.bind(kv), { key: Buffer.from("a"), revision: "999999999" }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.OUT_OF_RANGE, err.message);
      return true;
    });
  });

  it("Watch: created, then the event of a put", async () => {
    const stream = watch.Watch();
    const responses: WatchResponse[] = [];
    let wake: (() => void) | undefined;
    stream.on("data", (r: WatchResponse) => {
      responses.push(r);
      wake?.();
    });
    stream.on("error", () => {});
    const nextResponse = async (what: string): Promise<WatchResponse> => {
      const deadline = Date.now() + CALL_TIMEOUT_MS;
      while (responses.length === 0) await withDeadline(new Promise<void>((resolve) => (wake = resolve)), Math.max(1, deadline - Date.now()), what);
      return responses.shift() as WatchResponse;
    };
    try {
      stream.write({ create: { key: Buffer.from("grpcjs/w"), watch_id: "7" } });
      const created = await nextResponse("the created response");
      assert.deepEqual([created.watch_id, created.created], ["7", true]);
      const put = await call<{ header: Header }>(kv.Put.bind(kv), { key: Buffer.from("grpcjs/w"), value: Buffer.from("seen") });
      const event = await nextResponse("the event");
      assert.equal(event.watch_id, "7");
      assert.equal(event.events[0].type, "EVENT_TYPE_PUT");
      assert.equal(event.events[0].kv.value.toString(), "seen");
      assert.equal(event.events[0].kv.mod_revision, put.header.revision);
    } finally {
      stream.cancel();
    }
  });

  it("Pipeline: ready, then a put and a range answered by id", async () => {
    await call(kv.Put.bind(kv), { key: Buffer.from("grpcjs/before"), value: Buffer.from("written before") });
    const stream = kv.Pipeline();
    const responses: PipelineResponse[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("data", (r: PipelineResponse) => responses.push(r));
      stream.on("end", () => resolve());
      stream.on("error", reject);
    });
    stream.write({ id: "1", put: { key: Buffer.from("grpcjs/p"), value: Buffer.from("piped") } });
    stream.write({ id: "2", range: { key: Buffer.from("grpcjs/before") } });
    stream.end();
    await withDeadline(ended, CALL_TIMEOUT_MS, "the end of the Pipeline stream");
    assert.deepEqual(responses.map((r) => [r.id, r.response]).sort(), [["0", "ready"], ["1", "put"], ["2", "range"]]);
    assert.equal(responses[0].response, "ready", "ready comes first");
    assert.equal(responses[0].ready?.max_in_flight, 1024);
    assert.equal(responses.find((r) => r.id === "2")?.range?.kvs[0].value.toString(), "written before");
  });
});

describe("README commands (buf curl over reflection, curl), run verbatim with /bin/sh", () => {
  for (const { title, command, expect } of README_COMMANDS) {
    const needsCurl = /(^|&& )curl /.test(command);
    it(title, { skip: needsCurl && curlMissing ? "the curl binary is not installed" : false }, async () => {
      const { code, stdout, stderr } = await runShell(command, { ...process.env, SISYPHUS: server.url });
      assert.equal(code, 0, `exit code ${code}\n$ ${command}\nstdout: ${stdout}\nstderr: ${stderr}`);
      assert.match(stdout, expect, `$ ${command}\nstderr: ${stderr}`);
    });
  }
});

function runShell(command: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("/bin/sh", ["-c", command], { cwd: repoRoot, env, timeout: COMMAND_TIMEOUT_MS, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}
