/** version: the CLI's version and the API it speaks; needs no server. */
import { readFileSync } from "node:fs";
import type { Command } from "../command.js";
import { encodeJson } from "../output/json.js";
import { SIMPLE_JSON } from "./output-formats.js";

/** The protobuf package of the API this client was built against. */
const API_VERSION = "sisyphus.kv.v1";

/** The version in clients/cli/package.json (this file runs as dist/src/commands/version.js). */
function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}

export const versionCommand: Command = {
  kind: "command",
  name: "version",
  usage: "version",
  summary: "Prints the version of sisyphusctl",
  flags: [],
  args: { min: 0, max: 0 },
  outputs: SIMPLE_JSON,
  async run(ctx) {
    const version = cliVersion();
    if (ctx.options.writeOut === "json") {
      ctx.out.line(encodeJson({ sisyphusctl: version, api: API_VERSION }));
      return;
    }
    ctx.out.line(`sisyphusctl version: ${version}`);
    ctx.out.line(`API version: ${API_VERSION}`);
  },
};
