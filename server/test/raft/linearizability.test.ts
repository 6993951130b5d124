/**
 * The linearizability checker on hand-made histories: it must accept every history some order
 * explains (concurrent operations in either order, operations of unknown fate taking effect or
 * not) and reject the classic anomalies (a stale read after a completed write, a lost write, a
 * cas that could not have swapped).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkLinearizable, describeOps, HistoryError, type HistoryOp, type KvOp } from "./sim/linearizability.js";

let nextId = 1;

function op(client: number, call: number, ret: number, o: KvOp, key = "k"): HistoryOp {
  return { id: nextId++, client, key, call, ret, fate: "done", op: o };
}

function maybe(client: number, call: number, o: KvOp, key = "k"): HistoryOp {
  return { id: nextId++, client, key, call, ret: Infinity, fate: "maybe", op: o };
}

const get = (result: string | null): KvOp => ({ kind: "get", result });
const put = (value: string): KvOp => ({ kind: "put", value });
const cas = (expected: string | null, value: string, result: boolean | undefined): KvOp => ({ kind: "cas", expected, value, result });

function assertLinearizable(history: HistoryOp[]): void {
  const result = checkLinearizable(history);
  assert.ok(result.ok, `expected linearizable:\n${describeOps(history)}\ngot ${JSON.stringify(result, (_k, v: unknown) => (v === Infinity ? "inf" : v))}`);
}

function assertNotLinearizable(history: HistoryOp[]): void {
  const result = checkLinearizable(history);
  assert.ok(!result.ok, `expected a violation:\n${describeOps(history)}`);
  assert.equal(result.reason, "nonLinearizable");
}

describe("linearizability checker: accepts", () => {
  it("an empty history", () => {
    assert.deepEqual(checkLinearizable([]), { ok: true, keys: 0, ops: 0 });
  });

  it("sequential put then get of the value", () => {
    assertLinearizable([op(1, 1, 2, put("a")), op(2, 3, 4, get("a"))]);
  });

  it("a get of nothing before any put", () => {
    assertLinearizable([op(1, 1, 2, get(null)), op(1, 3, 4, put("a"))]);
  });

  it("a read concurrent with a put, seeing either the old or the new value", () => {
    assertLinearizable([op(1, 1, 2, put("a")), op(1, 3, 6, put("b")), op(2, 4, 5, get("a"))]);
    assertLinearizable([op(1, 1, 2, put("a")), op(1, 3, 6, put("b")), op(2, 4, 5, get("b"))]);
  });

  it("two concurrent puts in either order, as later reads show", () => {
    assertLinearizable([op(1, 1, 4, put("a")), op(2, 2, 3, put("b")), op(3, 5, 6, get("a"))]);
    assertLinearizable([op(1, 1, 4, put("a")), op(2, 2, 3, put("b")), op(3, 5, 6, get("b"))]);
  });

  it("a concurrent pair that only works in the order opposite to their calls", () => {
    // The read is called first but must be ordered after the put.
    assertLinearizable([op(1, 1, 10, get("x")), op(2, 2, 3, put("x"))]);
  });

  it("a successful cas from the current value and a failed one from a stale value", () => {
    assertLinearizable([
      op(1, 1, 2, put("a")),
      op(2, 3, 4, cas("a", "b", true)),
      op(3, 5, 6, cas("a", "c", false)),
      op(1, 7, 8, get("b")),
    ]);
  });

  it("a write of unknown fate that took effect (seen by a later read)", () => {
    assertLinearizable([op(1, 1, 2, put("a")), maybe(2, 3, put("b")), op(1, 10, 11, get("b"))]);
  });

  it("a write of unknown fate that never took effect", () => {
    assertLinearizable([op(1, 1, 2, put("a")), maybe(2, 3, put("b")), op(1, 10, 11, get("a")), op(1, 12, 13, get("a"))]);
  });

  it("a write known to have happened whose answer never came, placed after its call", () => {
    assertLinearizable([op(1, 1, 2, put("a")), op(2, 3, Infinity, put("b")), op(1, 4, 5, get("a")), op(1, 6, 7, get("b"))]);
  });

  it("a cas of unknown fate and unknown result", () => {
    assertLinearizable([op(1, 1, 2, put("a")), maybe(2, 3, cas("a", "b", undefined)), op(1, 10, 11, get("b"))]);
    assertLinearizable([op(1, 1, 2, put("a")), maybe(2, 3, cas("a", "b", undefined)), op(1, 10, 11, get("a"))]);
  });

  it("keys are independent", () => {
    assertLinearizable([op(1, 1, 2, put("a"), "x"), op(1, 3, 4, put("b"), "y"), op(2, 5, 6, get("a"), "x"), op(2, 7, 8, get(null), "z")]);
  });

  it("many concurrent writers and readers", () => {
    const history: HistoryOp[] = [];
    for (let c = 0; c < 6; c++) history.push(op(c, c + 1, 100, put(`v${c}`)));
    for (let c = 0; c < 6; c++) history.push(op(100 + c, 50 + c, 90, get(`v${c}`)));
    assertLinearizable(history);
  });
});

describe("linearizability checker: rejects", () => {
  it("a stale read after a completed put", () => {
    assertNotLinearizable([op(1, 1, 2, put("a")), op(1, 3, 4, put("b")), op(2, 5, 6, get("a"))]);
  });

  it("a read of a value never written", () => {
    assertNotLinearizable([op(1, 1, 2, put("a")), op(2, 3, 4, get("z"))]);
  });

  it("a read that goes back in time (new value, then old value, both after the write)", () => {
    assertNotLinearizable([op(1, 1, 2, put("a")), op(1, 3, 10, put("b")), op(2, 4, 5, get("b")), op(3, 6, 7, get("a"))]);
  });

  it("a cas that succeeded although the value did not match", () => {
    assertNotLinearizable([op(1, 1, 2, put("a")), op(2, 3, 4, cas("z", "b", true))]);
  });

  it("a cas that failed although the value matched", () => {
    assertNotLinearizable([op(1, 1, 2, put("a")), op(2, 3, 4, cas("a", "b", false))]);
  });

  it("two cas from the same value both succeeding", () => {
    assertNotLinearizable([op(1, 1, 2, put("a")), op(2, 3, 6, cas("a", "b", true)), op(3, 4, 5, cas("a", "c", true))]);
  });

  it("an unknown-fate write that is read, then unread", () => {
    assertNotLinearizable([op(1, 1, 2, put("a")), maybe(2, 3, put("b")), op(1, 10, 11, get("b")), op(1, 12, 13, get("a"))]);
  });

  it("an unknown-fate write seen before it was called", () => {
    assertNotLinearizable([op(1, 1, 2, get("b")), maybe(2, 3, put("b"))]);
  });

  it("a write that must have happened but that no read can explain", () => {
    assertNotLinearizable([op(1, 1, 2, put("a")), op(2, 3, Infinity, put("b")), op(1, 4, 5, get("c"))]);
  });

  it("reports the offending key and its operations", () => {
    const bad = [op(1, 1, 2, put("a"), "bad"), op(2, 3, 4, get(null), "bad")];
    const result = checkLinearizable([op(1, 1, 2, put("a"), "good"), ...bad]);
    assert.ok(!result.ok);
    assert.equal(result.key, "bad");
    assert.deepEqual(
      result.ops.map((h) => h.id),
      bad.map((h) => h.id),
    );
  });
});

describe("linearizability checker: input validation", () => {
  it("refuses malformed histories", () => {
    assert.throws(() => checkLinearizable([op(1, 5, 5, put("a"))]), HistoryError);
    assert.throws(() => checkLinearizable([{ ...op(1, 1, 2, put("a")), fate: "maybe" }]), HistoryError);
    assert.throws(() => checkLinearizable([maybe(1, 1, get("a"))]), HistoryError);
    const a = op(1, 1, 2, put("a"));
    assert.throws(() => checkLinearizable([a, a]), HistoryError);
  });

  it("gives up as inconclusive when the search budget runs out", () => {
    const history: HistoryOp[] = [];
    for (let c = 0; c < 10; c++) history.push(op(c, c + 1, 100, put(`v${c}`)));
    history.push(op(99, 101, 102, get("none")));
    const result = checkLinearizable(history, 50);
    assert.ok(!result.ok);
    assert.equal(result.reason, "inconclusive");
  });
});
