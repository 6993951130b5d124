/**
 * The consensus core's messages (raft/types.ts) to and from their Protobuf form
 * (sisyphus.raft.v1.Message in proto/sisyphus/raft/v1/raft.proto), field for field.
 *
 * Wire: from, to and term are fields 1-3 of Message; the type is the oneof `body`, whose case
 * names are exactly the core's type strings ("append", "preVote", ...). Node IDs are uint64
 * (bigint on both sides). Indexes, terms and contexts are uint64 on the wire and safe-integer
 * numbers in the core: decoding refuses anything above 2^53 - 1 rather than round it.
 *
 * Decoding refuses, with a MessageCodecError naming the field: bytes that are not a Message, a
 * Message without a body (no type, or one this version does not know), an entry of unknown type,
 * a snapshot message without its metadata, and an integer the core cannot hold.
 */
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as pb from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { ConfState, Entry, EntryType, Message, SnapshotMeta } from "../raft/index.js";
import { MessageCodecError } from "./errors.js";

const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

const ENTRY_TYPE_TO_PROTO: Record<EntryType, pb.EntryType> = {
  normal: pb.EntryType.NORMAL,
  confChange: pb.EntryType.CONF_CHANGE,
};

export function messageToProto(m: Message): pb.Message {
  return create(pb.MessageSchema, { from: m.from, to: m.to, term: BigInt(m.term), body: bodyToProto(m) });
}

/** The binary Protobuf form of `m`. */
export function encodeMessage(m: Message): Uint8Array {
  return toBinary(pb.MessageSchema, messageToProto(m));
}

/** The message in `bytes`; throws MessageCodecError if they are not a valid Message. */
export function decodeMessage(bytes: Uint8Array): Message {
  return messageFromProto(decodeProto(pb.MessageSchema, bytes));
}

/**
 * fromBinary, throwing MessageCodecError (INVALID_ARGUMENT) for bytes that are not a `schema`
 * message. Bytes fields of the result are views of `bytes`, always plain Uint8Arrays (a Buffer
 * from the network is viewed as one first), as the core's types say: a Buffer's slice() shares
 * memory where a Uint8Array's copies, and the core must not meet that difference.
 */
export function decodeProto<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  const plain = Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return fromBinary(schema, plain);
  } catch (err) {
    throw new MessageCodecError(`cannot decode a ${schema.typeName}: ${(err as Error).message}`, schema.typeName);
  }
}

type BodyInit = MessageInitShape<typeof pb.MessageSchema>["body"];

function bodyToProto(m: Message): BodyInit {
  switch (m.type) {
    case "append":
      return {
        case: "append",
        value: { prevIndex: BigInt(m.prevIndex), prevTerm: BigInt(m.prevTerm), entries: m.entries.map(entryToProto), commit: BigInt(m.commit) },
      };
    case "appendResponse":
      return {
        case: "appendResponse",
        value: { index: BigInt(m.index), reject: m.reject, rejectHint: BigInt(m.rejectHint), hintTerm: BigInt(m.hintTerm) },
      };
    case "heartbeat":
      return { case: "heartbeat", value: { commit: BigInt(m.commit), context: BigInt(m.context) } };
    case "heartbeatResponse":
      return { case: "heartbeatResponse", value: { context: BigInt(m.context) } };
    case "vote":
    case "preVote":
      return { case: m.type, value: { lastIndex: BigInt(m.lastIndex), lastTerm: BigInt(m.lastTerm), transfer: m.transfer } };
    case "voteResponse":
    case "preVoteResponse":
      return { case: m.type, value: { reject: m.reject } };
    case "snapshot":
      return { case: "snapshot", value: { snapshot: snapshotMetaToProto(m.snapshot) } };
    case "timeoutNow":
      return { case: "timeoutNow", value: {} };
    case "readIndex":
      return { case: "readIndex", value: { context: BigInt(m.context) } };
    case "readIndexResponse":
      return { case: "readIndexResponse", value: { context: BigInt(m.context), index: BigInt(m.index), reject: m.reject } };
  }
}

function entryToProto(e: Entry): MessageInitShape<typeof pb.EntrySchema> {
  return { term: BigInt(e.term), index: BigInt(e.index), type: ENTRY_TYPE_TO_PROTO[e.type], data: e.data };
}

export function snapshotMetaToProto(meta: SnapshotMeta): MessageInitShape<typeof pb.SnapshotMetaSchema> {
  return { index: BigInt(meta.index), term: BigInt(meta.term), conf: { voters: [...meta.conf.voters], learners: [...meta.conf.learners] } };
}

