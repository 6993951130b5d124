/**
 * A tiny static web server for the browser test: "/" is an HTML page loading "/sdk-page.js" (the
 * bundled page script; the page has an inline icon so the browser asks for nothing else). It listens on 127.0.0.1 with an ephemeral port, so its origin differs
 * from the API server's and every SDK call from the page is a real cross-origin (CORS) request.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export const PAGE_SCRIPT_PATH = "/sdk-page.js";

const PAGE_HTML = `<!doctype html>
<html>
  <head><meta charset="utf-8"><link rel="icon" href="data:,"><title>SisyphusDB SDK browser test</title></head>
  <body><script src="${PAGE_SCRIPT_PATH}"></script></body>
</html>
`;

export interface StaticSite {
  /** e.g. "http://127.0.0.1:41234" */
  origin: string;
  close(): Promise<void>;
}

export async function serveStaticSite(pageScript: string): Promise<StaticSite> {
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE_HTML);
    } else if (req.method === "GET" && req.url === PAGE_SCRIPT_PATH) {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(pageScript);
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err === undefined ? resolve() : reject(err)));
      }),
  };
}
