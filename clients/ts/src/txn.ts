/**
 * Transactions: `cmp` builds the conditions, `op` the operations, and TxnBuilder puts them
 * together as if / then / else:
 *
 *   client.txn().if(cmp.value("k").equal("v")).then(op.put("k", "w"), op.get("x")).else(op.get("k")).commit()
 *
 * Every operation carries the decoder of its own result, so `responses` is typed per operation:
 * after `.then(op.put(..), op.get(..))`, a succeeded result's responses are [PutResult, GetResult].
 * Builders are immutable: each call returns a new builder.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  CompareOperator,
  CompareSchema,
  RequestOpSchema,
  TxnRequestSchema,
  type Compare,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from "../../../gen/sisyphus/kv/v1/kv_pb.js";
import { resolveRange, toBytes, type Bytes, type KeyRange, type RangeSelector } from "./bytes.js";
import { toInt64 } from "./integers.js";
import { headerFromMessage, type ResponseHeader } from "./key-value.js";
import {
  deleteRequest,
  getRequest,
  putRequest,
  rangeRequest,
  type DeleteOptions,
  type GetOptions,
  type PutOptions,
  type RangeOptions,
} from "./kv-requests.js";
import {
  deleteResult,
  getResult,
  putResult,
  rangeResult,
  type DeleteResult,
  type GetResult,
  type PutResult,
  type RangeResult,
} from "./kv-results.js";
import type { CallOptions } from "./options.js";

/** One condition of a transaction. Build it with `cmp`. */
export class Comparison {
  constructor(readonly message: Compare) {}
}

type CompareTargetCase = Exclude<Compare["target"]["case"], undefined>;

/** The field of a key (or of every key in a range) to compare; finish it with an operator. */
export class CompareTarget<V> {
  constructor(
    private readonly range: KeyRange,
    private readonly field: CompareTargetCase,
    private readonly encode: (value: V) => Uint8Array | bigint,
  ) {}

  /** field == value */
  equal(value: V): Comparison {
    return this.compare(CompareOperator.EQUAL, value);
  }
  /** field != value */
  notEqual(value: V): Comparison {
    return this.compare(CompareOperator.NOT_EQUAL, value);
  }
  /** field < value (bytewise for values) */
  less(value: V): Comparison {
    return this.compare(CompareOperator.LESS, value);
  }
  /** field > value (bytewise for values) */
  greater(value: V): Comparison {
    return this.compare(CompareOperator.GREATER, value);
  }

  private compare(operator: CompareOperator, value: V): Comparison {
    // The generated oneof wants a case and a value of the matching type; `field` and `encode`
    // were chosen together in `cmp`, so the pair is consistent.
    const target = { case: this.field, value: this.encode(value) } as Compare["target"];
    return new Comparison(create(CompareSchema, { key: this.range.key, rangeEnd: this.range.rangeEnd, operator, target }));
  }
}

/**
 * Conditions on a key's value, version, create/mod revision or lease. With a range selector
 * ({ prefix: true }, { rangeEnd }, { fromKey: true }) the condition must hold for every key in the
 * range. A key that does not exist has version, revisions and lease 0, and no value comparison on
 * it holds.
 */
export const cmp = {
  value: (key: Bytes, range?: RangeSelector): CompareTarget<Bytes> => new CompareTarget(resolveRange(key, range), "value", toBytes),
  version: (key: Bytes, range?: RangeSelector): CompareTarget<number | bigint> =>
    new CompareTarget(resolveRange(key, range), "version", (v: number | bigint) => toInt64(v, "version")),
  createRevision: (key: Bytes, range?: RangeSelector): CompareTarget<number | bigint> =>
    new CompareTarget(resolveRange(key, range), "createRevision", (v: number | bigint) => toInt64(v, "createRevision")),
  modRevision: (key: Bytes, range?: RangeSelector): CompareTarget<number | bigint> =>
    new CompareTarget(resolveRange(key, range), "modRevision", (v: number | bigint) => toInt64(v, "modRevision")),
  lease: (key: Bytes, range?: RangeSelector): CompareTarget<bigint | number> =>
    new CompareTarget(resolveRange(key, range), "lease", (v: bigint | number) => toInt64(v, "lease")),
};

/** One operation of a transaction branch, with the decoder of its result. Build it with `op`. */
export class Op<R> {
  constructor(
    readonly request: RequestOp,
    /** Turns this operation's ResponseOp into its result; throws if the response is of another kind. */
    readonly decode: (response: ResponseOp) => R,
  ) {}
}

/** Any operation, whatever its result. */
// The result type parameter is covariant (it only appears as decode's return type), so every
// Op<R> is an Op<unknown>.
export type AnyOp = Op<unknown>;

/** The results of a list of operations, position by position. */
export type OpResults<T extends readonly AnyOp[]> = { -readonly [I in keyof T]: T[I] extends Op<infer R> ? R : never };

/** A transaction's outcome: which branch ran, its operations' results in order, and the revision. */
export type TxnResult<T extends readonly AnyOp[] = AnyOp[], E extends readonly AnyOp[] = AnyOp[]> =
  | { succeeded: true; responses: OpResults<T>; revision: number; header: ResponseHeader }
  | { succeeded: false; responses: OpResults<E>; revision: number; header: ResponseHeader };

/** A nested transaction for `op.txn`. */
export interface TxnSpec<T extends AnyOp[], E extends AnyOp[]> {
  if?: Comparison[];
  then?: [...T];
  else?: [...E];
}

function mismatch(expected: string, response: ResponseOp): ConnectError {
  return new ConnectError(`txn response has a ${response.response.case ?? "missing"} result where ${expected} was expected`, Code.Internal);
}

