/**
 * A linearizability checker for histories of a key-value store with get / put / compare-and-set
 * (Wing & Gong's search with Lowe's memoization, as in porcupine), one key at a time: a history
 * is linearizable iff each key's sub-history is (P-compositionality; operations touch one key).
 *
 * An operation has a call time and a return time (any numbers that order the events; call <
 * return). Its fate is either
 *   "done":  it took effect at some instant in [call, return]; `return` may be Infinity when it is
 *            known to have taken effect but its answer never reached the client;
 *   "maybe": its answer never came and it may or may not have taken effect (a write whose
 *            proposal was accepted and then lost track of): it needs no linearization point, but
 *            if it has one, it lies after its call. Its return must be Infinity and a cas's
 *            result is then unknown.
 * Reads that never completed have no effect and are left out of the history by the caller.
 *
 * Search: events (calls and returns, by time; at equal times calls first, so touching operations
 * count as concurrent) form a linked list. Walking it from the front, a call whose operation the
 * model accepts in the current state is linearized (its call and return lifted out, the step
 * pushed on a stack) and the walk restarts; reaching a return means the operation could not be
 * placed before it, so the newest choice is undone. A (set of linearized operations, state) pair
 * seen before is not explored again. Success when no return event is left.
 */

export type KvOp =
  | { readonly kind: "get"; readonly result: string | null }
  | { readonly kind: "put"; readonly value: string }
  /** result: whether it swapped; undefined when not observed (fate "maybe", or "done" with the answer lost). */
  | { readonly kind: "cas"; readonly expected: string | null; readonly value: string; readonly result: boolean | undefined };

export type OpFate = "done" | "maybe";

export interface HistoryOp {
  /** Unique within one history. */
  readonly id: number;
  readonly client: number;
  readonly key: string;
  readonly call: number;
  readonly ret: number;
  readonly fate: OpFate;
  readonly op: KvOp;
}

export type CheckResult =
  | { readonly ok: true; readonly keys: number; readonly ops: number }
  | {
      readonly ok: false;
      /** "nonLinearizable": no order exists; "inconclusive": the search budget ran out first. */
      readonly reason: "nonLinearizable" | "inconclusive";
      readonly key: string;
      /** The key's operations, by call time. */
      readonly ops: readonly HistoryOp[];
      /** The longest prefix of a linearization the search found (operation ids, in order). */
      readonly longestPrefix: readonly number[];
    };

export class HistoryError extends Error {
  override readonly name: string = "HistoryError";
}

/** States explored per key before the search gives up (keeps a pathological history bounded). */
const DEFAULT_STATE_BUDGET = 2_000_000;

export function checkLinearizable(history: readonly HistoryOp[], stateBudget = DEFAULT_STATE_BUDGET): CheckResult {
  validate(history);
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  const keys = [...byKey.keys()].sort();
  for (const key of keys) {
    const ops = byKey.get(key)!.sort((a, b) => a.call - b.call || a.id - b.id);
    const outcome = searchKey(ops, stateBudget);
    if (outcome.ok) continue;
    return {
      ok: false,
      reason: outcome.inconclusive ? "inconclusive" : "nonLinearizable",
      key,
      ops,
      longestPrefix: outcome.longestPrefix,
    };
  }
  return { ok: true, keys: keys.length, ops: history.length };
}

function validate(history: readonly HistoryOp[]): void {
  const ids = new Set<number>();
  for (const h of history) {
    if (ids.has(h.id)) throw new HistoryError(`operation id ${h.id} appears twice`);
    ids.add(h.id);
    if (!(h.call < h.ret)) throw new HistoryError(`operation ${h.id}: call ${h.call} is not before return ${h.ret}`);
    if (h.fate === "maybe") {
      if (h.ret !== Infinity) throw new HistoryError(`operation ${h.id}: fate "maybe" needs return Infinity, got ${h.ret}`);
      if (h.op.kind === "get") throw new HistoryError(`operation ${h.id}: an unfinished get has no effect; leave it out`);
      if (h.op.kind === "cas" && h.op.result !== undefined) throw new HistoryError(`operation ${h.id}: fate "maybe" cannot have a cas result`);
    }
  }
}

/** The register model: the state after `op` from `state`, or undefined if `op` cannot happen there. */
function stepModel(state: string | null, op: KvOp): { next: string | null } | undefined {
  switch (op.kind) {
    case "get":
      return op.result === state ? { next: state } : undefined;
    case "put":
      return { next: op.value };
    case "cas": {
      const swaps = state === op.expected;
      if (op.result !== undefined && op.result !== swaps) return undefined;
      return { next: swaps ? op.value : state };
    }
  }
}

