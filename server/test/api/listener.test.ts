/**
 * DualProtocolListener's stream handler: an HTTP/2 stream goes to the stream handler first, and
 * only the streams it leaves reach the request handler (through node's compat layer), on the same
 * connection; HTTP/1.1 requests always reach the request handler.
 */
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import { describe, it } from "node:test";
import { DualProtocolListener } from "../../src/api/listener.js";

function h2Get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":path": path });
    let body = "";
    let status = 0;
    req.setEncoding("utf8");
    req.on("response", (headers) => (status = Number(headers[":status"])));
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => resolve({ status, body }));
    req.on("error", reject);
    req.end();
  });
}

function h1Get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

describe("DualProtocolListener stream handler", () => {
  it("sees HTTP/2 streams first; the streams it leaves and HTTP/1.1 requests reach the request handler", async () => {
    const seenByStreamHandler: string[] = [];
    const listener = await DualProtocolListener.listen({
      host: "127.0.0.1",
      port: 0,
      maxConcurrentStreams: 100,
      handler: (req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`compat ${req.url}`);
      },
      streamHandler: (stream, headers) => {
        const path = String(headers[":path"]);
        seenByStreamHandler.push(path);
        if (!path.startsWith("/raw")) return false;
        stream.respond({ ":status": 200, "content-type": "text/plain" });
        stream.end(`raw ${path}`);
        return true;
      },
    });
    const { port } = listener.address();
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const answers = await Promise.all([h2Get(session, "/raw/a"), h2Get(session, "/other"), h2Get(session, "/raw/b")]);
      assert.deepEqual(answers, [
        { status: 200, body: "raw /raw/a" },
        { status: 200, body: "compat /other" },
        { status: 200, body: "raw /raw/b" },
      ]);
      assert.deepEqual([...seenByStreamHandler].sort(), ["/other", "/raw/a", "/raw/b"]);
      assert.equal(await h1Get(port, "/raw/c"), "compat /raw/c", "HTTP/1.1 never reaches the stream handler");
      assert.ok(!seenByStreamHandler.includes("/raw/c"));
    } finally {
      session.close();
      await listener.close(1_000);
    }
  });
});
