/**
 * KVService: the unary methods and the Pipeline stream (kv.proto documents its protocol).
 *
 * Pipeline. A reader task takes requests off the stream and starts each call at once; calls
 * finish in any order and their responses go through one queue to the stream. A call counts as
 * in flight from its request until its response has been handed to the stream, so a client
 * that sends without reading stops getting service at max_in_flight (its extra requests are
 * answered RESOURCE_EXHAUSTED) instead of growing the server's memory.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { KVService, type PipelineRequest, type PipelineResponseSchema } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { KvOperations, missingOperation } from "./kv-operations.js";
import type { MemberContext } from "./member.js";
import { NOT_APPLIED_METADATA_KEY, toConnectError } from "./status.js";
import { WakeableQueue } from "./wakeable-queue.js";
import type { ServiceRegistrar } from "./unary-method-table.js";

type PipelineResponseInit = MessageInitShape<typeof PipelineResponseSchema>;

/** Response header telling the client the stream's in-flight bound (also sent in PipelineReady). */
export const PIPELINE_MAX_IN_FLIGHT_HEADER = "sisyphus-pipeline-max-in-flight";

/** Told of every finished Pipeline call (for metrics and logs). */
export type PipelineCallObserver = (op: string, code: Code | undefined, seconds: number, err: ConnectError | undefined) => void;

/** Counts the Pipeline streams open, so shutdown can wait for them to drain. */
export class PipelineStreams {
  open = 0;
}

export function registerKvService(router: ServiceRegistrar, member: MemberContext, observe: PipelineCallObserver, streams: PipelineStreams): void {
  const ops = new KvOperations(member);
  router.service(KVService, {
    range: (req) => ops.range(req).catch(rethrow),
    put: (req) => ops.put(req).catch(rethrow),
    deleteRange: (req) => ops.deleteRange(req).catch(rethrow),
    txn: (req) => ops.txn(req).catch(rethrow),
    compact: (req) => ops.compact(req).catch(rethrow),
    async *pipeline(requests, ctx) {
      streams.open++;
      try {
        yield* pipeline(ops, member, observe, requests, ctx);
      } finally {
        streams.open--;
      }
    },
  });
}

function rethrow(err: unknown): never {
  throw toConnectError(err);
}

async function* pipeline(
  ops: KvOperations,
  member: MemberContext,
  observe: PipelineCallObserver,
  requests: AsyncIterable<PipelineRequest>,
  ctx: HandlerContext,
): AsyncGenerator<PipelineResponseInit> {
  const maxInFlight = member.pipelineMaxInFlight;
  ctx.responseHeader.set(PIPELINE_MAX_IN_FLIGHT_HEADER, String(maxInFlight));
  yield { id: 0n, response: { case: "ready", value: { maxInFlight } } };

  const responses = new WakeableQueue<PipelineResponseInit>();
  const inFlight = new Set<bigint>();
  let reading = true;
  let violation: ConnectError | undefined;

  const reader = (async () => {
    for await (const req of requests) {
      if (req.id === 0n) throw new ConnectError("pipeline request id must be non-zero", Code.InvalidArgument);
      if (inFlight.has(req.id)) throw new ConnectError(`pipeline request id ${req.id} is already in flight`, Code.InvalidArgument);
      if (member.shutdown.aborted) {
        responses.push({ id: req.id, response: { case: "error", value: notAppliedShutdown() } });
        continue;
      }
      if (inFlight.size >= maxInFlight) {
        const message = `more than ${maxInFlight} requests in flight on this pipeline; wait for responses before sending more`;
        responses.push({ id: req.id, response: { case: "error", value: { code: Code.ResourceExhausted, message } } });
        continue;
      }
      inFlight.add(req.id);
      void runCall(ops, req, observe).then((response) => responses.push(response));
    }
  })();
  reader.then(
    () => {
      reading = false;
      responses.wake();
    },
    (err: unknown) => {
      reading = false;
      violation = toConnectError(err);
      responses.wake();
    },
  );

  const onShutdown = (): void => responses.wake();
  member.shutdown.addEventListener("abort", onShutdown, { once: true });
  ctx.signal.addEventListener("abort", onShutdown, { once: true });
  try {
    while (true) {
      if (violation !== undefined) throw violation;
      const shuttingDown = member.shutdown.aborted;
      // The client went away: nobody reads what is left. (At shutdown the calls in flight finish first.)
      if (ctx.signal.aborted && !shuttingDown) return;
      if (inFlight.size === 0 && responses.length === 0) {
        if (!reading) return;
        if (shuttingDown) throw new ConnectError("the member is shutting down; calls answered on this stream are done, send the rest elsewhere", Code.Unavailable);
      }
      for (const response of await responses.takeAll()) {
        yield response;
        if (response.id !== undefined) inFlight.delete(response.id);
      }
    }
  } finally {
    member.shutdown.removeEventListener("abort", onShutdown);
    ctx.signal.removeEventListener("abort", onShutdown);
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
