/**
 * MaintenanceService: this member's status, and Snapshot, which streams a storage checkpoint
 * packed as one file (storage/checkpoint-archive.ts) in chunks of at most 1 MiB, the last carrying the
 * SHA-256 of the whole file. The checkpoint is taken under <data-dir>/snapshots and removed
 * once sent (also when the client goes away).
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { MaintenanceService } from "../../../gen/sisyphus/kv/v1/maintenance_pb.js";
import { KvStateMachine } from "../kv/index.js";
import { Engine, packDirectory } from "../storage/index.js";
import { directoryBytes } from "./directory-bytes.js";
import { type MemberContext, responseHeader } from "./member.js";
import { rethrowAsConnectError } from "./status.js";
import type { ServiceRegistrar } from "./unary-method-table.js";

const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Snapshots one member streams at once; more are refused with RESOURCE_EXHAUSTED. */
const MAX_CONCURRENT_SNAPSHOTS = 2;

export function registerMaintenanceService(router: ServiceRegistrar, member: MemberContext, snapshotDir: string): void {
  let snapshotsInProgress = 0;
  let snapshotSerial = 0;
  router.service(MaintenanceService, {
    async status() {
      const stats = member.store.stats();
      const raft = member.cluster.raft();
      return {
        header: responseHeader(member, stats.revision),
        version: member.version,
        dbSizeBytes: BigInt(await directoryBytes(member.engineDir)),
        leader: raft.leaderId,
        raftCommittedIndex: BigInt(raft.committedIndex),
        raftAppliedIndex: BigInt(raft.appliedIndex),
        raftLogSizeBytes: BigInt(raft.logBytes),
        isLearner: raft.isLearner,
        compactRevision: BigInt(stats.compactRevision),
        errors: raft.leaderId === 0n ? ["no leader"] : [],
      };
    },
    async *snapshot(_req, ctx) {
      if (snapshotsInProgress >= MAX_CONCURRENT_SNAPSHOTS) {
        throw new ConnectError(`${MAX_CONCURRENT_SNAPSHOTS} snapshots are already being sent by this member; try again later`, Code.ResourceExhausted);
      }
      snapshotsInProgress++;
      const dir = path.join(snapshotDir, `snapshot-${process.pid}-${Date.now()}-${snapshotSerial++}`);
      try {
        await fs.mkdir(snapshotDir, { recursive: true });
        await member.engine.checkpoint(dir).catch(rethrowAsConnectError);
        const revision = await checkpointRevision(dir);
        const { totalBytes, chunks } = await packDirectory(dir, SNAPSHOT_CHUNK_BYTES);
        const hash = createHash("sha256");
        let remaining = totalBytes;
        for await (const chunk of chunks) {
          if (ctx.signal.aborted) return;
          hash.update(chunk);
          remaining -= chunk.length;
          yield {
            header: responseHeader(member, revision),
            remainingBytes: BigInt(remaining),
            blob: chunk,
            sha256: remaining === 0 ? hash.digest() : new Uint8Array(0),
          };
        }
      } finally {
        snapshotsInProgress--;
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  });
}


/** The revision a checkpoint holds, read by opening it as an engine (which the archive then includes as is). */
async function checkpointRevision(dir: string): Promise<number> {
  const engine = await Engine.open(dir, { backgroundWorker: false });
  try {
    return KvStateMachine.readState(engine).revision;
  } finally {
    await engine.close();
  }
}
