/**
 * A resumable watch: an AsyncIterable of WatchBatch that survives dropped streams.
 *
 * The watcher remembers the next revision it needs (`nextRevision`): the start revision, or, for
 * a watch "from now", the revision after the one its creation reported; then always the
 * revision after the last event it delivered (or after a progress notification's revision).
 * When the stream drops (UNAVAILABLE, or a connection failure) it waits a backoff, moves to the
 * next endpoint and creates the watcher again from nextRevision; it also drops any event below
 * nextRevision. So the events delivered have no gap and no duplicate across reconnections (the
 * server sends all events of one revision in one response, as the SDK never asks for fragments).
 *
 * It starts at once (not on the first next()), so writes made after `await watcher.ready` are
 * seen. Batches wait in a bounded queue for the consumer; when it is full the watcher stops
 * reading, which holds the stream back (Subscribe) or lets the shared Watch stream re-create the
 * watcher from history later (watch-mux.ts).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EventType } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import { WatchCreateRequestSchema, WatchFilter, type WatchCreateRequest, type WatchResponse } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { sleep } from "./abort.js";
import { AsyncQueue } from "./async-queue.js";
import type { KeyRange, RangeSelector } from "./bytes.js";
import type { Endpoint, EndpointPool } from "./endpoint-pool.js";
import { SisyphusClientError, WatchCanceledError, WatchCompactedError } from "./errors.js";
import { toInt64, toSafeNumber } from "./integers.js";
import { KeyValue, headerFromMessage, optionalKeyValue, type ResponseHeader } from "./key-value.js";
import type { RetryOptions } from "./options.js";
import { backoffMs, isTransportFailure } from "./retry-policy.js";
import { WatchBufferOverflow } from "./watch-mux.js";

/** The most batches that wait for the consumer before the watcher stops reading. */
export const WATCH_QUEUED_BATCHES_MAX = 64;

/** Kinds of events a watch can leave out. */
export type WatchFilterName = "noPut" | "noDelete";

export interface WatchOptions extends RangeSelector {
  /** The first revision to deliver (inclusive); absent or 0: only changes after the watch is created. */
  startRevision?: number;
  /** Include each event's previous key-value pair. */
  prevKv?: boolean;
  /** Kinds of events not to deliver. */
  filters?: WatchFilterName[];
  /** Ask for progress notifications (empty batches) while the range is quiet. */
  progressNotify?: boolean;
  /** Aborting it cancels the watch; the iteration then ends normally. */
  signal?: AbortSignal;
  /** Consecutive failed reconnections after which the watch fails with the last error. Default: no limit. */
  maxReconnectAttempts?: number;
}

/** One change to one key. */
export interface WatchEvent {
  type: "put" | "delete";
  /** For a put, the pair as written; for a delete, the key with modRevision = the delete's revision. */
  kv: KeyValue;
  /** The pair before the change, when prevKv was asked for and it existed. */
  prevKv?: KeyValue;
}

/** The events of one watch response, in revision order. */
export interface WatchBatch {
  /** The events; empty for a progress notification. */
  events: WatchEvent[];
  /** header.revision: the store's revision when the response was sent; after a progress notification, later events have higher revisions. */
  revision: number;
  header: ResponseHeader;
}

/** Opens one watcher on an endpoint; its responses start with the created (or canceled) one. */
export type OpenWatcher = (endpoint: Endpoint, create: WatchCreateRequest, signal: AbortSignal) => AsyncIterable<WatchResponse>;

/**
 * Whether a failed watch stream is worth re-creating (the server dropped it, or the connection
 * failed). Called only when the watcher was not canceled, so CANCELED here is the HTTP/2 stream
 * reset of a member that went away (connect-node reports a killed peer's stream that way).
 */
function isResumable(err: ConnectError): boolean {
  if (err instanceof SisyphusClientError) return false;
  return err.code === Code.Unavailable || err.code === Code.Canceled || isTransportFailure(err);
}

function watchEvent(event: WatchResponse["events"][number]): WatchEvent {
  const kv = event.kv === undefined ? new KeyValue(new Uint8Array(0), new Uint8Array(0), 0, 0, 0, 0n) : KeyValue.fromMessage(event.kv);
  const prevKv = optionalKeyValue(event.prevKv);
  const type = event.type === EventType.DELETE ? "delete" : "put";
  return prevKv === undefined ? { type, kv } : { type, kv, prevKv };
}

const filterValues: Record<WatchFilterName, WatchFilter> = { noPut: WatchFilter.NO_PUT, noDelete: WatchFilter.NO_DELETE };

/** A watch in progress. Iterate it once; breaking out of the loop cancels it. */
export class Watcher implements AsyncIterable<WatchBatch> {
  /**
   * Resolves with the store revision reported when the watcher was first created on the server
   * (every later change is delivered); rejects if the watch fails before that. The server may
   * create a watcher and then cancel it (a compacted start revision): that error comes from
   * the iteration.
   */
  readonly ready: Promise<number>;
  private resolveReady: (revision: number) => void = () => undefined;
  private rejectReady: (err: unknown) => void = () => undefined;
  private readonly batches = new AsyncQueue<WatchBatch>(() => this.cancel());
  private readonly controller = new AbortController();
  private nextRevision: bigint;
  private readonly maxReconnectAttempts: number;
  private readonly onSignalAbort: () => void;

