/**
 * Runs a compiled test child script to its end for crash tests: its stdout read line by line
 * (each line handed to `onLine` with a way to SIGKILL the child, e.g. after enough
 * acknowledgements), its stderr kept for failure messages, a deadline that fails the test, and
 * the child killed on the way out whatever happens.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import readline from "node:readline";

export interface ChildRun {
  /** Every stdout line, in order. */
  lines: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

export async function runChildScript(
  script: string,
  args: readonly string[],
  deadlineMs: number,
  onLine: (line: string, kill: () => void) => void = () => {},
): Promise<ChildRun> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const result: ChildRun = { lines: [], signal: null, code: null, stderr: "" };
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (result.stderr += chunk));
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      result.code = code;
      result.signal = signal;
      resolve();
    }),
  );
  const kill = (): void => {
    child.kill("SIGKILL");
  };
  const outputEnded = new Promise<void>((resolve) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      result.lines.push(line);
      onLine(line, kill);
    });
    lines.once("close", resolve);
  });
  let deadline: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<"timeout">((resolve) => (deadline = setTimeout(() => resolve("timeout"), deadlineMs)));
    const outcome = await Promise.race([Promise.all([exited, outputEnded]), timedOut]);
    assert.notEqual(outcome, "timeout", `child ${[script, ...args].join(" ")} did not finish within ${deadlineMs} ms (${result.lines.length} lines); stderr: ${result.stderr}`);
    return result;
  } finally {
    clearTimeout(deadline);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
