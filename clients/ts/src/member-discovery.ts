/**
 * Finds out which member is behind endpoints that have not answered a call yet, so that writes
 * can go to the leader's endpoint from the second call on: when the client knows the leader's
 * member ID but none of the endpoints it has heard from is that member, it asks each endpoint
 * it has not heard from (one MaintenanceService.Status call each, in parallel; a read that
 * touches no key) and hands the answers' headers to the pool.
 *
 * Bounds: at most one probe per endpoint at a time, each limited to PROBE_TIMEOUT_MS; an
 * endpoint whose probe failed is not probed again for PROBE_RETRY_AFTER_MS. A lookup (the
 * promise writes wait on) ends when the pool finds the leader's endpoint, when every probe of
 * it has settled, or after LOOKUP_WAIT_MS, whichever comes first: a write waits at most that
 * long (and never past its own deadline: the call runner races the wait against it), then goes
 * to the current endpoint as it would without a known leader. Probes still running go on and
 * are heard when they answer.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { ResponseHeader as ResponseHeaderMessage } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import type { Endpoint } from "./endpoint-pool.js";

/** The longest a probe may take. */
export const PROBE_TIMEOUT_MS = 1_000;
/** How long an endpoint whose probe failed is left alone. */
export const PROBE_RETRY_AFTER_MS = 5_000;
/** The longest a write waits for a lookup (a local round trip takes about 1 ms). */
export const LOOKUP_WAIT_MS = 100;

export class MemberDiscovery {
  /** The lookup in progress: settles when end() is called. */
  private lookup: { promise: Promise<void>; resolve: () => void; timer: ReturnType<typeof setTimeout> } | undefined;
  private readonly probing = new Map<Endpoint, AbortController>();
  private readonly failedAtMs = new Map<Endpoint, number>();
  private closed = false;

  constructor(
    /** Receives the header of each probe's answer. */
    private readonly onAnswer: (endpoint: Endpoint, header: ResponseHeaderMessage | undefined) => void,
  ) {}

  /** The lookup writes wait for, or undefined when none is in progress. */
  get pending(): Promise<void> | undefined {
    return this.lookup?.promise;
  }

  /** Probes those of `endpoints` not being probed and not failed recently; ends the lookup if nothing is left to wait for. */
  start(endpoints: readonly Endpoint[]): void {
    if (this.closed) return;
    const now = Date.now();
    for (const endpoint of endpoints) {
      if (this.probing.has(endpoint) || now < (this.failedAtMs.get(endpoint) ?? -Infinity) + PROBE_RETRY_AFTER_MS) continue;
      if (this.lookup === undefined) {
        let resolve: () => void = () => undefined;
        const promise = new Promise<void>((r) => (resolve = r));
        this.lookup = { promise, resolve, timer: setTimeout(() => this.end(), LOOKUP_WAIT_MS) };
      }
      void this.probe(endpoint);
    }
    if (this.probing.size === 0) this.end();
  }

  /** Ends the lookup in progress (the leader's endpoint is known, or there is nothing to look for); probes still running go on. */
  end(): void {
    if (this.lookup === undefined) return;
    clearTimeout(this.lookup.timer);
    this.lookup.resolve();
    this.lookup = undefined;
  }

  /** Aborts every probe and ends the lookup; nothing is probed after. */
  close(): void {
    this.closed = true;
    for (const controller of this.probing.values()) controller.abort(new ConnectError("the client was closed", Code.Canceled));
    this.probing.clear();
    this.end();
  }

  private async probe(endpoint: Endpoint): Promise<void> {
    const controller = new AbortController();
    this.probing.set(endpoint, controller);
    const timer = setTimeout(() => controller.abort(new ConnectError(`member probe of ${endpoint.url} timed out`, Code.DeadlineExceeded)), PROBE_TIMEOUT_MS);
    let header: ResponseHeaderMessage | undefined;
    let answered = false;
    try {
      header = (await endpoint.maintenance.status({}, { signal: controller.signal, timeoutMs: PROBE_TIMEOUT_MS })).header;
      answered = true;
    } catch {
      // Unreachable or failing: the pool keeps calling it as before; it is probed again later.
      this.failedAtMs.set(endpoint, Date.now());
    } finally {
      clearTimeout(timer);
    }
    if (this.probing.get(endpoint) !== controller) return; // closed meanwhile
    this.probing.delete(endpoint);
    if (answered) {
      this.failedAtMs.delete(endpoint);
      this.onAnswer(endpoint, header);
    }
    if (this.probing.size === 0) this.end();
  }
}
