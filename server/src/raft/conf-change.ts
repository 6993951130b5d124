/**
 * Membership changes, one at a time: their encoding in a confChange entry, how one changes a
 * ConfState, and the bootstrap log a founding member starts with.
 *
 * Entry data format (little-endian):
 *   version u8 (=1) | type u8 (1 addLearner, 2 addVoter, 3 removeNode) | nodeId u64 | context bytes
 *
 * One change at a time (not joint consensus): any two majorities of configurations that differ by
 * one voter overlap, which is what keeps two leaders from being elected in one term. The leader
 * refuses a new change while one is uncommitted and until it has committed an entry of its own
 * term (the fix to the single-server change bug, Ongaro's raft-dev post of 2015).
 */
import { RaftError } from "./errors.js";
import type { ConfChange, ConfChangeType, ConfState, Entry, InitialState, NodeId } from "./types.js";

const FORMAT_VERSION = 1;
const TYPE_CODES: Record<ConfChangeType, number> = { addLearner: 1, addVoter: 2, removeNode: 3 };
const TYPES_BY_CODE: readonly (ConfChangeType | undefined)[] = [undefined, "addLearner", "addVoter", "removeNode"];
const HEADER_BYTES = 10;

export function encodeConfChange(change: ConfChange): Uint8Array {
  const out = Buffer.allocUnsafe(HEADER_BYTES + change.context.length);
  out[0] = FORMAT_VERSION;
  out[1] = TYPE_CODES[change.type];
  out.writeBigUInt64LE(change.nodeId, 2);
  out.set(change.context, HEADER_BYTES);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < HEADER_BYTES || data[0] !== FORMAT_VERSION) {
    throw new RaftError(`undecodable membership change entry (${data.length} bytes, version ${data[0]})`);
  }
  const type = TYPES_BY_CODE[data[1]];
  if (type === undefined) throw new RaftError(`unknown membership change type ${data[1]}`);
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { type, nodeId: view.readBigUInt64LE(2), context: data.subarray(HEADER_BYTES) };
}

/**
 * The membership after `change`, or a reason it is invalid. Removing the last voter and adding a
 * node as what it already is are invalid; demoting a voter to learner is allowed.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState | string {
  const id = change.nodeId;
  if (id === 0n) return "node ID 0 is reserved";
  const voters = conf.voters.filter((v) => v !== id);
  const learners = conf.learners.filter((l) => l !== id);
  switch (change.type) {
    case "addLearner":
      if (conf.learners.includes(id)) return `node ${id.toString(16)} is already a learner`;
      if (voters.length === 0) return "the change would leave no voters";
      return { voters, learners: [...learners, id] };
    case "addVoter":
      if (conf.voters.includes(id)) return `node ${id.toString(16)} is already a voter`;
      return { voters: [...voters, id], learners };
    case "removeNode":
      if (!conf.voters.includes(id) && !conf.learners.includes(id)) return `node ${id.toString(16)} is not a member`;
      if (voters.length === 0) return "the change would leave no voters";
      return { voters, learners };
  }
}

/**
 * The state a founding member of a new cluster starts from: one addVoter entry per founder at
 * term 1, already committed. Every founder builds the same log from the same member list (sorted
 * by ID), so their logs agree from the start, and a member added later learns the founders by
 * replaying these entries like any other.
 */
export function bootstrapState(founders: readonly { readonly id: NodeId; readonly context: Uint8Array }[]): InitialState {
  if (founders.length === 0) throw new RaftError("a new cluster needs at least one member");
  const sorted = [...founders].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].id === sorted[i - 1].id) throw new RaftError(`member ID ${sorted[i].id.toString(16)} appears twice`);
  }
  const entries: Entry[] = sorted.map((f, i) => ({
    term: 1,
    index: i + 1,
    type: "confChange",
    data: encodeConfChange({ type: "addVoter", nodeId: f.id, context: f.context }),
  }));
  return {
    hardState: { term: 1, vote: 0n, commit: entries.length },
    snapshot: { index: 0, term: 0, conf: { voters: [], learners: [] } },
    entries,
  };
}
