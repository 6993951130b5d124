/**
 * Writes go to the leader's endpoint, reads stay where they are: three fake members (member IDs
 * 1, 2, 3 at endpoints a, b, c) whose headers name a leader the test chooses, one client
 * configured with all three. Each fake has its own store: the tests look at which fake got
 * which call, not at the data.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createClient, LEADER_METADATA_KEY, NOT_APPLIED_METADATA_KEY, type Client } from "../src/index.js";
import { createClient as createBrowserClient } from "../src/index.browser.js";
import { LOOKUP_WAIT_MS, PROBE_TIMEOUT_MS } from "../src/member-discovery.js";
import { FakeServer } from "./fake-server.js";
import { gate, waitFor } from "./helpers.js";
import { KV_MODES } from "./setup.js";

const URLS = ["http://a.invalid:1", "http://b.invalid:1", "http://c.invalid:1"] as const;
const WRITES = ["put", "deleteRange", "txn", "compact", "grant", "revoke"] as const;

/** The error Node gives a connection nobody accepts, as the transports wrap it: nothing was sent. */
function refused(): ConnectError {
  const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
  return new ConnectError("connection refused", Code.Unavailable, undefined, undefined, cause);
}

/** `inner`, or, while `isDown()`, a transport whose every call fails as refused (a killed member). */
function killable(inner: Transport, isDown: () => boolean): Transport {
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      isDown() ? Promise.reject(refused()) : inner.unary(method, signal, timeoutMs, header, input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      isDown() ? Promise.reject(refused()) : inner.stream(method, signal, timeoutMs, header, input, contextValues),
  };
}

interface FakeCluster {
  /** By member: fakes[0] is member 1 at endpoint a. */
  fakes: FakeServer[];
  client: Client;
  /**
   * Member `memberId` dies: its open streams fail, new calls to it are refused. Resolves once the
   * client has seen its streams end (the in-memory transport delivers that in microtasks, all
   * run before setImmediate's callback), so a write made then is not in flight on a dying stream.
   */
  kill(memberId: number): Promise<void>;
  /** Makes every member's headers name `leaderId` at `term`. */
  elect(leaderId: bigint, term: bigint): void;
  /** How many calls of `method` each member got, by member ID order. */
  counts(method: string): number[];
}

