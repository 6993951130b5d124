/**
 * The KV calls, shared by the unary KVService methods and the Pipeline stream so both give the
 * same answers and the same errors. Writes are encoded once, checked (structure and this
 * member's limits) before they are proposed, so bad input never takes a log index, and answered
 * once the proposer reports them applied (durable). Reads pass the proposer's read barrier
 * unless they ask to be serializable.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  CompactRequest,
  CompactResponseSchema,
  DeleteRangeRequest,
  DeleteRangeResponseSchema,
  PutRequest,
  PutResponseSchema,
  RangeRequest,
  RangeResponseSchema,
  TxnRequest,
  TxnResponseSchema,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { type ApplyResult, type Command, type CommandResult, checkCommand, checkCommandLimits, encodeCommand, InvalidArgumentError } from "../kv/index.js";
import { deleteRangeFromProto, int64ToNumber, keyValueToProto, putFromProto, rangeFromProto, responseOpToProto, txnFromProto } from "./convert.js";
import { type MemberContext, responseHeader } from "./member.js";

type RangeResponseInit = MessageInitShape<typeof RangeResponseSchema>;
type PutResponseInit = MessageInitShape<typeof PutResponseSchema>;
type DeleteRangeResponseInit = MessageInitShape<typeof DeleteRangeResponseSchema>;
type TxnResponseInit = MessageInitShape<typeof TxnResponseSchema>;
type CompactResponseInit = MessageInitShape<typeof CompactResponseSchema>;

/** An applied write: its result and the revision for the response header. */
interface Applied<T extends CommandResult["type"]> {
  result: Extract<CommandResult, { type: T }>;
  revision: number;
}

export class KvOperations {
  constructor(private readonly member: MemberContext) {}

  async range(req: RangeRequest): Promise<RangeResponseInit> {
    const request = rangeFromProto(req);
    if (!req.serializable) await this.member.proposer.readBarrier();
    const result = await this.member.store.range(request);
    return {
      header: responseHeader(this.member, result.revision),
      kvs: result.kvs.map(keyValueToProto),
      more: result.more,
      count: BigInt(result.count),
    };
  }

  async put(req: PutRequest): Promise<PutResponseInit> {
    const { result, revision } = await this.write({ type: "put", request: putFromProto(req) }, "put");
    return {
      header: responseHeader(this.member, revision),
      prevKv: result.result.prevKv === undefined ? undefined : keyValueToProto(result.result.prevKv),
    };
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponseInit> {
    const { result, revision } = await this.write({ type: "deleteRange", request: deleteRangeFromProto(req) }, "deleteRange");
    return {
      header: responseHeader(this.member, revision),
      deleted: BigInt(result.result.deleted),
      prevKvs: result.result.prevKvs.map(keyValueToProto),
    };
  }

  async txn(req: TxnRequest): Promise<TxnResponseInit> {
    const { result, revision } = await this.write({ type: "txn", request: txnFromProto(req) }, "txn");
    const header = responseHeader(this.member, revision);
    return { header, succeeded: result.result.succeeded, responses: result.result.responses.map((op) => responseOpToProto(op, header)) };
  }

  async compact(req: CompactRequest): Promise<CompactResponseInit> {
    const revision = int64ToNumber(req.revision, "revision");
    const applied = await this.write({ type: "compact", revision, physical: req.physical }, "compact");
    if (req.physical) await this.member.store.waitForCompaction(revision);
    return { header: responseHeader(this.member, applied.revision) };
  }

  /** Checks, proposes and awaits one write; a rejection at apply time is thrown as its error. */
  async write<T extends CommandResult["type"]>(command: Command, type: T): Promise<Applied<T>> {
    checkCommand(command);
    const encoded = encodeCommand(command);
    checkCommandLimits(command, encoded, this.member.limits);
    const outcome: ApplyResult = await this.member.proposer.propose(encoded);
    if (outcome.status === "rejected") throw outcome.error;
    if (outcome.status === "skipped" || outcome.result.type !== type) {
      // The proposer handed back another entry's outcome: a bug, never the client's doing.
      throw new Error(`proposal of a ${type} command came back as ${outcome.status === "skipped" ? "skipped" : outcome.result.type}`);
    }
    return { result: outcome.result as Extract<CommandResult, { type: T }>, revision: outcome.revision };
  }
}

/** The KV layer's error for a request with no operation set (a oneof left empty). */
export function missingOperation(field: string): InvalidArgumentError {
  return new InvalidArgumentError("a request must be set", field);
}
