/**
 * What the client believes about the cluster's leader, learned from what members say: the
 * `leader_id` and `raft_term` of response headers, and the `sisyphus-leader` metadata of
 * UNAVAILABLE errors. Pure bookkeeping (no I/O; the clock is passed in) so that the rules can be
 * tested on their own.
 *
 * Rules, from Raft's guarantee that a term has at most one leader:
 *   - A header from a higher term than any seen replaces the belief, also with leader 0 (that
 *     member knows of no leader: an election is under way).
 *   - A header from the same term that names a leader (not 0) is the leader of that term: it
 *     replaces the belief, which may be 0 (the election has ended since) or come from a hint.
 *     A header that names no leader at the same term changes nothing (that member has not
 *     heard from the new leader yet).
 *   - A header from a lower term is stale and changes nothing.
 *   - A hint (error metadata) carries no term: it replaces the leader, not the term.
 *   - When the believed leader fails (its endpoint cannot be reached, or answers UNAVAILABLE)
 *     the belief becomes "no leader", and for UNREACHABLE_LEADER_HOLD_MS headers of the same
 *     term and hints naming that member are ignored (followers keep naming a dead leader until
 *     their election timeout), unless the member answers itself. A higher term ends the hold.
 *   - A header from another cluster (a different cluster_id) starts the belief over.
 *
 * Invariant: leaderId is 0n or the ID of a member some member named as leader.
 */

/** How long a leader that failed is not believed again on the word of its followers. */
export const UNREACHABLE_LEADER_HOLD_MS = 1_000;

export class LeaderTracker {
  /** The member believed to lead; 0n when unknown. */
  leaderId = 0n;
  /** The highest Raft term seen in a header. */
  private term = 0n;
  private clusterId = 0n;
  /** The leader that last failed (0n for none), and until when its followers' word is ignored. */
  private unreachableId = 0n;
  private unreachableUntilMs = 0;

  constructor(private readonly nowMs: () => number = Date.now) {}

  /**
   * Takes in one response header (passed as fields: the hot path allocates nothing). Returns
   * whether the cluster changed (the caller then forgets what it knew of the members).
   */
  observeHeader(clusterId: bigint, memberId: bigint, leaderId: bigint, term: bigint): boolean {
    let clusterChanged = false;
    if (clusterId !== this.clusterId) {
      clusterChanged = this.clusterId !== 0n;
      this.clusterId = clusterId;
      this.term = 0n;
      this.leaderId = 0n;
      this.unreachableId = 0n;
    }
    if (term > this.term) {
      this.term = term;
      this.leaderId = leaderId;
      this.unreachableId = 0n;
    } else if (term === this.term && leaderId !== 0n && leaderId !== this.leaderId && (memberId === leaderId || !this.isHeldBack(leaderId))) {
      this.leaderId = leaderId;
      if (memberId === leaderId) this.unreachableId = 0n;
    }
    return clusterChanged;
  }

  /** Takes in a leader named by error metadata (no term comes with it). */
  observeHint(leaderId: bigint): void {
    if (leaderId === 0n || this.isHeldBack(leaderId)) return;
    this.leaderId = leaderId;
  }

  /** The member `memberId` failed: if it is the believed leader, believe in no leader for now. */
  leaderFailed(memberId: bigint): void {
    if (memberId === 0n || memberId !== this.leaderId) return;
    this.leaderId = 0n;
    this.unreachableId = memberId;
    this.unreachableUntilMs = this.nowMs() + UNREACHABLE_LEADER_HOLD_MS;
  }

  private isHeldBack(leaderId: bigint): boolean {
    return leaderId === this.unreachableId && this.nowMs() < this.unreachableUntilMs;
  }
}
