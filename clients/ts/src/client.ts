/**
 * The client: one object for every SisyphusDB service, shared by the Node and browser entries.
 * The entries differ only in the ClientRuntime they pass (how to reach an endpoint, whether bidi
 * streams are available, which SHA-256); this file and everything it imports stay free of
 * node: modules and of @connectrpc/connect-node.
 *
 * Where a call goes (endpoint-pool.ts, call-runner.ts): writes (put, delete, txn, compact, lease
 * grant and revoke, member changes, moveLeader) to the endpoint of the member believed to lead,
 * when one of the endpoints is it, else to the current endpoint; reads, watches and keep-alives
 * to the current endpoint (every member serves linearizable reads).
 *
 * Which path a call takes:
 *   - KV calls (put, get, range, delete, txn): on the endpoint's Pipeline stream when pipelining
 *     is on (Node over HTTP/2, by default), else unary; compact is always unary.
 *   - watch: Watch bidi streams shared per endpoint when bidi streams are available, else one
 *     Subscribe server stream per watch.
 *   - lease keep-alive: one KeepAlive bidi stream for all leases, else KeepAliveOnce calls.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchCreateRequest, WatchResponse } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { resolveRange, type Bytes } from "./bytes.js";
import { CallRunner, type AttemptContext } from "./call-runner.js";
import { memberFromMessage, type Member } from "./cluster.js";
import { Endpoint, EndpointPool, type EndpointConnection } from "./endpoint-pool.js";
import { ClientClosedError, InvalidArgumentError } from "./errors.js";
import { toInt64 } from "./integers.js";
import { headerFromMessage, type ResponseHeader } from "./key-value.js";
import {
  deleteRequest,
  getRequest,
  putRequest,
  rangeRequest,
  type DeleteOptions,
  type GetOptions,
  type PutOptions,
  type RangeOptions,
} from "./kv-requests.js";
import {
  deleteResult,
  getResult,
  putResult,
  rangeResult,
  type CompactResult,
  type DeleteResult,
  type GetResult,
  type PutResult,
  type RangeResult,
} from "./kv-results.js";
import { LeaseClient } from "./lease.js";
import { StreamLeaseRenewer, UnaryLeaseRenewer, type LeaseRenewer } from "./lease-renewer.js";
import { SnapshotStream, statusFromMessage, type MemberStatus, type Sha256 } from "./maintenance.js";
import { DEFAULT_TIMEOUT_MS, checkEndpoints, resolveRetry, type CallOptions, type ClientOptions, type RetryOptions } from "./options.js";
import type { KvCallKind, KvCalls } from "./pipeline-session.js";
import type { CallSafety } from "./retry-policy.js";
import { TxnBuilder } from "./txn.js";
import { Watcher, type OpenWatcher, type WatchOptions } from "./watch.js";

/** What an entry file supplies: the platform-specific parts. */
export interface ClientRuntime {
  /** Opens the transport to one endpoint (connect-node in Node, connect-web in browsers). */
  connect(url: string): EndpointConnection;
  /** Whether bidi streams work (Node over HTTP/2): Pipeline, Watch and KeepAlive streams. */
  bidiStreams: boolean;
  createSha256(): Sha256;
}

type UnaryKv = { [K in KvCallKind]: (endpoint: Endpoint, request: KvCalls[K]["request"], context: AttemptContext) => Promise<KvCalls[K]["response"]> };

const unaryKv: UnaryKv = {
  range: (endpoint, request, context) => endpoint.kv.range(request, context),
  put: (endpoint, request, context) => endpoint.kv.put(request, context),
  deleteRange: (endpoint, request, context) => endpoint.kv.deleteRange(request, context),
  txn: (endpoint, request, context) => endpoint.kv.txn(request, context),
};

/** One watcher on an endpoint's shared Watch stream. */
const watchOnStream: OpenWatcher = (endpoint, create, signal) => endpoint.watchStreams().watch(create, signal);

/** One watcher on its own Subscribe server stream. */
const watchBySubscribe: OpenWatcher = async function* (endpoint: Endpoint, create: WatchCreateRequest, signal: AbortSignal): AsyncGenerator<WatchResponse> {
  for await (const message of endpoint.watch.subscribe({ create }, { signal })) {
    if (message.response !== undefined) yield message.response;
  }
};

