/**
 * A leader's record of one peer's replication (etcd-io/raft tracker/progress.go, in our words).
 *
 *  probe:     the leader does not know where the peer's log agrees with its own; it sends one
 *             append at a time and waits for the answer (or a heartbeat response) before the next.
 *  replicate: the peer is known to match up to `match`; appends are pipelined optimistically
 *             (next moves past what was sent) with at most `maxInflight` unacknowledged.
 *  snapshot:  the peer needs a snapshot (its next entry was compacted away); nothing is sent
 *             until the snapshot is reported applied or failed.
 *
 * Invariant: match < next.
 */
import type { NodeId, ProgressState } from "./types.js";

/** Last indexes of the appends in flight to one peer, oldest first: a bounded window. */
export class Inflights {
  private readonly ends: number[] = [];

  constructor(readonly capacity: number) {}

  full(): boolean {
    return this.ends.length >= this.capacity;
  }

  count(): number {
    return this.ends.length;
  }

  add(lastIndex: number): void {
    this.ends.push(lastIndex);
  }

  /** Forgets every append whose last index is <= index (acknowledged). */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.ends.length && this.ends[n] <= index) n++;
    if (n > 0) this.ends.splice(0, n);
  }

  /** Forgets the oldest append (assumed lost), so one more may be sent. */
  freeFirst(): void {
    this.ends.shift();
  }

  reset(): void {
    this.ends.length = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** In probe state: an append was sent and not yet answered. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(
    readonly id: NodeId,
    next: number,
    maxInflight: number,
    public learner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState("probe");
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** An acknowledgement that the peer matches through `index`; false if it tells nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append after `rejected`; `hint` is the highest index the peer's log may
   * agree at. Returns false for a stale rejection (of an append since superseded).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold back appends to this peer for now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  /** Records an append just sent, whose entries ended at lastIndex (or none were sent). */
  sentAppend(entryCount: number, lastIndex: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }
}
