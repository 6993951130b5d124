/**
 * The interceptor that measures and logs every call: request count and errors by code,
 * latency histogram and in-flight gauge per method (a stream counts from open to close), one
 * debug line per call, failures at warn (the client's doing) or error (a server fault, with the
 * cause's stack).
 */
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { Logger } from "../observability/index.js";
import type { Metrics } from "../observability/index.js";
import { codeName, isServerFault } from "./status.js";

export function observeInterceptor(metrics: Metrics, logger: Logger): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const started = performance.now();
    metrics.inFlight.inc({ method });
    const finish = (err: unknown): void => {
      const seconds = (performance.now() - started) / 1000;
      const error = err === undefined ? undefined : ConnectError.from(err);
      metrics.inFlight.dec({ method });
      metrics.requests.inc({ method, code: codeName(error?.code) });
      metrics.requestSeconds.observe({ method }, seconds);
      logCall(logger, method, seconds, error);
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      finish(err);
      throw err;
    }
    if (!res.stream) {
      finish(undefined);
      return res;
    }
    return { ...res, message: observeStream(res as StreamResponse, finish) } as typeof res;
  };
}

async function* observeStream<T>(res: StreamResponse, finish: (err: unknown) => void): AsyncGenerator<T> {
  let failure: unknown;
  try {
    for await (const message of res.message) yield message as T;
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    finish(failure);
  }
}

function logCall(logger: Logger, method: string, seconds: number, error: ConnectError | undefined): void {
  const ms = Math.round(seconds * 1e6) / 1e3;
  if (error === undefined) {
    logger.debug({ method, ms, code: "ok" }, "call");
  } else if (isServerFault(error.code)) {
    logger.error({ method, ms, code: codeName(error.code), err: error.cause ?? error }, error.rawMessage);
  } else if (error.code !== Code.Canceled) {
    logger.warn({ method, ms, code: codeName(error.code) }, error.rawMessage);
  } else {
    logger.debug({ method, ms, code: codeName(error.code) }, error.rawMessage);
  }
}
