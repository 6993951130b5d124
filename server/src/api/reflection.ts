// gRPC server reflection (grpc.reflection.v1, and the deprecated grpc.reflection.v1alpha that
// older grpcurl releases and other tools still call), so grpcurl and buf curl can list, describe
// and call the API without .proto files. Protocol:
// https://github.com/grpc/grpc/blob/master/doc/server-reflection.md
//
// One bidirectional stream carries any number of requests, answered one at a time in order:
//   - list_services: the services declared in the registered files, sorted by name;
//   - file_by_filename, file_containing_symbol, file_containing_extension: serialized
//     FileDescriptorProtos of the file asked for and of its transitive imports. As in grpc-go, the
//     file asked for is always sent, and an import only if this stream has not sent it before
//     (the protocol allows that; clients keep what they were sent);
//   - all_extension_numbers_of_type: the extension numbers of a known message type, sorted;
//   - anything unknown: an error_response NOT_FOUND (INVALID_ARGUMENT for a request with no
//     message_request set); the stream stays open for the next request.
// Symbols are fully-qualified protobuf names: messages, fields and oneofs (package.Message.field),
// nested types, enums, services, methods (package.Service.Method) and extensions; enum values
// both as protobuf scopes them (a sibling of their enum: sisyphus.kv.v1.SORT_ORDER_ASCEND) and
// under their enum (sisyphus.kv.v1.SortOrder.SORT_ORDER_ASCEND), since some clients build the
// latter.
//
// Bounded: the handler reads the next request only once its previous answer has been handed to
// the transport (unread requests wait under HTTP/2 flow control), so a stream holds one request
// and one response at a time; per stream it remembers the names of the files it sent, at most
// the number of files registered. Each file is serialized once per process.
//
// The descriptors are protobuf-es's embedded ones: they carry no source info, so described
// types come without their comments.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescEnum, DescFile, DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import type { ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** Two registered files declare the same symbol, or two different descriptors share a file name. */
export class DescriptorConflictError extends Error {
  constructor(
    /** The symbol or file name declared twice. */
    readonly conflictingName: string,
    detail: string,
  ) {
    super(`reflection: "${conflictingName}" ${detail}`);
    this.name = "DescriptorConflictError";
  }
}

/** Every file, symbol and extension reachable from the registered files, for lookups by name. */
class DescriptorIndex {
  /** Files by their path as imports name them (sisyphus/kv/v1/kv.proto). */
  readonly #files = new Map<string, DescFile>();
  readonly #fileBySymbol = new Map<string, DescFile>();
  readonly #messageTypeNames = new Set<string>();
  /** Extendee type name -> extension number -> declaring file. */
  readonly #extensions = new Map<string, Map<number, DescFile>>();
  readonly #encodedFiles = new Map<DescFile, Uint8Array>();
  /** Sorted full names of the services declared in the registered files. */
  readonly serviceNames: readonly string[];

  constructor(files: readonly DescFile[]) {
    const services = new Set<string>();
    for (const file of files) {
      for (const service of file.services) services.add(service.typeName);
      this.#addWithImports(file);
    }
    this.serviceNames = [...services].sort();
  }

  fileByName(name: string): DescFile | undefined {
    return this.#files.get(name);
  }

  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.#fileBySymbol.get(symbol);
  }

  fileContainingExtension(extendee: string, extensionNumber: number): DescFile | undefined {
    return this.#extensions.get(extendee)?.get(extensionNumber);
  }

  /** The extension numbers of a message type, ascending; undefined for an unknown type. */
  extensionNumbersOf(messageTypeName: string): number[] | undefined {
    if (!this.#messageTypeNames.has(messageTypeName)) return undefined;
    return [...(this.#extensions.get(messageTypeName)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The serialized FileDescriptorProto of a file (computed once; descriptors never change). */
  encoded(file: DescFile): Uint8Array {
    let bytes = this.#encodedFiles.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.#encodedFiles.set(file, bytes);
    }
    return bytes;
  }

  #addWithImports(root: DescFile): void {
    const pending = [root];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      const known = this.#files.get(file.proto.name);
      if (known === file) continue;
      if (known !== undefined) {
        throw new DescriptorConflictError(file.proto.name, "is registered as two different file descriptors");
      }
      this.#files.set(file.proto.name, file);
      this.#addSymbols(file);
      pending.push(...file.dependencies);
    }
  }

  #addSymbols(file: DescFile): void {
    for (const type of nestedTypes(file)) {
      this.#addSymbol(type.typeName, file);
      switch (type.kind) {
        case "message":
          this.#addMessageMembers(type, file);
          break;
        case "enum":
          this.#addEnumValues(type, file);
          break;
        case "service":
          this.#addMethods(type, file);
          break;
        case "extension": {
          let byNumber = this.#extensions.get(type.extendee.typeName);
          if (byNumber === undefined) {
            byNumber = new Map();
            this.#extensions.set(type.extendee.typeName, byNumber);
          }
          byNumber.set(type.number, file);
          break;
        }
      }
    }
  }

  #addMessageMembers(message: DescMessage, file: DescFile): void {
    this.#messageTypeNames.add(message.typeName);
    for (const field of message.fields) this.#addSymbol(`${message.typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) this.#addSymbol(`${message.typeName}.${oneof.name}`, file);
  }

  #addEnumValues(enumDesc: DescEnum, file: DescFile): void {
    const scope = enumDesc.parent?.typeName ?? file.proto.package;
    for (const value of enumDesc.values) {
      this.#addSymbol(scope === "" ? value.name : `${scope}.${value.name}`, file);
      this.#addSymbol(`${enumDesc.typeName}.${value.name}`, file);
    }
  }

  #addMethods(service: DescService, file: DescFile): void {
    for (const method of service.methods) this.#addSymbol(`${service.typeName}.${method.name}`, file);
  }

  #addSymbol(symbol: string, file: DescFile): void {
    const known = this.#fileBySymbol.get(symbol);
    if (known !== undefined && known !== file) {
      throw new DescriptorConflictError(symbol, `is declared by both ${known.proto.name} and ${file.proto.name}`);
    }
    this.#fileBySymbol.set(symbol, file);
  }
}

