import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClientClosedError, Code } from "../src/index.js";
import { waitFor, within } from "./helpers.js";
import { fakeClient, KV_MODES } from "./setup.js";

describe("close", () => {
  for (const mode of KV_MODES) {
    it(`fails the calls in flight and every later call with ClientClosedError (${mode.name})`, async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      fake.before = async (_call, signal) => {
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      };
      const pending = client.get("k");
      await waitFor(fake.changes, () => fake.calls.length === 1, "the call to reach the fake");
      await client.close();
      await assert.rejects(within(pending, "the call in flight"), (err: unknown) => err instanceof ClientClosedError && err.code === Code.Canceled);
      await assert.rejects(client.put("k", "v"), ClientClosedError);
      await assert.rejects(client.status(), ClientClosedError);
      await assert.rejects(client.lease.grant(5), ClientClosedError);
      assert.throws(() => client.snapshot(), ClientClosedError);
    });
  }

  it("closes the streams it opened and is idempotent", async () => {
    const { fake, client } = fakeClient();
    await client.put("k", "v");
    const watcher = client.watch("k");
    await within(watcher.ready, "the watcher");
    const lease = await client.lease.grant(10);
    const keepAlive = client.lease.keepAlive(lease.id);
    await waitFor(fake.changes, () => fake.openCount("keepAlive") === 1 && fake.openCount("pipeline") === 1 && fake.openCount("watch") === 1, "the three streams to open");
    await client.close();
    await client.close();
    await waitFor(fake.changes, () => fake.openCount("keepAlive") + fake.openCount("pipeline") + fake.openCount("watch") === 0, "every stream to close");
    await assert.rejects(within(keepAlive.done, "the keep-alive"), ClientClosedError);
  });
});
