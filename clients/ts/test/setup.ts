/** A client on a fresh fake server, for tests. */
import { createClient, type Client, type ClientOptions } from "../src/index.js";
import { FakeServer } from "./fake-server.js";

export const FAKE_ENDPOINT = "http://fake.invalid:7379";

/** A fake server and a Node client wired to it through createRouterTransport. Close the client in a finally. */
export function fakeClient(options: Partial<ClientOptions> = {}): { fake: FakeServer; client: Client } {
  const fake = new FakeServer();
  const client = createClient({ endpoints: [FAKE_ENDPOINT], transport: fake.transport(), retry: { initialBackoffMs: 1, maxBackoffMs: 5 }, ...options });
  return { fake, client };
}

/** Both ways of making KV calls, for tests that must hold for each. */
export const KV_MODES = [
  { name: "pipeline", pipeline: true },
  { name: "unary", pipeline: false },
] as const;
