/**
 * An in-process fake of the SisyphusDB API for the SDK's tests: KVService (unary and a Pipeline
 * that answers in completion order and enforces max_in_flight), WatchService (Watch and
 * Subscribe), LeaseService, MaintenanceService and ClusterService over FakeStore, served through
 * createRouterTransport (or any Connect router). Tests steer it with:
 *   - `before`: a hook run before every KV and lease call (unary or on the pipeline) that may
 *     delay it (to reorder responses), throw (to inject errors; on the pipeline the error keeps
 *     its code, message and not-applied marker, as the server's PipelineError does) or never return;
 *   - `store.memberId`, `store.leaderId`, `store.raftTerm`: what every header says;
 *   - `drop(kind)`: ends the open streams of a kind with UNAVAILABLE;
 *   - `calls`, `renewals`, `pipelineStats`: what the fake received;
 *   - `changes`: an EventEmitter that emits "change" whenever any of that changes, for waitFor().
 */
import { EventEmitter } from "node:events";
import { createHash } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport, type ConnectRouter, type HandlerContext, type Transport } from "@connectrpc/connect";
import { ClusterService } from "../../../gen/sisyphus/kv/v1/cluster_pb.js";
import { KVService, type PipelineRequest, type PipelineResponseSchema } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { LeaseService, type KeepAliveResponseSchema } from "../../../gen/sisyphus/kv/v1/lease_pb.js";
import { MaintenanceService, type SnapshotResponseSchema } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { EventType } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import { WatchFilter, WatchService, type WatchCreateRequest, type WatchRequest, type WatchResponseSchema } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { AsyncQueue } from "../src/async-queue.js";
import { NOT_APPLIED_METADATA_KEY } from "../src/retry-policy.js";
import { FakeStore, MEMBER_ID, inRange, type Revision } from "./fake-store.js";

type PipelineResponseInit = MessageInitShape<typeof PipelineResponseSchema>;
type WatchResponseInit = MessageInitShape<typeof WatchResponseSchema>;
type SnapshotResponseInit = MessageInitShape<typeof SnapshotResponseSchema>;

export type StreamKind = "pipeline" | "watch" | "subscribe" | "keepAlive";

/** One call the fake received. */
export interface CallRecord {
  method: string;
  via: "unary" | "pipeline" | "stream";
  request: unknown;
}

/** Runs before a call is executed; may delay, throw, or never settle (the signal aborts when the call or its stream goes away). */
export type BeforeHook = (call: CallRecord, signal: AbortSignal) => Promise<void> | void;

interface OpenStream {
  kind: StreamKind;
  drop(error: ConnectError): void;
}

/** What Snapshot streams. */
export interface SnapshotPlan {
  data: Uint8Array;
  chunkBytes: number;
  digest: "right" | "wrong" | "none";
  /** End the stream before the last chunk. */
  truncate: boolean;
}

export class FakeServer {
  readonly store = new FakeStore();
  readonly calls: CallRecord[] = [];
  readonly renewals: { id: bigint; atMs: number }[] = [];
  readonly changes = new EventEmitter();
  readonly pipelineStats = { streams: 0, peakInFlight: 0, overLimit: 0 };
  readonly streamsOpened: Record<StreamKind, number> = { pipeline: 0, watch: 0, subscribe: 0, keepAlive: 0 };
  before: BeforeHook | undefined;
  pipelineMaxInFlight = 1024;
  snapshotPlan: SnapshotPlan = { data: new Uint8Array(0), chunkBytes: 4, digest: "right", truncate: false };
  private readonly openStreams = new Set<OpenStream>();
  /** Every live watcher's way to send it a response, for progress notifications. */
  private readonly watcherOutputs = new Set<{ watchId: bigint; push: (response: WatchResponseInit) => void }>();

  constructor() {
    this.changes.setMaxListeners(100);
  }

  transport(): Transport {
    return createRouterTransport(this.routes);
  }

  /** How many calls of `method` arrived (unary and pipeline). */
  count(method: string): number {
    return this.calls.filter((c) => c.method === method).length;
  }

  /** Streams of a kind open now. */
  openCount(kind: StreamKind): number {
    return [...this.openStreams].filter((s) => s.kind === kind).length;
  }

