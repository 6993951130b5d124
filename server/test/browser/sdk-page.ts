/**
 * The test page's script: bundled by esbuild for the browser (the "browser" export condition
 * picks the SDK's connect-web entry, as a user's bundler would) and run inside Chromium by
 * sdk-browser.test.ts. It calls a real server through the SDK and reports what it observed as
 * plain JSON-friendly values (strings for bigints); the test asserts them in Node. Each step that
 * throws is reported with its name, so a failure says which call broke.
 *
 * It registers globalThis.sisyphusSdkPage; the test reaches it with page.evaluate.
 */
import { Code, ConnectError, cmp, createClient, op, type Client, type Protocol } from "@sisyphusdb/client";

/** How long the page waits for a watch event or a keep-alive renewal before reporting none. */
const WAIT_MS = 10_000;

export interface ObservedEvent {
  type: string;
  key: string;
  value: string;
  modRevision: number;
}

export interface ObservedError {
  isConnectError: boolean;
  /** The Code's name, e.g. "InvalidArgument"; "" for a non-Connect error. */
  code: string;
  rawMessage: string;
}

export interface ScenarioReport {
  put: { revision: number; prevValue: string | undefined };
  get: { value: string | undefined; modRevision: number | undefined };
  range: { keys: string[]; values: string[]; count: number; more: boolean };
  delete: { deleted: number; prevKeys: string[]; keysLeft: string[] };
  txn: { succeeded: boolean; putRevision: number; readValue: string | undefined; lockAfter: string | undefined };
  txnElse: { succeeded: boolean; holder: string | undefined };
  watch: { ready: number; putRevision: number; events: ObservedEvent[] };
  lease: {
    grantedTtl: number;
    renewalTtls: number[];
    keepAliveOnceTtl: number;
    timeToLive: { ttl: number; grantedTtl: number; keys: string[] };
    attachedBeforeRevoke: string | undefined;
    attachedAfterRevoke: string | undefined;
    ttlAfterRevoke: number;
  };
  status: { version: string; memberId: string; leader: string; revision: number; errors: string[] };
  members: { ids: string[]; clientUrls: string[][] };
  emptyKey: ObservedError | undefined;
}

export interface SdkPage {
  /** Runs every call against apiUrl with the given protocol, under keys starting with namespace. */
  runScenario(apiUrl: string, protocol: Protocol, namespace: string): Promise<ScenarioReport>;
  /** One client.status() (with up to maxAttempts attempts); undefined if it succeeded, else the error it failed with. */
  probeStatus(endpoints: string[], protocol: Protocol, maxAttempts: number): Promise<ObservedError | undefined>;
}

function observeError(err: unknown): ObservedError {
  if (err instanceof ConnectError) return { isConnectError: true, code: Code[err.code], rawMessage: err.rawMessage };
  return { isConnectError: false, code: "", rawMessage: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const observed = observeError(err);
    throw new Error(`step "${name}" failed: ${observed.code === "" ? "" : `[${observed.code}] `}${observed.rawMessage}`);
  }
}

async function watchSeesLaterPut(client: Client, ns: string): Promise<ScenarioReport["watch"]> {
  const watcher = client.watch(`${ns}watch/`, { prefix: true, signal: AbortSignal.timeout(WAIT_MS) });
  try {
    const ready = await watcher.ready;
    const put = await client.put(`${ns}watch/a`, "seen");
    const events: ObservedEvent[] = [];
    // Ends after the first batch, or empty when the signal aborts (no event within WAIT_MS).
    for await (const batch of watcher) {
      for (const e of batch.events) {
        events.push({ type: e.type, key: e.kv.keyString, value: e.kv.valueString, modRevision: e.kv.modRevision });
      }
      if (events.length > 0) break;
    }
    return { ready, putRevision: put.revision, events };
  } finally {
    watcher.cancel();
  }
}

async function leaseLifecycle(client: Client, ns: string): Promise<ScenarioReport["lease"]> {
  const lease = await step("lease.grant", () => client.lease.grant(3));
  const attachedKey = `${ns}lease/attached`;
  await step("put with lease", () => client.put(attachedKey, "held", { lease: lease.id }));
  const keepAlive = client.lease.keepAlive(lease.id);
  // Two renewals: the one made at once and the first one made by the timer (ttl/3 later).
  const renewalTtls: number[] = [];
  const giveUp = setTimeout(() => keepAlive.close(), WAIT_MS);
  try {
    for await (const renewal of keepAlive) {
      renewalTtls.push(renewal.ttl);
      if (renewalTtls.length >= 2) break;
    }
  } finally {
    clearTimeout(giveUp);
    keepAlive.close();
  }
  await step("keepAlive.done", () => keepAlive.done);
  const once = await step("lease.keepAliveOnce", () => client.lease.keepAliveOnce(lease.id));
  const ttl = await step("lease.timeToLive", () => client.lease.timeToLive(lease.id, { keys: true }));
  const attachedBeforeRevoke = (await step("get attached key", () => client.get(attachedKey))).kv?.valueString;
  await step("lease.revoke", () => client.lease.revoke(lease.id));
  const attachedAfterRevoke = (await step("get attached key after revoke", () => client.get(attachedKey))).kv?.valueString;
  const gone = await step("lease.timeToLive after revoke", () => client.lease.timeToLive(lease.id));
  return {
    grantedTtl: lease.ttl,
    renewalTtls,
    keepAliveOnceTtl: once.ttl,
    timeToLive: { ttl: ttl.ttl, grantedTtl: ttl.grantedTtl, keys: ttl.keys.map((k) => new TextDecoder().decode(k)) },
    attachedBeforeRevoke,
    attachedAfterRevoke,
    ttlAfterRevoke: gone.ttl,
  };
}

