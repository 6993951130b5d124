/**
 * Typed errors of the Raft layer. RaftError: a broken invariant or undecodable input (a bug or
 * corruption, never a normal outcome: refusals of proposals are ProposeResult values, not errors).
 */
export class RaftError extends Error {
  override readonly name: string = "RaftError";
}