  /** Ends every open stream of a kind with `error` (UNAVAILABLE by default); returns how many. */
  drop(kind: StreamKind, error = new ConnectError("stream dropped by the test", Code.Unavailable)): number {
    const streams = [...this.openStreams].filter((s) => s.kind === kind);
    for (const stream of streams) stream.drop(error);
    return streams.length;
  }

  /** Sends every live watcher a progress notification (no events, header revision = the current one). */
  sendProgress(): void {
    for (const { watchId, push } of this.watcherOutputs) push({ header: this.store.header(), watchId });
  }

  readonly routes = (router: ConnectRouter): void => {
    router.service(KVService, {
      range: (req, ctx) => this.unary("range", req, ctx, () => this.store.range(req)),
      put: (req, ctx) => this.unary("put", req, ctx, () => this.store.put(req)),
      deleteRange: (req, ctx) => this.unary("deleteRange", req, ctx, () => this.store.deleteRange(req)),
      txn: (req, ctx) => this.unary("txn", req, ctx, () => this.store.txn(req)),
      compact: (req, ctx) =>
        this.unary("compact", req, ctx, () => {
          this.store.compact(req.revision);
          return { header: this.store.header() };
        }),
      pipeline: (requests, ctx) => this.pipeline(requests, ctx),
    });
    router.service(WatchService, {
      watch: (requests, ctx) => this.watchStream(requests, ctx),
      subscribe: (req, ctx) => this.subscribe(req.create, ctx),
    });
    router.service(LeaseService, {
      grant: (req, ctx) =>
        this.unary("grant", req, ctx, () => {
          if (req.ttl <= 0n) throw new ConnectError("ttl must be positive", Code.InvalidArgument);
          return { header: this.store.header(), ...this.store.grant(req.ttl, req.id) };
        }),
      revoke: (req, ctx) =>
        this.unary("revoke", req, ctx, () => {
          this.store.revoke(req.id);
          return { header: this.store.header() };
        }),
      keepAlive: (requests, ctx) => this.keepAliveStream(requests, ctx),
      keepAliveOnce: (req, ctx) => this.unary("keepAliveOnce", req, ctx, () => ({ header: this.store.header(), id: req.id, ttl: this.renew(req.id) })),
      timeToLive: (req, ctx) =>
        this.unary("timeToLive", req, ctx, () => {
          const lease = this.store.leases.get(req.id);
          if (lease === undefined) return { header: this.store.header(), id: req.id, ttl: -1n };
          return { header: this.store.header(), id: req.id, ttl: lease.grantedTtl, grantedTtl: lease.grantedTtl, keys: req.keys ? this.store.leaseKeys(req.id) : [] };
        }),
      leases: (req, ctx) =>
        this.unary("leases", req, ctx, () => ({
          header: this.store.header(),
          leases: [...this.store.leases.values()].map((l) => ({ id: l.id, ttl: l.grantedTtl, grantedTtl: l.grantedTtl })),
        })),
    });
    router.service(MaintenanceService, {
      status: (req, ctx) =>
        this.unary("status", req, ctx, () => ({
          header: this.store.header(),
          version: "0.1.0-fake",
          dbSizeBytes: 4096n,
          leader: MEMBER_ID,
          raftCommittedIndex: 7n,
          raftAppliedIndex: 7n,
          raftLogSizeBytes: 1024n,
          compactRevision: this.store.compactRevision,
        })),
      snapshot: (_req, ctx) => this.snapshot(ctx),
    });
    router.service(ClusterService, {
      memberList: (req, ctx) =>
        this.unary("memberList", req, ctx, () => ({
          header: this.store.header(),
          members: [
            { id: MEMBER_ID, name: "one", peerUrls: ["http://127.0.0.1:7380"], clientUrls: ["http://127.0.0.1:7379"] },
            { id: 0x2n, name: "", peerUrls: ["http://127.0.0.1:7390"], isLearner: true },
          ],
        })),
    });
  };

  private record(call: CallRecord): void {
    this.calls.push(call);
    this.changes.emit("change");
  }

  private async unary<T>(method: string, request: unknown, ctx: HandlerContext, execute: () => T): Promise<T> {
    const call: CallRecord = { method, via: "unary", request };
    this.record(call);
    await this.before?.(call, ctx.signal);
    return execute();
  }