async function runScenario(apiUrl: string, protocol: Protocol, ns: string): Promise<ScenarioReport> {
  const client = createClient({ endpoints: [apiUrl], protocol });
  try {
    const put = await step("put", () => client.put(`${ns}greeting`, "héllo, wörld ✓"));
    const overwrite = await step("put with prevKv", () => client.put(`${ns}greeting`, "héllo again", { prevKv: true }));
    const got = await step("get", () => client.get(`${ns}greeting`));
    await step("put range keys", () => Promise.all(["a", "b", "c"].map((k) => client.put(`${ns}range/${k}`, `v-${k}`))));
    await step("put key next to the range", () => client.put(`${ns}rangeX`, "outside"));
    const range = await step("range with prefix", () => client.range({ key: `${ns}range/`, prefix: true }));
    const deleted = await step("delete", () => client.delete(`${ns}range/`, { prefix: true, prevKv: true }));
    const left = await step("range after delete", () => client.range({ key: ns, prefix: true, keysOnly: true }));

    const txn = await step("txn (then)", () =>
      client
        .txn()
        .if(cmp.version(`${ns}lock`).equal(0), cmp.value(`${ns}greeting`).equal("héllo again"))
        .then(op.put(`${ns}lock`, "page"), op.get(`${ns}greeting`))
        .else(op.get(`${ns}lock`))
        .commit(),
    );
    const lockAfter = (await step("get lock", () => client.get(`${ns}lock`))).kv?.valueString;
    const txnElse = await step("txn (else)", () =>
      client.txn().if(cmp.version(`${ns}lock`).equal(0)).then(op.put(`${ns}lock`, "other")).else(op.get(`${ns}lock`)).commit(),
    );

    const watch = await step("watch", () => watchSeesLaterPut(client, ns));
    const lease = await leaseLifecycle(client, ns);
    const status = await step("status", () => client.status());
    const members = await step("memberList", () => client.memberList());

    let emptyKey: ObservedError | undefined;
    try {
      await client.put("", "v");
    } catch (err) {
      emptyKey = observeError(err);
    }

    return {
      put: { revision: put.revision, prevValue: overwrite.prevKv?.valueString },
      get: { value: got.kv?.valueString, modRevision: got.kv?.modRevision },
      range: { keys: range.kvs.map((kv) => kv.keyString), values: range.kvs.map((kv) => kv.valueString), count: range.count, more: range.more },
      delete: { deleted: deleted.deleted, prevKeys: deleted.prevKvs.map((kv) => kv.keyString), keysLeft: left.kvs.map((kv) => kv.keyString) },
      txn: {
        succeeded: txn.succeeded,
        putRevision: txn.succeeded ? txn.responses[0].revision : 0,
        readValue: txn.succeeded ? txn.responses[1].kv?.valueString : undefined,
        lockAfter,
      },
      txnElse: { succeeded: txnElse.succeeded, holder: txnElse.succeeded ? undefined : txnElse.responses[0].kv?.valueString },
      watch,
      lease,
      status: {
        version: status.version,
        memberId: String(status.header.memberId),
        leader: String(status.leader),
        revision: status.header.revision,
        errors: status.errors,
      },
      members: { ids: members.members.map((m) => String(m.id)), clientUrls: members.members.map((m) => m.clientUrls) },
      emptyKey,
    };
  } finally {
    await client.close();
  }
}

async function probeStatus(endpoints: string[], protocol: Protocol, maxAttempts: number): Promise<ObservedError | undefined> {
  const client = createClient({ endpoints, protocol, retry: { maxAttempts }, timeoutMs: WAIT_MS });
  try {
    await client.status();
    return undefined;
  } catch (err) {
    return observeError(err);
  } finally {
    await client.close();
  }
}

const page: SdkPage = { runScenario, probeStatus };
(globalThis as unknown as { sisyphusSdkPage: SdkPage }).sisyphusSdkPage = page;
