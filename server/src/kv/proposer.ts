/**
 * The Proposer: how a write reaches the state machine. The API layer hands an encoded Command
 * (encodeCommand; the bytes a Raft log entry carries) to a Proposer and learns the ApplyResult
 * once the command has been applied on this member. The Raft driver (raft/raft-node.ts)
 * implements it by appending to the replicated log and resolving when the entry is applied.
 */
import type { ApplyResult } from "./types.js";

export interface Proposer {
  /**
   * Proposes one write, an encodeCommand() result. Resolves once the command has been applied
   * on this member (committed, and visible to reads here), with the apply result, including a
   * rejection at apply time. Rejects with an error that says whether the command was certainly
   * not applied (raft's RaftUnavailableError.notApplied), so the caller may retry it safely.
   */
  propose(command: Uint8Array): Promise<ApplyResult>;
  /**
   * Resolves once this member has applied every write committed before the call: the barrier
   * that makes a following local read linearizable.
   */
  readBarrier(): Promise<void>;
  /** The current Raft term. */
  term(): number;
  /** The member this member believes leads the cluster; 0n when it knows none. */
  leaderId(): bigint;
  /** Stops accepting proposals and waits for the ones accepted to be applied. */
  close(): Promise<void>;
}
