// gRPC status on the wire: grpc-message is percent-encoded exactly as the gRPC HTTP/2 spec says
// (only bytes outside printable ASCII, and "%"), so grpc-js shows it as written, and it reads
// back unchanged from trailers or from a trailers-only response.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import fc from "fast-check";
import { describeStatus, percentEncode, readStatus, statusTrailers } from "../../src/transport/grpc-status.js";

/** Text of any Unicode scalar values (fc.string's "binary" unit costs ~1 s of table building). */
const anyText = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff })), { maxLength: 40 })
  .map((codePoints) => String.fromCodePoint(...codePoints));

describe("grpc status", () => {
  it("percent-encodes only what the spec says", () => {
    assert.equal(percentEncode("member 1, cluster 9: 100% ok"), "member 1, cluster 9: 100%25 ok");
    assert.equal(percentEncode("naïve\n"), "na%C3%AFve%0A");
  });

  it("reads back any status message from trailers and from trailers-only headers", () => {
    fc.assert(
      fc.property(anyText, fc.integer({ min: 1, max: 16 }), (message, code) => {
        const trailers = statusTrailers({ code: code as Code, message });
        assert.deepStrictEqual(readStatus({}, trailers), { code, message });
        assert.deepStrictEqual(readStatus(trailers, {}), { code, message });
      }),
    );
  });

  it("finds no status where there is none, and reports a malformed one as UNKNOWN", () => {
    assert.equal(readStatus({ "content-type": "application/grpc" }, {}), undefined);
    assert.equal(readStatus({}, { "grpc-status": "99" })?.code, Code.Unknown);
    assert.equal(describeStatus({ code: Code.FailedPrecondition, message: "removed" }), "FAILED_PRECONDITION: removed");
  });
});
