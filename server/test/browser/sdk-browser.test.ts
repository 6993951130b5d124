/**
 * The TypeScript SDK in a real browser: headless Chromium (Debian's, installed on demand by
 * scripts/ensure-chromium.mjs, driven by playwright-core) loads a page from one origin whose
 * script, bundled by esbuild with the "browser" export condition, calls a real SisyphusDB server
 * on another origin through the SDK's connect-web entry, over Connect and over gRPC-Web: unary
 * calls, a watch (Subscribe server stream), lease keep-alives (KeepAliveOnce on a timer), errors.
 * The server allows the page's origin with --cors-allowed-origins; a server started without it
 * must be unreachable from the page.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import type { Protocol } from "@sisyphusdb/client";
import { ServerProcess, stopAllServers } from "../e2e/server-process.js";
import { bundlePage, type PageBundle } from "./page-bundle.js";
import type { ObservedError, ScenarioReport, SdkPage } from "./sdk-page.js";
import { serveStaticSite, type StaticSite } from "./static-site.js";

type EnsureChromiumModule = typeof import("../../../scripts/ensure-chromium.mjs");
type ChromiumBinary = Awaited<ReturnType<EnsureChromiumModule["ensureChromium"]>>;

// From dist/server/test/browser back to the repository root (the script is not compiled).
const ENSURE_CHROMIUM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../scripts/ensure-chromium.mjs");
/** The install of Chromium (first run on a fresh machine) is bounded by this; the rest is fast. */
const INSTALL_TIMEOUT_MS = 10 * 60_000;
const SETUP_TIMEOUT_MS = INSTALL_TIMEOUT_MS + 60_000;
const TEST_TIMEOUT_MS = 60_000;
const PAGE_READY_TIMEOUT_MS = 10_000;
const PROTOCOLS: Protocol[] = ["connect", "grpc-web"];

/** The content type of the SDK's unary requests per protocol (binary Protobuf). */
const UNARY_CONTENT_TYPE: Record<Protocol, string> = {
  connect: "application/proto",
  "grpc-web": "application/grpc-web+proto",
  grpc: "application/grpc+proto",
};

interface ApiRequest {
  method: string;
  path: string;
  contentType: string;
}

