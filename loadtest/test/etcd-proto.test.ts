/**
 * The etcd proto subset (loadtest/proto/etcd) is wire-compatible with etcd: every field it
 * declares has etcd's number and type, every enum etcd's values, and the service etcd's full
 * name. The expected figures were copied from upstream, etcd-io/etcd at
 * api/etcdserverpb/rpc.proto (commit 022b9b22cf9b8563a9f4f384bb35c30f02aca657) and
 * api/mvccpb/kv.proto (commit 20962bc85b441a8daa36c5abe1a1328cfa5dd0e1); they are the same in
 * etcd 3.4, the version bench:etcd runs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadEtcdPackageDefinition } from "../src/drivers.js";

/** Upstream (snake_case) name -> [number, type, label]; label "R" for repeated, "" for singular. */
type Fields = Record<string, [number, string, "R" | ""]>;

const UPSTREAM_MESSAGES: Record<string, Fields> = {
  "etcdserverpb.ResponseHeader": {
    cluster_id: [1, "TYPE_UINT64", ""],
    member_id: [2, "TYPE_UINT64", ""],
    revision: [3, "TYPE_INT64", ""],
    raft_term: [4, "TYPE_UINT64", ""],
  },
  "mvccpb.KeyValue": {
    key: [1, "TYPE_BYTES", ""],
    create_revision: [2, "TYPE_INT64", ""],
    mod_revision: [3, "TYPE_INT64", ""],
    version: [4, "TYPE_INT64", ""],
    value: [5, "TYPE_BYTES", ""],
    lease: [6, "TYPE_INT64", ""],
  },
  "etcdserverpb.PutRequest": {
    key: [1, "TYPE_BYTES", ""],
    value: [2, "TYPE_BYTES", ""],
    lease: [3, "TYPE_INT64", ""],
    prev_kv: [4, "TYPE_BOOL", ""],
    ignore_value: [5, "TYPE_BOOL", ""],
    ignore_lease: [6, "TYPE_BOOL", ""],
  },
  "etcdserverpb.PutResponse": {
    header: [1, "TYPE_MESSAGE", ""],
    prev_kv: [2, "TYPE_MESSAGE", ""],
  },
  "etcdserverpb.RangeRequest": {
    key: [1, "TYPE_BYTES", ""],
    range_end: [2, "TYPE_BYTES", ""],
    limit: [3, "TYPE_INT64", ""],
    revision: [4, "TYPE_INT64", ""],
    sort_order: [5, "TYPE_ENUM", ""],
    sort_target: [6, "TYPE_ENUM", ""],
    serializable: [7, "TYPE_BOOL", ""],
    keys_only: [8, "TYPE_BOOL", ""],
    count_only: [9, "TYPE_BOOL", ""],
    min_mod_revision: [10, "TYPE_INT64", ""],
    max_mod_revision: [11, "TYPE_INT64", ""],
    min_create_revision: [12, "TYPE_INT64", ""],
    max_create_revision: [13, "TYPE_INT64", ""],
  },
  "etcdserverpb.RangeResponse": {
    header: [1, "TYPE_MESSAGE", ""],
    kvs: [2, "TYPE_MESSAGE", "R"],
    more: [3, "TYPE_BOOL", ""],
    count: [4, "TYPE_INT64", ""],
  },
  "etcdserverpb.Compare": {
    result: [1, "TYPE_ENUM", ""],
    target: [2, "TYPE_ENUM", ""],
    key: [3, "TYPE_BYTES", ""],
    version: [4, "TYPE_INT64", ""],
    create_revision: [5, "TYPE_INT64", ""],
    mod_revision: [6, "TYPE_INT64", ""],
    value: [7, "TYPE_BYTES", ""],
    lease: [8, "TYPE_INT64", ""],
    range_end: [64, "TYPE_BYTES", ""],
  },
  // Upstream also has request_delete_range = 3 and request_txn = 4 (response_* alike), left out.
  "etcdserverpb.RequestOp": {
    request_range: [1, "TYPE_MESSAGE", ""],
    request_put: [2, "TYPE_MESSAGE", ""],
  },
  "etcdserverpb.ResponseOp": {
    response_range: [1, "TYPE_MESSAGE", ""],
    response_put: [2, "TYPE_MESSAGE", ""],
  },
  "etcdserverpb.TxnRequest": {
    compare: [1, "TYPE_MESSAGE", "R"],
    success: [2, "TYPE_MESSAGE", "R"],
    failure: [3, "TYPE_MESSAGE", "R"],
  },
  "etcdserverpb.TxnResponse": {
    header: [1, "TYPE_MESSAGE", ""],
    succeeded: [2, "TYPE_BOOL", ""],
    responses: [3, "TYPE_MESSAGE", "R"],
  },
};

const UPSTREAM_ENUMS: Record<string, Record<string, Record<string, number>>> = {
  "etcdserverpb.Compare": {
    CompareResult: { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 },
    CompareTarget: { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 },
  },
  "etcdserverpb.RangeRequest": {
    SortOrder: { NONE: 0, ASCEND: 1, DESCEND: 2 },
    SortTarget: { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 },
  },
};

interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  label: string;
}
interface MessageDescriptor {
  field: FieldDescriptor[];
  enumType: { name: string; value: { name: string; number: number }[] }[];
}

/** proto-loader (keepCase off, as the driver loads it) names fields in lowerCamelCase. */
const camelCase = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

describe("the etcd proto subset matches upstream etcd", () => {
  const definition = loadEtcdPackageDefinition();
  const descriptor = (name: string): MessageDescriptor => {
    const entry = definition[name] as { type?: MessageDescriptor } | undefined;
    assert.ok(entry?.type !== undefined, `${name} is not a message of loadtest/proto/etcd`);
    return entry.type;
  };

  it("declares exactly the expected messages and service", () => {
    assert.deepEqual(Object.keys(definition).sort(), ["etcdserverpb.KV", ...Object.keys(UPSTREAM_MESSAGES)].sort());
    const kv = definition["etcdserverpb.KV"] as Record<string, { path: string }>;
    assert.deepEqual(
      Object.values(kv).map((m) => m.path).sort(),
      ["/etcdserverpb.KV/Put", "/etcdserverpb.KV/Range", "/etcdserverpb.KV/Txn"],
    );
  });

  for (const [message, expected] of Object.entries(UPSTREAM_MESSAGES)) {
    it(`${message}: field names, numbers, types and labels`, () => {
      const actual = Object.fromEntries(descriptor(message).field.map((f) => [f.name, [f.number, f.type, f.label === "LABEL_REPEATED" ? "R" : ""]]));
      assert.deepEqual(actual, Object.fromEntries(Object.entries(expected).map(([name, field]) => [camelCase(name), field])));
    });
  }

  for (const [message, enums] of Object.entries(UPSTREAM_ENUMS)) {
    it(`${message}: enum values`, () => {
      const actual = Object.fromEntries(descriptor(message).enumType.map((e) => [e.name, Object.fromEntries(e.value.map((v) => [v.name, v.number]))]));
      assert.deepEqual(actual, enums);
    });
  }
});
