/**
 * The leader's pending ReadIndex requests (Raft thesis §6.4). A request records the commit index
 * at arrival and a sequence number; the leader then sends heartbeats carrying the newest sequence.
 * A voter answering a heartbeat with sequence s has acknowledged this leader after every request
 * with sequence <= s was registered, so once a quorum's acknowledged sequences reach s, those
 * requests' read points are safe: no other leader could have committed anything newer then.
 *
 * Requests are only registered after the leader has committed an entry of its own term (before
 * that its commit index may trail the cluster's); until then they wait in `blocked`.
 */
import type { NodeId } from "./types.js";

export interface ReadRequest {
  /** The node that asked (the leader itself for local reads). */
  readonly from: NodeId;
  readonly context: number;
  /** Filled in when registered: the leader's commit index then. */
  index: number;
  seq: number;
}

export class PendingReads {
  private readonly queue: ReadRequest[] = [];
  private readonly ackedSeq = new Map<NodeId, number>();
  private nextSeq = 1;
  /** Requests that arrived before this leader committed an entry of its term. */
  readonly blocked: ReadRequest[] = [];

  /** Registers a request at the current commit index; returns the sequence the next heartbeat must carry. */
  register(request: ReadRequest, commit: number): number {
    request.index = commit;
    request.seq = this.nextSeq++;
    this.queue.push(request);
    return request.seq;
  }

  /** The sequence to put in a heartbeat: the newest registered, 0 when nothing is pending. */
  lastSeq(): number {
    return this.queue.length === 0 ? 0 : this.queue[this.queue.length - 1].seq;
  }

  ack(from: NodeId, seq: number): void {
    if (seq > (this.ackedSeq.get(from) ?? 0)) this.ackedSeq.set(from, seq);
  }

  ackedBy(id: NodeId): number | undefined {
    return this.ackedSeq.get(id);
  }

  /** Removes and returns the requests with sequence <= seq (the quorum has confirmed them). */
  releaseThrough(seq: number): ReadRequest[] {
    let n = 0;
    while (n < this.queue.length && this.queue[n].seq <= seq) n++;
    return n === 0 ? [] : this.queue.splice(0, n);
  }

  pendingCount(): number {
    return this.queue.length + this.blocked.length;
  }

  /** Drops everything: leadership is lost, the requests will never be confirmed here. */
  clear(): void {
    this.queue.length = 0;
    this.blocked.length = 0;
    this.ackedSeq.clear();
  }
}