/** A SisyphusDB client. Create it with createClient(); close it with close(). */
export class Client {
  /** The lease calls. */
  readonly lease: LeaseClient;
  /** True when KV calls travel on Pipeline streams (else unary calls). */
  readonly usesPipeline: boolean;
  private readonly pool: EndpointPool;
  private readonly runner: CallRunner;
  private readonly renewer: LeaseRenewer;
  private readonly openWatcher: OpenWatcher;
  private readonly watchers = new Set<Watcher>();
  private readonly retry: RetryOptions;
  private readonly createSha256: () => Sha256;

  /** Use createClient() from the package's entry (it supplies the runtime). */
  constructor(options: ClientOptions, runtime: ClientRuntime) {
    checkEndpoints(options.endpoints);
    this.retry = resolveRetry(options.retry);
    if (options.pipeline === true && !runtime.bidiStreams) {
      throw new InvalidArgumentError("pipeline needs bidi streams, which this transport lacks (browsers, HTTP/1.1)");
    }
    this.usesPipeline = options.pipeline ?? runtime.bidiStreams;
    const injected = options.transport;
    const connect =
      injected === undefined
        ? (url: string) => runtime.connect(url)
        : (url: string): EndpointConnection => ({ transport: typeof injected === "function" ? injected(url) : injected, close: () => undefined });
    this.pool = new EndpointPool(options.endpoints, connect);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.runner = new CallRunner(this.pool, this.retry, timeoutMs);
    this.renewer = runtime.bidiStreams ? new StreamLeaseRenewer(this.pool) : new UnaryLeaseRenewer(this.pool);
    this.openWatcher = runtime.bidiStreams ? watchOnStream : watchBySubscribe;
    this.lease = new LeaseClient(this.runner, this.renewer, this.retry, timeoutMs > 0 ? timeoutMs : DEFAULT_TIMEOUT_MS);
    this.createSha256 = () => runtime.createSha256();
  }

  /** Writes a key. */
  async put(key: Bytes, value: Bytes, options?: PutOptions & CallOptions): Promise<PutResult> {
    return putResult(await this.kv("put", "write", putRequest(key, value, options), options));
  }

  /** Reads one key: `kv` is undefined when it does not exist. */
  async get(key: Bytes, options?: GetOptions & CallOptions): Promise<GetResult> {
    return getResult(await this.kv("range", "read", getRequest(key, options), options));
  }

  /** Reads a range of keys (a prefix, [key, rangeEnd), or every key >= key). */
  async range(options: RangeOptions & CallOptions): Promise<RangeResult> {
    return rangeResult(await this.kv("range", "read", rangeRequest(options), options));
  }

  /** Deletes a key or a range of keys. */
  async delete(key: Bytes, options?: DeleteOptions & CallOptions): Promise<DeleteResult> {
    return deleteResult(await this.kv("deleteRange", "write", deleteRequest(key, options), options));
  }

  /** Starts a transaction: .if(...).then(...).else(...).commit(). */
  txn(): TxnBuilder {
    return new TxnBuilder((request, options) => this.kv("txn", "write", request, options));
  }

  /** Discards the history before `revision`. */
  async compact(revision: number, options?: CallOptions & { physical?: boolean }): Promise<CompactResult> {
    const request = { revision: toInt64(revision, "revision"), physical: options?.physical === true };
    const response = await this.runner.run("write", options, (endpoint, context) => endpoint.kv.compact(request, context));
    const header = headerFromMessage(response.header);
    return { revision: header.revision, header };
  }

  /** Watches a key or a range (see Watcher): iterate it for batches of events. */
  watch(key: Bytes, options: WatchOptions = {}): Watcher {
    this.runner.assertOpen();
    const range = resolveRange(key, options);
    const watcher = new Watcher(this.pool, this.openWatcher, this.retry, range, options, (ended) => this.watchers.delete(ended));
    if (watcher.isActive) this.watchers.add(watcher);
    return watcher;
  }

  /** The status of the member the client is talking to. */
  async status(options?: CallOptions): Promise<MemberStatus> {
    return statusFromMessage(await this.runner.run("read", options, (endpoint, context) => endpoint.maintenance.status({}, context)));
  }

