// gRPC server reflection as real clients use it: @grpc/grpc-js with the upstream reflection protos
// (v1 and v1alpha) loaded by @grpc/proto-loader, and the `buf curl` CLI, against an in-process
// connect-node server on an ephemeral port. The sisyphus services are registered for reflection
// only (no handlers): reflection needs nothing but their descriptors.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescFile } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { file_grpc_health_v1_health } from "../../../gen/grpc/health/v1/health_pb.js";
import { file_sisyphus_kv_v1_cluster } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { file_sisyphus_kv_v1_kv } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { file_sisyphus_kv_v1_lease } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { file_sisyphus_kv_v1_maintenance } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { file_sisyphus_kv_v1_watch } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { HealthStatus, registerHealth } from "../../src/api/health.js";
import { registerReflection } from "../../src/api/reflection.js";

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const thirdPartyProtoDir = `${repoRoot}third_party/proto`;
const bufBinary = `${repoRoot}node_modules/.bin/buf`;
const responseTimeoutMs = 5_000;
const bufCurlTimeoutMs = 30_000;
const grpcStatusNotFound = 5;
const grpcStatusInvalidArgument = 3;

/** A ServerReflectionResponse as proto-loader decodes it (keepCase, oneofs: true). */
interface ReflectionResponse {
  valid_host: string;
  original_request: Record<string, unknown> | null;
  message_response: "file_descriptor_response" | "all_extension_numbers_response" | "list_services_response" | "error_response";
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  list_services_response?: { service: { name: string }[] };
  error_response?: { error_code: number; error_message: string };
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

interface TestServer {
  readonly port: number;
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
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}

/** One ServerReflectionInfo stream, asking one question at a time. */
class ReflectionCall {
  readonly #call: grpc.ClientDuplexStream<object, ReflectionResponse>;
  readonly #responses: AsyncIterator<ReflectionResponse>;

  constructor(client: grpc.Client, method: grpc.MethodDefinition<object, object>) {
    this.#call = client.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      // proto-loader decodes to plain objects of the shape ReflectionResponse describes.
      (bytes: Buffer) => method.responseDeserialize(bytes) as ReflectionResponse,
    );
    this.#responses = this.#call[Symbol.asyncIterator]();
  }

