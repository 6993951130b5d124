/**
 * WatchService: the Watch bidi stream (many watchers on one stream) and Subscribe (one watcher
 * on a server stream, for browsers and curl). Semantics in watch.proto.
 *
 * Each watcher has a pump that moves its events from the KV watch hub to the stream's response
 * queue. The hub bounds each watcher's buffer (a watcher that falls behind is canceled with a
 * reason), so writers never wait for a slow watcher; a pump waits while the stream's queue holds
 * more than a bounded number of responses, so the stream's memory is bounded too.
 *
 * Progress: a progress request is answered once every watcher on the stream has handed out all
 * events it was given (WatchSubscription.progressRevision), checked from a macrotask so that
 * every pump has queued what the hub handed it first; the answer's revision is the lowest
 * such revision, so no later event on the stream can have a lower one.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { EventSchema } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import {
  WatchService,
  type SubscribeRequest,
  type SubscribeResponseSchema,
  type WatchCreateRequest,
  type WatchRequest,
  type WatchResponseSchema,
} from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import type { WatchEvent, WatchSubscription } from "../kv/index.js";
import { eventToProto, watchFromProto } from "./convert.js";
import { type MemberContext, responseHeader } from "./member.js";
import { toConnectError } from "./status.js";
import { WakeableQueue } from "./wakeable-queue.js";
import type { ServiceRegistrar } from "./unary-method-table.js";

type WatchResponseInit = MessageInitShape<typeof WatchResponseSchema>;
type EventInit = MessageInitShape<typeof EventSchema>;

export interface WatchServiceOptions {
  /** Bytes of events in one response before the rest goes in the next (or in fragments). */
  maxResponseBytes: number;
  /** Quiet time after which a progress_notify watcher gets an empty progress response. */
  progressNotifyIntervalMs: number;
  /** Responses a stream may have queued before its pumps wait. */
  maxQueuedResponses: number;
}

export const DEFAULT_WATCH_OPTIONS: WatchServiceOptions = {
  maxResponseBytes: 1536 * 1024,
  progressNotifyIntervalMs: 10 * 60 * 1000,
  maxQueuedResponses: 256,
};

/** Wire overhead assumed per event besides its key and value bytes (revisions, tags, lengths). */
const EVENT_OVERHEAD_BYTES = 48;
/** How often a pending progress request re-checks whether every watcher has caught up. */
const PROGRESS_RECHECK_MS = 5;

export function registerWatchService(router: ServiceRegistrar, member: MemberContext, options: WatchServiceOptions): void {
  router.service(WatchService, {
    watch: (requests, ctx) => new WatchStream(member, options, ctx).run(requests),
    subscribe: (req, ctx) => subscribe(member, options, req, ctx),
  });
}

async function* subscribe(
  member: MemberContext,
  options: WatchServiceOptions,
  req: SubscribeRequest,
  ctx: HandlerContext,
): AsyncGenerator<MessageInitShape<typeof SubscribeResponseSchema>> {
  if (req.create === undefined) throw new ConnectError("create: a watch create request is required", Code.InvalidArgument);
  const stream = new WatchStream(member, options, ctx);
  const create = { ...req.create, watchId: 0n };
  for await (const response of stream.run(singleCreate(create, ctx.signal))) {
    yield { response: { ...response, watchId: 0n } };
    if (response.canceled === true) return;
  }
}

