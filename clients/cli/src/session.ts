/** The CommandContext of one run: the options, the output streams, and the clients it opened. */
import { createClient, type Client } from "@sisyphusdb/client";
import type { CommandContext, GlobalOptions } from "./command.js";
import { Output, type Io } from "./io.js";

export class Session implements CommandContext {
  readonly out: Output;
  readonly err: Output;
  private shared: Client | undefined;
  private readonly opened: Client[] = [];

  constructor(
    readonly io: Io,
    readonly options: GlobalOptions,
  ) {
    this.out = new Output(io.stdout);
    this.err = new Output(io.stderr);
  }

  client(): Client {
    this.shared ??= this.open(this.options.endpoints);
    return this.shared;
  }

  clientFor(endpoint: string | readonly string[]): Client {
    return this.open(typeof endpoint === "string" ? [endpoint] : [...endpoint]);
  }

  /** Closes every client the command opened (their streams and connections), so the process can exit. */
  async close(): Promise<void> {
    await Promise.all(this.opened.map((c) => c.close()));
    this.opened.length = 0;
    this.shared = undefined;
  }

  private open(endpoints: string[]): Client {
    const client = createClient({ endpoints, protocol: this.options.protocol, timeoutMs: this.options.commandTimeoutMs });
    this.opened.push(client);
    return client;
  }
}
