/**
 * Many watchers on one WatchService.Watch bidi stream (Node, HTTP/2). Each watcher gets a
 * client-chosen watch_id (1, 2, 3, ... per stream), so responses are routed by id without
 * relying on their order. A watcher's responses wait in its own queue; when a consumer falls
 * more than WATCH_BUFFERED_RESPONSES_MAX behind, its watcher is canceled on the server and its
 * queue ends with WatchBufferOverflow after the responses already queued, so the resumable
 * watch above re-creates it from the revision after the last event it delivered: a slow
 * consumer reads history instead of holding up the other watchers or growing memory.
 *
 * When the last watcher leaves, the stream is canceled; the next watcher opens a new one. When
 * the stream fails, every watcher's queue fails with the stream's error.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchCreateRequest, WatchRequestSchema, WatchResponse } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { AsyncQueue } from "./async-queue.js";

/** The most responses one watcher may have waiting for its consumer before it is re-created from history. */
export const WATCH_BUFFERED_RESPONSES_MAX = 1024;

type WatchRequestInit = MessageInitShape<typeof WatchRequestSchema>;

/** Opens a Watch stream with the given requests and returns its responses. */
export type OpenWatchStream = (requests: AsyncIterable<WatchRequestInit>, signal: AbortSignal) => AsyncIterable<WatchResponse>;

/** A watcher's queue overflowed; the watch resumes from history at once. */
export class WatchBufferOverflow extends Error {
  constructor() {
    super(`watch consumer fell more than ${WATCH_BUFFERED_RESPONSES_MAX} responses behind`);
    this.name = "WatchBufferOverflow";
  }
}

/** One bidi Watch stream and the watchers on it. */
class WatchStream {
  private readonly outbound = new AsyncQueue<WatchRequestInit>();
  private readonly watchers = new Map<bigint, AsyncQueue<WatchResponse>>();
  private readonly controller = new AbortController();
  private nextWatchId = 1n;
  private ended = false;

  constructor(open: OpenWatchStream) {
    void this.readResponses(open);
  }

  /** False once the stream failed or was canceled: new watchers need a new stream. */
  get usable(): boolean {
    return !this.ended;
  }

  add(create: WatchCreateRequest, signal: AbortSignal): AsyncIterable<WatchResponse> {
    const watchId = this.nextWatchId++;
    const responses = new AsyncQueue<WatchResponse>(() => this.remove(watchId));
    this.watchers.set(watchId, responses);
    this.outbound.push({ request: { case: "create", value: { ...create, watchId } } });
    const onAbort = (): void => {
      this.remove(watchId);
      responses.fail(signal.reason);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    return responses;
  }

  close(reason: unknown): void {
    this.end(reason);
  }

  /** A watcher leaves: cancel it on the server, or the whole stream when it was the last one. */
  private remove(watchId: bigint): void {
    if (!this.watchers.delete(watchId) || this.ended) return;
    if (this.watchers.size === 0) {
      this.end(new ConnectError("no watchers left on the stream", Code.Canceled));
    } else {
      this.outbound.push({ request: { case: "cancel", value: { watchId } } });
    }
  }

  private async readResponses(open: OpenWatchStream): Promise<void> {
    try {
      for await (const response of open(this.outbound, this.controller.signal)) {
        this.route(response);
      }
      this.end(new ConnectError("the watch stream ended", Code.Unavailable));
    } catch (err) {
      this.end(err);
    }
  }

  private route(response: WatchResponse): void {
    const responses = this.watchers.get(response.watchId);
    if (responses === undefined) return;
    responses.push(response);
    if (response.canceled) {
      this.watchers.delete(response.watchId);
      responses.end();
      if (this.watchers.size === 0) this.end(new ConnectError("no watchers left on the stream", Code.Canceled));
    } else if (responses.length > WATCH_BUFFERED_RESPONSES_MAX) {
      this.remove(response.watchId);
      responses.fail(new WatchBufferOverflow());
    }
  }

  private end(reason: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.controller.abort(reason);
    this.outbound.end();
    for (const responses of this.watchers.values()) responses.fail(reason);
    this.watchers.clear();
  }
}

/** The watch streams of one endpoint: one at a time, opened when needed. */
export class WatchMux {
  private stream: WatchStream | undefined;

  constructor(private readonly open: OpenWatchStream) {}

  /** Creates a watcher; its responses (first the created or canceled one) come from the iterable. */
  watch(create: WatchCreateRequest, signal: AbortSignal): AsyncIterable<WatchResponse> {
    if (this.stream === undefined || !this.stream.usable) this.stream = new WatchStream(this.open);
    return this.stream.add(create, signal);
  }

  close(reason: unknown): void {
    this.stream?.close(reason);
    this.stream = undefined;
  }
}
