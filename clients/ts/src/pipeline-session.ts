/**
 * One Pipeline stream (kv.proto, PipelineRequest): many KV calls multiplexed on one bidi stream.
 *
 * Invariants:
 *   - Every call sent has a fresh id (1, 2, 3, ...: never reused, so never a duplicate) and an
 *     entry in `inFlight` until its response arrives, also when its caller gave up (deadline or
 *     abort): the server still counts it against max_in_flight, and so do we.
 *   - At most `maxInFlight` calls are sent and unanswered; the rest wait in `queue`, in call
 *     order, and go out as responses free slots. Nothing is sent before the server's first
 *     message, PipelineReady, has named max_in_flight: kv.proto allows 1024 before that, but a
 *     server configured lower would answer the excess RESOURCE_EXHAUSTED, and waiting costs one
 *     round trip per stream, once.
 *   - When the stream fails, every call on it is settled: the ones sent fail with UNAVAILABLE
 *     (they may or may not have run), the ones still queued fail with UNAVAILABLE marked
 *     not-applied (they were never sent), and the session stays failed; the endpoint opens a new
 *     one for the next call.
 *
 * The stream under the session comes from an OpenPipelineStream (pipeline-stream.ts): a Connect
 * bidi call, or in Node over gRPC the leaner grpc-pipeline-stream.ts.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type {
  DeleteRangeRequest,
  DeleteRangeResponse,
  PipelineRequest,
  PipelineResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import type { OpenPipelineStream, PipelineStream } from "./pipeline-stream.js";
import { isConnectionNotEstablished, NOT_APPLIED_METADATA_KEY, notSentError } from "./retry-policy.js";

/** The in-flight bound used if PipelineReady carries 0 (the server's default, kv.proto). */
export const DEFAULT_PIPELINE_MAX_IN_FLIGHT = 1024;

/** The request and response message of each KV call a Pipeline carries. */
export interface KvCalls {
  range: { request: RangeRequest; response: RangeResponse };
  put: { request: PutRequest; response: PutResponse };
  deleteRange: { request: DeleteRangeRequest; response: DeleteRangeResponse };
  txn: { request: TxnRequest; response: TxnResponse };
}
export type KvCallKind = keyof KvCalls;

interface PendingCall {
  readonly kind: KvCallKind;
  readonly request: KvCalls[KvCallKind]["request"];
  /** True once the caller stopped waiting (the response, when it comes, only frees the slot). */
  abandoned: boolean;
  settle(outcome: { response: PipelineResponse["response"] } | { error: unknown }): void;
}

export class PipelineSession {
  private readonly inFlight = new Map<bigint, PendingCall>();
  /** Calls waiting for a slot, oldest first, from index `queueHead` on (a deque without O(n) shifts). */
  private queue: PendingCall[] = [];
  private queueHead = 0;
  /** 0 until PipelineReady arrives: nothing is sent before. */
  private maxInFlight = 0;
  private nextId = 1n;
  private failure: ConnectError | undefined;
  /** Opened by the first call. */
  private stream: PipelineStream | undefined;

  constructor(private readonly open: OpenPipelineStream) {}

  /** True once the stream has failed or was closed; no call can be made on it any more. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Makes one KV call on the stream; rejects with the signal's reason when it aborts. */
  call<K extends KvCallKind>(kind: K, request: KvCalls[K]["request"], signal: AbortSignal): Promise<KvCalls[K]["response"]> {
    if (this.failure !== undefined) return Promise.reject(notSentError("the pipeline stream has failed; the call was not sent", this.failure));
    if (signal.aborted) return Promise.reject(signal.reason);
    this.start();
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        pending.abandoned = true;
        reject(signal.reason);
      };
      const pending: PendingCall = {
        kind,
        request,
        abandoned: false,
        settle: (outcome) => {
          signal.removeEventListener("abort", onAbort);
          if (pending.abandoned) return;
          if ("error" in outcome) {
            reject(outcome.error);
          } else if (outcome.response.case === kind) {
            // The response of the case asked for carries that call's response message.
            resolve(outcome.response.value as KvCalls[K]["response"]);
          } else {
            reject(new ConnectError(`pipeline answered a ${kind} call with ${outcome.response.case ?? "nothing"}`, Code.Internal));
          }
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(pending);
      this.pump();
    });
  }

  /** Ends the stream; every call not yet answered fails with `reason`. */
  close(reason: ConnectError): void {
    if (this.failure === undefined) this.failure = reason;
    this.stream?.cancel(reason);
    this.settleAll({ error: reason }, { error: reason });
  }

  private start(): void {
    this.stream ??= this.open({
      onResponse: (response) => this.onResponse(response),
      onEnd: (error) => this.onStreamEnd(error ?? new ConnectError("the pipeline stream ended", Code.Unavailable)),
    });
  }

  /** Sends queued calls while there are free slots (there are none before PipelineReady, which comes on an open stream). */
  private pump(): void {
    const stream = this.stream;
    if (stream === undefined) return;
    while (this.inFlight.size < this.maxInFlight && this.queueHead < this.queue.length) {
      const pending = this.queue[this.queueHead++];
      if (pending.abandoned) continue;
      const id = this.nextId++;
      this.inFlight.set(id, pending);
      // `kind` and `request` were given together to call(), so they form a valid oneof case. A
      // message literal rather than create() (one object per call); the type checks $typeName.
      stream.send({ $typeName: "sisyphus.kv.v1.PipelineRequest", id, request: { case: pending.kind, value: pending.request } as PipelineRequest["request"] });
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private onResponse(message: PipelineResponse): void {
    if (message.id === 0n) {
      if (message.response.case === "ready") {
        this.maxInFlight = message.response.value.maxInFlight > 0 ? message.response.value.maxInFlight : DEFAULT_PIPELINE_MAX_IN_FLIGHT;
        this.pump();
      }
      return;
    }
    const pending = this.inFlight.get(message.id);
    if (pending === undefined) return;
    this.inFlight.delete(message.id);
    if (message.response.case === "error") {
      const { code, message: text, notApplied } = message.response.value;
      pending.settle({ error: new ConnectError(text, code as Code, notApplied ? { [NOT_APPLIED_METADATA_KEY]: "1" } : undefined) });
    } else {
      pending.settle({ response: message.response });
    }
    this.pump();
  }

  private onStreamEnd(err: unknown): void {
    if (this.failure !== undefined) return;
    const failure = ConnectError.from(err, Code.Unavailable);
    this.failure = failure;
    const neverConnected = isConnectionNotEstablished(err);
    const inFlightError = neverConnected
      ? notSentError(`the pipeline stream could not connect: ${failure.rawMessage}`, failure)
      : new ConnectError(`the pipeline stream failed with calls in flight (they may or may not have been applied): ${failure.rawMessage}`, Code.Unavailable, undefined, undefined, failure);
    this.settleAll({ error: inFlightError }, { error: notSentError(`the pipeline stream failed before the call was sent: ${failure.rawMessage}`, failure) });
  }

  private settleAll(inFlightOutcome: { error: unknown }, queuedOutcome: { error: unknown }): void {
    const inFlight = [...this.inFlight.values()];
    const queued = this.queue.slice(this.queueHead);
    this.inFlight.clear();
    this.queue = [];
    this.queueHead = 0;
    for (const pending of inFlight) pending.settle(inFlightOutcome);
    for (const pending of queued) pending.settle(queuedOutcome);
  }
}