  /** The members of the cluster; `linearizable` reads them through the leader. */
  async memberList(options?: CallOptions & { linearizable?: boolean }): Promise<{ members: Member[]; header: ResponseHeader }> {
    const request = { linearizable: options?.linearizable === true };
    const response = await this.runner.run("read", options, (endpoint, context) => endpoint.cluster.memberList(request, context));
    return { members: response.members.map(memberFromMessage), header: headerFromMessage(response.header) };
  }

  /**
   * Adds a member (a learner by default: it receives the log but does not vote until promoted).
   * Resolves with the new member (its ID; no name or client URLs until it starts) and all members.
   * Start the new member with --initial-cluster-state existing. Not retried unless certainly not applied.
   */
  async memberAdd(peerUrls: string[], options?: CallOptions & { isLearner?: boolean }): Promise<{ member: Member; members: Member[]; header: ResponseHeader }> {
    const request = { peerUrls, isLearner: options?.isLearner ?? true };
    const response = await this.runner.run("write", options, (endpoint, context) => endpoint.cluster.memberAdd(request, context));
    if (response.member === undefined) throw new ConnectError("MemberAdd answered without the member", Code.Internal);
    return { member: memberFromMessage(response.member), members: response.members.map(memberFromMessage), header: headerFromMessage(response.header) };
  }

  /** Makes a learner a voter (FAILED_PRECONDITION until it has caught up with the leader's log). */
  async memberPromote(id: bigint, options?: CallOptions): Promise<{ members: Member[]; header: ResponseHeader }> {
    const response = await this.runner.run("write", options, (endpoint, context) => endpoint.cluster.memberPromote({ id }, context));
    return { members: response.members.map(memberFromMessage), header: headerFromMessage(response.header) };
  }

  /** Removes a member; it stops once its removal reaches it. */
  async memberRemove(id: bigint, options?: CallOptions): Promise<{ members: Member[]; header: ResponseHeader }> {
    const response = await this.runner.run("write", options, (endpoint, context) => endpoint.cluster.memberRemove({ id }, context));
    return { members: response.members.map(memberFromMessage), header: headerFromMessage(response.header) };
  }

  /** Hands leadership to another voter; must reach the leader (it goes there when one of the endpoints is known to be it). */
  async moveLeader(targetId: bigint, options?: CallOptions): Promise<ResponseHeader> {
    const response = await this.runner.run("write", options, (endpoint, context) => endpoint.cluster.moveLeader({ targetId }, context));
    return headerFromMessage(response.header);
  }

  /**
   * Downloads a snapshot of the current member's store (see SnapshotStream). Not retried; only
   * an explicit timeoutMs limits it.
   */
  snapshot(options?: CallOptions): SnapshotStream {
    this.runner.assertOpen();
    return new SnapshotStream(() => {
      const controller = new AbortController();
      const untrack = this.runner.track(controller);
      const userSignal = options?.signal;
      const onAbort = (): void => controller.abort(userSignal?.reason);
      userSignal?.addEventListener("abort", onAbort, { once: true });
      if (userSignal?.aborted === true) onAbort();
      const chunks = this.pool.current().maintenance.snapshot({}, { signal: controller.signal, timeoutMs: options?.timeoutMs });
      return {
        chunks,
        finish: () => {
          untrack();
          userSignal?.removeEventListener("abort", onAbort);
          controller.abort(new ConnectError("snapshot finished"));
        },
      };
    }, this.createSha256);
  }

  /**
   * Closes the client: calls in progress fail with ClientClosedError, watches and keep-alives
   * end with it, streams and connections are closed. Later calls fail with ClientClosedError.
   */
  async close(): Promise<void> {
    if (this.runner.isClosed) return;
    const reason = new ClientClosedError();
    this.runner.close();
    for (const watcher of [...this.watchers]) watcher.stop(reason);
    this.watchers.clear();
    this.lease.close();
    this.renewer.close(reason);
    this.pool.close(reason);
  }

  private kv<K extends KvCallKind>(kind: K, safety: CallSafety, request: KvCalls[K]["request"], options: CallOptions | undefined): Promise<KvCalls[K]["response"]> {
    return this.runner.run(safety, options, (endpoint, context) =>
      this.usesPipeline ? endpoint.pipeline().call(kind, request, context.signal) : unaryKv[kind](endpoint, request, context),
    );
  }
}
