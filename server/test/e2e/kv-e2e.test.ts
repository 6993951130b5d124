// The end-to-end suite (suite.ts) over every protocol the server speaks, each variant against a
// server process of its own. Bidi streams (Watch, Pipeline, KeepAlive) need HTTP/2, so the
// HTTP/1.1 variants run the unary and server-streaming cases, and Connect over HTTP/2 runs the
// bidi ones (its unary and server-streaming path is the same as over HTTP/1.1, already covered).
import { after } from "node:test";
import { stopAllServers } from "./server-process.js";
import { defineKvSuite } from "./suite.js";

after(() => stopAllServers());

const ALL = { unary: true, serverStreams: true, bidi: true };
const NO_BIDI = { unary: true, serverStreams: true, bidi: false };
const BIDI_ONLY = { unary: false, serverStreams: false, bidi: true };

defineKvSuite({ name: "Connect over HTTP/1.1 (JSON)", protocol: "connect", httpVersion: "1.1", binary: false, calls: NO_BIDI });
defineKvSuite({ name: "Connect over HTTP/2 (binary), bidi streams", protocol: "connect", httpVersion: "2", binary: true, calls: BIDI_ONLY });
defineKvSuite({ name: "gRPC over HTTP/2", protocol: "grpc", httpVersion: "2", binary: true, calls: ALL });
defineKvSuite({ name: "gRPC-Web over HTTP/2", protocol: "grpc-web", httpVersion: "2", binary: true, calls: ALL });
defineKvSuite({ name: "gRPC-Web over HTTP/1.1 (as browsers use it)", protocol: "grpc-web", httpVersion: "1.1", binary: true, calls: NO_BIDI });
