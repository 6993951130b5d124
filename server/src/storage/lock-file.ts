/**
 * The directory lock. Node has no flock(2), so the LOCK file is created with O_EXCL and holds
 * the owner's pid: a LOCK whose pid is no longer alive was left by a killed process and is
 * taken over; a live pid (another process, or this process with the directory open) refuses.
 * The pid is written to a temp file that is then hard-linked to LOCK, so LOCK never exists
 * without its pid (an empty LOCK would look stale to a second process).
 * Limits of a pid lock, which flock(2) would not have: PID reuse can make a stale lock look
 * held (the error names the pid so a person can check and remove the file), and two processes
 * taking over the same stale lock at the same instant can both succeed.
 */
import * as fs from "node:fs";
import { IOError, LockedError } from "./errors.js";
import { lockFileName, removeFile } from "./file-names.js";

/** Directories this process holds, by resolved path. */
const heldHere = new Set<string>();

export class DirectoryLock {
  private released = false;
  private constructor(private readonly dir: string) {}

  static acquire(dir: string): DirectoryLock {
    // realpath, so that a symbolic link to a held directory is recognised as the same one.
    const resolved = realpath(dir);
    if (heldHere.has(resolved)) {
      throw new LockedError(`directory ${resolved} is already open by another Engine in this process`, resolved, process.pid);
    }
    const file = lockFileName(resolved);
    for (let attempt = 0; attempt < 2; attempt++) {
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        fs.writeFileSync(tmp, `${process.pid}\n`);
        fs.linkSync(tmp, file);
        heldHere.add(resolved);
        return new DirectoryLock(resolved);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
          throw new IOError(`cannot create lock file: ${(err as Error).message}`, file, { cause: err });
        }
      } finally {
        removeFile(tmp);
      }
      const holder = readHolder(file);
      if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
        throw new LockedError(
          `directory ${resolved} is locked by process ${holder} (file ${file}); stop that process or, if it is not a SisyphusDB process, remove the file`,
          resolved,
          holder,
        );
      }
      // Stale: left by a process that no longer runs (or by this pid in an earlier life).
      removeFile(file);
    }
    throw new LockedError(`directory ${resolved} lock is contended (file ${file})`, resolved, undefined);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    heldHere.delete(this.dir);
    removeFile(lockFileName(this.dir));
  }
}

function realpath(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch (err) {
    throw new IOError(`cannot resolve directory: ${(err as Error).message}`, dir, { cause: err });
  }
}

function readHolder(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