function fakeCluster(options: { pipeline?: boolean; leaderId?: bigint; browser?: boolean } = {}): FakeCluster {
  const fakes = URLS.map((_, i) => {
    const fake = new FakeServer();
    fake.store.memberId = BigInt(i + 1);
    return fake;
  });
  const down = URLS.map(() => false);
  const elect = (leaderId: bigint, term: bigint): void => {
    for (const fake of fakes) {
      fake.store.leaderId = leaderId;
      fake.store.raftTerm = term;
    }
  };
  elect(options.leaderId ?? 3n, 5n);
  const transport = (url: string): Transport => {
    const i = URLS.indexOf(url as (typeof URLS)[number]);
    return killable(fakes[i].transport(), () => down[i]);
  };
  const retry = { initialBackoffMs: 1, maxBackoffMs: 5 };
  const client =
    options.browser === true
      ? createBrowserClient({ endpoints: [...URLS], transport, retry })
      : createClient({ endpoints: [...URLS], transport, retry, pipeline: options.pipeline });
  const kill = async (memberId: number): Promise<void> => {
    down[memberId - 1] = true;
    for (const kind of ["pipeline", "watch", "keepAlive"] as const) fakes[memberId - 1].drop(kind);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { fakes, client, kill, elect, counts: (method) => fakes.map((f) => f.count(method)) };
}

/** Every kind of write once, through `client`. */
async function everyWrite(client: Client): Promise<void> {
  await client.put("k", "v");
  await client.delete("k");
  await client.txn().then().commit();
  await client.compact(1);
  const { id } = await client.lease.grant(10);
  await client.lease.revoke(id);
}

describe("leader-aware routing", () => {
  for (const mode of KV_MODES) {
    it(`sends writes to the leader named in headers from the second call on, and leaves reads where they are (${mode.name})`, async () => {
      const c = fakeCluster({ pipeline: mode.pipeline });
      try {
        const first = await c.client.put("k", "v");
        assert.deepEqual([first.header.memberId, first.header.leaderId], [1n, 3n], "the first write went to the first endpoint, which named member 3");
        const second = await c.client.put("k", "v");
        assert.equal(second.header.memberId, second.header.leaderId, "the second write went to the leader");
        assert.deepEqual(c.counts("put"), [1, 0, 1]);
        assert.deepEqual(c.counts("status"), [0, 1, 1], "the endpoints not heard from were asked once who they are");

        await everyWrite(c.client);
        for (const method of WRITES) assert.deepEqual(c.counts(method), method === "put" ? [1, 0, 2] : [0, 0, 1], method);
        await c.client.get("k");
        await c.client.range({ key: "k", prefix: true });
        await c.client.status();
        assert.deepEqual(c.counts("range"), [2, 0, 0], "reads stay on the current endpoint");
        assert.deepEqual(c.counts("status"), [1, 1, 1], "no more probes once every member is known");
      } finally {
        await c.client.close();
      }
    });

    it(`follows a new leader named in a header of a newer term (${mode.name})`, async () => {
      const c = fakeCluster({ pipeline: mode.pipeline });
      try {
        await c.client.get("k");
        await c.client.put("k", "1");
        assert.deepEqual(c.counts("put"), [0, 0, 1]);
        c.elect(2n, 6n);
        const atOldLeader = await c.client.put("k", "2");
        assert.deepEqual([atOldLeader.header.memberId, atOldLeader.header.leaderId], [3n, 2n], "the old leader forwarded it and named the new one");
        const atNewLeader = await c.client.put("k", "3");
        assert.equal(atNewLeader.header.memberId, 2n);
        assert.deepEqual(c.counts("put"), [0, 1, 2]);
        c.elect(1n, 5n);
        await c.client.put("k", "4");
        assert.deepEqual(c.counts("put"), [0, 2, 2], "a header of an older term is stale");
        assert.deepEqual(c.counts("range"), [1, 0, 0]);
      } finally {
        await c.client.close();
      }
    });

    it(`retries a write the leader refused as not applied, then writes to the leader the next answer names (${mode.name})`, async () => {
      const c = fakeCluster({ pipeline: mode.pipeline });
      try {
        await c.client.get("k");
        await c.client.put("k", "1");
        c.elect(2n, 6n);
        c.fakes[2].before = (call) => {
          if (call.method === "put") throw new ConnectError("not the leader", Code.Unavailable, { [NOT_APPLIED_METADATA_KEY]: "1", [LEADER_METADATA_KEY]: "2" });
        };
        const put = await c.client.put("k", "2");
        // Unary errors carry sisyphus-leader: the retry goes straight to member 2. Pipeline
        // errors carry no metadata: the retry goes to the current endpoint, whose answer names 2.
        assert.equal(put.header.memberId, mode.pipeline ? 1n : 2n);
        await c.client.put("k", "3");
        assert.deepEqual(c.counts("put"), mode.pipeline ? [1, 1, 2] : [0, 2, 2]);
        assert.deepEqual(c.counts("range"), [1, 0, 0]);
      } finally {
        await c.client.close();
      }
    });

    it(`does not retry a write the leader failed with plain UNAVAILABLE, and sends the next one to the current endpoint (${mode.name})`, async () => {
      const c = fakeCluster({ pipeline: mode.pipeline });
      try {
        await c.client.get("k");
        await c.client.put("k", "1");
        c.fakes[2].before = (call) => {
          if (call.method === "put") throw new ConnectError("lost leadership; the write may or may not have been applied", Code.Unavailable);
        };
        await assert.rejects(c.client.put("k", "2"), (err: unknown) => err instanceof ConnectError && err.code === Code.Unavailable);
        assert.deepEqual(c.counts("put"), [0, 0, 2], "tried once, at the leader only");
        await c.client.put("k", "3");
        await c.client.put("k", "4");
        assert.deepEqual(c.counts("put"), [2, 0, 2], "the leader that failed is not trusted on its followers' word for a while");
      } finally {
        await c.client.close();
      }
    });

    it(`when the leader is killed, a write that was not sent is retried and later writes go to the new leader (${mode.name})`, async () => {
      const c = fakeCluster({ pipeline: mode.pipeline });
      try {
        await c.client.get("k");
        await c.client.put("k", "1");
        await c.kill(3);
        c.elect(2n, 6n);
        const retried = await c.client.put("k", "2");
        assert.equal(retried.header.memberId, 1n, "refused at the dead leader, then sent to the current endpoint");
        const direct = await c.client.put("k", "3");
        assert.equal(direct.header.memberId, 2n);
        assert.deepEqual(c.counts("put"), [1, 1, 1]);
        assert.deepEqual(c.counts("range"), [1, 0, 0]);
      } finally {
        await c.client.close();
      }
    });
  }

  it("does not resend a pipelined write in flight when the leader's stream fails", async () => {
    const c = fakeCluster({ pipeline: true });
    try {
      await c.client.get("k");
      await c.client.put("k", "1");
      const held = gate();
      c.fakes[2].before = async (call) => {
        if (call.method === "put") await held.promise;
      };
      const pending = c.client.put("k", "2");
      await waitFor(c.fakes[2].changes, () => c.fakes[2].count("put") === 2, "the write to reach the leader");
      c.fakes[2].drop("pipeline");
      await assert.rejects(pending, (err: unknown) => err instanceof ConnectError && err.code === Code.Unavailable);
      held.open();
      assert.deepEqual(c.counts("put"), [0, 0, 2], "sent once");
    } finally {
      await c.client.close();
    }
  });

  it("a write waits for a probe that hangs at most LOOKUP_WAIT_MS, then goes to the current endpoint; never past its deadline", async () => {
    const c = fakeCluster({ pipeline: false, leaderId: 2n });
    // The probes of b and c hang until the client gives up on them (PROBE_TIMEOUT_MS) or closes.
    let probesEnded = 0;
    for (const fake of c.fakes.slice(1)) {
      fake.before = (call, signal) => {
        if (call.method !== "status") return;
        return new Promise<void>((_, reject) =>
          signal.addEventListener("abort", () => {
            probesEnded++;
            reject(new ConnectError("gone", Code.Canceled));
          }),
        );
      };
    }
    try {
      await c.client.get("k");
      await assert.rejects(c.client.put("k", "1", { timeoutMs: LOOKUP_WAIT_MS / 4 }), (err: unknown) => err instanceof ConnectError && err.code === Code.DeadlineExceeded);
      const put = await c.client.put("k", "2");
      assert.equal(put.header.memberId, 1n, "sent to the current endpoint");
      assert.equal(probesEnded, 0, `the write did not wait for the probes to time out (after ${PROBE_TIMEOUT_MS} ms)`);
      assert.deepEqual(c.counts("put"), [1, 0, 0], "the write that ran out of time was never sent");
      assert.deepEqual(c.counts("status"), [0, 1, 1], "b and c were asked");
    } finally {
      await c.client.close();
    }
  });

  it("leaves writes on the current endpoint when the leader is none of the endpoints", async () => {
    const c = fakeCluster({ pipeline: false, leaderId: 9n });
    try {
      await c.client.put("k", "1");
      await c.client.put("k", "2");
      await c.client.put("k", "3");
      assert.deepEqual(c.counts("put"), [3, 0, 0]);
      assert.deepEqual(c.counts("status"), [0, 1, 1], "each other endpoint asked once");
    } finally {
      await c.client.close();
    }
  });

  it("routes writes to the leader in the browser entry too", async () => {
    const c = fakeCluster({ browser: true });
    try {
      await c.client.get("k");
      await everyWrite(c.client);
      for (const method of WRITES) assert.deepEqual(c.counts(method), [0, 0, 1], method);
      assert.deepEqual(c.counts("range"), [1, 0, 0]);
      assert.ok(c.fakes.every((f) => f.pipelineStats.streams === 0));
    } finally {
      await c.client.close();
    }
  });
});
