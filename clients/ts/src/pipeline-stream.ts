/**
 * What a PipelineSession needs from the KVService.Pipeline stream under it, and the portable
 * implementation of it on a Connect client (any transport: the tests' router transports, Connect
 * and gRPC-Web over HTTP/2, a user's own transport). The Node entry has a leaner one for gRPC
 * over HTTP/2 (grpc-pipeline-stream.ts); this file stays free of node: modules, like everything
 * the browser entry imports.
 *
 * The contract, for both implementations:
 *   - send() delivers the requests in the order given; requests sent before the stream is
 *     connected wait for it.
 *   - onResponse is called once per response message, in arrival order.
 *   - onEnd is called exactly once when the stream ends by itself: with undefined when the
 *     server closed it with status OK, else with the error (a server status keeps its code,
 *     message and metadata; a failure of the connection is UNAVAILABLE, caused by the Node.js
 *     error). Nothing is called after onEnd, nor after cancel().
 *   - cancel() ends the stream at once (HTTP/2 RST_STREAM CANCEL), dropping what is unsent.
 *   - open() does not call a handler before it returns.
 */
import { Code, ConnectError, type Client as ServiceClient } from "@connectrpc/connect";
import type { KVService, PipelineRequest, PipelineResponse } from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { AsyncQueue } from "./async-queue.js";

/** The session's side of a Pipeline stream: where responses and the end are delivered. */
export interface PipelineStreamHandlers {
  onResponse(response: PipelineResponse): void;
  /** The stream ended: `error` is undefined when the server ended it with status OK. */
  onEnd(error: ConnectError | undefined): void;
}

/** One open Pipeline stream. */
export interface PipelineStream {
  /** Sends one request, after the ones sent before it. */
  send(request: PipelineRequest): void;
  /** Ends the stream now; no handler is called after. */
  cancel(reason: ConnectError): void;
}

/** Opens a Pipeline stream that reports to `handlers`. */
export type OpenPipelineStream = (handlers: PipelineStreamHandlers) => PipelineStream;

/** Pipeline streams as Connect bidi calls of `kv`: requests through an AsyncQueue, responses by for-await. */
export function connectPipelineStreams(kv: ServiceClient<typeof KVService>): OpenPipelineStream {
  return (handlers) => {
    const outbound = new AsyncQueue<PipelineRequest>();
    const controller = new AbortController();
    let ended = false;
    const end = (error: ConnectError | undefined): void => {
      if (ended) return;
      ended = true;
      outbound.end();
      handlers.onEnd(error);
    };
    void (async () => {
      try {
        for await (const response of kv.pipeline(outbound, { signal: controller.signal })) {
          if (ended) return;
          handlers.onResponse(response);
        }
        end(undefined);
      } catch (err) {
        end(ConnectError.from(err, Code.Unavailable));
      }
    })();
    return {
      send: (request) => outbound.push(request),
      cancel: (reason) => {
        ended = true;
        outbound.end();
        controller.abort(reason);
      },
    };
  };
}
