/** Command-line parsing: flags, durations, lease IDs, command resolution. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDurationMs } from "../src/args/duration.js";
import { parseFlags, type FlagSpec } from "../src/args/flags.js";
import { parseLeaseId } from "../src/args/lease-id.js";
import { COMMAND_SECTIONS } from "../src/commands/index.js";
import { UsageError } from "../src/errors.js";
import { normalizeEndpoint, resolveGlobalOptions } from "../src/global-options.js";
import { resolveCommand } from "../src/resolve.js";

const SPECS: FlagSpec[] = [
  { name: "prefix", kind: "boolean", description: "" },
  { name: "limit", kind: "value", description: "" },
  { name: "write-out", short: "w", kind: "value", description: "" },
  { name: "interactive", short: "i", kind: "boolean", description: "" },
];

test("flags: every spelling pflag accepts", () => {
  const { flags, positionals } = parseFlags(["a", "--prefix", "--limit", "5", "-w", "json", "b"], SPECS);
  assert.deepEqual(positionals, ["a", "b"]);
  assert.equal(flags.boolean("prefix"), true);
  assert.equal(flags.integer("limit", 0), 5);
  assert.equal(flags.string("write-out"), "json");
  assert.equal(parseFlags(["--limit=7"], SPECS).flags.integer("limit", 0), 7);
  assert.equal(parseFlags(["-wtable"], SPECS).flags.string("write-out"), "table");
  assert.equal(parseFlags(["-w=table"], SPECS).flags.string("write-out"), "table");
  assert.equal(parseFlags(["--prefix=false"], SPECS).flags.boolean("prefix"), false);
  assert.equal(parseFlags(["-i"], SPECS).flags.boolean("interactive"), true);
  assert.deepEqual(parseFlags(["k", "--", "-v", "--prefix"], SPECS).positionals, ["k", "-v", "--prefix"]);
  assert.deepEqual(parseFlags(["-"], SPECS).positionals, ["-"]);
});

test("flags: unknown flags, missing values and bad numbers are usage errors", () => {
  assert.throws(() => parseFlags(["--nope"], SPECS), { name: "UsageError", message: "unknown flag: --nope" });
  assert.throws(() => parseFlags(["--limit"], SPECS), { name: "UsageError", message: "flag needs an argument: --limit" });
  assert.throws(() => parseFlags(["--prefix=yes"], SPECS), UsageError);
  assert.throws(() => parseFlags(["--limit", "-1"], SPECS).flags.integer("limit", 0), UsageError);
  assert.throws(() => parseFlags(["--limit", "1.5"], SPECS).flags.integer("limit", 0), UsageError);
});

test("durations in Go's syntax", () => {
  assert.equal(parseDurationMs("5s", "t"), 5_000);
  assert.equal(parseDurationMs("500ms", "t"), 500);
  assert.equal(parseDurationMs("1m30s", "t"), 90_000);
  assert.equal(parseDurationMs("1.5h", "t"), 5_400_000);
  for (const bad of ["", "5", "s", "0s", "5 s", "-1s", "5sx"]) assert.throws(() => parseDurationMs(bad, "t"), UsageError, bad);
});

test("lease IDs are hexadecimal int64s", () => {
  assert.equal(parseLeaseId("694d7b5b3d6a1b0c"), 0x694d7b5b3d6a1b0cn);
  assert.equal(parseLeaseId("0x10"), 16n);
  for (const bad of ["", "xyz", "8000000000000000", "11111111111111111"]) assert.throws(() => parseLeaseId(bad), UsageError, bad);
});

test("global options: flags over environment over defaults", () => {
  const none = parseFlags([], [{ name: "endpoints", kind: "value", description: "" }]).flags;
  const defaults = resolveGlobalOptions(none, {});
  assert.deepEqual(defaults.endpoints, ["http://127.0.0.1:7379"]);
  assert.equal(defaults.protocol, "grpc");
  assert.equal(defaults.commandTimeoutMs, 5_000);
  assert.equal(defaults.commandTimeoutSet, false);
  assert.equal(defaults.writeOut, "simple");
  const fromEnv = resolveGlobalOptions(none, { SISYPHUSCTL_ENDPOINTS: "a:1, https://b:2/", SISYPHUSCTL_WRITE_OUT: "json", SISYPHUSCTL_COMMAND_TIMEOUT: "2s" });
  assert.deepEqual(fromEnv.endpoints, ["http://a:1", "https://b:2"]);
  assert.equal(fromEnv.writeOut, "json");
  assert.equal(fromEnv.commandTimeoutMs, 2_000);
  const withFlag = parseFlags(["--endpoints", "c:3"], [{ name: "endpoints", kind: "value", description: "" }]).flags;
  assert.deepEqual(resolveGlobalOptions(withFlag, { SISYPHUSCTL_ENDPOINTS: "a:1" }).endpoints, ["http://c:3"]);
  assert.throws(() => normalizeEndpoint("unix:///x"), UsageError);
});

test("command resolution: global flags anywhere, command words, help", () => {
  const lease = resolveCommand(["-w", "json", "lease", "--endpoints", "x:1", "grant", "60", "--hex"], COMMAND_SECTIONS);
  assert.deepEqual(lease.path, ["lease", "grant"]);
  assert.deepEqual(lease.rest, ["-w", "json", "--endpoints", "x:1", "60", "--hex"]);
  const put = resolveCommand(["put", "k", "lease"], COMMAND_SECTIONS);
  assert.deepEqual(put.path, ["put"]);
  assert.deepEqual(put.rest, ["k", "lease"], "words after the command are its arguments");
  const help = resolveCommand(["help", "lease", "grant"], COMMAND_SECTIONS);
  assert.equal(help.helpRequested, true);
  assert.deepEqual(help.path, ["lease", "grant"]);
  assert.throws(() => resolveCommand(["lease", "frob"], COMMAND_SECTIONS), { name: "UsageError", message: 'unknown command "frob" for "lease"' });
});
