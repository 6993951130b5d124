// Crash recovery of a real server process: 16 concurrent writers put over gRPC and record every
// acknowledged put (key, value, revision from the response header); after a few hundred acks the
// process is SIGKILLed with puts in flight and restarted on the same data directory. Every
// acknowledged put must be there with its value at its revision, and a Watch from revision 1 must
// replay the history once, in order, without gaps: every revision from 2 (the first write) to the
// current one is exactly one put, and each acknowledged one is the put that was acknowledged.
// Three cycles on one data directory.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { EventType, type Event } from "../../../gen/sisyphus/kv/v1/types_pb.js";
import type { WatchRequestSchema, WatchResponse } from "../../../gen/sisyphus/kv/v1/watch_pb.js";
import { type Clients, createClients, openTransport, type OpenTransport, type ProtocolVariant } from "./protocols.js";
import { ServerProcess, stopAllServers } from "./server-process.js";
import { RequestStream, StreamReader } from "./streams.js";
import { bytes, prefixEnd, text } from "./suite.js";

const WRITERS = 16;
/** Acks to collect before the kill, per cycle: "a few hundred", different each time. */
const ACKS_BEFORE_KILL = [250, 320, 400];
/** Bound on each writer's puts in one cycle (the kill normally stops them long before). */
const PUTS_PER_WRITER_MAX = 2_000;
const CYCLE_TIMEOUT_MS = 30_000;
const CALL_TIMEOUT_MS = 10_000;
const PREFIX = "crash/";

const GRPC: ProtocolVariant = { name: "gRPC", protocol: "grpc", httpVersion: "2", binary: true, calls: { unary: true, serverStreams: true, bidi: true } };

interface Ack {
  key: string;
  value: string;
  revision: bigint;
}

after(() => stopAllServers());