  constructor(
    private readonly pool: EndpointPool,
    private readonly open: OpenWatcher,
    private readonly retry: RetryOptions,
    private readonly range: KeyRange,
    private readonly options: WatchOptions,
    private readonly onEnd: (watcher: Watcher) => void,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.nextRevision = toInt64(options.startRevision ?? 0, "startRevision");
    this.maxReconnectAttempts = options.maxReconnectAttempts ?? Infinity;
    this.onSignalAbort = () => this.cancel();
    options.signal?.addEventListener("abort", this.onSignalAbort, { once: true });
    if (options.signal?.aborted === true) this.cancel();
    else void this.run();
  }

  /** False once the watch has ended (canceled, failed, or its client closed). */
  get isActive(): boolean {
    return !this.controller.signal.aborted;
  }

  /** The revision the watch would resume from: the one after the last event delivered (0 before creation of a watch "from now"). */
  get resumeRevision(): number {
    return toSafeNumber(this.nextRevision, "watch.next_revision");
  }

  /** Stops the watch; the iteration ends after the batches already queued. */
  cancel(): void {
    this.stop(undefined);
  }

  /** Stops the watch with an error for the consumer (client closed), or without one (canceled). */
  stop(error: ConnectError | undefined): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(error ?? new ConnectError("the watch was canceled", Code.Canceled));
    if (error === undefined) this.batches.end();
    else this.batches.fail(error);
    this.rejectReady(error ?? new ConnectError("the watch was canceled", Code.Canceled));
    this.ended();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    return this.batches[Symbol.asyncIterator]();
  }

  private createRequest(): WatchCreateRequest {
    return create(WatchCreateRequestSchema, {
      key: this.range.key,
      rangeEnd: this.range.rangeEnd,
      startRevision: this.nextRevision,
      progressNotify: this.options.progressNotify === true,
      filters: (this.options.filters ?? []).map((f) => filterValues[f]),
      prevKv: this.options.prevKv === true,
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.controller.signal.aborted) {
      const endpoint = this.pool.current();
      const attempt = new AbortController();
      const onStop = (): void => attempt.abort(this.controller.signal.reason);
      this.controller.signal.addEventListener("abort", onStop, { once: true });
      try {
        for await (const response of this.open(endpoint, this.createRequest(), attempt.signal)) {
          if (response.created) failures = 0;
          const batch = this.accept(response);
          if (batch === undefined) continue;
          this.batches.push(batch);
          await this.batches.whenShorterThan(WATCH_QUEUED_BATCHES_MAX);
          if (this.controller.signal.aborted) return;
        }
        throw new ConnectError("the watch stream ended", Code.Unavailable);
      } catch (err) {
        if (this.controller.signal.aborted) return;
        if (err instanceof WatchBufferOverflow) continue;
        const error = ConnectError.from(err);
        failures++;
        if (!isResumable(error) || failures > this.maxReconnectAttempts) {
          this.fail(error);
          return;
        }
        this.pool.markFailed(endpoint);
        try {
          await sleep(backoffMs(failures, this.retry), this.controller.signal);
        } catch {
          return;
        }
      } finally {
        this.controller.signal.removeEventListener("abort", onStop);
        attempt.abort(new ConnectError("watch attempt ended", Code.Canceled));
      }
    }
  }

  /** Applies one response to the watch's state; returns the batch to deliver, if any. Throws when the server canceled the watch. */
  private accept(response: WatchResponse): WatchBatch | undefined {
    if (response.canceled) {
      if (response.compactRevision > 0n) {
        throw new WatchCompactedError(toSafeNumber(response.compactRevision, "watch.compact_revision"), toSafeNumber(this.nextRevision, "watch.start_revision"));
      }
      throw new WatchCanceledError(response.cancelReason);
    }
    const header = headerFromMessage(response.header);
    const headerRevision = response.header?.revision ?? 0n;
    if (response.created) {
      if (this.nextRevision === 0n) this.nextRevision = headerRevision + 1n;
      this.resolveReady(header.revision);
      if (response.events.length === 0) return undefined;
    }
    if (response.events.length === 0) {
      if (headerRevision + 1n > this.nextRevision) this.nextRevision = headerRevision + 1n;
      return { events: [], revision: header.revision, header };
    }
    const fresh = response.events.filter((e) => (e.kv?.modRevision ?? 0n) >= this.nextRevision);
    if (fresh.length === 0) return undefined;
    this.nextRevision = (fresh[fresh.length - 1].kv?.modRevision ?? 0n) + 1n;
    return { events: fresh.map(watchEvent), revision: header.revision, header };
  }

  private fail(error: ConnectError): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(error);
    this.batches.fail(error);
    this.rejectReady(error);
    this.ended();
  }

  private ended(): void {
    this.options.signal?.removeEventListener("abort", this.onSignalAbort);
    this.onEnd(this);
  }
}
