/**
 * File names inside an engine directory:
 *   LOCK                 held while an Engine has the directory open (holds the owner's pid)
 *   CURRENT              one line naming the live manifest, replaced atomically by rename
 *   MANIFEST-NNNNNN      version edits
 *   NNNNNN.log           write-ahead log of a memtable
 *   NNNNNN.sst           a table
 *   *.tmp                a file being written for an atomic rename; removed at open
 * Every number comes from one counter (nextFileNumber), so names never collide.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { IOError } from "./errors.js";

export type FileKind = "log" | "table" | "manifest" | "current" | "lock" | "temp";

const pad = (n: number) => String(n).padStart(6, "0");

export const tableFileName = (dir: string, n: number) => path.join(dir, `${pad(n)}.sst`);
export const logFileName = (dir: string, n: number) => path.join(dir, `${pad(n)}.log`);
export const manifestFileName = (dir: string, n: number) => path.join(dir, `MANIFEST-${pad(n)}`);
export const currentFileName = (dir: string) => path.join(dir, "CURRENT");
export const lockFileName = (dir: string) => path.join(dir, "LOCK");

/** Parses a directory entry; undefined for names the engine does not own. */
export function parseFileName(name: string): { kind: FileKind; number: number } | undefined {
  let m: RegExpExecArray | null;
  if (name === "CURRENT") return { kind: "current", number: 0 };
  if (name === "LOCK") return { kind: "lock", number: 0 };
  if (name.endsWith(".tmp")) return { kind: "temp", number: 0 };
  if ((m = /^(\d+)\.log$/.exec(name))) return { kind: "log", number: Number(m[1]) };
  if ((m = /^(\d+)\.sst$/.exec(name))) return { kind: "table", number: Number(m[1]) };
  if ((m = /^MANIFEST-(\d+)$/.exec(name))) return { kind: "manifest", number: Number(m[1]) };
  return undefined;
}

/** fsync of a directory, so that created, renamed and deleted names survive a power loss. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch (err) {
    throw new IOError(`cannot sync directory: ${(err as Error).message}`, dir, { cause: err });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** syncDir on the thread pool, for callers that must not block the event loop. */
export function syncDirAsync(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(dir, "r", (openErr, fd) => {
      if (openErr) {
        reject(new IOError(`cannot sync directory: ${openErr.message}`, dir, { cause: openErr }));
        return;
      }
      fs.fsync(fd, (syncErr) => {
        fs.close(fd, () => {
          if (syncErr) reject(new IOError(`cannot sync directory: ${syncErr.message}`, dir, { cause: syncErr }));
          else resolve();
        });
      });
    });
  });
}

/** Writes `contents` to `target` atomically: temp file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(target: string, contents: string | Uint8Array): void {
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(tmp, "w", 0o644);
    try {
      fs.writeFileSync(fd, contents);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (err) {
    throw new IOError(`cannot write file atomically: ${(err as Error).message}`, target, { cause: err });
  }
  syncDir(path.dirname(target));
}

/** Removes a file; a file already gone is fine. */
export function removeFile(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new IOError(`cannot remove file: ${(err as Error).message}`, file, { cause: err });
    }
  }
}
