/**
 * One Pipeline stream's calls, apart from the wire (kv.proto documents the protocol). A transport
 * (connect-node's handler in kv-service.ts, the gRPC fast path in pipeline-fast-path.ts) feeds it
 * decoded requests, tells it when the client half-closes or goes away, and takes the responses
 * that are ready in batches whenever `onChange` fires and it can write them. Each call runs
 * through KvOperations, so it answers as the unary method would.
 *
 * Invariants:
 * - An accepted call is in flight from its request until its response is handed to the transport
 *   (takeResponses), so a client that sends without reading is refused (RESOURCE_EXHAUSTED per
 *   extra call) instead of growing the server's memory. A transport takes responses only when it
 *   can write them, so calls it cannot write yet still count.
 * - Refusals (RESOURCE_EXHAUSTED, or UNAVAILABLE not_applied while the member shuts down) are not
 *   in flight but take memory until taken: with maxInFlight of them queued, acceptingRequests is
 *   false and the transport stops reading requests until it has taken them.
 * - The stream ends (end()): at once on a failure (a protocol violation, bad framing, a deadline;
 *   responses not yet taken are dropped); at once, with nothing to send, when the client went
 *   away, unless the member shuts down (then the calls in flight finish first); with OK once the
 *   client half-closed and every response was taken; with UNAVAILABLE once the member shuts down
 *   and every response was taken.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { PipelineRequest, PipelineResponseSchema } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { type KvOperations, missingOperation } from "./kv-operations.js";
import type { MemberContext } from "./member.js";
import { NOT_APPLIED_METADATA_KEY, toConnectError } from "./status.js";

export type PipelineResponseInit = MessageInitShape<typeof PipelineResponseSchema>;

/** Response header telling the client the stream's in-flight bound (also sent in PipelineReady). */
export const PIPELINE_MAX_IN_FLIGHT_HEADER = "sisyphus-pipeline-max-in-flight";

/** Told of every finished Pipeline call (for metrics and logs). */
export type PipelineCallObserver = (op: string, code: Code | undefined, seconds: number, err: ConnectError | undefined) => void;

/** Counts the Pipeline streams open, so shutdown can wait for them to drain. */
export class PipelineStreams {
  open = 0;
}

const NO_RESPONSES: readonly PipelineResponseInit[] = Object.freeze([]);

/** How a stream ends: "ok" (trailers with status OK), "clientGone" (nothing to send), or an error to send. */
export type PipelineEnd = "ok" | "clientGone" | ConnectError;

export interface PipelineSessionInit {
  ops: KvOperations;
  member: MemberContext;
  observe: PipelineCallObserver;
  streams: PipelineStreams;
  /** Called when responses became ready, the stream may have ended, or requests may be read again. */
  onChange: () => void;
}

export class PipelineSession {
  readonly maxInFlight: number;
  /** Ids of the accepted calls whose responses were not yet taken. */
  private readonly inFlight = new Set<bigint>();
  /** Responses of accepted calls, in completion order, not yet taken. */
  private answered: PipelineResponseInit[] = [];
  /** Refusals not yet taken. */
  private refused: PipelineResponseInit[] = [];
  private requestsEnded = false;
  private clientWentAway = false;
  private failure: ConnectError | undefined;
  private closed = false;
  private acceptingWaiter: (() => void) | undefined;
  private readonly onShutdown = (): void => this.init.onChange();

  constructor(private readonly init: PipelineSessionInit) {
    this.maxInFlight = init.member.pipelineMaxInFlight;
    init.streams.open++;
    init.member.shutdown.addEventListener("abort", this.onShutdown, { once: true });
  }

  /** The stream's first message. */
  readyResponse(): PipelineResponseInit {
    return { id: 0n, response: { case: "ready", value: { maxInFlight: this.maxInFlight } } };
  }

  /** Starts, refuses or rejects one request; false when the stream has failed (read no more). */
  receive(req: PipelineRequest): boolean {
    if (this.failure !== undefined || this.closed) return false;
    if (req.id === 0n) return this.fail(new ConnectError("pipeline request id must be non-zero", Code.InvalidArgument));
    if (this.inFlight.has(req.id)) return this.fail(new ConnectError(`pipeline request id ${req.id} is already in flight`, Code.InvalidArgument));
    if (this.init.member.shutdown.aborted) {
      this.refuse({ id: req.id, response: { case: "error", value: notAppliedShutdown() } });
    } else if (this.inFlight.size >= this.maxInFlight) {
      const message = `more than ${this.maxInFlight} requests in flight on this pipeline; wait for responses before sending more`;
      this.refuse({ id: req.id, response: { case: "error", value: { code: Code.ResourceExhausted, message } } });
    } else {
      this.inFlight.add(req.id);
      void runCall(this.init.ops, req, this.init.observe).then((response) => this.answer(response));
    }
    return true;
  }

