import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { SnapshotIntegrityError } from "../src/index.js";
import { createNodeSha256 } from "../src/sha256-node.js";
import { createWebSha256 } from "../src/sha256-web.js";
import { within } from "./helpers.js";
import { fakeClient } from "./setup.js";

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return new Uint8Array(Buffer.concat(parts));
}

describe("maintenance and cluster", () => {
  it("reports the member's status", async () => {
    const { client } = fakeClient();
    try {
      await client.put("k", "v");
      const status = await client.status();
      assert.equal(status.version, "0.1.0-fake");
      assert.equal(status.dbSizeBytes, 4096);
      assert.equal(status.leader, 1n);
      assert.equal(status.raftAppliedIndex, 7);
      assert.equal(status.header.revision, 2);
      assert.equal(status.header.raftTerm, 2);
      assert.deepEqual(status.errors, []);
    } finally {
      await client.close();
    }
  });

  it("lists the members", async () => {
    const { fake, client } = fakeClient();
    try {
      const { members } = await client.memberList({ linearizable: true });
      assert.deepEqual(
        members.map((m) => [m.id, m.name, m.isLearner]),
        [
          [1n, "one", false],
          [2n, "", true],
        ],
      );
      assert.deepEqual(members[0].clientUrls, ["http://127.0.0.1:7379"]);
      assert.equal((fake.calls.find((c) => c.method === "memberList")?.request as { linearizable: boolean }).linearizable, true);
    } finally {
      await client.close();
    }
  });

  it("streams a snapshot whose digest matches", async () => {
    const { fake, client } = fakeClient();
    try {
      await client.put("k", "v");
      const data = randomBytes(1_000);
      fake.snapshotPlan = { data, chunkBytes: 64, digest: "right", truncate: false };
      const snapshot = client.snapshot();
      assert.deepEqual(await within(collect(snapshot), "the snapshot"), new Uint8Array(data));
      assert.equal(snapshot.revision, 2);
      fake.snapshotPlan = { data, chunkBytes: 64, digest: "none", truncate: false };
      assert.equal((await within(collect(client.snapshot()), "a snapshot without digest")).length, 1_000);
    } finally {
      await client.close();
    }
  });

  it("fails a snapshot whose digest differs, before delivering its last chunk", async () => {
    const { fake, client } = fakeClient();
    try {
      fake.snapshotPlan = { data: randomBytes(100), chunkBytes: 30, digest: "wrong", truncate: false };
      const received: Uint8Array[] = [];
      await assert.rejects(
        within(
          (async () => {
            for await (const chunk of client.snapshot()) received.push(chunk);
          })(),
          "the snapshot",
        ),
        SnapshotIntegrityError,
      );
      assert.equal(received.length, 3, "the three chunks before the last one");
    } finally {
      await client.close();
    }
  });

  it("fails a snapshot stream that ends before its last chunk", async () => {
    const { fake, client } = fakeClient();
    try {
      fake.snapshotPlan = { data: randomBytes(100), chunkBytes: 30, digest: "right", truncate: true };
      await assert.rejects(within(collect(client.snapshot()), "the snapshot"), SnapshotIntegrityError);
    } finally {
      await client.close();
    }
  });

  it("computes SHA-256 the same way in Node and with WebCrypto (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), async (chunks) => {
        const expected = createHash("sha256");
        const node = createNodeSha256();
        const web = createWebSha256();
        for (const chunk of chunks) {
          expected.update(chunk);
          node.update(chunk);
          web.update(chunk);
        }
        const want = new Uint8Array(expected.digest());
        assert.deepEqual(await node.digest(), want);
        assert.deepEqual(await web.digest(), want);
      }),
      { numRuns: 200 },
    );
  });
});