/** The core's message for `p`; throws MessageCodecError when `p` does not describe one. */
export function messageFromProto(p: pb.Message): Message {
  // Every branch spells out from, to and term: with `{ ...base, type, ... }` literals instead,
  // two transports in one process moved ~110,000 rather than ~167,000 appends/s (V8 builds
  // spread literals slowly).
  const { from, to } = p;
  const term = safeNumber(p.term, "term");
  const body = p.body;
  switch (body.case) {
    case "append": {
      const v = body.value;
      const entries: Entry[] = [];
      for (let i = 0; i < v.entries.length; i++) entries.push(entryFromProto(v.entries[i], "append.entries", i));
      return {
        type: "append",
        from,
        to,
        term,
        prevIndex: safeNumber(v.prevIndex, "append.prev_index"),
        prevTerm: safeNumber(v.prevTerm, "append.prev_term"),
        entries,
        commit: safeNumber(v.commit, "append.commit"),
      };
    }
    case "appendResponse": {
      const v = body.value;
      return {
        type: "appendResponse",
        from,
        to,
        term,
        index: safeNumber(v.index, "append_response.index"),
        reject: v.reject,
        rejectHint: safeNumber(v.rejectHint, "append_response.reject_hint"),
        hintTerm: safeNumber(v.hintTerm, "append_response.hint_term"),
      };
    }
    case "heartbeat":
      return { type: "heartbeat", from, to, term, commit: safeNumber(body.value.commit, "heartbeat.commit"), context: safeNumber(body.value.context, "heartbeat.context") };
    case "heartbeatResponse":
      return { type: "heartbeatResponse", from, to, term, context: safeNumber(body.value.context, "heartbeat_response.context") };
    case "vote":
    case "preVote": {
      const v = body.value;
      const field = body.case === "vote" ? "vote" : "pre_vote";
      return {
        type: body.case,
        from,
        to,
        term,
        lastIndex: safeNumber(v.lastIndex, `${field}.last_index`),
        lastTerm: safeNumber(v.lastTerm, `${field}.last_term`),
        transfer: v.transfer,
      };
    }
    case "voteResponse":
    case "preVoteResponse":
      return { type: body.case, from, to, term, reject: body.value.reject };
    case "snapshot": {
      const meta = body.value.snapshot;
      if (meta === undefined) throw new MessageCodecError("a snapshot message has no snapshot metadata", "snapshot.snapshot");
      return { type: "snapshot", from, to, term, snapshot: snapshotMetaFromProto(meta, "snapshot.snapshot") };
    }
    case "timeoutNow":
      return { type: "timeoutNow", from, to, term };
    case "readIndex":
      return { type: "readIndex", from, to, term, context: safeNumber(body.value.context, "read_index.context") };
    case "readIndexResponse": {
      const v = body.value;
      return {
        type: "readIndexResponse",
        from,
        to,
        term,
        context: safeNumber(v.context, "read_index_response.context"),
        index: safeNumber(v.index, "read_index_response.index"),
        reject: v.reject,
      };
    }
    case undefined:
      throw new MessageCodecError("the message has no body: its type is missing or unknown to this member", "body");
  }
}

/** Entry `i` of the repeated field `field`; the field path in errors is built only when there is one. */
function entryFromProto(e: pb.Entry, field: string, i: number): Entry {
  let type: EntryType;
  if (e.type === pb.EntryType.NORMAL) type = "normal";
  else if (e.type === pb.EntryType.CONF_CHANGE) type = "confChange";
  else throw new MessageCodecError(`${field}[${i}].type is ${e.type}, not a known entry type`, `${field}[${i}].type`);
  if (e.term > MAX_SAFE_BIGINT || e.index > MAX_SAFE_BIGINT) {
    const [name, value] = e.term > MAX_SAFE_BIGINT ? ["term", e.term] : ["index", e.index];
    throw new MessageCodecError(`${field}[${i}].${name} is ${value}, above 2^53 - 1`, `${field}[${i}].${name}`);
  }
  return { term: Number(e.term), index: Number(e.index), type, data: e.data };
}

export function snapshotMetaFromProto(meta: pb.SnapshotMeta, field: string): SnapshotMeta {
  const conf: ConfState = { voters: meta.conf?.voters ?? [], learners: meta.conf?.learners ?? [] };
  return { index: safeNumber(meta.index, `${field}.index`), term: safeNumber(meta.term, `${field}.term`), conf };
}

/** `value` as a number, if it is one exactly. */
export function safeNumber(value: bigint, field: string): number {
  if (value > MAX_SAFE_BIGINT) throw new MessageCodecError(`${field} is ${value}, above 2^53 - 1`, field);
  return Number(value);
}
