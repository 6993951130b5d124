import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "../src/index.js";
import { within } from "./helpers.js";
import { fakeClient, KV_MODES } from "./setup.js";

/** A fake hook that never lets a call through (until the call or its stream goes away). */
const neverAnswer = async (_call: unknown, signal: AbortSignal): Promise<void> => {
  await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  throw new ConnectError("the client went away", Code.Canceled);
};

const isCode = (code: Code) => (err: unknown) => err instanceof ConnectError && err.code === code;

describe("deadlines", () => {
  for (const mode of KV_MODES) {
    it(`a call the server never answers fails with DEADLINE_EXCEEDED at its deadline (${mode.name})`, async () => {
      const { fake, client } = fakeClient({ pipeline: mode.pipeline });
      fake.before = neverAnswer;
      try {
        const started = Date.now();
        await assert.rejects(within(client.put("k", "v", { timeoutMs: 100 }), "the deadline"), isCode(Code.DeadlineExceeded));
        const elapsedMs = Date.now() - started;
        assert.ok(elapsedMs >= 90 && elapsedMs < 2_000, `failed after ${elapsedMs} ms`);
        await assert.rejects(within(client.get("k", { timeoutMs: 50 }), "the read deadline"), isCode(Code.DeadlineExceeded));
      } finally {
        await client.close();
      }
    });
  }

  it("applies the client's default timeoutMs", async () => {
    const { fake, client } = fakeClient({ timeoutMs: 80 });
    fake.before = neverAnswer;
    try {
      await assert.rejects(within(client.status(), "the default deadline"), isCode(Code.DeadlineExceeded));
    } finally {
      await client.close();
    }
  });

  it("covers every retry: a read that keeps failing ends at the deadline, not after more attempts", async () => {
    const { fake, client } = fakeClient({ retry: { maxAttempts: 1_000_000, initialBackoffMs: 1, maxBackoffMs: 2 } });
    fake.before = () => {
      throw new ConnectError("no leader", Code.Unavailable);
    };
    try {
      await assert.rejects(within(client.get("k", { timeoutMs: 150 }), "the deadline over retries"), isCode(Code.DeadlineExceeded));
      assert.ok(fake.count("range") > 1, "the read was retried before the deadline");
    } finally {
      await client.close();
    }
  });

  it("aborting the signal fails the call with CANCELED", async () => {
    const { fake, client } = fakeClient();
    fake.before = neverAnswer;
    try {
      const controller = new AbortController();
      const put = client.put("k", "v", { signal: controller.signal });
      controller.abort();
      await assert.rejects(within(put, "the canceled call"), isCode(Code.Canceled));
      await assert.rejects(client.get("k", { signal: AbortSignal.abort() }), isCode(Code.Canceled));
    } finally {
      await client.close();
    }
  });

  it("the pipeline stays usable after a call on it timed out", async () => {
    const { fake, client } = fakeClient();
    try {
      let hold = true;
      fake.before = async (_call, signal) => {
        if (hold) await neverAnswer(undefined, signal);
      };
      await assert.rejects(within(client.put("k", "1", { timeoutMs: 50 }), "the deadline"), isCode(Code.DeadlineExceeded));
      hold = false;
      assert.ok((await within(client.put("k", "2"), "a call after the timeout")).revision > 0);
      assert.equal(fake.pipelineStats.streams, 1);
    } finally {
      await client.close();
    }
  });
});
