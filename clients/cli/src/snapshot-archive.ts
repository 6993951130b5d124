/**
 * Unpacks a snapshot file (`snapshot save`) into a storage directory. The format is the
 * server's (server/src/storage/checkpoint-archive.ts documents it):
 *
 *   magic "SISYSNP1" | { u32 BE name_len | name (UTF-8) | u64 BE size | bytes }* | u32 0
 *
 * The reader is strict: a wrong magic, a name that is not a plain file name, a truncated entry,
 * bytes after the end marker, or a duplicate name make it fail before anything is renamed into
 * place. Files are written into `<target>.restoring`, fsynced, and the directory is renamed to
 * `<target>` only when all is well.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync, existsSync, fstatSync } from "node:fs";
import path from "node:path";
import { CliError } from "./errors.js";

const MAGIC = Buffer.from("SISYSNP1", "ascii");
const COPY_CHUNK_BYTES = 1024 * 1024;

class SnapshotReader {
  private offset = 0;
  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly file: string,
  ) {}

  read(length: number, what: string): Buffer {
    if (this.offset + length > this.size) throw new CliError(`${this.file} is truncated: ${what} at byte ${this.offset} runs past the end`);
    const buffer = Buffer.alloc(length);
    let done = 0;
    while (done < length) done += readSync(this.fd, buffer, done, length - done, this.offset + done);
    this.offset += length;
    return buffer;
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.size - this.offset;
  }
}

/** Unpacks `file` into the new directory `target`; returns the files written. */
export function unpackSnapshot(file: string, target: string): { files: number; bytes: number } {
  if (existsSync(target)) throw new CliError(`${target} already exists; restore into a new directory`);
  const staging = `${target}.restoring`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const fd = openSync(file, "r");
  try {
    const reader = new SnapshotReader(fd, fstatSync(fd).size, file);
    if (!reader.read(MAGIC.length, "the magic").equals(MAGIC)) throw new CliError(`${file} is not a SisyphusDB snapshot (no SISYSNP1 magic)`);
    const seen = new Set<string>();
    let bytes = 0;
    while (true) {
      const nameLength = reader.read(4, "a name length").readUInt32BE(0);
      if (nameLength === 0) break;
      const name = reader.read(nameLength, "a file name").toString("utf8");
      if (name === "." || name === ".." || name.includes("/") || name.includes("\\") || name.includes("\0")) {
        throw new CliError(`${file} names a file "${name}" outside the target directory`);
      }
      if (seen.has(name)) throw new CliError(`${file} holds the file "${name}" twice`);
      seen.add(name);
      const size = Number(reader.read(8, "a file size").readBigUInt64BE(0));
      if (size > reader.remaining) throw new CliError(`${file} is truncated: ${name} needs ${size} bytes, ${reader.remaining} are left`);
      const out = openSync(path.join(staging, name), "wx");
      try {
        for (let left = size; left > 0; ) {
          const chunk = reader.read(Math.min(left, COPY_CHUNK_BYTES), name);
          writeSync(out, chunk);
          left -= chunk.length;
        }
        fsyncSync(out);
      } finally {
        closeSync(out);
      }
      bytes += size;
    }
    if (reader.remaining !== 0) throw new CliError(`${file} has ${reader.remaining} bytes after its end marker (at byte ${reader.position})`);
    syncDirectory(staging);
    mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
    renameSync(staging, target);
    syncDirectory(path.dirname(path.resolve(target)));
    return { files: seen.size, bytes };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  } finally {
    closeSync(fd);
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
