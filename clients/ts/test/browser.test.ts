import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createClient, InvalidArgumentError } from "../src/index.browser.js";
import { FakeServer } from "./fake-server.js";
import { take, waitFor, within } from "./helpers.js";
import { FAKE_ENDPOINT } from "./setup.js";

/** Every module specifier imported (statically) by the compiled module at `file` and the relative modules it imports, transitively. */
async function importGraph(entry: string): Promise<{ files: string[]; packages: Set<string> }> {
  const files: string[] = [];
  const packages = new Set<string>();
  const pending = [entry];
  const importPattern = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*"([^"]+)"|(?:^|\n)\s*import\s*"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g;
  while (pending.length > 0 && files.length < 1_000) {
    const file = pending.pop() as string;
    if (files.includes(file)) continue;
    files.push(file);
    const source = await readFile(file, "utf8");
    for (const match of source.matchAll(importPattern)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      if (specifier.startsWith(".")) pending.push(resolve(dirname(file), specifier));
      else packages.add(specifier);
    }
  }
  return { files, packages };
}

function browserFakeClient(options: { maxAttempts?: number } = {}): { fake: FakeServer; client: ReturnType<typeof createClient> } {
  const fake = new FakeServer();
  const client = createClient({ endpoints: [FAKE_ENDPOINT], transport: fake.transport(), retry: { initialBackoffMs: 1, maxBackoffMs: 5, maxAttempts: options.maxAttempts ?? 5 } });
  return { fake, client };
}

describe("browser entry", () => {
  it("imports no node: module and not @connectrpc/connect-node, directly or indirectly", async () => {
    const entry = resolve(dirname(fileURLToPath(import.meta.url)), "../src/index.browser.js");
    const { files, packages } = await importGraph(entry);
    assert.ok(files.some((f) => f.endsWith("client.js")) && files.some((f) => f.endsWith("kv_pb.js")), `the graph was not followed: ${files.join(", ")}`);
    const forbidden = [...packages].filter((p) => p.startsWith("node:") || p === "@connectrpc/connect-node" || !p.startsWith("@"));
    assert.deepEqual(forbidden, [], `browser entry imports ${forbidden.join(", ")}`);
    assert.deepEqual([...packages].sort(), ["@bufbuild/protobuf", "@bufbuild/protobuf/codegenv2", "@connectrpc/connect", "@connectrpc/connect-web"]);
  });

  it("refuses gRPC and the pipeline", () => {
    assert.throws(() => createClient({ endpoints: [FAKE_ENDPOINT], protocol: "grpc" }), InvalidArgumentError);
    assert.throws(() => createClient({ endpoints: [FAKE_ENDPOINT], pipeline: true }), InvalidArgumentError);
  });

  it("makes unary KV calls", async () => {
    const { fake, client } = browserFakeClient();
    try {
      assert.equal(client.usesPipeline, false);
      await client.put("k", "v");
      assert.equal((await client.get("k")).kv?.valueString, "v");
      assert.equal((await client.range({ key: "k", prefix: true })).count, 1);
      assert.ok(fake.calls.every((c) => c.via === "unary"));
      assert.equal(fake.pipelineStats.streams, 0);
    } finally {
      await client.close();
    }
  });

  it("watches with Subscribe, one stream per watch, resuming after a drop", async () => {
    const { fake, client } = browserFakeClient();
    try {
      const watcher = client.watch("k", { prefix: true });
      await within(watcher.ready, "the watcher");
      const it = watcher[Symbol.asyncIterator]();
      await client.put("k1", "a");
      await take(it, 1, "the first event");
      fake.drop("subscribe");
      await client.put("k2", "b");
      const [batch] = await take(it, 1, "the event after the drop");
      assert.equal(batch.events[0].kv.keyString, "k2");
      assert.equal(fake.streamsOpened.watch, 0);
      assert.equal(fake.streamsOpened.subscribe, 2);
      await it.return?.();
      await waitFor(fake.changes, () => fake.openCount("subscribe") === 0, "the Subscribe stream to close");
    } finally {
      await client.close();
    }
  });

  it("keeps leases alive with KeepAliveOnce calls", async () => {
    const { fake, client } = browserFakeClient();
    try {
      const lease = await client.lease.grant(1);
      const keepAlive = client.lease.keepAlive(lease.id);
      await take(keepAlive[Symbol.asyncIterator](), 3, "three renewals");
      assert.equal(fake.count("keepAliveOnce"), 3);
      assert.equal(fake.streamsOpened.keepAlive, 0);
      keepAlive.close();
      await within(keepAlive.done, "the close");
    } finally {
      await client.close();
    }
  });

  it("verifies snapshots with WebCrypto", async () => {
    const { fake, client } = browserFakeClient();
    try {
      fake.snapshotPlan = { data: new Uint8Array(300).fill(7), chunkBytes: 100, digest: "right", truncate: false };
      let total = 0;
      for await (const chunk of client.snapshot()) total += chunk.length;
      assert.equal(total, 300);
    } finally {
      await client.close();
    }
  });
});
