/**
 * The Proposer: how a write reaches the state machine. The API layer hands an encoded Command
 * (encodeCommand; the bytes a Raft log entry carries) to a Proposer and learns the ApplyResult once the command has been applied (durably) on this
 * member. A Raft node implements it by appending to the replicated log and resolving when the
 * entry is applied; DirectProposer implements it for a member that runs without Raft by giving
 * each command the next index and applying it at once.
 */
import { NotAppliedError } from "./errors.js";
import type { KvStateMachine } from "./state-machine.js";
import type { ApplyResult } from "./types.js";

export interface Proposer {
  /**
   * Proposes one write, an encodeCommand() result. Resolves once the command has been applied on this member (its effects
   * are durable and visible to reads here), with the apply result, including a rejection at
   * apply time. Rejects with NotAppliedError when the command was certainly not applied (no
   * leader, shutting down before it was accepted), so the caller may retry it safely.
   */
  propose(command: Uint8Array): Promise<ApplyResult>;
  /**
   * Resolves once this member has applied every write committed before the call: the barrier
   * that makes a following local read linearizable.
   */
  readBarrier(): Promise<void>;
  /** The current Raft term; 0 without Raft. */
  term(): number;
  /** The member this member believes leads the cluster; 0n when it knows none. */
  leaderId(): bigint;
  /** Stops accepting proposals and waits for the ones accepted to be applied. */
  close(): Promise<void>;
}

/**
 * A single member without Raft: the state machine's own synced write is the commit, so a
 * proposal is applied at once at the next index. Applies queued together are grouped by the
 * state machine into one synced engine write (group commit).
 */
export class DirectProposer implements Proposer {
  private nextIndex: number;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly store: KvStateMachine,
    private readonly memberId: bigint,
  ) {
    this.nextIndex = store.appliedIndex() + 1;
  }

  propose(command: Uint8Array): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(new NotAppliedError("the member is shutting down"));
    const applied = this.store.apply(this.nextIndex++, command);
    this.inFlight.add(applied);
    const forget = (): void => {
      this.inFlight.delete(applied);
    };
    applied.then(forget, forget);
    return applied;
  }

  readBarrier(): Promise<void> {
    // Every acknowledged write was applied before its acknowledgement; reads see them already.
    return Promise.resolve();
  }

  term(): number {
    return 0;
  }

  leaderId(): bigint {
    return this.memberId;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }
}
