/**
 * Runs nghttp2's h2load against the server's unary gRPC KV methods: a load generator in C whose
 * own cost is small, so its rows show what the server can do apart from any Node client.
 * ensureH2load installs Debian's nghttp2-client when h2load is missing and we are root with
 * apt-get (scripts/ensure-debian-package.mjs, so a fresh machine needs nothing by hand).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { PutRequestSchema, RangeRequestSchema } from "../../gen/sisyphus/kv/v1/kv_pb.js";
import { DebianPackageUnavailableError, ensureDebianPackage } from "./debian-package.js";

const APT_TIMEOUT_MS = 5 * 60 * 1000;

/** The h2load binary, installing nghttp2-client if needed and possible; undefined when it cannot be had (not root, no apt-get). */
export function ensureH2load(): string | undefined {
  try {
    return ensureDebianPackage({ packageName: "nghttp2-client", binary: "h2load", timeoutMs: APT_TIMEOUT_MS, log: (line) => process.stdout.write(`${line}\n`), logPrefix: "h2load" }).path;
  } catch (err) {
    if (err instanceof DebianPackageUnavailableError && (err.reason === "not-root" || err.reason === "no-apt-get")) return undefined;
    throw err;
  }
}

export interface H2loadResult {
  ops: number;
  errors: number;
  seconds: number;
  meanUs: number;
  maxUs: number;
}

function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** One h2load run: `concurrency` calls in flight as connections x streams per connection. */
export async function runH2load(binary: string, url: string, op: "put" | "get", concurrency: number, seconds: number, valueBytes: number): Promise<H2loadResult> {
  const key = Buffer.from("get/00000001");
  const body =
    op === "put"
      ? toBinary(PutRequestSchema, create(PutRequestSchema, { key, value: Buffer.alloc(valueBytes, 0x61) }))
      : toBinary(RangeRequestSchema, create(RangeRequestSchema, { key }));
  const bodyFile = path.join(os.tmpdir(), `sisyphus-h2load-${process.pid}-${op}.bin`);
  fs.writeFileSync(bodyFile, grpcFrame(body));
  const connections = Math.min(concurrency, concurrency >= 64 ? 8 : concurrency >= 16 ? 4 : 1);
  const streams = Math.max(1, Math.round(concurrency / connections));
  const method = op === "put" ? "Put" : "Range";
  const args = [
    "-D", String(seconds),
    "-c", String(connections),
    "-m", String(streams),
    "-d", bodyFile,
    "-H", "content-type: application/grpc",
    "-H", "te: trailers",
    `${url}/sisyphus.kv.v1.KVService/${method}`,
  ];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (c: Buffer) => (text += c.toString()));
    child.stderr.on("data", (c: Buffer) => (text += c.toString()));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`h2load exited ${code}:\n${text}`))));
  });
  fs.rmSync(bodyFile, { force: true });
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(output);
  const requests = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(output);
  const time = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(output);
  if (finished === null || requests === null || time === null) throw new Error(`cannot read h2load's output:\n${output}`);
  const toUs = (value: string, unit: string): number => Number(value) * (unit === "s" ? 1e6 : unit === "ms" ? 1e3 : 1);
  return {
    ops: Number(requests[3]),
    errors: Number(requests[4]) + Number(requests[5]),
    seconds: finished[2] === "ms" ? Number(finished[1]) / 1000 : Number(finished[1]),
    meanUs: toUs(time[5], time[6]),
    maxUs: toUs(time[3], time[4]),
  };
}
