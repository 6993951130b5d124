/**
 * Processes for the CLI's end-to-end tests: real SisyphusDB servers (dist/server/src/main.js,
 * built by the root `npm run build`, or the file SISYPHUS_TEST_SERVER_MAIN names) on ephemeral
 * ports, and sisyphusctl runs as child processes (bin/sisyphusctl.js beside the compiled test's
 * dist/ directory). Every process started here is killed by PID when the test ends, and every
 * wait has a deadline.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** clients/cli (this file runs as clients/cli/dist/test/cli-process.js). */
const CLI_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const REPO_ROOT = path.resolve(CLI_ROOT, "../..");
export const CLI_BIN = path.join(CLI_ROOT, "bin/sisyphusctl.js");
/** The server's entry point; SISYPHUS_TEST_SERVER_MAIN points the tests at another build of it. */
const SERVER_MAIN = process.env.SISYPHUS_TEST_SERVER_MAIN ?? path.join(REPO_ROOT, "dist/server/src/main.js");

const SERVER_START_TIMEOUT_MS = 20_000;
/** The longest one CLI run may take before the test kills it and fails. */
export const CLI_RUN_TIMEOUT_MS = 20_000;

const live = new Set<ChildProcess>();

// If the test process exits without its after() hooks, kill what it started on the way out.
process.once("exit", () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
}

export interface TestServer {
  url: string;
  dataDir: string;
  pid: number;
  /** Everything the server printed so far (stdout and stderr), for failure messages. */
  output(): string;
  /** Resolves when the process has exited (by itself or killed). */
  exited: Promise<void>;
  /** Kills the server (SIGKILL) and removes its data directory. */
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** The data directory (default: a fresh temporary one). */
  dataDir?: string;
  /** --listen-peer-url (default: http://127.0.0.1:0). A cluster member's must be known up front: see freePort. */
  listenPeerUrl?: string;
  /** More flags, e.g. --name and --initial-cluster for a cluster member. */
  args?: readonly string[];
}

/** Starts a server on 127.0.0.1 client port 0 and reads its URL from the "member started" log line. */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "sisyphusctl-test-"));
  const args = [
    SERVER_MAIN,
    "--data-dir",
    dataDir,
    "--listen-client-url",
    "http://127.0.0.1:0",
    "--listen-peer-url",
    options.listenPeerUrl ?? "http://127.0.0.1:0",
    "--log-level",
    "info",
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    await exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  let output = "";
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start within ${SERVER_START_TIMEOUT_MS} ms (data dir ${dataDir}):\n${output}`)), SERVER_START_TIMEOUT_MS);
      const onStarted = (): void => {
        // Whole lines only: a chunk may end inside the JSON of the line looked for.
        for (const line of output.split("\n").slice(0, -1)) {
          if (!line.includes('"member started"')) continue;
          clearTimeout(timer);
          child.stdout?.off("data", onStarted);
          child.stderr?.off("data", onStarted);
          resolve((JSON.parse(line) as { clientUrl: string }).clientUrl);
          return;
        }
      };
      child.stdout?.on("data", onStarted);
      child.stderr?.on("data", onStarted);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited (code ${code}, signal ${signal}) before starting:\n${output}`));
      });
    });
    if (child.pid === undefined) throw new Error("server process has no pid");
    return { url, dataDir, pid: child.pid, output: () => output, exited, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago: the OS handed it out and it was closed again. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A URL where nothing listens. */
export async function deadEndpoint(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The command line, for failure messages. */
  command: string;
}

export interface CliRun {
  child: ChildProcess;
  /** Everything printed on stdout so far. */
  stdout(): string;
  /** Resolves when stdout contains `text`; rejects after `timeoutMs` or when the process exits first. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  /** The outcome, once the process has exited (killed after CLI_RUN_TIMEOUT_MS). */
  result: Promise<CliResult>;
}

/** Starts `sisyphusctl <args>`; `stdin` is written and closed (no stdin: closed at once). */
export function startCli(args: readonly string[], options: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): CliRun {
  const command = `sisyphusctl ${args.join(" ")}`;
  const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...options.env } });
  track(child);
  let stdout = "";
  let stderr = "";
  let closed = false;
  child.once("close", () => (closed = true));
  const stdoutListeners = new Set<() => void>();
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const listener of stdoutListeners) listener();
  });
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin?.end(options.stdin ?? "");
  const result = new Promise<CliResult>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), CLI_RUN_TIMEOUT_MS);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, command });
    });
  });
  const waitForOutput = (text: string, timeoutMs = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!stdout.includes(text)) return;
        finish();
        resolve();
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${command}: ${JSON.stringify(text)} not printed within ${timeoutMs} ms; stdout so far:\n${stdout}\nstderr:\n${stderr}`));
      }, timeoutMs);
      const onExit = (): void => {
        finish();
        if (stdout.includes(text)) resolve();
        else reject(new Error(`${command} exited before printing ${JSON.stringify(text)}; stdout:\n${stdout}\nstderr:\n${stderr}`));
      };
      const finish = (): void => {
        clearTimeout(timer);
        stdoutListeners.delete(check);
        child.off("close", onExit);
      };
      if (closed) {
        onExit();
        return;
      }
      stdoutListeners.add(check);
      child.once("close", onExit);
      check();
    });
  return { child, stdout: () => stdout, waitForOutput, result };
}

/** Runs `sisyphusctl <args>` to the end. */
export function runCli(args: readonly string[], options: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return startCli(args, options).result;
}

/** A run's command line, exit and output, for assertion messages. */
export function describeRun(r: CliResult): string {
  return `${r.command}\nexit ${r.code} (signal ${r.signal})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** Asserts exit code 0 and an empty stderr; returns stdout. */
export function succeeded(r: CliResult): string {
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(r.stderr, "", describeRun(r));
  return r.stdout;
}

/** Asserts the exit code and that stderr is one "Error: ..." line (plus the usage for usage errors), never a stack trace. */
export function failed(r: CliResult, code: 1 | 2, errorLine: string | RegExp): void {
  assert.equal(r.code, code, describeRun(r));
  const [first] = r.stderr.split("\n");
  if (typeof errorLine === "string") assert.equal(first, errorLine, describeRun(r));
  else assert.match(first, errorLine, describeRun(r));
  assert.doesNotMatch(r.stderr, /^\s+at /m, `stack trace printed:\n${describeRun(r)}`);
  if (code === 2) assert.match(r.stderr, /sisyphusctl/, `no usage hint:\n${describeRun(r)}`);
}
