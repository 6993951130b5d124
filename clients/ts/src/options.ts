/** The client's options, their defaults, and the per-call options. */
import type { Transport } from "@connectrpc/connect";
import { InvalidArgumentError } from "./errors.js";

/** The wire protocol: gRPC (Node only), Connect, or gRPC-Web. */
export type Protocol = "grpc" | "connect" | "grpc-web";

/** How failed calls are retried (see the README, "Retries"). */
export interface RetryOptions {
  /** Attempts per call, the first one included; 1 disables retries. Default 5. */
  maxAttempts: number;
  /** The backoff before the second attempt; it doubles per attempt, with jitter. Default 50 ms. */
  initialBackoffMs: number;
  /** The most any one backoff waits. Default 2,000 ms. */
  maxBackoffMs: number;
}

export interface ClientOptions {
  /** Base URLs of the members, e.g. ["http://127.0.0.1:7379"]. Calls go to one and move on to the next when it fails. */
  endpoints: string[];
  /** Default "grpc" in Node, "connect" in browsers. */
  protocol?: Protocol;
  /** Node only. Default "2" (h2c with prior knowledge for http:// URLs). "1.1" has no bidi streams: no pipeline, watches use Subscribe, keep-alives KeepAliveOnce. */
  httpVersion?: "2" | "1.1";
  /** Multiplex the KV calls over one Pipeline stream per endpoint. Default true in Node over HTTP/2; not available in browsers. */
  pipeline?: boolean;
  /** The default deadline of a call, all its attempts included; <= 0 for none. Default 10,000 ms. */
  timeoutMs?: number;
  /** Retry policy; fields left out keep their defaults. */
  retry?: Partial<RetryOptions>;
  /**
   * A Connect transport to use instead of the one the SDK would create (for tests with
   * createRouterTransport, or custom interceptors): one transport for every endpoint, or a
   * function giving the transport of each endpoint.
   */
  transport?: Transport | ((endpoint: string) => Transport);
}

/** Options every call accepts. */
export interface CallOptions {
  /** This call's deadline, all attempts included; overrides the client's timeoutMs; <= 0 for none. */
  timeoutMs?: number;
  /** Cancels the call: it rejects with CANCELED. */
  signal?: AbortSignal;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 5, initialBackoffMs: 50, maxBackoffMs: 2_000 };

/** The retry options with defaults filled in and checked. */
export function resolveRetry(retry: Partial<RetryOptions> | undefined): RetryOptions {
  const resolved = { ...DEFAULT_RETRY, ...retry };
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 1) {
    throw new InvalidArgumentError(`retry.maxAttempts must be an integer >= 1, got ${resolved.maxAttempts}`);
  }
  if (!(resolved.initialBackoffMs >= 0) || !(resolved.maxBackoffMs >= resolved.initialBackoffMs)) {
    throw new InvalidArgumentError(
      `retry backoff must satisfy 0 <= initialBackoffMs <= maxBackoffMs, got ${resolved.initialBackoffMs} and ${resolved.maxBackoffMs}`,
    );
  }
  return resolved;
}

/** Checks the endpoint list: at least one, each an http(s) URL. */
export function checkEndpoints(endpoints: readonly string[]): void {
  if (endpoints.length === 0) throw new InvalidArgumentError("endpoints must name at least one member URL");
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new InvalidArgumentError(`endpoint ${JSON.stringify(endpoint)} is not a URL (expected e.g. http://127.0.0.1:7379)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new InvalidArgumentError(`endpoint ${endpoint} must be an http:// or https:// URL`);
    }
  }
}
