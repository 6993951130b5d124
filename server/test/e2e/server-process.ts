/**
 * Starts a real SisyphusDB server process (dist/server/src/main.js) for end-to-end tests: on
 * 127.0.0.1 with an ephemeral port, a fresh temporary data directory unless one is given, and
 * the URL read back from the "member started" log line. Every process started here is killed
 * by PID when the test ends (stopAllServers in an after() hook), also when the test fails.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/main.js");
const STARTUP_TIMEOUT_MS = 20_000;
const live = new Set<ServerProcess>();

// A test process that exits without its after() hooks (an uncaught error, a runner that stops
// early) must not leave servers behind: kill what is left, synchronously, on the way out.
process.once("exit", () => {
  for (const server of live) {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL");
  }
});

export interface ServerOptions {
  dataDir?: string;
  /** Extra flags, e.g. ["--max-request-bytes", "1024"]. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

export class ServerProcess {
  /** Everything the process wrote (stdout and stderr), for failure messages. */
  output = "";
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly url: string,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  static async start(options: ServerOptions = {}): Promise<ServerProcess> {
    const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "sisyphus-e2e-"));
    const args = [MAIN, "--data-dir", dataDir, "--listen-client-url", "http://127.0.0.1:0", "--listen-peer-url", "http://127.0.0.1:0", "--log-level", "info", ...(options.args ?? [])];
    const child = spawn(process.execPath, args, { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start within ${STARTUP_TIMEOUT_MS} ms (data dir ${dataDir}):\n${output}`)), STARTUP_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        for (const line of output.split("\n")) {
          if (!line.includes('"member started"')) continue;
          clearTimeout(timer);
          resolve((JSON.parse(line) as { clientUrl: string }).clientUrl);
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited (code ${code}, signal ${signal}) before starting (data dir ${dataDir}):\n${output}`));
      });
    }).catch((err: unknown) => {
      child.kill("SIGKILL");
      throw err;
    });
    const server = new ServerProcess(child, dataDir, url);
    server.output = output;
    child.stdout?.on("data", (chunk: Buffer) => (server.output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (server.output += chunk.toString()));
    live.add(server);
    return server;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error("server process has no pid");
    return this.child.pid;
  }

  /** Sends SIGKILL and waits for the process to be gone. */
  async kill(): Promise<void> {
    live.delete(this);
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, "SIGKILL");
    await this.exited;
  }

  /** Sends SIGTERM and waits for a clean exit; returns the exit code. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    live.delete(this);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    process.kill(this.pid, "SIGTERM");
    const timer = setTimeout(() => process.kill(this.pid, "SIGKILL"), timeoutMs);
    const { code } = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** Removes the data directory (after the process has stopped). */
  removeData(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Kills every server still running; for after() hooks. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...live].map((s) => s.kill()));
}