function requestOp(request: RequestOp["request"]): RequestOp {
  return create(RequestOpSchema, { request });
}

/** Operations for transaction branches. */
export const op = {
  put: (key: Bytes, value: Bytes, options?: PutOptions): Op<PutResult> =>
    new Op(requestOp({ case: "put", value: putRequest(key, value, options) }), (r) => {
      if (r.response.case !== "put") throw mismatch("put", r);
      return putResult(r.response.value);
    }),
  get: (key: Bytes, options?: GetOptions): Op<GetResult> =>
    new Op(requestOp({ case: "range", value: getRequest(key, options) }), (r) => {
      if (r.response.case !== "range") throw mismatch("range", r);
      return getResult(r.response.value);
    }),
  range: (options: RangeOptions): Op<RangeResult> =>
    new Op(requestOp({ case: "range", value: rangeRequest(options) }), (r) => {
      if (r.response.case !== "range") throw mismatch("range", r);
      return rangeResult(r.response.value);
    }),
  delete: (key: Bytes, options?: DeleteOptions): Op<DeleteResult> =>
    new Op(requestOp({ case: "deleteRange", value: deleteRequest(key, options) }), (r) => {
      if (r.response.case !== "deleteRange") throw mismatch("deleteRange", r);
      return deleteResult(r.response.value);
    }),
  txn: <T extends AnyOp[] = [], E extends AnyOp[] = []>(spec: TxnSpec<T, E>): Op<TxnResult<T, E>> => {
    const compares = spec.if ?? [];
    const thenOps = spec.then ?? [];
    const elseOps = spec.else ?? [];
    return new Op(requestOp({ case: "txn", value: txnRequest(compares, thenOps, elseOps) }), (r) => {
      if (r.response.case !== "txn") throw mismatch("txn", r);
      return txnResult<T, E>(r.response.value, thenOps, elseOps);
    });
  },
};

function txnRequest(compares: readonly Comparison[], thenOps: readonly AnyOp[], elseOps: readonly AnyOp[]): TxnRequest {
  return create(TxnRequestSchema, {
    compare: compares.map((c) => c.message),
    success: thenOps.map((o) => o.request),
    failure: elseOps.map((o) => o.request),
  });
}

function txnResult<T extends readonly AnyOp[], E extends readonly AnyOp[]>(
  response: TxnResponse,
  thenOps: readonly AnyOp[],
  elseOps: readonly AnyOp[],
): TxnResult<T, E> {
  const ops = response.succeeded ? thenOps : elseOps;
  if (response.responses.length !== ops.length) {
    throw new ConnectError(`txn response has ${response.responses.length} results for ${ops.length} operations`, Code.Internal);
  }
  const header = headerFromMessage(response.header);
  const results = response.responses.map((r, i) => ops[i].decode(r));
  // Each result came from the decoder of the operation at the same position of the branch that
  // ran, which is what OpResults<T> / OpResults<E> describe; TypeScript cannot follow map().
  return { succeeded: response.succeeded, responses: results, revision: header.revision, header } as TxnResult<T, E>;
}

function assertOps(ops: readonly unknown[], method: string): void {
  for (const candidate of ops) {
    if (!(candidate instanceof Op)) {
      // `await builder` (or returning a builder from an async function) calls then(resolve, reject).
      throw new TypeError(`TxnBuilder.${method}() takes operations built with op.put/op.get/op.range/op.delete/op.txn; a TxnBuilder is not a promise: call .commit()`);
    }
  }
}

/** Sends a transaction request; provided by the client. */
export type TxnCommitter = (request: TxnRequest, options: CallOptions | undefined) => Promise<TxnResponse>;

/** An if / then / else transaction under construction. */
export class TxnBuilder<T extends readonly AnyOp[] = [], E extends readonly AnyOp[] = []> {
  constructor(
    private readonly committer: TxnCommitter,
    private readonly compares: readonly Comparison[] = [],
    private readonly thenOps: readonly AnyOp[] = [],
    private readonly elseOps: readonly AnyOp[] = [],
  ) {}

  /** Adds conditions; all of them must hold for the `then` branch to run. */
  if(...comparisons: Comparison[]): TxnBuilder<T, E> {
    for (const c of comparisons) {
      if (!(c instanceof Comparison)) throw new TypeError("TxnBuilder.if() takes comparisons built with cmp.value/cmp.version/...");
    }
    return new TxnBuilder(this.committer, [...this.compares, ...comparisons], this.thenOps, this.elseOps);
  }

  /** Adds operations to run when every condition holds. */
  then<N extends AnyOp[]>(...ops: N): TxnBuilder<[...T, ...N], E> {
    assertOps(ops, "then");
    return new TxnBuilder(this.committer, this.compares, [...this.thenOps, ...ops], this.elseOps);
  }

  /** Adds operations to run when a condition fails. */
  else<N extends AnyOp[]>(...ops: N): TxnBuilder<T, [...E, ...N]> {
    assertOps(ops, "else");
    return new TxnBuilder(this.committer, this.compares, this.thenOps, [...this.elseOps, ...ops]);
  }

  /** The request this transaction sends. */
  toRequest(): TxnRequest {
    return txnRequest(this.compares, this.thenOps, this.elseOps);
  }

  /** Sends the transaction. A Txn is a write: it is retried only when the server says it was not applied. */
  async commit(options?: CallOptions): Promise<TxnResult<T, E>> {
    const response = await this.committer(this.toRequest(), options);
    return txnResult<T, E>(response, this.thenOps, this.elseOps);
  }
}
