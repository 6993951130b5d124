/** Output formatting: JSON with 64-bit numbers, tables, sizes, hex. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyValue } from "@sisyphusdb/client";
import { keyValueJson } from "../src/output/etcd-json.js";
import { encodeJson } from "../src/output/json.js";
import { renderTable } from "../src/output/table.js";
import { hexEscaped, humanBytes, leaseIdHex, printable } from "../src/output/text.js";

test("JSON writes bigint as a bare number and leaves undefined fields out", () => {
  assert.equal(encodeJson({ id: 17237436991929493444n, a: [1, "x", null, true], skip: undefined, nested: {} }), '{"id":17237436991929493444,"a":[1,"x",null,true],"nested":{}}');
});

test("key-values as etcdctl's JSON: base64, zero fields omitted", () => {
  const kv = new KeyValue(Buffer.from("foo"), new Uint8Array(0), 2, 3, 1, 0n);
  assert.deepEqual(JSON.parse(encodeJson(keyValueJson(kv))), { key: "Zm9v", create_revision: 2, mod_revision: 3, version: 1 });
});

test("tables: centered upper-case headers, right-aligned cells unless asked for left", () => {
  const table = renderTable(["id", "name"], [["1", "alpha"], ["22", "b"]], ["right", "left"]);
  assert.equal(table, ["+----+-------+", "| ID | NAME  |", "+----+-------+", "|  1 | alpha |", "| 22 | b     |", "+----+-------+", ""].join("\n"));
});

test("sizes, IDs and bytes as etcdctl prints them", () => {
  assert.equal(humanBytes(0), "0 B");
  assert.equal(humanBytes(140), "140 B");
  assert.equal(humanBytes(1258), "1.3 kB");
  assert.equal(humanBytes(24576), "25 kB");
  assert.equal(humanBytes(82_854_982), "83 MB");
  assert.equal(leaseIdHex(0x694dn), "000000000000694d");
  assert.equal(hexEscaped(Buffer.from("foo")), "\\x66\\x6f\\x6f");
  assert.equal(printable(Buffer.from("a\nb"), false), "a\\x0ab");
});
