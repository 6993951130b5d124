/** The txn input language: comparisons, operations, quoting. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CompareOperator } from "@sisyphusdb/client/gen/sisyphus/kv/v1/kv_pb";
import { UsageError } from "../src/errors.js";
import { splitWords, tokenBytes } from "../src/txn/quoting.js";
import { parseCompare, parseOperation } from "../src/txn/txn-syntax.js";

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");

test("comparisons: every target, operator and quoting", () => {
  const mod = parseCompare('mod("key1") > "0"').message;
  assert.equal(text(mod.key), "key1");
  assert.equal(mod.operator, CompareOperator.GREATER);
  assert.deepEqual(mod.target, { case: "modRevision", value: 0n });

  const value = parseCompare('value("k") = "a\\tb"').message;
  assert.equal(value.operator, CompareOperator.EQUAL);
  assert.equal(value.target.case, "value");
  assert.equal(text(value.target.value as Uint8Array), "a\tb");

  assert.equal(parseCompare('val("k")=="v"').message.operator, CompareOperator.EQUAL);
  assert.equal(parseCompare('ver("k") != "2"').message.operator, CompareOperator.NOT_EQUAL);
  assert.deepEqual(parseCompare('version("k") < "2"').message.target, { case: "version", value: 2n });
  assert.deepEqual(parseCompare('c("k") = "5"').message.target, { case: "createRevision", value: 5n });
  assert.deepEqual(parseCompare('create("k") = "5"').message.target, { case: "createRevision", value: 5n });
  assert.deepEqual(parseCompare('lease("k") = "694d7b5b3d6a1b0c"').message.target, { case: "lease", value: 0x694d7b5b3d6a1b0cn });
  assert.equal(text(parseCompare("value(`raw\\n`) = `x`").message.key), "raw\\n");
});

test("malformed comparisons are usage errors that name the line", () => {
  for (const line of ['mod("k" > "0"', 'mod(k) > "0"', 'size("k") > "0"', 'mod("k") ~ "0"', 'mod("k") > "x"', 'mod("k") > "1" extra', 'value("k) = "v"']) {
    assert.throws(
      () => parseCompare(line),
      (err: unknown) => err instanceof UsageError && err.message.startsWith(`malformed comparison: ${line} (`),
      line,
    );
  }
});

test("operations: put, get and del with their flags", () => {
  const put = parseOperation('put key1 "value with spaces" --prev-kv').op.request.request;
  assert.equal(put.case, "put");
  assert.equal(text(put.value.key), "key1");
  assert.equal(text(put.value.value), "value with spaces");
  assert.equal(put.value.prevKv, true);

  const get = parseOperation("get pre --prefix --limit 2").op.request.request;
  assert.equal(get.case, "range");
  assert.equal(text(get.value.key), "pre", "--prefix leaves the key as it is");
  assert.equal(text(get.value.rangeEnd), "prf");
  assert.equal(get.value.limit, 2n);

  const del = parseOperation("del a z").op.request.request;
  assert.equal(del.case, "deleteRange");
  assert.equal(text(del.value.rangeEnd), "z");

  assert.equal(parseOperation("put k --ignore-value").op.request.request.case, "put");
});

test("malformed operations are usage errors that name the line", () => {
  for (const line of ["frob k", "put k", "put k v extra", "get", "get k --bogus", 'put k "unterminated']) {
    assert.throws(
      () => parseOperation(line),
      (err: unknown) => err instanceof UsageError && err.message.startsWith(`invalid txn request: ${line} (`),
      line,
    );
  }
});

test("quoting: words, double quotes with Go escapes, single quotes, raw bytes", () => {
  assert.deepEqual(splitWords(`put  k 'single "x"'  "d\\"q" plain`), ["put", "k", 'single "x"', 'd"q', "plain"]);
  assert.deepEqual(Array.from(tokenBytes(splitWords('"\\xff\\x00\\101"')[0])), [0xff, 0x00, 0x41]);
  assert.equal(text(tokenBytes(splitWords('"caf\\u00e9 😀"')[0])), "café 😀");
  assert.equal(text(tokenBytes(splitWords("naïve")[0])), "naïve");
  assert.throws(() => splitWords('"\\q"'), UsageError);
});
