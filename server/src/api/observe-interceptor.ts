/**
 * Measures and logs every call: request count and errors by code, latency histogram and
 * in-flight gauge per method (a stream counts from open to close), one debug line per call,
 * failures at warn (the client's doing) or error (a server fault, with the cause's stack).
 * CallObserver is shared by the Connect interceptor and the gRPC unary fast path, so both
 * report alike.
 */
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { Logger, Metrics } from "../observability/index.js";
import { codeName, isServerFault } from "./status.js";

export class CallObserver {
  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Marks a call started; returns the function that records its end (error undefined = OK). */
  start(method: string): (error: ConnectError | undefined) => void {
    const started = performance.now();
    this.metrics.inFlight.inc({ method });
    return (error) => {
      const seconds = (performance.now() - started) / 1000;
      this.metrics.inFlight.dec({ method });
      this.metrics.requests.inc({ method, code: codeName(error?.code) });
      this.metrics.requestSeconds.observe({ method }, seconds);
      this.log(method, seconds, error);
    };
  }

  private log(method: string, seconds: number, error: ConnectError | undefined): void {
    const ms = Math.round(seconds * 1e6) / 1e3;
    if (error === undefined) {
      this.logger.debug({ method, ms, code: "ok" }, "call");
    } else if (isServerFault(error.code)) {
      this.logger.error({ method, ms, code: codeName(error.code), err: error.cause ?? error }, error.rawMessage);
    } else if (error.code !== Code.Canceled) {
      this.logger.warn({ method, ms, code: codeName(error.code) }, error.rawMessage);
    } else {
      this.logger.debug({ method, ms, code: codeName(error.code) }, error.rawMessage);
    }
  }
}

export function observeInterceptor(observer: CallObserver): Interceptor {
  return (next) => async (req) => {
    const finish = observer.start(`${req.service.typeName}/${req.method.name}`);
    let res;
    try {
      res = await next(req);
    } catch (err) {
      finish(ConnectError.from(err));
      throw err;
    }
    if (!res.stream) {
      finish(undefined);
      return res;
    }
    return { ...res, message: observeStream(res as StreamResponse, finish) } as typeof res;
  };
}

async function* observeStream<T>(res: StreamResponse, finish: (err: ConnectError | undefined) => void): AsyncGenerator<T> {
  let failure: ConnectError | undefined;
  try {
    for await (const message of res.message) yield message as T;
  } catch (err) {
    failure = ConnectError.from(err);
    throw err;
  } finally {
    finish(failure);
  }
}
