/**
 * A leader's answer to a forwarded proposal (the core's ProposeResult) to and from a
 * sisyphus.raft.v1.ForwardResponse: accepted (index, term), refused (reason as the
 * ProposeRefusal enum, leader id), or failed (the leader could not take it; a message).
 */
import { create } from "@bufbuild/protobuf";
import * as pb from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { ProposeRefusal, ProposeResult } from "../raft/index.js";
import { MessageCodecError } from "./errors.js";
import { safeNumber } from "./message-codec.js";

const REFUSAL_TO_PROTO: Record<ProposeRefusal, pb.ProposeRefusal> = {
  notLeader: pb.ProposeRefusal.NOT_LEADER,
  transferring: pb.ProposeRefusal.TRANSFERRING,
  confChangePending: pb.ProposeRefusal.CONF_CHANGE_PENDING,
  invalidConfChange: pb.ProposeRefusal.INVALID_CONF_CHANGE,
  tooLarge: pb.ProposeRefusal.TOO_LARGE,
};

const REFUSAL_FROM_PROTO = new Map<pb.ProposeRefusal, ProposeRefusal>(
  Object.entries(REFUSAL_TO_PROTO).map(([name, value]) => [value, name as ProposeRefusal]),
);

/** What a ForwardResponse says: the leader's result, or that it failed to take the proposal. */
export type ForwardOutcome = { readonly result: ProposeResult } | { readonly failed: string };

export function forwardResponseToProto(id: bigint, outcome: ForwardOutcome): pb.ForwardResponse {
  if ("failed" in outcome) return create(pb.ForwardResponseSchema, { id, result: { case: "failed", value: outcome.failed } });
  const r = outcome.result;
  return create(pb.ForwardResponseSchema, {
    id,
    result: r.ok
      ? { case: "accepted", value: { index: BigInt(r.index), term: BigInt(r.term) } }
      : { case: "refused", value: { reason: REFUSAL_TO_PROTO[r.reason], leaderId: r.leaderId } },
  });
}

/** The outcome `p` carries; throws MessageCodecError when it carries none this member knows. */
export function forwardResponseFromProto(p: pb.ForwardResponse): ForwardOutcome {
  const r = p.result;
  switch (r.case) {
    case "accepted":
      return { result: { ok: true, index: safeNumber(r.value.index, "accepted.index"), term: safeNumber(r.value.term, "accepted.term") } };
    case "refused": {
      const reason = REFUSAL_FROM_PROTO.get(r.value.reason);
      if (reason === undefined) throw new MessageCodecError(`refused.reason is ${r.value.reason}, not a known refusal`, "refused.reason");
      return { result: { ok: false, reason, leaderId: r.value.leaderId } };
    }
    case "failed":
      return { failed: r.value };
    case undefined:
      throw new MessageCodecError("the forward response has no result", "result");
  }
}
