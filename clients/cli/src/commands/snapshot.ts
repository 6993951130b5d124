/**
 * snapshot save <file>: streams the member's snapshot into <file>.part, and renames it to
 * <file> only once the whole stream has arrived and its SHA-256 matched the server's (the SDK's
 * SnapshotStream checks it before it yields the last chunk) and the data is on disk (fsync). A
 * failed or interrupted download removes the .part file and leaves <file> untouched.
 */
import { createHash } from "node:crypto";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import type { Command, CommandGroup } from "../command.js";
import { CliError } from "../errors.js";
import { encodeJson } from "../output/json.js";
import { SIMPLE_JSON } from "./output-formats.js";

/** Writes all of `bytes` (one write() may write less than asked for). */
async function writeAll(file: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await file.write(bytes, written);
    if (bytesWritten === 0) throw new CliError("writing the snapshot file made no progress");
    written += bytesWritten;
  }
}

const snapshotSaveCommand: Command = {
  kind: "command",
  name: "save",
  usage: "snapshot save <file>",
  summary: "Saves a snapshot of the member's store to a file",
  description: `Prints "Snapshot saved at <file>", then the revision the snapshot holds, its size and its
SHA-256. No deadline unless --command-timeout is given.`,
  flags: [],
  args: { min: 1, max: 1 },
  outputs: SIMPLE_JSON,
  async run(ctx, args) {
    const path = args[0];
    const partPath = `${path}.part`;
    // Ctrl-C cancels the download, so the .part file is removed rather than left behind.
    const interrupted = new AbortController();
    const timeout = ctx.options.commandTimeoutSet ? { timeoutMs: ctx.options.commandTimeoutMs } : {};
    const stream = ctx.client().snapshot({ ...timeout, signal: interrupted.signal });
    const sha256 = createHash("sha256");
    let sizeBytes = 0;
    let revision = 0;
    const file = await open(partPath, "w");
    const stopOnInterrupt = ctx.io.onInterrupt(() => interrupted.abort());
    try {
      for await (const chunk of stream) {
        await writeAll(file, chunk);
        sha256.update(chunk);
        sizeBytes += chunk.length;
      }
      await file.sync();
      // The SDK sets the revision from the first chunk, and a stream without chunks fails.
      if (stream.revision === undefined) throw new CliError("the snapshot stream carried no revision");
      revision = stream.revision;
    } catch (err) {
      await file.close();
      await rm(partPath, { force: true });
      throw err;
    } finally {
      stopOnInterrupt();
    }
    await file.close();
    await rename(partPath, path);
    const digest = sha256.digest("hex");
    if (ctx.options.writeOut === "json") {
      ctx.out.line(encodeJson({ path, revision, size: sizeBytes, sha256: digest }));
      return;
    }
    ctx.out.line(`Snapshot saved at ${path}`);
    ctx.out.line(`revision: ${revision}, size: ${sizeBytes} bytes, sha256: ${digest}`);
  },
};

export const snapshotGroup: CommandGroup = {
  kind: "group",
  name: "snapshot",
  summary: "Snapshot commands: save",
  subcommands: [snapshotSaveCommand],
};
