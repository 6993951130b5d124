/**
 * Replays every ghz config (loadtest/ghz/*.json) and every vegeta target file
 * (loadtest/vegeta/*.txt) against a real single-member server, so none of them can rot: ghz
 * and vegeta cannot be installed here, so the configs go through @grpc/grpc-js with
 * proto-loader (resolving their proto paths and call names as ghz does) and the targets through
 * fetch (HTTP/1.1) and node:http2 (h2c), as `vegeta attack` and `vegeta attack -h2c` send them.
 *
 * Files are replayed in name order (put before range) and every write is remembered, so a read
 * of a key written earlier in the test must return the value written.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http2 from "node:http2";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ServerProcess, stopAllServers } from "../../server/test/e2e/server-process.js";
import { repoRoot } from "../src/repo-paths.js";
import { SeededRandom } from "../src/seeded-random.js";
import { GhzCall, readGhzConfig } from "./ghz-config.js";
import { GhzTemplate } from "./ghz-template.js";
import { readVegetaTargets, type VegetaTarget } from "./vegeta-targets.js";

const REPO = repoRoot();
const DEFAULT_HOST = "127.0.0.1:7379";
/** Calls per ghz config; each renders its templates anew. */
const GHZ_CALLS = 5;
/** The same seed for every config, so range.json's random keys are the ones put.json wrote. */
const GHZ_SEED = 7;

const filesIn = (dir: string, ext: string): string[] =>
  fs
    .readdirSync(path.join(REPO, dir))
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => path.join(dir, f));

interface KvJson {
  key: string;
  value?: string;
}

describe("loadtest ghz configs and vegeta targets replayed against a server", () => {
  let server: ServerProcess;
  /** base64 key -> base64 value of every write the test made. */
  const written = new Map<string, string>();

  before(async () => {
    server = await ServerProcess.start();
  });
  after(async () => {
    // SIGKILL, not SIGTERM: fetch keeps its HTTP/1.1 connection alive, and a graceful stop
    // waits for idle keep-alive connections up to the server's drain timeout (10 s).
    await server.kill();
    server.removeData();
    await stopAllServers();
  });

  const ghzFiles = filesIn("loadtest/ghz", ".json");
  const vegetaFiles = filesIn("loadtest/vegeta", ".txt");
  it("has ghz configs for Put and Range and vegeta targets for Put and Range", () => {
    assert.deepEqual(ghzFiles.map((f) => path.basename(f)), ["put.json", "range.json"]);
    assert.deepEqual(vegetaFiles.map((f) => path.basename(f)), ["put.txt", "range.txt"]);
  });

  for (const file of ghzFiles) {
    it(`ghz ${file}: its call succeeds through grpc-js + proto-loader`, async () => {
      const config = readGhzConfig(path.join(REPO, file));
      assert.equal(config.host, DEFAULT_HOST, `${file}: host should be the README's default`);
      assert.equal(config.insecure, true, `${file}: the server speaks h2c, so ghz needs insecure`);
      const call = new GhzCall(file, config, REPO, new URL(server.url).host);
      const template = new GhzTemplate(new SeededRandom(GHZ_SEED));
      try {
        for (let n = 0; n < GHZ_CALLS; n++) {
          const { request, response } = await call.send(template, n);
          const res = response as { header?: { revision?: string }; kvs?: { key: Buffer; value: Buffer }[] };
          assert.ok(Number(res.header?.revision) > 0, `${file} call ${n}: no header.revision in ${JSON.stringify(res)}`);
          const key = String(request.key);
          if (config.call.endsWith("Put")) {
            assert.equal(typeof request.value, "string", `${file}: data.value must be base64`);
            written.set(key, String(request.value));
          } else {
            assert.ok(written.has(key), `${file} reads ${Buffer.from(key, "base64").toString()}, which no earlier file wrote (request ${JSON.stringify(request)})`);
            assert.equal(res.kvs?.length, 1, `${file}: expected one key-value for ${key}, got ${JSON.stringify(res.kvs)}`);
            assert.equal(res.kvs[0].value.toString("base64"), written.get(key));
          }
        }
      } finally {
        call.close();
      }
    });
  }

  const checkResponse = (file: string, target: VegetaTarget, status: number, contentType: string | undefined, body: string): void => {
    assert.equal(status, 200, `${file} ${target.url}: status ${status}, body ${body}`);
    assert.match(contentType ?? "", /^application\/json/, `${file}: content-type ${contentType}`);
    const json = JSON.parse(body) as { header?: { revision?: string }; kvs?: KvJson[] };
    assert.ok(Number(json.header?.revision) > 0, `${file}: no header.revision in ${body}`);
    const request = JSON.parse(target.body.toString()) as KvJson;
    if (target.url.endsWith("/Put")) {
      assert.equal(typeof request.value, "string", `${file}: the body's value must be base64`);
      written.set(request.key, String(request.value));
    } else {
      assert.ok(written.has(request.key), `${file} reads a key no earlier file wrote: ${body}`);
      assert.deepEqual(json.kvs?.map((kv) => [kv.key, kv.value]), [[request.key, written.get(request.key)]], `${file}: ${body}`);
    }
  };

  for (const file of vegetaFiles) {
    it(`vegeta ${file}: every target answers 200 with JSON over HTTP/1.1 (fetch) and h2c (node:http2)`, async () => {
      const targets = readVegetaTargets(path.join(REPO, file), REPO);
      assert.ok(targets.length > 0, `${file} has no targets`);
      for (const target of targets) {
        const url = new URL(target.url);
        assert.equal(url.host, DEFAULT_HOST, `${file}: targets should use the README's default address`);
        assert.equal(target.method, "POST");
        assert.equal(target.headers["Content-Type"], "application/json");
        assert.ok(target.bodyFile !== undefined, `${file}: a Connect call needs a body`);
        const live = new URL(url.pathname, server.url);

        const res = await fetch(live, { method: target.method, headers: target.headers, body: target.body });
        checkResponse(file, target, res.status, res.headers.get("content-type") ?? undefined, await res.text());

        const session = http2.connect(server.url);
        try {
          const { status, contentType, body } = await new Promise<{ status: number; contentType: string | undefined; body: string }>((resolve, reject) => {
            const stream = session.request({ ":method": target.method, ":path": url.pathname, ...target.headers });
            let status = 0;
            let contentType: string | undefined;
            const chunks: Buffer[] = [];
            stream.on("response", (headers) => {
              status = Number(headers[":status"]);
              contentType = headers["content-type"];
            });
            stream.on("data", (chunk: Buffer) => chunks.push(chunk));
            stream.on("end", () => resolve({ status, contentType, body: Buffer.concat(chunks).toString() }));
            stream.on("error", reject);
            stream.setTimeout(10_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
            stream.end(target.body);
          });
          checkResponse(file, target, status, contentType, body);
        } finally {
          session.close();
        }
      }
    });
  }
});
