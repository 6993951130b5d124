/**
 * The Raft snapshots of one member, as checkpoint archives (storage/checkpoint-archive.ts):
 *
 *   <raft-dir>/snapshots/snap-<index, 20 digits>.sisysnp      made here (create) — the newest is
 *        what a leader streams to followers behind its compacted log; older ones are deleted once
 *        a newer one exists and no stream is reading them
 *   <raft-dir>/snapshots/incoming-<index, 20 digits>.sisysnp  received from a leader (stage),
 *        installed by the state machine when the core says so, then deleted
 *
 * Files appear under their final name only complete and fsynced (written as *.tmp, renamed).
 */
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { Engine, packDirectory, syncDirAsync } from "../storage/index.js";

const SNAPSHOT_PREFIX = "snap-";
const INCOMING_PREFIX = "incoming-";
const SUFFIX = ".sisysnp";
const CHUNK_BYTES = 256 * 1024;

function fileName(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(20, "0")}${SUFFIX}`;
}

function indexOf(name: string, prefix: string): number | undefined {
  if (!name.startsWith(prefix) || !name.endsWith(SUFFIX)) return undefined;
  const n = Number(name.slice(prefix.length, -SUFFIX.length));
  return Number.isSafeInteger(n) ? n : undefined;
}

export class SnapshotFiles {
  /** Streams reading each snapshot file, so cleanup never deletes one being sent. */
  private readonly readers = new Map<number, number>();

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<SnapshotFiles> {
    await fs.mkdir(dir, { recursive: true });
    for (const name of await fs.readdir(dir)) {
      if (name.endsWith(".tmp") || name.endsWith(".checkpoint")) await fs.rm(path.join(dir, name), { recursive: true, force: true });
    }
    return new SnapshotFiles(dir);
  }

  /** The newest snapshot made here, if any. */
  async latest(): Promise<number | undefined> {
    const indexes = (await fs.readdir(this.dir)).map((n) => indexOf(n, SNAPSHOT_PREFIX)).filter((i): i is number => i !== undefined);
    return indexes.length === 0 ? undefined : Math.max(...indexes);
  }

  /**
   * Packs a checkpoint of `engine` into a snapshot file; `readAppliedIndex` reads the applied
   * index the checkpoint holds (it is a consistent copy, so it names exactly one index).
   */
  async create(engine: Engine, readAppliedIndex: (checkpoint: Engine) => number): Promise<number> {
    const checkpointDir = path.join(this.dir, `${process.pid}-${Date.now()}.checkpoint`);
    await engine.checkpoint(checkpointDir);
    try {
      const checkpoint = await Engine.open(checkpointDir, {});
      let index: number;
      try {
        index = readAppliedIndex(checkpoint);
      } finally {
        await checkpoint.close();
      }
      const target = path.join(this.dir, fileName(SNAPSHOT_PREFIX, index));
      const { chunks } = await packDirectory(checkpointDir, CHUNK_BYTES);
      await writeComplete(target, chunks);
      await this.removeOlderThan(index);
      return index;
    } finally {
      await fs.rm(checkpointDir, { recursive: true, force: true });
    }
  }

  /** The bytes of the snapshot file at `index` (held open against cleanup while read). */
  async *read(index: number): AsyncGenerator<Uint8Array> {
    this.readers.set(index, (this.readers.get(index) ?? 0) + 1);
    try {
      for await (const chunk of createReadStream(path.join(this.dir, fileName(SNAPSHOT_PREFIX, index)), { highWaterMark: CHUNK_BYTES })) {
        yield chunk as Buffer;
      }
    } finally {
      const left = (this.readers.get(index) ?? 1) - 1;
      if (left === 0) this.readers.delete(index);
      else this.readers.set(index, left);
    }
  }

  /** Writes a snapshot received from the leader; complete and synced when it resolves. */
  async stage(index: number, data: AsyncIterable<Uint8Array>): Promise<void> {
    await writeComplete(path.join(this.dir, fileName(INCOMING_PREFIX, index)), data);
  }

  /** The staged file for `index`; it must exist (the core only installs what was staged). */
  stagedFile(index: number): string {
    return path.join(this.dir, fileName(INCOMING_PREFIX, index));
  }

  /** After an install: the staged file becomes this member's own newest snapshot (it may serve others later). */
  async adoptStaged(index: number): Promise<void> {
    await fs.rename(this.stagedFile(index), path.join(this.dir, fileName(SNAPSHOT_PREFIX, index)));
    await syncDirAsync(this.dir);
    await this.removeOlderThan(index);
  }

  private async removeOlderThan(index: number): Promise<void> {
    for (const name of await fs.readdir(this.dir)) {
      const own = indexOf(name, SNAPSHOT_PREFIX);
      const incoming = indexOf(name, INCOMING_PREFIX);
      if (own !== undefined && own < index && !this.readers.has(own)) await fs.rm(path.join(this.dir, name), { force: true });
      if (incoming !== undefined && incoming <= index) await fs.rm(path.join(this.dir, name), { force: true });
    }
  }
}

async function writeComplete(target: string, data: AsyncIterable<Uint8Array>): Promise<void> {
  const tmp = `${target}.tmp`;
  const handle = await fs.open(tmp, "w");
  try {
    for await (const chunk of data) await handle.write(chunk);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  await fs.rename(tmp, target);
  await syncDirAsync(path.dirname(target));
}
