/**
 * CORS for browsers calling the API from another origin (a web app on its own host using the
 * SDK's connect-web entry). Off unless --cors-allowed-origins lists origins (or "*"). An allowed
 * origin gets Access-Control-Allow-Origin on every response, with the headers Connect and
 * gRPC-Web need exposed (plus ours: sisyphus-not-applied, sisyphus-compact-revision, and their
 * "trailer-" forms for Connect unary); a preflight (OPTIONS with
 * Access-Control-Request-Method) is answered 204 here. A disallowed origin gets no CORS headers,
 * so the browser blocks the response.
 */
import { cors } from "@connectrpc/connect";
import type { NodeRequest, NodeResponse } from "./node-http.js";
import { NOT_APPLIED_METADATA_KEY } from "./status.js";


const OUR_HEADERS = [NOT_APPLIED_METADATA_KEY, "sisyphus-compact-revision", "sisyphus-pipeline-max-in-flight"];
const EXPOSED = [...cors.exposedHeaders, ...OUR_HEADERS, ...OUR_HEADERS.map((h) => `trailer-${h}`)].join(", ");
const ALLOWED_METHODS = cors.allowedMethods.join(", ");
const ALLOWED_HEADERS = cors.allowedHeaders.join(", ");
/** How long a browser may cache a preflight answer. */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

export class CorsPolicy {
  private readonly anyOrigin: boolean;
  private readonly origins: Set<string>;

  constructor(allowedOrigins: readonly string[]) {
    this.anyOrigin = allowedOrigins.includes("*");
    this.origins = new Set(allowedOrigins);
  }

  /** Sets the CORS headers for the request's origin; true when the request was a preflight and is answered. */
  apply(req: NodeRequest, res: NodeResponse): boolean {
    const origin = req.headers.origin;
    if (typeof origin !== "string" || !(this.anyOrigin || this.origins.has(origin))) return false;
    res.setHeader("access-control-allow-origin", this.anyOrigin ? "*" : origin);
    if (!this.anyOrigin) res.setHeader("vary", "Origin");
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      res.writeHead(204, {
        "access-control-allow-methods": ALLOWED_METHODS,
        "access-control-allow-headers": ALLOWED_HEADERS,
        "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
      });
      res.end();
      return true;
    }
    res.setHeader("access-control-expose-headers", EXPOSED);
    return false;
  }
}