describe("the TypeScript SDK in a real browser (Chromium, connect-web)", () => {
  let chromiumBinary: ChromiumBinary;
  let bundle: PageBundle;
  let site: StaticSite | undefined;
  let api: ServerProcess;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleMessages: string[] = [];
  const apiRequests: ApiRequest[] = [];

  before(
    async () => {
      const { ensureChromium } = (await import(pathToFileURL(ENSURE_CHROMIUM).href)) as EnsureChromiumModule;
      chromiumBinary = await ensureChromium({ timeoutMs: INSTALL_TIMEOUT_MS, log: (line) => process.stderr.write(`${line}\n`) });
      bundle = await bundlePage();
      site = await serveStaticSite(bundle.code);
      api = await ServerProcess.start({ args: ["--cors-allowed-origins", site.origin] });
      browser = await chromium.launch({
        executablePath: chromiumBinary.executablePath,
        // Chromium's sandbox refuses to run as root (CI and the dev machines run tests as root).
        args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
        timeout: TEST_TIMEOUT_MS,
      });
      page = await browser.newPage();
      page.on("pageerror", (err) => pageErrors.push(err.message));
      page.on("console", (msg) => consoleMessages.push(`${msg.type()}: ${msg.text()}`));
      page.on("request", (req) => {
        const url = new URL(req.url());
        if (url.origin !== api.url) return;
        apiRequests.push({ method: req.method(), path: url.pathname, contentType: req.headers()["content-type"] ?? "" });
      });
      await page.goto(`${site.origin}/`);
      await page.waitForFunction(() => "sisyphusSdkPage" in globalThis, undefined, { timeout: PAGE_READY_TIMEOUT_MS }).catch((err: unknown) => {
        throw new Error(`the page script did not load: ${String(err)}\npage errors: ${pageErrors.join("\n")}\nconsole: ${consoleMessages.join("\n")}`);
      });
    },
    { timeout: SETUP_TIMEOUT_MS },
  );

  after(async () => {
    await browser?.close();
    await site?.close();
    await stopAllServers();
  });

  /** What the page and the server said, for failure messages. */
  function context(): string {
    return `\npage errors: ${JSON.stringify(pageErrors)}\nconsole: ${JSON.stringify(consoleMessages)}\nserver output (tail):\n${api.output.slice(-2_000)}`;
  }

  it("the page bundle resolves the SDK's browser entry: no Node entry, connect-node or node: module", { timeout: TEST_TIMEOUT_MS }, (t) => {
    const installed = chromiumBinary.installedMs === undefined ? "already installed" : `installed in ${(chromiumBinary.installedMs / 1000).toFixed(1)} s`;
    t.diagnostic(`chromium: ${chromiumBinary.executablePath} (${chromiumBinary.version}), ${installed}`);
    const sdkInputs = bundle.inputs.filter((input) => input.includes("clients/ts/dist/clients/ts/src/"));
    assert.ok(
      sdkInputs.some((input) => input.endsWith("/index.browser.js")),
      `the bundle should contain the SDK's index.browser.js; SDK files bundled: ${JSON.stringify(sdkInputs)}`,
    );
    assert.ok(
      bundle.inputs.some((input) => input.includes("@connectrpc/connect-web/")),
      `the bundle should contain @connectrpc/connect-web; files bundled: ${JSON.stringify(bundle.inputs)}`,
    );
    // The SDK's Node entry (index.js) and its node:crypto digest (sha256-node.js) are its only Node-only files.
    const nodeOnly = bundle.inputs.filter(
      (input) => input.startsWith("node:") || input.includes("connect-node") || /\/src\/(index|sha256-node)\.js$/.test(input),
    );
    assert.deepEqual(nodeOnly, [], "Node-only code got into the browser bundle");
  });

  for (const protocol of PROTOCOLS) {
    it(`${protocol}: put/get, range, delete, txn, watch, leases, status, members and errors from the page`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const ns = `browser/${protocol}/`;
      apiRequests.length = 0;
      const report: ScenarioReport = await page
        .evaluate(([url, p, n]) => (globalThis as unknown as { sisyphusSdkPage: SdkPage }).sisyphusSdkPage.runScenario(url, p, n), [api.url, protocol, ns] as const)
        .catch((err: unknown) => {
          throw new Error(`the scenario failed in the page: ${err instanceof Error ? err.message : String(err)}${context()}`);
        });
      const show = `\nreport: ${JSON.stringify(report, null, 1)}`;

      assert.equal(report.put.prevValue, "héllo, wörld ✓", `put with prevKv should return the UTF-8 string put before${show}`);
      assert.equal(report.get.value, "héllo again", `get should return the last value${show}`);
      assert.ok(report.put.revision > 0 && (report.get.modRevision ?? 0) > report.put.revision, `revisions should grow${show}`);

      assert.deepEqual(
        report.range,
        { keys: [`${ns}range/a`, `${ns}range/b`, `${ns}range/c`], values: ["v-a", "v-b", "v-c"], count: 3, more: false },
        `range with prefix should return exactly the three range/ keys${show}`,
      );
      assert.deepEqual(
        report.delete,
        { deleted: 3, prevKeys: [`${ns}range/a`, `${ns}range/b`, `${ns}range/c`], keysLeft: [`${ns}greeting`, `${ns}rangeX`] },
        `delete with prefix should remove the range/ keys only${show}`,
      );

      assert.equal(report.txn.succeeded, true, `the txn's conditions hold, so its then branch should run${show}`);
      assert.equal(report.txn.readValue, "héllo again", `the txn's get should read the greeting${show}`);
      assert.equal(report.txn.lockAfter, "page", `the txn's put should have been applied${show}`);
      assert.deepEqual(report.txnElse, { succeeded: false, holder: "page" }, `the second txn should take its else branch${show}`);

      assert.deepEqual(
        report.watch.events,
        [{ type: "put", key: `${ns}watch/a`, value: "seen", modRevision: report.watch.putRevision }],
        `the watch should deliver the put made after it was ready${show}`,
      );
      assert.ok(report.watch.ready < report.watch.putRevision, `the watch was ready before the put${show}`);

      const { lease } = report;
      assert.ok(lease.grantedTtl >= 3, `lease grant should give at least the TTL asked for${show}`);
      assert.deepEqual(lease.renewalTtls, [lease.grantedTtl, lease.grantedTtl], `keepAlive should renew at once and again on its timer${show}`);
      assert.equal(lease.keepAliveOnceTtl, lease.grantedTtl, `keepAliveOnce should renew to the granted TTL${show}`);
      assert.equal(lease.timeToLive.grantedTtl, lease.grantedTtl, `timeToLive should report the granted TTL${show}`);
      assert.ok(lease.timeToLive.ttl > 0 && lease.timeToLive.ttl <= lease.grantedTtl, `timeToLive should report time left${show}`);
      assert.deepEqual(lease.timeToLive.keys, [`${ns}lease/attached`], `timeToLive with keys should list the attached key${show}`);
      assert.equal(lease.attachedBeforeRevoke, "held", `the attached key exists while the lease lives${show}`);
      assert.equal(lease.attachedAfterRevoke, undefined, `revoke should delete the attached key${show}`);
      assert.equal(lease.ttlAfterRevoke, -1, `timeToLive of a revoked lease is -1${show}`);

      assert.notEqual(report.status.version, "", `status should report the server version${show}`);
      assert.notEqual(report.status.memberId, "0", `status should name the member${show}`);
      assert.deepEqual(report.status.errors, [], `a healthy server reports no status errors${show}`);
      assert.deepEqual(report.members.ids, [report.status.memberId], `memberList should list the one member${show}`);

      assert.deepEqual(
        { isConnectError: report.emptyKey?.isConnectError, code: report.emptyKey?.code },
        { isConnectError: true, code: "InvalidArgument" },
        `a put with an empty key should reject with a ConnectError INVALID_ARGUMENT${show}`,
      );
      assert.match(report.emptyKey?.rawMessage ?? "", /\bkey\b.*empty/, `the error message should name the key field${show}`);

      // The calls went cross-origin over the protocol asked for, with the browser's stream shapes.
      const posts = apiRequests.filter((r) => r.method === "POST");
      const paths = new Set(posts.map((r) => r.path));
      const requests = `\nrequests: ${JSON.stringify(apiRequests)}`;
      for (const method of [
        "KVService/Put",
        "KVService/Range",
        "KVService/DeleteRange",
        "KVService/Txn",
        "WatchService/Subscribe",
        "LeaseService/Grant",
        "LeaseService/KeepAliveOnce",
        "LeaseService/TimeToLive",
        "LeaseService/Revoke",
        "MaintenanceService/Status",
        "ClusterService/MemberList",
      ]) {
        assert.ok(paths.has(`/sisyphus.kv.v1.${method}`), `the page should have called ${method}${requests}`);
      }
      for (const bidi of ["KVService/Pipeline", "WatchService/Watch", "LeaseService/KeepAlive"]) {
        assert.ok(!paths.has(`/sisyphus.kv.v1.${bidi}`), `a browser cannot use the bidi stream ${bidi}${requests}`);
      }
      const unary = posts.filter((r) => !r.path.endsWith("/Subscribe"));
      assert.deepEqual(
        [...new Set(unary.map((r) => r.contentType))],
        [UNARY_CONTENT_TYPE[protocol]],
        `every unary call should use ${protocol} with binary Protobuf${requests}`,
      );
    });
  }

  it("a server started without --cors-allowed-origins cannot be called from the page; reads fail over from it", { timeout: TEST_TIMEOUT_MS }, async () => {
    const closed = await ServerProcess.start();
    // The server itself answers (a same-origin or non-browser client would get through), with no CORS header.
    const direct = await fetch(`${closed.url}/sisyphus.kv.v1.MaintenanceService/Status`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: site?.origin ?? "" },
      body: "{}",
    });
    assert.equal(direct.status, 200, `Status over Connect JSON from Node should succeed: ${await direct.text()}`);
    assert.equal(direct.headers.get("access-control-allow-origin"), null, "a server without --cors-allowed-origins sends no CORS header");

    const probe = (endpoints: string[], protocol: Protocol, maxAttempts: number): Promise<ObservedError | undefined> =>
      page.evaluate(
        ([e, p, m]) => (globalThis as unknown as { sisyphusSdkPage: SdkPage }).sisyphusSdkPage.probeStatus(e, p, m),
        [endpoints, protocol, maxAttempts] as const,
      );
    for (const protocol of PROTOCOLS) {
      assert.equal(await probe([api.url], protocol, 1), undefined, `${protocol}: the CORS-enabled server should answer the page${context()}`);
      const blocked = await probe([closed.url], protocol, 1);
      assert.ok(blocked !== undefined, `${protocol}: the page's call to a server without CORS should fail, but it succeeded`);
      assert.equal(blocked.isConnectError, true, `${protocol}: the SDK should reject with a ConnectError: ${JSON.stringify(blocked)}`);
      // The browser reports the blocked call as a network failure (a fetch TypeError): a read retries it on the next endpoint.
      const failover = await probe([closed.url, api.url], protocol, 2);
      assert.equal(failover, undefined, `${protocol}: status should move on from the blocked endpoint to the next: ${JSON.stringify(failover)}${context()}`);
    }
  });
});