/** A request stream holding one create and then staying open until the call ends. */
async function* singleCreate(create: WatchCreateRequest, signal: AbortSignal): AsyncGenerator<WatchRequest> {
  yield { request: { case: "create", value: create } } as WatchRequest;
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

interface StreamWatcher {
  id: bigint;
  subscription: WatchSubscription;
  progressNotify: boolean;
  fragment: boolean;
  /** When the watcher last had a response sent (events or progress), for progress_notify. */
  lastSentMs: number;
}

class WatchStream {
  private readonly responses = new WakeableQueue<WatchResponseInit>();
  private readonly watchers = new Map<bigint, StreamWatcher>();
  private nextAutoId = 1n;
  private reading = true;
  private failure: ConnectError | undefined;
  private progressPending = false;
  private progressTimer: NodeJS.Timeout | undefined;
  private notifyTimer: NodeJS.Timeout | undefined;
  private spaceWaiters: (() => void)[] = [];

  constructor(
    private readonly member: MemberContext,
    private readonly options: WatchServiceOptions,
    private readonly ctx: HandlerContext,
  ) {}

  async *run(requests: AsyncIterable<WatchRequest>): AsyncGenerator<WatchResponseInit> {
    const reader = this.read(requests);
    reader.then(
      () => {
        this.reading = false;
        this.responses.wake();
      },
      (err: unknown) => {
        this.reading = false;
        this.failure = toConnectError(err);
        this.responses.wake();
      },
    );
    const onAbort = (): void => this.responses.wake();
    this.ctx.signal.addEventListener("abort", onAbort, { once: true });
    this.notifyTimer = setInterval(() => this.notifyQuietWatchers(), Math.max(10, this.options.progressNotifyIntervalMs / 2));
    this.notifyTimer.unref();
    try {
      while (true) {
        if (this.failure !== undefined) throw this.failure;
        // Shutdown aborts with UNAVAILABLE, which the client must see to resume elsewhere; after
        // a client's own cancel nobody reads the error.
        if (this.ctx.signal.aborted) throw ConnectError.from(this.ctx.signal.reason);
        // A client that half-closes keeps receiving until its watchers end, as etcd does.
        if (!this.reading && this.watchers.size === 0 && this.responses.length === 0) return;
        const batch = await this.responses.takeAll();
        this.releaseSpace();
        for (const response of batch) yield response;
      }
    } finally {
      this.ctx.signal.removeEventListener("abort", onAbort);
      clearInterval(this.notifyTimer);
      clearTimeout(this.progressTimer);
      for (const w of this.watchers.values()) w.subscription.cancel();
      this.watchers.clear();
      this.releaseSpace();
    }
  }

  private async read(requests: AsyncIterable<WatchRequest>): Promise<void> {
    for await (const req of requests) {
      switch (req.request.case) {
        case "create":
          this.create(req.request.value);
          break;
        case "cancel":
          this.cancel(req.request.value.watchId);
          break;
        case "progress":
          this.requestProgress();
          break;
        default:
          throw new ConnectError("request: one of create, cancel or progress must be set", Code.InvalidArgument);
      }
    }
  }

  private create(req: WatchCreateRequest): void {
    const requested = req.watchId;
    const id = requested === 0n ? this.allocateId() : requested;
    const refuse = (reason: string, compactRevision = 0): void => {
      this.responses.push({ header: this.header(), watchId: id, created: true, canceled: true, cancelReason: reason, compactRevision: BigInt(compactRevision) });
    };
    if (requested < 0n) return refuse(`watch_id: must not be negative, got ${requested}`);
    if (this.watchers.has(id)) return refuse(`watch_id: ${id} is already in use on this stream`);
    let subscription: WatchSubscription;
    try {
      subscription = this.member.store.watch(watchFromProto(req));
    } catch (err) {
      return refuse(toConnectError(err).rawMessage);
    }
    // A start revision below compaction ends the watcher at once: one response says so.
    if (subscription.cancellation !== undefined) return refuse(subscription.cancellation.reason, subscription.cancellation.compactRevision);
    const watcher: StreamWatcher = { id, subscription, progressNotify: req.progressNotify, fragment: req.fragment, lastSentMs: Date.now() };
    this.watchers.set(id, watcher);
    this.responses.push({ header: this.header(), watchId: id, created: true });
    void this.pump(watcher);
  }

  private allocateId(): bigint {
    while (this.watchers.has(this.nextAutoId)) this.nextAutoId++;
    return this.nextAutoId++;
  }

  private cancel(id: bigint): void {
    const watcher = this.watchers.get(id);
    if (watcher !== undefined) {
      this.watchers.delete(id);
      watcher.subscription.cancel();
    }
    this.responses.push({ header: this.header(), watchId: id, canceled: true });
  }

  /** Moves one watcher's events to the stream until it ends, then reports why it ended. */
  private async pump(watcher: StreamWatcher): Promise<void> {
    const { subscription } = watcher;
    try {
      for (let events = await subscription.next(); events !== undefined; events = await subscription.next()) {
        if (this.watchers.get(watcher.id) !== watcher) return;
        if (!this.queueEvents(watcher, events)) return;
        watcher.lastSentMs = Date.now();
        if (this.responses.length >= this.options.maxQueuedResponses) await this.waitForSpace();
      }
    } catch (err) {
      subscription.cancel();
      this.endWatcher(watcher, toConnectError(err).rawMessage, 0);
      return;
    }
    const cancellation = subscription.cancellation;
    if (cancellation !== undefined) this.endWatcher(watcher, cancellation.reason, cancellation.compactRevision);
  }

  private endWatcher(watcher: StreamWatcher, reason: string, compactRevision: number): void {
    if (this.watchers.get(watcher.id) !== watcher) return;
    this.watchers.delete(watcher.id);
    this.responses.push({
      header: this.header(),
      watchId: watcher.id,
      canceled: true,
      cancelReason: reason,
      compactRevision: BigInt(compactRevision),
    });
  }

  /**
   * Queues events as responses of at most maxResponseBytes, split between revisions; one
   * revision larger than that is sent in fragments when the watcher allows it, and otherwise
   * ends the watcher. Returns false when the watcher ended.
   */
  private queueEvents(watcher: StreamWatcher, events: WatchEvent[]): boolean {
    const limit = this.options.maxResponseBytes;
    let batch: EventInit[] = [];
    let batchBytes = 0;
    let i = 0;
    while (i < events.length) {
      const revision = events[i].kv.modRevision;
      let end = i;
      let revisionBytes = 0;
      while (end < events.length && events[end].kv.modRevision === revision) revisionBytes += eventBytes(events[end++]);
      if (batchBytes + revisionBytes > limit && batch.length > 0) {
        this.responses.push({ header: this.header(), watchId: watcher.id, events: batch });
        batch = [];
        batchBytes = 0;
      }
      if (revisionBytes > limit) {
        if (!watcher.fragment) {
          watcher.subscription.cancel();
          this.endWatcher(
            watcher,
            `the events of revision ${revision} take ${revisionBytes} bytes, more than one response may carry (${limit}); watch with fragment set to receive them`,
            0,
          );
          return false;
        }
        this.queueFragments(watcher, events.slice(i, end));
      } else {
        for (let j = i; j < end; j++) batch.push(eventToProto(events[j]));
        batchBytes += revisionBytes;
      }
      i = end;
    }
    if (batch.length > 0) this.responses.push({ header: this.header(), watchId: watcher.id, events: batch });
    return true;
  }

  private queueFragments(watcher: StreamWatcher, events: WatchEvent[]): void {
    const limit = this.options.maxResponseBytes;
    let part: EventInit[] = [];
    let partBytes = 0;
    for (const event of events) {
      const bytes = eventBytes(event);
      if (part.length > 0 && partBytes + bytes > limit) {
        this.responses.push({ header: this.header(), watchId: watcher.id, fragment: true, events: part });
        part = [];
        partBytes = 0;
      }
      part.push(eventToProto(event));
      partBytes += bytes;
    }
    this.responses.push({ header: this.header(), watchId: watcher.id, fragment: false, events: part });
  }

  private requestProgress(): void {
    if (this.progressPending) return;
    this.progressPending = true;
    const check = (): void => {
      if (this.ctx.signal.aborted) return;
      let revision = this.member.store.revision();
      for (const w of this.watchers.values()) {
        const caughtUp = w.subscription.progressRevision;
        if (caughtUp === undefined) {
          this.progressTimer = setTimeout(check, PROGRESS_RECHECK_MS);
          return;
        }
        revision = Math.min(revision, caughtUp);
      }
      this.progressPending = false;
      this.responses.push({ header: responseHeader(this.member, revision), watchId: 0n });
    };
    // A macrotask: every event the hub has handed to a pump has been queued by then.
    this.progressTimer = setTimeout(check, 0);
  }

  private notifyQuietWatchers(): void {
    const now = Date.now();
    for (const w of this.watchers.values()) {
      if (!w.progressNotify || now - w.lastSentMs < this.options.progressNotifyIntervalMs) continue;
      const revision = w.subscription.progressRevision;
      if (revision === undefined) continue;
      w.lastSentMs = now;
      this.responses.push({ header: responseHeader(this.member, revision), watchId: w.id });
    }
  }

  private header(): ReturnType<typeof responseHeader> {
    return responseHeader(this.member, this.member.store.revision());
  }

  private waitForSpace(): Promise<void> {
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  private releaseSpace(): void {
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function eventBytes(e: WatchEvent): number {
  let bytes = EVENT_OVERHEAD_BYTES + e.kv.key.length + e.kv.value.length;
  if (e.prevKv !== undefined) bytes += EVENT_OVERHEAD_BYTES + e.prevKv.key.length + e.prevKv.value.length;
  return bytes;
}
