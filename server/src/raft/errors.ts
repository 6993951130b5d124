/**
 * Typed errors of the Raft layer. RaftError: a broken invariant or undecodable input (a bug or
 * corruption, never a normal outcome: refusals of proposals are ProposeResult values, not errors).
 */
export class RaftError extends Error {
  override readonly name: string = "RaftError";
}

/**
 * The cluster cannot serve the request right now (no leader known, leadership lost or moving,
 * this member shutting down): retryable, mapped to UNAVAILABLE. `notApplied` is true only when
 * the write certainly did not and will not take effect (it never entered the log, or another
 * entry took its place), so a client may resend it; `leaderId` is the leader this member knows
 * of (0n when none), for clients to go to directly.
 */
export class RaftUnavailableError extends RaftError {
  override readonly name: string = "RaftUnavailableError";
  constructor(
    message: string,
    readonly notApplied: boolean,
    readonly leaderId: bigint,
  ) {
    super(message);
  }
}

/** A membership change that does not fit the current membership (adding a member twice, removing the last voter): FAILED_PRECONDITION. */
export class MembershipChangeError extends RaftError {
  override readonly name: string = "MembershipChangeError";
}

/** The durable Raft log is damaged (not a torn tail): the member must not start on it. */
export class RaftLogCorruptionError extends RaftError {
  override readonly name: string = "RaftLogCorruptionError";
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
  ) {
    super(`${file} at byte ${offset}: ${message}`);
  }
}