  /** False while so many refusals wait to be taken that the transport should stop reading requests. */
  get acceptingRequests(): boolean {
    return this.refused.length < this.maxInFlight || this.closed;
  }

  /** Resolves once acceptingRequests is true again (or the session is closed). */
  untilAcceptingRequests(): Promise<void> {
    if (this.acceptingRequests) return Promise.resolve();
    return new Promise((resolve) => {
      this.acceptingWaiter = resolve;
    });
  }

  /** The client half-closed: no more requests. */
  endOfRequests(): void {
    this.requestsEnded = true;
    this.init.onChange();
  }

  /** The client reset the stream or the connection closed. */
  clientGone(): void {
    this.clientWentAway = true;
    this.init.onChange();
  }

  /** Fails the stream (the first failure wins); returns false for receive's convenience. */
  fail(error: ConnectError): false {
    this.failure ??= error;
    this.init.onChange();
    return false;
  }

  /** Every response ready now, oldest first; they leave the in-flight count as they are taken. */
  takeResponses(): readonly PipelineResponseInit[] {
    const taken = this.answered;
    if (taken.length === 0 && this.refused.length === 0) return NO_RESPONSES;
    this.answered = [];
    for (const response of taken) this.inFlight.delete(response.id as bigint);
    if (this.refused.length > 0) {
      for (const response of this.refused) taken.push(response);
      this.refused = [];
      const waiter = this.acceptingWaiter;
      this.acceptingWaiter = undefined;
      waiter?.();
    }
    return taken;
  }

  /** How the stream ends now, or undefined while it goes on. */
  end(): PipelineEnd | undefined {
    if (this.failure !== undefined) return this.failure;
    const shuttingDown = this.init.member.shutdown.aborted;
    // Nobody reads what is left. (At shutdown the calls in flight finish first.)
    if (this.clientWentAway && !shuttingDown) return "clientGone";
    if (this.inFlight.size === 0 && this.refused.length === 0) {
      if (this.requestsEnded) return "ok";
      if (shuttingDown) return new ConnectError("the member is shutting down; calls answered on this stream are done, send the rest elsewhere", Code.Unavailable);
    }
    return undefined;
  }

  /** The stream is over (ended or abandoned); idempotent. Calls still running finish unobserved. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.init.streams.open--;
    this.init.member.shutdown.removeEventListener("abort", this.onShutdown);
    const waiter = this.acceptingWaiter;
    this.acceptingWaiter = undefined;
    waiter?.();
  }

  private refuse(response: PipelineResponseInit): void {
    this.refused.push(response);
    this.init.onChange();
  }

  private answer(response: PipelineResponseInit): void {
    if (this.closed) return;
    this.answered.push(response);
    this.init.onChange();
  }
}

/** The error for a call that arrives while the member shuts down: certainly not applied, so retryable. */
function notAppliedShutdown(): { code: Code; message: string; notApplied: boolean } {
  return { code: Code.Unavailable, message: "the member is shutting down; the call was not applied", notApplied: true };
}

/** One call's response: the result, or the error the unary method would have failed with. */
async function runCall(ops: KvOperations, req: PipelineRequest, observe: PipelineCallObserver): Promise<PipelineResponseInit> {
  const started = performance.now();
  const op = req.request.case ?? "none";
  try {
    const response = await callOperation(ops, req);
    observe(op, undefined, (performance.now() - started) / 1000, undefined);
    return { id: req.id, response };
  } catch (err) {
    const error = toConnectError(err);
    observe(op, error.code, (performance.now() - started) / 1000, error);
    const notApplied = error.metadata.get(NOT_APPLIED_METADATA_KEY) === "1";
    return { id: req.id, response: { case: "error", value: { code: error.code, message: error.rawMessage, notApplied } } };
  }
}

async function callOperation(ops: KvOperations, req: PipelineRequest): Promise<PipelineResponseInit["response"]> {
  switch (req.request.case) {
    case "range":
      return { case: "range", value: await ops.range(req.request.value) };
    case "put":
      return { case: "put", value: await ops.put(req.request.value) };
    case "deleteRange":
      return { case: "deleteRange", value: await ops.deleteRange(req.request.value) };
    case "txn":
      return { case: "txn", value: await ops.txn(req.request.value) };
    default:
      throw missingOperation("request");
  }
}
