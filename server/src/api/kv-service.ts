/**
 * KVService: the unary methods and the Pipeline stream (kv.proto documents its protocol).
 *
 * Pipeline here is the connect-node transport of a PipelineSession (pipeline-session.ts, which
 * holds the protocol): it serves Connect and gRPC-Web over HTTP/2 and compressed gRPC; plain gRPC
 * takes the fast path (pipeline-fast-path.ts). A reader task feeds the session the requests;
 * the generator hands out the session's ready responses batch by batch, taking the next batch
 * only once connect has consumed the previous one, and ends the stream as the session says.
 */
import type { HandlerContext } from "@connectrpc/connect";
import { KVService, type PipelineRequest } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { KvOperations } from "./kv-operations.js";
import type { MemberContext } from "./member.js";
import {
  PIPELINE_MAX_IN_FLIGHT_HEADER,
  type PipelineCallObserver,
  type PipelineResponseInit,
  PipelineSession,
  type PipelineSessionInit,
  type PipelineStreams,
} from "./pipeline-session.js";
import { rethrowAsConnectError, toConnectError } from "./status.js";
import type { ServiceRegistrar } from "./unary-method-table.js";

// The API layer's index exports the header name from here.

export function registerKvService(router: ServiceRegistrar, member: MemberContext, observe: PipelineCallObserver, streams: PipelineStreams): void {
  const ops = new KvOperations(member);
  router.service(KVService, {
    range: (req) => ops.range(req).catch(rethrowAsConnectError),
    put: (req) => ops.put(req).catch(rethrowAsConnectError),
    deleteRange: (req) => ops.deleteRange(req).catch(rethrowAsConnectError),
    txn: (req) => ops.txn(req).catch(rethrowAsConnectError),
    compact: (req) => ops.compact(req).catch(rethrowAsConnectError),
    pipeline: (requests, ctx) => pipeline({ ops, member, observe, streams }, requests, ctx),
  });
}


async function* pipeline(
  init: Omit<PipelineSessionInit, "onChange">,
  requests: AsyncIterable<PipelineRequest>,
  ctx: HandlerContext,
): AsyncGenerator<PipelineResponseInit> {
  let wakeUp: (() => void) | undefined;
  const onChange = (): void => {
    const wake = wakeUp;
    wakeUp = undefined;
    wake?.();
  };
  const session = new PipelineSession({ ...init, onChange });
  const onClientGone = (): void => session.clientGone();
  try {
    ctx.responseHeader.set(PIPELINE_MAX_IN_FLIGHT_HEADER, String(session.maxInFlight));
    yield session.readyResponse();
    void readRequests(session, requests);
    ctx.signal.addEventListener("abort", onClientGone, { once: true });
    if (ctx.signal.aborted) session.clientGone();
    while (true) {
      const end = session.end();
      if (end === "ok" || end === "clientGone") return;
      if (end !== undefined) throw end;
      const responses = session.takeResponses();
      if (responses.length === 0) await new Promise<void>((resolve) => (wakeUp = resolve));
      else for (const response of responses) yield response;
    }
  } finally {
    ctx.signal.removeEventListener("abort", onClientGone);
    session.close();
  }
}

async function readRequests(session: PipelineSession, requests: AsyncIterable<PipelineRequest>): Promise<void> {
  try {
    for await (const req of requests) {
      if (!session.receive(req)) return;
      if (!session.acceptingRequests) await session.untilAcceptingRequests();
    }
    session.endOfRequests();
  } catch (err) {
    session.fail(toConnectError(err));
  }
}
