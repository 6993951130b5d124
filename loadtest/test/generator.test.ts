/**
 * The load generator end to end against a real single-member server: runLoad in-process for
 * about a second in the closed loop and in the open loop (and a request-capped txn run on the
 * SDK pipeline), checking the report's numbers agree with each other; and the command line:
 * --help lists every flag with its default, bad flags exit 2 with one line, --out writes JSON.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ServerProcess, stopAllServers } from "../../server/test/e2e/server-process.js";
import { FLAGS } from "../src/flags.js";
import { DEFAULT_CONFIG, type LoadConfig } from "../src/load-config.js";
import { type LoadResult, runLoad } from "../src/run-load.js";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/main.js");

function checkConsistent(r: LoadResult): void {
  const context = JSON.stringify({ ...r, timeline: r.timeline.length > 20 ? "..." : r.timeline });
  assert.ok(r.ops > 0, `no successful requests: ${context}`);
  assert.equal(r.errors, 0, `errors: ${JSON.stringify(r.errors_by_code)}`);
  assert.deepEqual(r.errors_by_code, {});
  assert.equal(
    r.timeline.reduce((sum, s) => sum + s.ops, 0),
    r.ops,
    `timeline ops do not add up to the total: ${context}`,
  );
  assert.deepEqual(
    r.timeline.map((s) => s.second),
    r.timeline.map((_, i) => i),
  );
  assert.ok(Math.abs(r.throughput_ops_s - r.ops / r.elapsed_s) < 1e-6 * r.throughput_ops_s, context);
  const l = r.latency_ms;
  assert.ok(0 <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p99_9 && l.p99_9 <= l.max && l.max > 0, `latency percentiles out of order: ${JSON.stringify(l)}`);
  assert.ok(l.mean > 0 && l.mean <= l.max, JSON.stringify(l));
  assert.ok(r.generator_cpu.user_ms > 0 && r.generator_cpu.system_ms >= 0 && r.generator_cpu.utilization > 0, JSON.stringify(r.generator_cpu));
}

describe("load generator against a server", () => {
  let server: ServerProcess;
  let base: LoadConfig;

  before(async () => {
    server = await ServerProcess.start();
    base = { ...DEFAULT_CONFIG, endpoints: [server.url], warmupMs: 0, durationMs: 1000 };
  });
  after(async () => {
    await server.stop();
    server.removeData();
    await stopAllServers();
  });

  it("closed loop: mixed zipfian workload over grpc-js, preloaded keys", async () => {
    const r = await runLoad({ ...base, workload: "mixed", distribution: "zipfian", keys: 200, preload: true, clients: 8, protocol: "grpc" });
    checkConsistent(r);
    assert.equal(r.config.mode, "closed-loop");
    assert.equal(r.config.driver, "grpc-js");
    assert.ok(r.elapsed_s >= 1 && r.elapsed_s < 5, `elapsed ${r.elapsed_s} s`);
  });

  it("open loop: 200 puts/s over Connect for 1 s sends 200 requests", async () => {
    const r = await runLoad({ ...base, rate: 200, protocol: "connect" });
    checkConsistent(r);
    assert.equal(r.config.mode, "open-loop");
    assert.equal(r.config.driver, "sdk-connect");
    assert.equal(r.requests_sent, 200);
    assert.equal(r.ops, 200);
  });

  it("a request cap stops the run: 150 txns on the SDK pipeline, spread over two endpoint entries", async () => {
    const r = await runLoad({ ...base, workload: "txn", client: "sdk-pipeline", requests: 150, durationMs: 10_000, endpoints: [server.url, server.url], spread: true });
    checkConsistent(r);
    assert.equal(r.ops, 150);
    assert.equal(r.config.connections, 2);
  });
});

describe("loadtest command line", () => {
  const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const result = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", timeout: 20_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it("--help lists every flag with its default", () => {
    const { status, stdout } = cli(["--help"]);
    assert.equal(status, 0);
    for (const flag of FLAGS) {
      const line = stdout.split("\n").find((l) => l.trimStart().startsWith(`--${flag.name} `) || l.trim() === `--${flag.name}` || l.trimStart().startsWith(`--${flag.name}  `));
      assert.ok(line !== undefined, `--help does not list --${flag.name}:\n${stdout}`);
      if (flag.default !== "") assert.ok(line.includes(`(default: ${flag.default})`), `--${flag.name} shows no default: ${line}`);
    }
  });

  for (const [args, message] of [
    [["--bogus"], /Unknown option '--bogus'/],
    [["--rate", "fast"], /--rate: expected a number/],
    [["--workload", "scan"], /--workload: must be put, get, mixed or txn/],
    [["--duration", "ten"], /--duration: expected a duration/],
    [["--zipf-s", "0"], /--zipf-s: must be > 0/],
    [["--client", "curl"], /--client: unknown client curl/],
    [["--endpoints", "localhost:7379"], /--endpoints: "localhost:7379" is not an http/],
  ] as const) {
    it(`${args.join(" ")}: one line on stderr, exit code 2`, () => {
      const { status, stdout, stderr } = cli([...args]);
      assert.equal(status, 2, `exit code ${status}, stderr ${stderr}`);
      assert.equal(stdout, "");
      assert.equal(stderr.trimEnd().split("\n").length, 1, `more than one line: ${stderr}`);
      assert.match(stderr, message);
    });
  }

  it("--out writes the JSON report", async (t) => {
    const server = await ServerProcess.start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loadtest-out-"));
    t.after(async () => {
      await server.stop();
      server.removeData();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const out = path.join(dir, "run.json");
    const { status, stdout, stderr } = cli(["--endpoints", server.url, "--duration", "300ms", "--warmup", "0", "--clients", "4", "--quiet", "--out", out]);
    assert.equal(status, 0, stderr);
    assert.match(stdout, /throughput/);
    const report = JSON.parse(fs.readFileSync(out, "utf8")) as LoadResult;
    for (const field of ["config", "throughput_ops_s", "latency_ms", "errors_by_code", "timeline", "generator_cpu"]) assert.ok(field in report, `no ${field} in ${out}`);
    assert.deepEqual(Object.keys(report.latency_ms).sort(), ["max", "mean", "p50", "p90", "p99", "p99_9"]);
    assert.deepEqual(Object.keys(report.generator_cpu).sort(), ["system_ms", "user_ms", "utilization"]);
    assert.equal(report.config.durationMs, 300);
    checkConsistent(report);
  });
});
