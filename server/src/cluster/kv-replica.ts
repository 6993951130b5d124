/**
 * The KV store as Raft's state machine on one member: applies committed entries, records
 * membership changes in the replicated member records, makes snapshots (engine checkpoints
 * packed into archives) and installs a snapshot received from the leader by replacing the
 * whole engine directory.
 *
 * Install (crash-safe, in this order; the Raft log records the snapshot only after step 4):
 *   1. unpack the staged archive into <kv>.install (complete and fsynced, or absent)
 *   2. close the store and engine; rename <kv> -> <kv>.old
 *   3. rename <kv>.install -> <kv>; fsync the parent directory
 *   4. delete <kv>.old; reopen
 * open() finishes an install a crash interrupted after step 2 (no <kv>, an <kv>.install) and
 * discards one interrupted before it. A store newer than the Raft log is harmless: entries at
 * or below its applied index are skipped, and the leader sends the snapshot again if needed.
 *
 * The store and engine are replaced by an install, so users read them through this object
 * (`store`, `engine`) at the time of each call, never keep them.
 */
import fs from "node:fs/promises";
import { type ApplyResult, type Command, encodeCommand, type KvStateMachine, KvStateMachine as Store, type KvStateMachineOptions } from "../kv/index.js";
import type { Logger } from "../observability/index.js";
import type { ConfChange, ConfState, RaftApplier, SnapshotMeta } from "../raft/index.js";
import { Engine, syncDirAsync, unpackArchive, type EngineOptions } from "../storage/index.js";
import { decodeMemberInfo } from "./member-info.js";
import type { SnapshotFiles } from "./snapshot-files.js";
import path from "node:path";

export interface KvReplicaOptions {
  kvDir: string;
  engine: EngineOptions;
  store: KvStateMachineOptions;
  snapshots: SnapshotFiles;
  logger: Logger;
  /** Told after an install replaced the store (watchers of the old one have ended). */
  onReplaced?: (store: KvStateMachine) => void;
  /** Told of each membership change once the store has recorded it. */
  onMembership?: (change: ConfChange) => void;
}

export class KvReplica implements RaftApplier<ApplyResult> {
  private constructor(
    private readonly options: KvReplicaOptions,
    public engine: Engine,
    public store: KvStateMachine,
  ) {}

  static async open(options: KvReplicaOptions): Promise<KvReplica> {
    await recoverInterruptedInstall(options.kvDir, options.logger);
    const engine = await Engine.open(options.kvDir, options.engine);
    try {
      const store = await Store.open(engine, options.store);
      return new KvReplica(options, engine, store);
    } catch (err) {
      await engine.close();
      throw err;
    }
  }

  apply(index: number, data: Uint8Array): Promise<ApplyResult> {
    return this.store.apply(index, data);
  }

  async applyConfChange(index: number, change: ConfChange, conf: ConfState): Promise<void> {
    let command: Command;
    if (change.type === "removeNode") {
      command = { type: "memberRemove", id: change.nodeId };
    } else {
      const info = decodeMemberInfo(change.context);
      command = { type: "memberAdd", id: change.nodeId, name: info.name, peerUrls: info.peerUrls, learner: conf.learners.includes(change.nodeId) };
    }
    await this.store.apply(index, encodeCommand(command));
    this.options.onMembership?.(change);
  }

  async createSnapshot(): Promise<number> {
    return this.options.snapshots.create(this.engine, (checkpoint) => Store.readState(checkpoint).appliedIndex);
  }

  async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const { kvDir, logger } = this.options;
    const staged = this.options.snapshots.stagedFile(meta.index);
    const installDir = `${kvDir}.install`;
    await fs.rm(installDir, { recursive: true, force: true });
    const unpacked = await unpackArchive(staged, installDir);
    await this.store.close();
    await this.engine.close();
    await fs.rename(kvDir, `${kvDir}.old`);
    await fs.rename(installDir, kvDir);
    await syncDirAsync(path.dirname(kvDir));
    await fs.rm(`${kvDir}.old`, { recursive: true, force: true });
    this.engine = await Engine.open(kvDir, this.options.engine);
    this.store = await Store.open(this.engine, this.options.store);
    await this.options.snapshots.adoptStaged(meta.index);
    logger.info({ index: meta.index, term: meta.term, files: unpacked.files, bytes: unpacked.bytes }, "installed a snapshot from the leader");
    this.options.onReplaced?.(this.store);
  }

  async close(): Promise<void> {
    await this.store.close();
    await this.engine.close();
  }
}

async function recoverInterruptedInstall(kvDir: string, logger: Logger): Promise<void> {
  const installDir = `${kvDir}.install`;
  const hasKv = await exists(kvDir);
  const hasInstall = await exists(installDir);
  if (!hasKv && hasInstall) {
    await fs.rename(installDir, kvDir);
    await syncDirAsync(path.dirname(kvDir));
    logger.warn({ kvDir }, "finished a snapshot install interrupted by a crash");
  } else if (hasInstall) {
    await fs.rm(installDir, { recursive: true, force: true });
  }
  await fs.rm(`${kvDir}.old`, { recursive: true, force: true });
  await fs.rm(`${installDir}.unpacking`, { recursive: true, force: true });
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