  private renew(id: bigint): bigint {
    this.renewals.push({ id, atMs: Date.now() });
    this.changes.emit("change");
    return this.store.leases.get(id)?.grantedTtl ?? 0n;
  }

  /** Registers a stream; returns its queue of responses and the function that unregisters it. */
  private openStream<T>(kind: StreamKind, ctx: HandlerContext): { out: AsyncQueue<T>; signal: AbortSignal; close: () => void } {
    const out = new AsyncQueue<T>();
    const controller = new AbortController();
    const stream: OpenStream = {
      kind,
      drop: (error) => {
        controller.abort(error);
        out.fail(error);
      },
    };
    const close = (): void => {
      if (!this.openStreams.delete(stream)) return;
      ctx.signal.removeEventListener("abort", onClientGone);
      controller.abort(new ConnectError("stream closed", Code.Canceled));
      this.changes.emit("change");
    };
    // The client went away. (The handler may be suspended at a yield nobody will resume, so
    // the stream counts as closed now rather than when the handler's finally runs.)
    const onClientGone = (): void => {
      out.end();
      close();
    };
    ctx.signal.addEventListener("abort", onClientGone, { once: true });
    this.openStreams.add(stream);
    this.streamsOpened[kind]++;
    this.changes.emit("change");
    return { out, signal: controller.signal, close };
  }

  private async *pipeline(requests: AsyncIterable<PipelineRequest>, ctx: HandlerContext): AsyncGenerator<PipelineResponseInit> {
    const { out, signal, close } = this.openStream<PipelineResponseInit>("pipeline", ctx);
    this.pipelineStats.streams++;
    const maxInFlight = this.pipelineMaxInFlight;
    let inFlight = 0;
    let reading = true;
    const finishIfDone = (): void => {
      if (!reading && inFlight === 0) out.end();
    };
    const runCall = async (req: PipelineRequest): Promise<PipelineResponseInit> => {
      const call: CallRecord = { method: req.request.case ?? "none", via: "pipeline", request: req.request.value };
      this.record(call);
      try {
        await this.before?.(call, signal);
        switch (req.request.case) {
          case "range":
            return { id: req.id, response: { case: "range", value: this.store.range(req.request.value) } };
          case "put":
            return { id: req.id, response: { case: "put", value: this.store.put(req.request.value) } };
          case "deleteRange":
            return { id: req.id, response: { case: "deleteRange", value: this.store.deleteRange(req.request.value) } };
          case "txn":
            return { id: req.id, response: { case: "txn", value: this.store.txn(req.request.value) } };
          default:
            throw new ConnectError("no call in the request", Code.InvalidArgument);
        }
      } catch (err) {
        const error = ConnectError.from(err);
        const notApplied = error.metadata.get(NOT_APPLIED_METADATA_KEY) === "1";
        return { id: req.id, response: { case: "error", value: { code: error.code, message: error.rawMessage, notApplied } } };
      }
    };
    void (async () => {
      for await (const req of requests) {
        if (req.id === 0n) throw new ConnectError("id 0", Code.InvalidArgument);
        if (inFlight >= maxInFlight) {
          this.pipelineStats.overLimit++;
          out.push({ id: req.id, response: { case: "error", value: { code: Code.ResourceExhausted, message: "too many in flight" } } });
          continue;
        }
        inFlight++;
        this.pipelineStats.peakInFlight = Math.max(this.pipelineStats.peakInFlight, inFlight);
        void runCall(req).then((response) => {
          inFlight--;
          out.push(response);
          finishIfDone();
        });
      }
      reading = false;
      finishIfDone();
    })().catch((err: unknown) => out.fail(ConnectError.from(err)));
    try {
      yield { id: 0n, response: { case: "ready", value: { maxInFlight } } };
      yield* out;
    } finally {
      close();
    }
  }

