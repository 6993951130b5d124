/**
 * Quorum arithmetic, pure: which index a set of voters has committed, and how an election
 * stands. A configuration is one majority config (a set of voter IDs) or, during a joint
 * membership change, two of them: then a decision needs a majority of each (Raft §6, etcd-io/raft
 * quorum/joint.go).
 *
 * committedIndex: the highest index acknowledged (matched) by a majority: sort the voters' match
 * indexes in descending order and take the one at position floor(n/2) (the (n/2+1)-th largest).
 * A voter without a match index counts as 0. An empty config commits everything (Infinity), so a
 * joint config with an empty half behaves as the other half alone, as in etcd.
 *
 * voteResult: "won" once a majority granted, "lost" once a majority can no longer grant (enough
 * rejections), otherwise "pending". An empty config has won.
 */

export type NodeId = bigint;

/** One majority configuration: the IDs of its voters. */
export type MajorityConfig = ReadonlySet<NodeId>;

/** A configuration: one majority config, or two during a joint change (the incoming one first). */
export type QuorumConfig = readonly [MajorityConfig] | readonly [MajorityConfig, MajorityConfig];

export type VoteResult = "won" | "lost" | "pending";

/** The largest index a majority of `voters` has matched (Infinity for no voters). */
export function majorityCommittedIndex(voters: MajorityConfig, matchIndex: (id: NodeId) => number | undefined): number {
  const n = voters.size;
  if (n === 0) return Infinity;
  const matched: number[] = [];
  for (const id of voters) matched.push(matchIndex(id) ?? 0);
  matched.sort((a, b) => b - a);
  return matched[Math.floor(n / 2)];
}

/** The committed index of a (possibly joint) configuration: the smaller of its halves'. */
export function committedIndex(config: QuorumConfig, matchIndex: (id: NodeId) => number | undefined): number {
  let index = Infinity;
  for (const half of config) index = Math.min(index, majorityCommittedIndex(half, matchIndex));
  return index;
}

/** How an election stands in one majority config; `votes` maps voters to granted (true) or rejected (false). */
export function majorityVoteResult(voters: MajorityConfig, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const n = voters.size;
  if (n === 0) return "won";
  const quorum = Math.floor(n / 2) + 1;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === undefined) missing++;
  }
  if (granted >= quorum) return "won";
  if (granted + missing >= quorum) return "pending";
  return "lost";
}

/** How an election stands in a (possibly joint) configuration: won only if won in every half, lost if lost in any. */
export function voteResult(config: QuorumConfig, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const results = config.map((half) => majorityVoteResult(half, votes));
  if (results.includes("lost")) return "lost";
  if (results.every((r) => r === "won")) return "won";
  return "pending";
}
