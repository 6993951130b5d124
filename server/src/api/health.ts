// The gRPC health service (grpc.health.v1.Health), which grpc-health-probe and Kubernetes gRPC
// probes call. Semantics follow https://github.com/grpc/grpc/blob/master/doc/health-checking.md
// and grpc-go's health.Server:
//   - the service name "" is the whole server; it starts SERVING;
//   - Check of a service never set fails with NOT_FOUND;
//   - Watch sends the current status at once (SERVICE_UNKNOWN for a service never set, and the
//     stream stays open), then one message per change; it ends when the client goes away or when
//     the server shuts down;
//   - shutdown() sets every service NOT_SERVING, ignores later changes and ends every Watch after
//     it has delivered NOT_SERVING, so a draining server tells its probes before it closes.
// A watcher holds at most one undelivered status (the newest; a client too slow to read every
// change only needs the latest), so a slow or stalled watcher costs constant memory.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../../gen/grpc/health/v1/health_pb.js";
import type { HealthCheckResponse } from "../../../gen/grpc/health/v1/health_pb.js";
import type { ServiceRegistrar } from "./unary-method-table.js";

export { ServingStatus };

/** The name under which the health of the whole server is kept. */
export const wholeServer = "";

/** The most services List reports; more fail with RESOURCE_EXHAUSTED, as the proto specifies. */
export const listedServicesMax = 100;

/** One Watch call's view of a service: the newest undelivered status, and whether it is over. */
class StatusWatcher {
  #pending: ServingStatus | undefined;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(initial: ServingStatus) {
    this.#pending = initial;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Replaces any undelivered status with this one. */
  offer(status: ServingStatus): void {
    this.#pending = status;
    this.#wakeReader();
  }

  /** Ends the watch once the pending status (if any) has been taken. */
  end(): void {
    this.#ended = true;
    this.#wakeReader();
  }

  /** The pending status, removing it; undefined when there is none. */
  take(): ServingStatus | undefined {
    const status = this.#pending;
    this.#pending = undefined;
    return status;
  }

  /** Resolves at the next offer() or end(). */
  changed(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Serving status per service name, with watchers told of every change. */
export class HealthStatus {
  readonly #statuses = new Map<string, ServingStatus>([[wholeServer, ServingStatus.SERVING]]);
  readonly #watchers = new Map<string, Set<StatusWatcher>>();
  #shutDown = false;

  /** Open Watch streams (for metrics, and for tests to see that a watch has ended). */
  get watchCount(): number {
    let count = 0;
    for (const watchers of this.#watchers.values()) count += watchers.size;
    return count;
  }

  /** True once shutdown() has run; later set() calls are ignored. */
  get isShutDown(): boolean {
    return this.#shutDown;
  }

  /**
   * Sets the status of a service ("" is the whole server) and tells its watchers. Ignored after
   * shutdown(), so a component reporting itself healthy cannot undo a drain.
   */
  set(service: string, status: ServingStatus): void {
    if (status === ServingStatus.SERVICE_UNKNOWN) {
      // SERVICE_UNKNOWN describes a name that was never set; it is not a status one can set.
      throw new RangeError(`health status of "${service}" cannot be set to SERVICE_UNKNOWN`);
    }
    if (this.#shutDown) return;
    this.#statuses.set(service, status);
    for (const watcher of this.#watchers.get(service) ?? []) watcher.offer(status);
  }

  /** The status of a service, or undefined when it was never set. */
  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Every service with a status, in the order they were first set. */
  entries(): IterableIterator<[string, ServingStatus]> {
    return this.#statuses.entries();
  }

  /**
   * Sets every service NOT_SERVING, ignores later changes, and ends every open watch after it has
   * delivered NOT_SERVING. Call it first on graceful shutdown (as grpc-go's Server.GracefulStop
   * callers do with health.Server.Shutdown), so probes see the drain and no Watch stream holds the
   * HTTP/2 server open.
   */
  shutdown(): void {
    if (this.#shutDown) return;
    for (const service of this.#statuses.keys()) this.set(service, ServingStatus.NOT_SERVING);
    this.#shutDown = true;
    for (const watchers of this.#watchers.values()) {
      for (const watcher of watchers) watcher.end();
    }
  }

  /**
   * The status of a service now and after each change: SERVICE_UNKNOWN while it was never set,
   * the same status never twice in a row. Ends when signal aborts or on shutdown() (after
   * NOT_SERVING); a watch opened after shutdown() yields the final status and ends.
   */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus, void, undefined> {
    const watcher = new StatusWatcher(this.get(service) ?? ServingStatus.SERVICE_UNKNOWN);
    if (this.#shutDown) watcher.end();
    let watchers = this.#watchers.get(service);
    if (watchers === undefined) {
      watchers = new Set();
      this.#watchers.set(service, watchers);
    }
    watchers.add(watcher);
    const endWatch = (): void => watcher.end();
    signal.addEventListener("abort", endWatch, { once: true });
    try {
      let lastSent: ServingStatus | undefined;
      while (!signal.aborted) {
        const status = watcher.take();
        if (status !== undefined) {
          if (status !== lastSent) {
            lastSent = status;
            yield status;
          }
        } else if (watcher.ended) {
          return;
        } else {
          await watcher.changed();
        }
      }
    } finally {
      signal.removeEventListener("abort", endWatch);
      watchers.delete(watcher);
      if (watchers.size === 0) this.#watchers.delete(service);
    }
  }
}

function checkResponse(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

/** Serves grpc.health.v1.Health (Check, List, Watch) from health. */
export function registerHealth(router: ServiceRegistrar, health: HealthStatus): void {
  router.service(Health, {
    check(request) {
      const status = health.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`health: unknown service "${request.service}"`, Code.NotFound);
      }
      return checkResponse(status);
    },
    list() {
      const statuses: Record<string, HealthCheckResponse> = {};
      let count = 0;
      for (const [service, status] of health.entries()) {
        count += 1;
        if (count > listedServicesMax) {
          throw new ConnectError(
            `health: more than ${listedServicesMax} services have a status; use Check per service`,
            Code.ResourceExhausted,
          );
        }
        statuses[service] = checkResponse(status);
      }
      return { statuses };
    },
    async *watch(request, context) {
      for await (const status of health.watch(request.service, context.signal)) {
        yield checkResponse(status);
      }
    },
  });
}