type ReflectionRequest = v1.ServerReflectionRequest;
type ReflectionResponseBody = MessageInitShape<typeof v1.ServerReflectionResponseSchema>["messageResponse"];

/** One reflection stream: answers requests and remembers which files it has already sent. */
class ReflectionSession {
  readonly #sentFileNames = new Set<string>();

  constructor(readonly index: DescriptorIndex) {}

  answer(request: ReflectionRequest): v1.ServerReflectionResponse {
    return create(v1.ServerReflectionResponseSchema, {
      validHost: request.host,
      originalRequest: request,
      messageResponse: this.#body(request),
    });
  }

  #body(request: ReflectionRequest): ReflectionResponseBody {
    const asked = request.messageRequest;
    switch (asked.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: { service: this.index.serviceNames.map((name) => ({ name })) },
        };
      case "fileByFilename":
        return this.#filesResponse(this.index.fileByName(asked.value), `file "${asked.value}" not found`);
      case "fileContainingSymbol":
        return this.#filesResponse(this.index.fileContainingSymbol(asked.value), `symbol "${asked.value}" not found`);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = asked.value;
        return this.#filesResponse(
          this.index.fileContainingExtension(containingType, extensionNumber),
          `extension ${extensionNumber} of "${containingType}" not found`,
        );
      }
      case "allExtensionNumbersOfType": {
        const numbers = this.index.extensionNumbersOf(asked.value);
        if (numbers === undefined) return errorBody(Code.NotFound, `message type "${asked.value}" not found`);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: asked.value, extensionNumber: numbers } };
      }
      case undefined:
        return errorBody(Code.InvalidArgument, "the request sets none of message_request");
    }
  }

  #filesResponse(file: DescFile | undefined, notFoundMessage: string): ReflectionResponseBody {
    if (file === undefined) return errorBody(Code.NotFound, notFoundMessage);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: this.#withUnsentImports(file) } };
  }

  /** file, then (breadth first) each transitive import this stream has not sent yet. */
  #withUnsentImports(file: DescFile): Uint8Array[] {
    const encoded: Uint8Array[] = [this.index.encoded(file)];
    this.#sentFileNames.add(file.proto.name);
    const visited = new Set<string>([file.proto.name]);
    const queue = [...file.dependencies];
    for (let i = 0; i < queue.length; i++) {
      const dependency = queue[i];
      if (visited.has(dependency.proto.name)) continue;
      visited.add(dependency.proto.name);
      if (!this.#sentFileNames.has(dependency.proto.name)) {
        this.#sentFileNames.add(dependency.proto.name);
        encoded.push(this.index.encoded(dependency));
      }
      queue.push(...dependency.dependencies);
    }
    return encoded;
  }
}

function errorBody(code: Code, message: string): ReflectionResponseBody {
  return { case: "errorResponse", value: { errorCode: code, errorMessage: message } };
}

/**
 * Re-reads a message as another message type with the same wire format. v1alpha and v1 are
 * field-for-field identical, so the v1alpha service is the v1 one behind this conversion.
 */
function recode<From extends DescMessage, To extends DescMessage>(
  from: From,
  to: To,
  message: MessageShape<From>,
): MessageShape<To> {
  return fromBinary(to, toBinary(from, message));
}

/**
 * Serves grpc.reflection.v1 and grpc.reflection.v1alpha ServerReflection over the given files,
 * their transitive imports and the reflection files themselves. list_services names the services
 * declared in `files` and the two reflection services; pass the file of every service the router
 * serves. Throws DescriptorConflictError when two files declare the same symbol.
 */
export function registerReflection(router: ConnectRouter, files: readonly DescFile[]): void {
  const index = new DescriptorIndex([
    ...files,
    v1.file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ]);
  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const session = new ReflectionSession(index);
      for await (const request of requests) yield session.answer(request);
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const session = new ReflectionSession(index);
      for await (const request of requests) {
        const answer = session.answer(
          recode(v1alpha.ServerReflectionRequestSchema, v1.ServerReflectionRequestSchema, request),
        );
        yield recode(v1.ServerReflectionResponseSchema, v1alpha.ServerReflectionResponseSchema, answer);
      }
    },
  });
}
