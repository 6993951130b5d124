/**
 * The README shows the commands interop.test.ts runs against a real server; this checks that
 * it still shows them exactly, so the README and the tested commands cannot drift apart.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { GRPCURL_COMMANDS_NOT_RUN, README_COMMANDS } from "./readme-commands.js";

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../README.md");

describe("README.md", () => {
  const text = fs.readFileSync(README, "utf8");
  it("sets SISYPHUS as the commands expect", () => {
    assert.ok(text.includes("export SISYPHUS=http://127.0.0.1:7379"), "README must set SISYPHUS");
  });
  for (const { title, command } of [...README_COMMANDS, ...GRPCURL_COMMANDS_NOT_RUN]) {
    it(`shows the tested command verbatim: ${title}`, () => {
      assert.ok(text.includes(command), `README.md does not contain:\n${command}`);
    });
  }
});