  /** Sends a watcher's responses through `push`: created (or canceled), history, then live events. Returns the function that stops it. */
  private startWatcher(create: WatchCreateRequest, watchId: bigint, push: (response: WatchResponseInit) => void): () => void {
    this.record({ method: "watchCreate", via: "stream", request: create });
    const start = create.startRevision;
    // As the server does: a create it refuses is answered created + canceled in one response; a
    // compacted start revision is found after creation, so created comes first, then canceled.
    if (create.key.length === 0) {
      push({ header: this.store.header(), watchId, created: true, canceled: true, cancelReason: "key: must not be empty" });
      return () => undefined;
    }
    push({ header: this.store.header(), watchId, created: true });
    if (start > 0n && start < this.store.compactRevision) {
      push({ header: this.store.header(), watchId, canceled: true, compactRevision: this.store.compactRevision, cancelReason: "compacted" });
      return () => undefined;
    }
    const send = (revision: Revision): void => {
      const events = revision.events
        .filter((e) => e.kv !== undefined && inRange(create.key, create.rangeEnd, e.kv.key))
        .filter((e) => !(e.type === EventType.PUT && create.filters.includes(WatchFilter.NO_PUT)))
        .filter((e) => !(e.type === EventType.DELETE && create.filters.includes(WatchFilter.NO_DELETE)))
        .map((e) => (create.prevKv ? e : { ...e, prevKv: undefined }));
      if (events.length > 0) push({ header: this.store.header(), watchId, events });
    };
    if (start > 0n) for (const revision of this.store.history) if (revision.revision >= start) send(revision);
    const output = { watchId, push };
    this.watcherOutputs.add(output);
    const stopCommits = this.store.onCommit(send);
    return () => {
      stopCommits();
      this.watcherOutputs.delete(output);
    };
  }

  private async *watchStream(requests: AsyncIterable<WatchRequest>, ctx: HandlerContext): AsyncGenerator<WatchResponseInit> {
    const { out, close } = this.openStream<WatchResponseInit>("watch", ctx);
    const watchers = new Map<bigint, () => void>();
    let nextServerId = 1000n;
    void (async () => {
      for await (const req of requests) {
        if (req.request.case === "create") {
          const id = req.request.value.watchId !== 0n ? req.request.value.watchId : nextServerId++;
          watchers.set(id, this.startWatcher(req.request.value, id, (r) => out.push(r)));
        } else if (req.request.case === "cancel") {
          const id = req.request.value.watchId;
          watchers.get(id)?.();
          watchers.delete(id);
          out.push({ header: this.store.header(), watchId: id, canceled: true });
        }
      }
    })().catch((err: unknown) => out.fail(ConnectError.from(err)));
    try {
      yield* out;
    } finally {
      for (const stop of watchers.values()) stop();
      close();
    }
  }

  private async *subscribe(create: WatchCreateRequest | undefined, ctx: HandlerContext): AsyncGenerator<{ response: WatchResponseInit }> {
    if (create === undefined) throw new ConnectError("create is required", Code.InvalidArgument);
    const { out, close } = this.openStream<WatchResponseInit>("subscribe", ctx);
    const stop = this.startWatcher(create, 0n, (r) => out.push(r));
    try {
      for await (const response of out) yield { response };
    } finally {
      stop();
      close();
    }
  }

  private async *keepAliveStream(requests: AsyncIterable<{ id: bigint }>, ctx: HandlerContext): AsyncGenerator<MessageInitShape<typeof KeepAliveResponseSchema>> {
    const { out, close } = this.openStream<{ id: bigint; ttl: bigint }>("keepAlive", ctx);
    void (async () => {
      for await (const req of requests) out.push({ id: req.id, ttl: this.renew(req.id) });
    })().catch((err: unknown) => out.fail(ConnectError.from(err)));
    try {
      for await (const r of out) yield { header: this.store.header(), id: r.id, ttl: r.ttl };
    } finally {
      close();
    }
  }

  private async *snapshot(ctx: HandlerContext): AsyncGenerator<SnapshotResponseInit> {
    const { data, chunkBytes, digest, truncate } = this.snapshotPlan;
    const header = this.store.header();
    const sha256 = createHash("sha256").update(data).digest();
    if (digest === "wrong") sha256[0] ^= 0xff;
    for (let offset = 0; offset < data.length || offset === 0; offset += chunkBytes) {
      if (ctx.signal.aborted) return;
      const blob = data.subarray(offset, offset + chunkBytes);
      const remaining = BigInt(Math.max(0, data.length - offset - blob.length));
      if (remaining === 0n && truncate) return;
      yield { header, remainingBytes: remaining, blob, sha256: remaining === 0n && digest !== "none" ? sha256 : new Uint8Array(0) };
      if (data.length === 0) return;
    }
  }
}