it("acknowledged puts survive SIGKILL with puts in flight, 3 cycles on one data directory", async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sisyphus-crash-"));
  const acks: Ack[] = [];
  let server: ServerProcess | undefined;
  let connection: OpenTransport | undefined;
  try {
    for (let cycle = 0; cycle <= ACKS_BEFORE_KILL.length; cycle++) {
      server = await ServerProcess.start({ dataDir });
      connection = openTransport(GRPC, server.url);
      const clients = createClients(connection.transport);
      const applied = await verifyAcknowledged(clients, acks, `after ${cycle} crashes (data dir ${dataDir})`);
      if (cycle > 0) t.diagnostic(`after crash ${cycle}: ${applied - acks.length} puts were applied but never acknowledged`);
      if (cycle === ACKS_BEFORE_KILL.length) break;
      const { acked, failedAfterKill } = await writeUntilKilled(clients, server, cycle, ACKS_BEFORE_KILL[cycle]);
      t.diagnostic(`cycle ${cycle}: ${acked.length} puts acknowledged, ${failedAfterKill} failed by the kill`);
      acks.push(...acked);
      connection.close();
      connection = undefined;
    }
  } finally {
    connection?.close();
    await server?.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

/** Runs the writers until `killAfter` acks, kills the server with puts in flight, and waits for every writer to stop. */
async function writeUntilKilled(clients: Clients, server: ServerProcess, cycle: number, killAfter: number): Promise<{ acked: Ack[]; failedAfterKill: number }> {
  const acked: Ack[] = [];
  let killing: Promise<void> | undefined;
  let failedAfterKill = 0;
  const writer = async (w: number): Promise<void> => {
    for (let seq = 0; seq < PUTS_PER_WRITER_MAX && killing === undefined; seq++) {
      const key = `${PREFIX}${cycle}/${String(w).padStart(2, "0")}/${String(seq).padStart(5, "0")}`;
      const value = `c${cycle} w${w} s${seq} ${Math.random().toString(36).slice(2)}`;
      let revision: bigint;
      try {
        const res = await clients.kv.put({ key: bytes(key), value: bytes(value) }, { timeoutMs: CALL_TIMEOUT_MS });
        revision = res.header?.revision ?? 0n;
      } catch (err) {
        if (killing === undefined) throw new Error(`put ${key} failed before the kill: ${ConnectError.from(err).message}`);
        failedAfterKill++;
        return;
      }
      // An ack that arrives after the kill began was still acknowledged: it must survive too.
      acked.push({ key, value, revision });
      if (acked.length >= killAfter && killing === undefined) killing = server.kill();
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cycle ${cycle}: not killed within ${CYCLE_TIMEOUT_MS} ms (${acked.length} acks)`)), CYCLE_TIMEOUT_MS);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w))), timeout]);
  } finally {
    clearTimeout(timer);
  }
  assert.ok(killing, `cycle ${cycle}: the writers stopped before ${killAfter} acks (${acked.length})`);
  await killing;
  return { acked, failedAfterKill };
}

/** Every ack is stored at its revision, and the watch history is gap-free and exactly once. Returns the puts stored. */
async function verifyAcknowledged(clients: Clients, acks: Ack[], when: string): Promise<number> {
  const stored = await clients.kv.range({ key: bytes(PREFIX), rangeEnd: prefixEnd(bytes(PREFIX)) }, { timeoutMs: CALL_TIMEOUT_MS });
  const byKey = new Map(stored.kvs.map((kv) => [text(kv.key), kv]));
  const lost = acks.filter((a) => {
    const kv = byKey.get(a.key);
    return kv === undefined || text(kv.value) !== a.value || kv.modRevision !== a.revision;
  });
  assert.deepEqual(lost.slice(0, 5), [], `${when}: ${lost.length} of ${acks.length} acknowledged puts are missing or differ`);

  const current = stored.header?.revision ?? 0n;
  const history = await watchHistory(clients, when);
  const revisions = history.map((e) => e.kv?.modRevision ?? 0n);
  const expected = Array.from({ length: Number(current - 1n) }, (_, i) => BigInt(i + 2));
  assert.equal(revisions.length, expected.length, `${when}: the watch replayed ${revisions.length} events for revisions 2..${current}`);
  assert.deepEqual(revisions, expected, `${when}: one event per revision, in order, no gaps or duplicates`);
  assert.ok(history.every((e) => e.type === EventType.PUT), `${when}: only puts were made`);
  const byRevision = new Map(history.map((e) => [e.kv?.modRevision ?? 0n, e]));
  for (const ack of acks) {
    const event = byRevision.get(ack.revision);
    assert.deepEqual(
      event === undefined ? undefined : { key: text(event.kv?.key ?? new Uint8Array()), value: text(event.kv?.value ?? new Uint8Array()) },
      { key: ack.key, value: ack.value },
      `${when}: the event at acknowledged revision ${ack.revision}`,
    );
  }
  return stored.kvs.length;
}

/** Every event under PREFIX from revision 1 up to the stream's progress revision. */
async function watchHistory(clients: Clients, when: string): Promise<Event[]> {
  const requests = new RequestStream<MessageInitShape<typeof WatchRequestSchema>>();
  const abort = new AbortController();
  const reader = new StreamReader<WatchResponse>(clients.watch.watch(requests, { signal: abort.signal }), `Watch ${when}`);
  try {
    requests.push({ request: { case: "create", value: { key: bytes(PREFIX), rangeEnd: prefixEnd(bytes(PREFIX)), startRevision: 1n } } });
    const created = await reader.next(CALL_TIMEOUT_MS, "created");
    assert.ok(created.created && !created.canceled, `${when}: watch created (${created.cancelReason})`);
    // The progress response comes once the watcher has caught up with the whole history.
    requests.push({ request: { case: "progress", value: {} } });
    const responses = await reader.nextUntil((r) => r.watchId === 0n && r.events.length === 0, CALL_TIMEOUT_MS, "the progress response");
    for (const r of responses) assert.equal(r.canceled, false, `${when}: watch canceled: ${r.cancelReason}`);
    return responses.flatMap((r) => r.events);
  } finally {
    requests.end();
    abort.abort();
  }
}
