/**
 * The bytes of the files directly in a directory, for a member's status (dbSize). The engine
 * deletes files while this runs (a flushed WAL, tables a compaction replaced), so a file listed
 * and gone before its stat is no longer part of the store and counts nothing; any other failure
 * is reported.
 */
import fs from "node:fs/promises";
import path from "node:path";

type Stat = (file: string) => Promise<{ size: number }>;

export async function directoryBytes(dir: string, stat: Stat = fs.stat): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    try {
      total += (await stat(path.join(dir, entry.name))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return total;
}
