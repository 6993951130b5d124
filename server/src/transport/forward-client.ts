/**
 * The follower's side of Forward: proposals multiplexed on one long-lived stream to one leader.
 *
 * The stream is opened on first use (its first request is the hello) and reopened by the next
 * forward after it ends. Each proposal gets an id unique on this link; every proposal made in one
 * turn of the event loop goes out in ONE write (one envelope each), flushed from setImmediate, or
 * once the stream drains if it is full. The answer with the same id settles the proposal's promise.
 *
 * Failure: if the stream ends, every proposal still waiting is rejected with a ForwardError whose
 * notProposed says whether it was ever written (if not, the leader certainly never saw it).
 * An aborted proposal is rejected with the signal's reason at once; if it was not written yet it
 * never will be.
 */
import type http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { EntryType, ForwardRequestSchema, ForwardResponseSchema } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { EntryType as EntryTypeName, NodeId, ProposeResult } from "../raft/index.js";
import { encodeEnvelopes } from "../wire/index.js";
import { ForwardError } from "./errors.js";
import { GrpcClientCall } from "./grpc-client-call.js";
import { describeStatus, type GrpcStatus } from "./grpc-status.js";
import { decodeProto } from "./message-codec.js";
import { helloTo, type LocalIdentity } from "./peer-identity.js";
import { forwardResponseFromProto } from "./propose-result-codec.js";
import { RAFT_PATHS } from "./raft-paths.js";
import type { TransportLimits } from "./transport-options.js";

interface PendingForward {
  readonly resolve: (result: ProposeResult) => void;
  readonly reject: (err: unknown) => void;
  /** Handed to the stream: the leader may have it. */
  written: boolean;
  readonly detachAbort: () => void;
}

export class ForwardClient {
  private call: GrpcClientCall | undefined;
  private readonly pending = new Map<bigint, PendingForward>();
  /** Encoded requests not yet written, in order, with their ids. */
  private unsent: { id: bigint; bytes: Uint8Array }[] = [];
  private flushQueued = false;
  private awaitingDrain = false;
  private nextId = 1n;

  constructor(
    private readonly leader: NodeId,
    private readonly identity: LocalIdentity,
    private readonly limits: TransportLimits,
    /** The connection's session, undefined while it is down. */
    private readonly session: () => http2.ClientHttp2Session | undefined,
    private readonly downReason: () => string,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  forward(command: Uint8Array, signal?: AbortSignal, type: EntryTypeName = "normal"): Promise<ProposeResult> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.pending.size >= this.limits.maxForwardsInFlight) {
      return Promise.reject(
        new ForwardError(`${this.pending.size} proposals are already waiting for leader ${this.leader}`, this.leader, true, Code.ResourceExhausted),
      );
    }
    const call = this.call ?? this.open();
    if (call === undefined) return Promise.reject(new ForwardError(`leader ${this.leader} is unreachable: ${this.downReason()}`, this.leader, true));
    const id = this.nextId++;
    return new Promise<ProposeResult>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.pending.delete(id)) reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(id, { resolve, reject, written: false, detachAbort: () => signal?.removeEventListener("abort", onAbort) });
      this.unsent.push({ id, bytes: toBinary(ForwardRequestSchema, create(ForwardRequestSchema, { id, command, type: type === "confChange" ? EntryType.CONF_CHANGE : EntryType.NORMAL })) });
      if (!this.flushQueued) {
        this.flushQueued = true;
        // After the poll phase, not after this event's microtasks: the client calls a follower
        // forwards arrive as one HTTP/2 event each, so a microtask flush sent them one or two at
        // a time, and the leader's Readies (one append and one fsync each) shrank with them.
        setImmediate(this.flushNow);
      }
    });
  }

  /** Rejects every waiting proposal and ends the stream (the link is closing). */
  close(reason: string): void {
    const call = this.call;
    this.call = undefined;
    this.failAll(`the forward stream to leader ${this.leader} was closed: ${reason}`);
    call?.cancel();
  }

  private open(): GrpcClientCall | undefined {
    const session = this.session();
    if (session === undefined) return undefined;
    let call: GrpcClientCall;
    try {
      call = new GrpcClientCall(
        session,
        { path: RAFT_PATHS.forward, maxMessageBytes: this.limits.maxMessageBytes },
        {
          onMessage: (bytes) => this.receive(bytes),
          onDrain: () => {
            this.awaitingDrain = false;
            this.flush();
          },
          onEnd: (status) => this.onEnd(call, status),
        },
      );
    } catch {
      return undefined;
    }
    this.call = call;
    this.awaitingDrain = false;
    call.write(encodeEnvelopes([toBinary(ForwardRequestSchema, create(ForwardRequestSchema, { hello: helloTo(this.identity, this.leader) }))]));
    return call;
  }

  private readonly flushNow = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  private flush(): void {
    const call = this.call;
    if (call === undefined || this.awaitingDrain || this.unsent.length === 0) return;
    const messages: Uint8Array[] = [];
    for (const { id, bytes } of this.unsent) {
      const waiting = this.pending.get(id);
      if (waiting === undefined) continue; // aborted before it was written: never send it
      waiting.written = true;
      messages.push(bytes);
    }
    this.unsent = [];
    if (messages.length > 0 && !call.write(encodeEnvelopes(messages))) this.awaitingDrain = true;
  }

  private receive(bytes: Uint8Array): void {
    const response = decodeProto(ForwardResponseSchema, bytes);
    const waiting = this.pending.get(response.id);
    if (waiting === undefined) return; // aborted by its caller
    this.pending.delete(response.id);
    waiting.detachAbort();
    const outcome = forwardResponseFromProto(response);
    if ("failed" in outcome) waiting.reject(new ForwardError(`leader ${this.leader} could not take the proposal: ${outcome.failed}`, this.leader, true));
    else waiting.resolve(outcome.result);
  }

  private onEnd(call: GrpcClientCall, status: GrpcStatus): void {
    if (this.call !== call) return;
    this.call = undefined;
    this.failAll(`the forward stream to leader ${this.leader} ended (${describeStatus(status)})`);
  }

  private failAll(message: string): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    this.unsent = [];
    for (const w of waiting) {
      w.detachAbort();
      w.reject(new ForwardError(w.written ? `${message}; the proposal may or may not be in the leader's log` : message, this.leader, !w.written));
    }
  }
}
