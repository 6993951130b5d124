import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError, createClient, NOT_APPLIED_METADATA_KEY } from "../src/index.js";
import { FakeServer } from "./fake-server.js";
import { fakeClient, KV_MODES } from "./setup.js";

const isCode = (code: Code) => (err: unknown) => err instanceof ConnectError && err.code === code;

/** A hook that fails the first `times` calls of `method` with `error`. */
function failFirst(fake: FakeServer, method: string, times: number, error: () => ConnectError): void {
  let failed = 0;
  fake.before = (call) => {
    if (call.method === method && failed < times) {
      failed++;
      throw error();
    }
  };
}

const unavailable = (): ConnectError => new ConnectError("no leader", Code.Unavailable);
const notApplied = (): ConnectError => new ConnectError("not applied", Code.Unavailable, { [NOT_APPLIED_METADATA_KEY]: "1" });

describe("retries", () => {
  for (const mode of KV_MODES) {
    it(`does not retry a write that failed with plain UNAVAILABLE (${mode.name})`, async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      failFirst(fake, "put", 1, unavailable);
      try {
        await assert.rejects(client.put("k", "v"), isCode(Code.Unavailable));
        assert.equal(fake.count("put"), 1);
      } finally {
        await client.close();
      }
    });

    it(`retries reads on UNAVAILABLE (${mode.name})`, async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      await client.put("k", "v");
      failFirst(fake, "range", 2, unavailable);
      try {
        assert.equal((await client.get("k")).kv?.valueString, "v");
        assert.equal(fake.count("range"), 3);
      } finally {
        await client.close();
      }
    });
  }

  it("retries a write the server marked not applied", async () => {
    const { fake, client } = fakeClient({ pipeline: false });
    failFirst(fake, "put", 2, notApplied);
    try {
      assert.equal((await client.put("k", "v")).revision, 2);
      assert.equal(fake.count("put"), 3);
    } finally {
      await client.close();
    }
  });

  it("retries lease grant and revoke only when not applied, like the other writes", async () => {
    const { fake, client } = fakeClient();
    try {
      failFirst(fake, "grant", 1, notApplied);
      const { id } = await client.lease.grant(10);
      assert.equal(fake.count("grant"), 2);
      failFirst(fake, "revoke", 1, unavailable);
      await assert.rejects(client.lease.revoke(id), isCode(Code.Unavailable));
      assert.equal(fake.count("revoke"), 1);
    } finally {
      await client.close();
    }
  });

  it("retries the other reads: status, member list, lease time-to-live and list", async () => {
    const { fake, client } = fakeClient();
    try {
      for (const [method, call] of [
        ["status", () => client.status()],
        ["memberList", () => client.memberList()],
        ["timeToLive", () => client.lease.timeToLive(1n)],
        ["leases", () => client.lease.list()],
      ] as const) {
        failFirst(fake, method, 1, unavailable);
        await call();
        assert.equal(fake.count(method), 2, method);
      }
    } finally {
      await client.close();
    }
  });

  it("gives up after maxAttempts", async () => {
    const { fake, client } = fakeClient({ retry: { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 2 } });
    failFirst(fake, "range", 100, unavailable);
    try {
      await assert.rejects(client.get("k"), isCode(Code.Unavailable));
      assert.equal(fake.count("range"), 3);
    } finally {
      await client.close();
    }
  });

  it("does not retry errors other than UNAVAILABLE", async () => {
    const { fake, client } = fakeClient();
    failFirst(fake, "range", 1, () => new ConnectError("compacted", Code.OutOfRange));
    try {
      await assert.rejects(client.get("k"), isCode(Code.OutOfRange));
      assert.equal(fake.count("range"), 1);
    } finally {
      await client.close();
    }
  });

  it("moves to the next endpoint when one fails", async () => {
    const down = new FakeServer();
    down.before = () => {
      throw unavailable();
    };
    const up = new FakeServer();
    const client = createClient({
      endpoints: ["http://a.invalid:1", "http://b.invalid:1"],
      transport: (endpoint) => (endpoint.startsWith("http://a.") ? down.transport() : up.transport()),
      retry: { initialBackoffMs: 1, maxBackoffMs: 2 },
    });
    try {
      assert.equal((await client.get("k")).kv, undefined);
      assert.equal(down.count("range"), 1);
      assert.equal(up.count("range"), 1);
      await client.get("k");
      assert.equal(down.count("range"), 1, "later calls stay on the endpoint that works");
      assert.equal(up.count("range"), 2);
    } finally {
      await client.close();
    }
  });
});
