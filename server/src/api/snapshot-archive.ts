/**
 * The snapshot file format (MaintenanceService.Snapshot, `sisyphusctl snapshot save/restore`):
 * a storage checkpoint directory packed into one byte stream.
 *
 *   magic    8 bytes  "SISYSNP1"
 *   entries  repeated: name_len u32 BE | name (UTF-8, a plain file name) | size u64 BE | bytes
 *   end      name_len = 0 (4 zero bytes)
 *
 * The SHA-256 of the whole stream travels on the last chunk of the RPC, not in the file.
 * clients/cli/src/snapshot-archive.ts reads it for `snapshot restore` (a separate package, so its
 * own strict reader). Unpacking refuses names with path separators, "." or "..", so a file cannot escape the
 * target directory.
 */
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";

export const SNAPSHOT_MAGIC = Buffer.from("SISYSNP1", "ascii");

/** Files of a checkpoint directory that do not belong in a snapshot (the lock of whoever opened it). */
const EXCLUDED_FILES = new Set(["LOCK"]);

/** The archive of `dir` as a sequence of chunks of at most `chunkBytes`, with its total size. */
export async function packDirectory(dir: string, chunkBytes: number): Promise<{ totalBytes: number; chunks: AsyncGenerator<Buffer> }> {
  const names = (await fs.readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isFile() && !EXCLUDED_FILES.has(e.name))
    .map((e) => e.name)
    .sort();
  const files: { name: string; size: number }[] = [];
  let totalBytes = SNAPSHOT_MAGIC.length + 4;
  for (const name of names) {
    const { size } = await fs.stat(path.join(dir, name));
    files.push({ name, size });
    totalBytes += 4 + Buffer.byteLength(name) + 8 + size;
  }
  return { totalBytes, chunks: rechunk(archiveParts(dir, files), chunkBytes) };
}

async function* archiveParts(dir: string, files: { name: string; size: number }[]): AsyncGenerator<Buffer> {
  yield SNAPSHOT_MAGIC;
  for (const { name, size } of files) {
    const nameBytes = Buffer.from(name, "utf8");
    const header = Buffer.alloc(4 + nameBytes.length + 8);
    header.writeUInt32BE(nameBytes.length, 0);
    nameBytes.copy(header, 4);
    header.writeBigUInt64BE(BigInt(size), 4 + nameBytes.length);
    yield header;
    let sent = 0;
    for await (const part of createReadStream(path.join(dir, name))) {
      const buf = part as Buffer;
      sent += buf.length;
      yield buf;
    }
    if (sent !== size) throw new Error(`snapshot file ${name} changed size while being sent (${size} -> ${sent} bytes)`);
  }
  yield Buffer.alloc(4);
}

async function* rechunk(parts: AsyncIterable<Buffer>, chunkBytes: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (let part of parts) {
    while (pendingBytes + part.length >= chunkBytes) {
      const take = chunkBytes - pendingBytes;
      pending.push(part.subarray(0, take));
      yield Buffer.concat(pending);
      part = part.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (part.length > 0) {
      pending.push(part);
      pendingBytes += part.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}
