/** Member status and snapshots. */
import { Code, ConnectError } from "@connectrpc/connect";
import type { SnapshotResponse, StatusResponse } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { SnapshotIntegrityError } from "./errors.js";
import { toSafeNumber } from "./integers.js";
import { headerFromMessage, type ResponseHeader } from "./key-value.js";

/** One member's status. The Raft fields are 0 on a member running without Raft. */
export interface MemberStatus {
  /** header.revision is the member's applied revision, header.raftTerm its term. */
  header: ResponseHeader;
  version: string;
  dbSizeBytes: number;
  /** The member this member believes is the leader; 0n when it knows of none. */
  leader: bigint;
  raftCommittedIndex: number;
  raftAppliedIndex: number;
  raftLogSizeBytes: number;
  isLearner: boolean;
  /** The oldest revision still readable; 0 if never compacted. */
  compactRevision: number;
  /** Conditions an operator should look at; empty when healthy. */
  errors: string[];
}

export function statusFromMessage(message: StatusResponse): MemberStatus {
  return {
    header: headerFromMessage(message.header),
    version: message.version,
    dbSizeBytes: toSafeNumber(message.dbSizeBytes, "status.db_size_bytes"),
    leader: message.leader,
    raftCommittedIndex: toSafeNumber(message.raftCommittedIndex, "status.raft_committed_index"),
    raftAppliedIndex: toSafeNumber(message.raftAppliedIndex, "status.raft_applied_index"),
    raftLogSizeBytes: toSafeNumber(message.raftLogSizeBytes, "status.raft_log_size_bytes"),
    isLearner: message.isLearner,
    compactRevision: toSafeNumber(message.compactRevision, "status.compact_revision"),
    errors: message.errors,
  };
}

/** An incremental SHA-256 (node:crypto in Node, WebCrypto in browsers). */
export interface Sha256 {
  update(chunk: Uint8Array): void;
  digest(): Promise<Uint8Array>;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A snapshot download: iterate it for the chunks of the snapshot file, in order; write them out
 * as they come. The last chunk is delivered only after the digest of the whole file has been
 * checked against the server's (when it sent one), and a stream that ends before its last chunk
 * fails, so a loop that completes without an error has the whole, verified file.
 */
export class SnapshotStream implements AsyncIterable<Uint8Array> {
  private snapshotRevision: number | undefined;
  private iterated = false;

  constructor(
    private readonly open: () => { chunks: AsyncIterable<SnapshotResponse>; finish: () => void },
    private readonly createSha256: () => Sha256,
  ) {}

  /** The revision the snapshot holds; known once the first chunk has arrived. */
  get revision(): number | undefined {
    return this.snapshotRevision;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new ConnectError("a snapshot stream can be iterated only once", Code.FailedPrecondition);
    this.iterated = true;
    const { chunks, finish } = this.open();
    const sha256 = this.createSha256();
    let sawLast = false;
    try {
      for await (const chunk of chunks) {
        if (sawLast) throw new SnapshotIntegrityError("a chunk arrived after the last one");
        if (this.snapshotRevision === undefined) this.snapshotRevision = headerFromMessage(chunk.header).revision;
        sha256.update(chunk.blob);
        if (chunk.remainingBytes === 0n) {
          sawLast = true;
          if (chunk.sha256.length > 0) {
            const actual = await sha256.digest();
            if (!sameBytes(actual, chunk.sha256)) {
              throw new SnapshotIntegrityError(`SHA-256 of the data received is ${hex(actual)}, the server's is ${hex(chunk.sha256)}`);
            }
          }
        }
        if (chunk.blob.length > 0) yield chunk.blob;
      }
      if (!sawLast) throw new SnapshotIntegrityError("the stream ended before the last chunk");
    } finally {
      finish();
    }
  }
}
