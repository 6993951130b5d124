/**
 * snapshot restore <file> --data-dir <dir>: makes a new data directory from a snapshot file, for
 * `sisyphus --data-dir <dir>` to start on (offline, like etcdutl snapshot restore). The store
 * goes to <dir>/kv; <dir> gets no member.json, so the member started on it creates new cluster
 * and member IDs: a restored store is a new cluster, as in etcd.
 *
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
import { unpackSnapshot } from "../snapshot-archive.js";
import { existsSync } from "node:fs";
import path from "node:path";
import { UsageError } from "../errors.js";

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

const snapshotRestoreCommand: Command = {
  kind: "command",
  name: "restore",
  usage: "snapshot restore <file> --data-dir <dir>",
  summary: "Makes a new data directory from a snapshot file (offline; no server needed)",
  description: `Writes the store to <dir>/kv; start a member on it with \`sisyphus --data-dir <dir>\`.
<dir> must not exist. The member gets new cluster and member IDs, as after etcd's restore.`,
  flags: [{ name: "data-dir", kind: "value", valueName: "dir", description: "The new data directory (must not exist)" }],
  args: { min: 1, max: 1 },
  outputs: SIMPLE_JSON,
  async run(ctx, args, flags) {
    const dataDir = flags.string("data-dir");
    if (dataDir === undefined || dataDir.length === 0) throw new UsageError("snapshot restore needs --data-dir <dir>");
    // A new directory only: an old member.json beside the restored store would give it the old cluster's IDs.
    if (existsSync(dataDir)) throw new CliError(`${dataDir} already exists; restore into a new directory`);
    const { files, bytes } = unpackSnapshot(args[0], path.join(dataDir, "kv"));
    if (ctx.options.writeOut === "json") {
      ctx.out.line(encodeJson({ dataDir, files, size: bytes }));
      return;
    }
    ctx.out.line(`Restored ${args[0]} into ${dataDir} (${files} files, ${bytes} bytes)`);
  },
};

export const snapshotGroup: CommandGroup = {
  kind: "group",
  name: "snapshot",
  summary: "Snapshot commands: save, restore",
  subcommands: [snapshotSaveCommand, snapshotRestoreCommand],
};
