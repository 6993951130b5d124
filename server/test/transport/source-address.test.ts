// Where a member's connections to its peers come from: with sourceAddress set to a specific IP
// address they leave from it (Linux routes all of 127.0.0.0/8 to the loopback interface, so
// 127.0.0.7 can dial 127.0.0.1); with a wildcard or a host name the OS picks, as before.
import assert from "node:assert/strict";
import net from "node:net";
import { after, describe, it } from "node:test";
import { RaftTransport } from "../../src/transport/index.js";
import { CLUSTER_ID, Recorder, TEST_LIMITS, WAIT_MS } from "./transport-harness.js";

const SELF = 1n;
const PEER = 2n;

const transports: RaftTransport[] = [];
const servers: net.Server[] = [];
after(async () => {
  for (const t of transports) t.close();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

/** The remote address of the first connection a transport with `sourceAddress` makes to a plain TCP listener on 127.0.0.1. */
async function firstConnectionFrom(sourceAddress: string | undefined): Promise<string | undefined> {
  let resolveArrival: (address: string | undefined) => void = () => {};
  const arrived = new Promise<string | undefined>((resolve) => (resolveArrival = resolve));
  const server = net.createServer((socket) => {
    resolveArrival(socket.remoteAddress);
    socket.destroy();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const recorder = new Recorder();
  const transport = new RaftTransport({
    memberId: SELF,
    clusterId: CLUSTER_ID,
    peers: new Map([[PEER, `http://127.0.0.1:${port}`]]),
    handlers: recorder,
    logger: recorder.logger,
    limits: TEST_LIMITS,
    sourceAddress,
  });
  transports.push(transport);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no connection within ${WAIT_MS} ms (sourceAddress ${sourceAddress}, port ${port})`)), WAIT_MS);
  });
  try {
    return await Promise.race([arrived, timeout]);
  } finally {
    clearTimeout(timer);
    transport.close();
  }
}

describe("the source address of peer connections", () => {
  it("is the given specific IP address", async () => {
    assert.equal(await firstConnectionFrom("127.0.0.7"), "127.0.0.7");
  });

  it("is left to the OS for a wildcard, a host name or none", async () => {
    for (const source of ["0.0.0.0", "localhost", undefined]) {
      assert.equal(await firstConnectionFrom(source), "127.0.0.1", `sourceAddress ${source}`);
    }
  });
});
