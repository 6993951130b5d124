/**
 * The stored key-value pair and the response header, as the SDK returns them: bytes stay bytes
 * (with string accessors), revisions and versions become numbers, IDs stay bigint.
 */
import type { KeyValue as KeyValueMessage, ResponseHeader as ResponseHeaderMessage } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import { bytesToString } from "./bytes.js";
import { toSafeNumber } from "./integers.js";

/** One key and its value as stored at some revision, with the key's MVCC metadata. */
export class KeyValue {
  constructor(
    /** The key's bytes. */
    readonly key: Uint8Array,
    /** The value's bytes (empty for keysOnly reads and delete events). */
    readonly value: Uint8Array,
    /** The revision of the Put that last created the key. */
    readonly createRevision: number,
    /** The revision of the key's last change. */
    readonly modRevision: number,
    /** The number of Puts since the key was created (0 in a delete event). */
    readonly version: number,
    /** The lease the key is attached to; 0n for none. */
    readonly lease: bigint,
  ) {}

  /** The key decoded as UTF-8. */
  get keyString(): string {
    return bytesToString(this.key);
  }

  /** The value decoded as UTF-8. */
  get valueString(): string {
    return bytesToString(this.value);
  }

  static fromMessage(message: KeyValueMessage): KeyValue {
    return new KeyValue(
      message.key,
      message.value,
      toSafeNumber(message.createRevision, "kv.create_revision"),
      toSafeNumber(message.modRevision, "kv.mod_revision"),
      toSafeNumber(message.version, "kv.version"),
      message.lease,
    );
  }
}

/** Which member answered and which state of the store the answer reflects. */
export interface ResponseHeader {
  clusterId: bigint;
  memberId: bigint;
  /** The store's revision when the request was served (for a write: the revision it created). */
  revision: number;
  /** The answering member's Raft term; 0 without Raft. */
  raftTerm: number;
  /** The member the answering member believes leads; 0n when it knows of none (an election is under way). */
  leaderId: bigint;
}

/** The header of a response; a missing header reads as all zeros. */
export function headerFromMessage(message: ResponseHeaderMessage | undefined): ResponseHeader {
  if (message === undefined) return { clusterId: 0n, memberId: 0n, revision: 0, raftTerm: 0, leaderId: 0n };
  return {
    clusterId: message.clusterId,
    memberId: message.memberId,
    revision: toSafeNumber(message.revision, "header.revision"),
    raftTerm: toSafeNumber(message.raftTerm, "header.raft_term"),
    leaderId: message.leaderId,
  };
}

/** The KeyValue of an optional message field. */
export function optionalKeyValue(message: KeyValueMessage | undefined): KeyValue | undefined {
  return message === undefined ? undefined : KeyValue.fromMessage(message);
}
