/**
 * The checkpoint archive: a storage checkpoint directory packed into one byte stream. It is the
 * snapshot file of MaintenanceService.Snapshot (`sisyphusctl snapshot save/restore`) and the
 * Raft snapshot a leader streams to a follower that fell behind the compacted log.
 *
 *   magic    8 bytes  "SISYSNP1"
 *   entries  repeated: name_len u32 BE | name (UTF-8, a plain file name) | size u64 BE | bytes
 *   end      name_len = 0 (4 zero bytes)
 *
 * The SHA-256 of the whole stream travels on the last chunk of the RPC, not in the file.
 * clients/cli/src/snapshot-archive.ts reads it for `snapshot restore` (a separate package, so its
 * own strict reader); unpackArchive below is the server's. Unpacking refuses names with path
 * separators, "." or "..", duplicates, truncation and trailing bytes, so a file cannot escape the
 * target directory and a damaged archive is never half-installed.
 */
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { CorruptionError } from "./errors.js";
import { syncDirAsync } from "./file-names.js";

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

const COPY_CHUNK_BYTES = 1024 * 1024;

/**
 * Unpacks the archive file `file` into the new directory `target`: files are written into
 * `<target>.unpacking` and fsynced, and the directory is renamed to `target` (and its parent
 * fsynced) only when the whole archive checked out. Asynchronous, so a large install does not
 * stall the event loop (a Raft member keeps answering heartbeats meanwhile).
 */
export async function unpackArchive(file: string, target: string): Promise<{ files: number; bytes: number }> {
  const staging = `${target}.unpacking`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true });
  const handle = await fs.open(file, "r");
  try {
    const size = (await handle.stat()).size;
    let offset = 0;
    const read = async (length: number, what: string): Promise<Buffer> => {
      if (offset + length > size) throw new CorruptionError(`archive truncated: ${what} runs past the end`, file, offset);
      const buffer = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
        if (bytesRead === 0) throw new CorruptionError(`archive truncated while reading ${what}`, file, offset + done);
        done += bytesRead;
      }
      offset += length;
      return buffer;
    };
    if (!(await read(SNAPSHOT_MAGIC.length, "the magic")).equals(SNAPSHOT_MAGIC)) throw new CorruptionError("not a checkpoint archive (no SISYSNP1 magic)", file, 0);
    const seen = new Set<string>();
    let bytes = 0;
    for (;;) {
      const nameLength = (await read(4, "a name length")).readUInt32BE(0);
      if (nameLength === 0) break;
      const name = (await read(nameLength, "a file name")).toString("utf8");
      if (name === "." || name === ".." || name.includes("/") || name.includes("\\") || name.includes("\0") || seen.has(name)) {
        throw new CorruptionError(`archive entry "${name}" is not a plain, unique file name`, file, offset);
      }
      seen.add(name);
      const fileSize = Number((await read(8, "a file size")).readBigUInt64BE(0));
      const out = await fs.open(path.join(staging, name), "wx");
      try {
        for (let left = fileSize; left > 0; ) {
          const chunk = await read(Math.min(left, COPY_CHUNK_BYTES), name);
          await out.write(chunk);
          left -= chunk.length;
        }
        await out.sync();
      } finally {
        await out.close();
      }
      bytes += fileSize;
    }
    if (offset !== size) throw new CorruptionError(`${size - offset} bytes after the archive's end marker`, file, offset);
    await syncDirAsync(staging);
    await fs.rename(staging, target);
    await syncDirAsync(path.dirname(path.resolve(target)));
    return { files: seen.size, bytes };
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true });
    throw err;
  } finally {
    await handle.close();
  }
}
