/**
 * What a RaftTransport is made of: the member it serves, the callbacks into the consensus
 * driver, a logger, and the limits on everything it holds or waits for.
 */
import type { EntryType, Message, NodeId, ProposeResult, SnapshotMessage, SnapshotMeta } from "../raft/index.js";

/** The driver's side of the transport. Every callback is called from the event loop, never concurrently. */
export interface TransportHandlers {
  /** A message from a peer, to step into the local core; in arrival order per peer and call. */
  deliver(message: Message): void;
  /**
   * The leader's side of Forward: propose `command` now (the core's propose, or proposeConfChange
   * for a "confChange", whose command is an encoded ConfChange). Throwing means nothing was proposed.
   */
  forward(command: Uint8Array, type: EntryType): ProposeResult;
  /**
   * Stages a snapshot's data as it streams in; the transport delivers `message` to the core only
   * after this resolves. If `data` throws (the sender went away, the data failed its totals),
   * nothing was received: reject. Must read `data` to its end before resolving.
   */
  receiveSnapshot(message: SnapshotMessage, data: AsyncIterable<Uint8Array>): Promise<void>;
  /** The sender's side: the bytes of the snapshot `meta` describes, in pieces of any size. */
  openSnapshot(meta: SnapshotMeta): AsyncIterable<Uint8Array>;
  /** Messages to `peer` were dropped (it is down, or behind): the core stops assuming they arrive. */
  reportUnreachable(peer: NodeId): void;
  /** A snapshot sent to `peer` was installed there (ok) or failed. */
  reportSnapshot(peer: NodeId, ok: boolean): void;
}

/** pino's Logger satisfies this. */
export interface TransportLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface TransportLimits {
  /** Largest batch of messages in one Append gRPC message (a single larger message goes alone). */
  readonly maxBatchBytes: number;
  /** Largest gRPC message sent or accepted on any Raft call; a core message that cannot fit is dropped. */
  readonly maxMessageBytes: number;
  /** Largest queue of messages per direction per peer; past it the oldest appends are dropped. */
  readonly maxQueuedBytes: number;
  /** Size of the data pieces of InstallSnapshot. */
  readonly snapshotChunkBytes: number;
  /** Forwarded proposals awaiting the leader's answer; more are refused (RESOURCE_EXHAUSTED). */
  readonly maxForwardsInFlight: number;
  /** Vote and TimeoutNow calls in flight per peer; more are dropped (elections are rare, a backlog is stale). */
  readonly maxCallsInFlight: number;
  /** A PING every so often; one unanswered by the next means the connection is dead. */
  readonly pingIntervalMs: number;
  readonly connectTimeoutMs: number;
  /** Reconnect backoff: from reconnectMinMs, doubling, capped at reconnectMaxMs, with jitter. */
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  /** Deadline of a Vote or TimeoutNow call. */
  readonly callTimeoutMs: number;
  /** Deadline of a whole InstallSnapshot call. */
  readonly snapshotTimeoutMs: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxBatchBytes: 4 * MiB,
  maxMessageBytes: 16 * MiB,
  maxQueuedBytes: 64 * MiB,
  snapshotChunkBytes: 256 * 1024,
  maxForwardsInFlight: 16_384,
  maxCallsInFlight: 64,
  pingIntervalMs: 5_000,
  connectTimeoutMs: 5_000,
  reconnectMinMs: 50,
  reconnectMaxMs: 2_000,
  callTimeoutMs: 5_000,
  snapshotTimeoutMs: 600_000,
};

/** Room for a message's framing inside a gRPC message (tag, length prefix, envelope fields). */
export const FRAMING_BYTES = 32;

/** `overrides` on top of the defaults, checked; throws RangeError naming the first bad limit. */
export function resolveLimits(overrides: Partial<TransportLimits> = {}): TransportLimits {
  const limits: TransportLimits = { ...DEFAULT_TRANSPORT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`transport limit ${name} must be a positive integer, not ${value}`);
  }
  if (limits.maxBatchBytes > limits.maxMessageBytes) throw new RangeError(`maxBatchBytes (${limits.maxBatchBytes}) must not exceed maxMessageBytes (${limits.maxMessageBytes})`);
  if (limits.maxQueuedBytes < limits.maxMessageBytes + FRAMING_BYTES) {
    throw new RangeError(`maxQueuedBytes (${limits.maxQueuedBytes}) must hold one largest message (maxMessageBytes + ${FRAMING_BYTES})`);
  }
  if (limits.snapshotChunkBytes + FRAMING_BYTES > limits.maxMessageBytes) throw new RangeError(`snapshotChunkBytes (${limits.snapshotChunkBytes}) must fit in maxMessageBytes`);
  if (limits.reconnectMinMs > limits.reconnectMaxMs) throw new RangeError(`reconnectMinMs (${limits.reconnectMinMs}) must not exceed reconnectMaxMs (${limits.reconnectMaxMs})`);
  return limits;
}