  async ask(request: object): Promise<ReflectionResponse> {
    this.#call.write(request);
    const next = await withDeadline(this.#responses.next(), responseTimeoutMs, `answer to ${JSON.stringify(request)}`);
    assert.ok(next.done !== true, `the stream ended instead of answering ${JSON.stringify(request)}`);
    return next.value;
  }

  end(): void {
    this.#call.end();
    this.#call.cancel();
  }
}

function decodeFiles(response: ReflectionResponse): FileDescriptorProto[] {
  assert.equal(response.message_response, "file_descriptor_response", `expected files, got ${JSON.stringify(response)}`);
  return (response.file_descriptor_response?.file_descriptor_proto ?? []).map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

function expectError(response: ReflectionResponse, code: number, messagePart: string): void {
  assert.equal(response.message_response, "error_response", `expected an error, got ${JSON.stringify(response)}`);
  assert.equal(response.error_response?.error_code, code);
  assert.ok(
    response.error_response?.error_message.includes(messagePart),
    `error message ${JSON.stringify(response.error_response?.error_message)} should mention ${messagePart}`,
  );
}

function runBufCurl(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(bufBinary, ["curl", ...args], { timeout: bufCurlTimeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`buf curl ${args.join(" ")} failed: ${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

const sisyphusServices = [
  "sisyphus.kv.v1.ClusterService",
  "sisyphus.kv.v1.KVService",
  "sisyphus.kv.v1.LeaseService",
  "sisyphus.kv.v1.MaintenanceService",
  "sisyphus.kv.v1.WatchService",
];
const kvMethods = ["Range", "Put", "DeleteRange", "Txn", "Compact", "Pipeline"];

/**
 * A proto2 file with extensions (the API declares none), built here so the extension requests
 * have something to find: Extendable, extended by `priority` (100) at the top level and by
 * `label` (101) inside Holder.
 */
function extensionsFile(): DescFile {
  const extension = (name: string, number: number, type: FieldDescriptorProto_Type) => ({
    name,
    number,
    type,
    label: FieldDescriptorProto_Label.OPTIONAL,
    extendee: ".sisyphus.test.Extendable",
  });
  const proto = create(FileDescriptorProtoSchema, {
    name: "sisyphus/test/extensions.proto",
    package: "sisyphus.test",
    syntax: "proto2",
    messageType: [
      { name: "Extendable", extensionRange: [{ start: 100, end: 200 }] },
      { name: "Holder", extension: [extension("label", 101, FieldDescriptorProto_Type.STRING)] },
    ],
    extension: [extension("priority", 100, FieldDescriptorProto_Type.INT32)],
  });
  const file = createFileRegistry(proto, () => undefined).getFile(proto.name);
  assert.ok(file !== undefined);
  return file;
}

let server: TestServer | undefined;
const health = new HealthStatus();

before(async () => {
  server = await startServer((router) => {
    registerReflection(router, [
      file_sisyphus_kv_v1_kv,
      file_sisyphus_kv_v1_watch,
      file_sisyphus_kv_v1_lease,
      file_sisyphus_kv_v1_cluster,
      file_sisyphus_kv_v1_maintenance,
      file_grpc_health_v1_health,
      extensionsFile(),
    ]);
    registerHealth(router, health);
  });
});

after(async () => {
  health.shutdown();
  await server?.close();
});

function serverAddress(): string {
  assert.ok(server !== undefined, "the test server did not start");
  return `127.0.0.1:${server.port}`;
}

for (const version of ["v1", "v1alpha"] as const) {
  describe(`grpc.reflection.${version} through @grpc/grpc-js`, () => {
    let client: grpc.Client | undefined;
    let method: grpc.MethodDefinition<object, object> | undefined;
    const calls: ReflectionCall[] = [];

    before(() => {
      const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
        includeDirs: [thirdPartyProtoDir],
        keepCase: true,
        oneofs: true,
        longs: String,
        defaults: true,
      });
      const service = definition[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition;
      method = service.ServerReflectionInfo as grpc.MethodDefinition<object, object>;
      client = new grpc.Client(serverAddress(), grpc.credentials.createInsecure());
    });

    after(() => {
      for (const call of calls) call.end();
      client?.close();
    });

    function openCall(): ReflectionCall {
      assert.ok(client !== undefined && method !== undefined);
      const call = new ReflectionCall(client, method);
      calls.push(call);
      return call;
    }

    it("lists every registered service, including health and both reflection versions", async () => {
      const response = await openCall().ask({ host: "h", list_services: "*" });
      assert.equal(response.message_response, "list_services_response", JSON.stringify(response));
      assert.equal(response.valid_host, "h");
      assert.deepEqual(
        response.list_services_response?.service.map((service) => service.name),
        [
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
          ...sisyphusServices,
        ].sort(),
      );
    });

    it("describes KVService with its methods and sends the files it imports", async () => {
      const files = decodeFiles(await openCall().ask({ file_containing_symbol: "sisyphus.kv.v1.KVService" }));
      assert.deepEqual(
        files.map((file) => file.name),
        ["sisyphus/kv/v1/kv.proto", "sisyphus/kv/v1/types.proto"],
        "the file declaring KVService first, then its import",
      );
      const kvService = files[0].service.find((service) => service.name === "KVService");
      assert.deepEqual(kvService?.method.map((m) => m.name), kvMethods);

      // An independent descriptor loader (protobufjs, through proto-loader) can resolve every
      // type from these bytes alone, as grpcurl must.
      const descriptorSet = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: files }));
      const loaded = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(descriptorSet));
      const loadedService = loaded["sisyphus.kv.v1.KVService"] as grpc.ServiceDefinition;
      assert.deepEqual(Object.keys(loadedService), kvMethods);
      assert.equal(loadedService.Put.path, "/sisyphus.kv.v1.KVService/Put");
    });

    it("answers an unknown symbol with NOT_FOUND and keeps the stream open", async () => {
      const call = openCall();
      expectError(await call.ask({ file_containing_symbol: "sisyphus.kv.v1.NoSuchThing" }), grpcStatusNotFound, "sisyphus.kv.v1.NoSuchThing");
      const files = decodeFiles(await call.ask({ file_containing_symbol: "sisyphus.kv.v1.KVService" }));
      assert.equal(files[0].name, "sisyphus/kv/v1/kv.proto");
    });

    it("sends an imported file once per stream but always the file asked for", async () => {
      const call = openCall();
      const first = decodeFiles(await call.ask({ file_containing_symbol: "sisyphus.kv.v1.KVService" }));
      assert.deepEqual(first.map((file) => file.name), ["sisyphus/kv/v1/kv.proto", "sisyphus/kv/v1/types.proto"]);
      const second = decodeFiles(await call.ask({ file_containing_symbol: "sisyphus.kv.v1.WatchService" }));
      assert.deepEqual(second.map((file) => file.name), ["sisyphus/kv/v1/watch.proto"], "types.proto was already sent");
      const again = decodeFiles(await call.ask({ file_by_filename: "sisyphus/kv/v1/kv.proto" }));
      assert.deepEqual(again.map((file) => file.name), ["sisyphus/kv/v1/kv.proto"]);
    });

    it("finds the file of methods, messages, fields, oneofs, enums, enum values and nested types", async () => {
      const expectations: [symbol: string, file: string][] = [
        ["sisyphus.kv.v1.KVService.Put", "sisyphus/kv/v1/kv.proto"],
        ["sisyphus.kv.v1.PutRequest", "sisyphus/kv/v1/kv.proto"],
        ["sisyphus.kv.v1.PutRequest.prev_kv", "sisyphus/kv/v1/kv.proto"],
        ["sisyphus.kv.v1.Compare.target", "sisyphus/kv/v1/kv.proto"],
        ["sisyphus.kv.v1.SortOrder", "sisyphus/kv/v1/kv.proto"],
        ["sisyphus.kv.v1.SORT_ORDER_ASCEND", "sisyphus/kv/v1/kv.proto"],
        ["sisyphus.kv.v1.SortOrder.SORT_ORDER_ASCEND", "sisyphus/kv/v1/kv.proto"],
        ["sisyphus.kv.v1.KeyValue", "sisyphus/kv/v1/types.proto"],
        ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
        ["grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto"],
        ["grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING", "grpc/health/v1/health.proto"],
        [`grpc.reflection.${version}.ServerReflection`, `grpc/reflection/${version}/reflection.proto`],
      ];
      const call = openCall();
      for (const [symbol, file] of expectations) {
        const files = decodeFiles(await call.ask({ file_containing_symbol: symbol }));
        assert.equal(files[0]?.name, file, `file containing ${symbol}`);
      }
    });

    it("answers file_by_filename, and NOT_FOUND for an unknown file", async () => {
      const call = openCall();
      const files = decodeFiles(await call.ask({ file_by_filename: "sisyphus/kv/v1/types.proto" }));
      assert.deepEqual(files.map((file) => file.name), ["sisyphus/kv/v1/types.proto"]);
      expectError(await call.ask({ file_by_filename: "nope/none.proto" }), grpcStatusNotFound, "nope/none.proto");
    });

    it("finds the file declaring an extension and lists a type's extension numbers", async () => {
      const call = openCall();
      for (const number of [100, 101]) {
        const files = decodeFiles(
          await call.ask({ file_containing_extension: { containing_type: "sisyphus.test.Extendable", extension_number: number } }),
        );
        assert.deepEqual(files.map((file) => file.name), ["sisyphus/test/extensions.proto"], `extension ${number}`);
      }
      for (const symbol of ["sisyphus.test.priority", "sisyphus.test.Holder.label"]) {
        const files = decodeFiles(await call.ask({ file_containing_symbol: symbol }));
        assert.equal(files[0]?.name, "sisyphus/test/extensions.proto", `file containing ${symbol}`);
      }
      const numbers = await call.ask({ all_extension_numbers_of_type: "sisyphus.test.Extendable" });
      assert.deepEqual(numbers.all_extension_numbers_response, { base_type_name: "sisyphus.test.Extendable", extension_number: [100, 101] });
    });

    it("answers NOT_FOUND for unknown extensions and types, and an empty list for a type without any", async () => {
      const call = openCall();
      expectError(
        await call.ask({ file_containing_extension: { containing_type: "sisyphus.kv.v1.PutRequest", extension_number: 100 } }),
        grpcStatusNotFound,
        "sisyphus.kv.v1.PutRequest",
      );
      const numbers = await call.ask({ all_extension_numbers_of_type: "sisyphus.kv.v1.PutRequest" });
      assert.equal(numbers.message_response, "all_extension_numbers_response", JSON.stringify(numbers));
      assert.deepEqual(numbers.all_extension_numbers_response, { base_type_name: "sisyphus.kv.v1.PutRequest", extension_number: [] });
      expectError(await call.ask({ all_extension_numbers_of_type: "sisyphus.kv.v1.Nope" }), grpcStatusNotFound, "sisyphus.kv.v1.Nope");
    });

    it("answers a request with no message_request with INVALID_ARGUMENT and stays open", async () => {
      const call = openCall();
      expectError(await call.ask({ host: "h" }), grpcStatusInvalidArgument, "message_request");
      const response = await call.ask({ list_services: "" });
      assert.equal(response.message_response, "list_services_response");
    });
  });
}

describe("buf curl over reflection", () => {
  for (const reflectProtocol of ["grpc-v1", "grpc-v1alpha"]) {
    it(`lists every method (--reflect-protocol ${reflectProtocol})`, async () => {
      const { stdout } = await runBufCurl([
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        reflectProtocol,
        "--list-methods",
        `http://${serverAddress()}`,
      ]);
      const methods = stdout.trim().split("\n");
      for (const kvMethod of kvMethods) {
        assert.ok(methods.includes(`sisyphus.kv.v1.KVService/${kvMethod}`), `KVService/${kvMethod} missing from:\n${stdout}`);
      }
      assert.ok(methods.includes("grpc.health.v1.Health/Check"), `Health/Check missing from:\n${stdout}`);
      assert.ok(methods.includes("grpc.health.v1.Health/Watch"), `Health/Watch missing from:\n${stdout}`);
    });
  }

  it("calls the health Check with a schema learnt by reflection", async () => {
    const { stdout } = await runBufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      "{}",
      `http://${serverAddress()}/grpc.health.v1.Health/Check`,
    ]);
    assert.deepEqual(JSON.parse(stdout), { status: "SERVING" });
  });
});