interface EventNode {
  /** Index of the operation in the key's op list; -1 for the list head. */
  readonly opIndex: number;
  readonly isCall: boolean;
  /** A call's return event (undefined for "maybe" operations, which have none). */
  match: EventNode | undefined;
  prev: EventNode | undefined;
  next: EventNode | undefined;
}

function buildEventList(ops: readonly HistoryOp[]): { head: EventNode; returns: number } {
  const events: { time: number; isCall: boolean; opIndex: number }[] = [];
  ops.forEach((op, opIndex) => {
    events.push({ time: op.call, isCall: true, opIndex });
    if (op.fate === "done") events.push({ time: op.ret, isCall: false, opIndex });
  });
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.opIndex - b.opIndex : a.isCall ? -1 : 1));
  const head: EventNode = { opIndex: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  const calls = new Map<number, EventNode>();
  let tail = head;
  let returns = 0;
  for (const e of events) {
    const node: EventNode = { opIndex: e.opIndex, isCall: e.isCall, match: undefined, prev: tail, next: undefined };
    tail.next = node;
    tail = node;
    if (e.isCall) calls.set(e.opIndex, node);
    else {
      calls.get(e.opIndex)!.match = node;
      returns++;
    }
  }
  return { head, returns };
}

function unlink(node: EventNode): void {
  node.prev!.next = node.next;
  if (node.next !== undefined) node.next.prev = node.prev;
}

function relink(node: EventNode): void {
  node.prev!.next = node;
  if (node.next !== undefined) node.next.prev = node;
}

/** Removes a call and its return from the list (the return first back in on undo: the reverse order). */
function lift(call: EventNode): void {
  unlink(call);
  if (call.match !== undefined) unlink(call.match);
}

function unlift(call: EventNode): void {
  if (call.match !== undefined) relink(call.match);
  relink(call);
}

function searchKey(
  ops: readonly HistoryOp[],
  stateBudget: number,
): { ok: true } | { ok: false; inconclusive: boolean; longestPrefix: number[] } {
  const { head, returns } = buildEventList(ops);
  let remainingReturns = returns;
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  const stack: { call: EventNode; state: string | null }[] = [];
  let longestPrefix: number[] = [];
  let state: string | null = null;
  let entry = head.next;
  let explored = 0;
  const flip = (i: number): void => {
    linearized[i >>> 5] ^= 1 << (i & 31);
  };
  while (remainingReturns > 0) {
    if (entry !== undefined && entry.isCall) {
      const stepped = stepModel(state, ops[entry.opIndex].op);
      if (stepped !== undefined) {
        flip(entry.opIndex);
        // NUL cannot occur in the bitset's decimal words, so the key is unambiguous.
        const memoKey = `${linearized.join(",")}\u0000${stepped.next === null ? "\u0001" : `=${stepped.next}`}`;
        if (!seen.has(memoKey)) {
          if (++explored > stateBudget) return { ok: false, inconclusive: true, longestPrefix };
          seen.add(memoKey);
          stack.push({ call: entry, state });
          if (stack.length > longestPrefix.length) longestPrefix = stack.map((s) => ops[s.call.opIndex].id);
          state = stepped.next;
          lift(entry);
          if (entry.match !== undefined) remainingReturns--;
          entry = head.next;
          continue;
        }
        flip(entry.opIndex);
      }
      entry = entry.next;
      continue;
    }
    // A return (or the end): its operation could not be placed before it; undo the newest choice.
    const top = stack.pop();
    if (top === undefined) return { ok: false, inconclusive: false, longestPrefix };
    flip(top.call.opIndex);
    state = top.state;
    unlift(top.call);
    if (top.call.match !== undefined) remainingReturns++;
    entry = top.call.next;
  }
  return { ok: true };
}

/** One line per operation, for failure reports. */
export function describeOps(ops: readonly HistoryOp[]): string {
  return ops.map(describeOp).join("\n");
}

export function describeOp(h: HistoryOp): string {
  const time = `[${h.call}, ${h.ret === Infinity ? "inf" : h.ret}]`;
  const show = (v: string | null): string => (v === null ? "nil" : JSON.stringify(v));
  let what: string;
  switch (h.op.kind) {
    case "get":
      what = `get -> ${show(h.op.result)}`;
      break;
    case "put":
      what = `put ${show(h.op.value)}`;
      break;
    case "cas":
      what = `cas ${show(h.op.expected)} -> ${show(h.op.value)} = ${h.op.result === undefined ? "?" : String(h.op.result)}`;
      break;
  }
  return `#${h.id} c${h.client} ${h.key} ${time} ${h.fate === "maybe" ? "maybe " : ""}${what}`;
}
