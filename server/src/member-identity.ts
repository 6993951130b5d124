/**
 * The member's identity, created on first start and kept in <data-dir>/member.json so that the
 * cluster and member IDs in every response header stay the same across restarts:
 *   {"clusterId": "<decimal u64>", "memberId": "<decimal u64>", "name": "<--name at creation>"}
 * Written atomically (storage's writeFileAtomic: temporary file, fsync, rename, fsync of the directory).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "./storage/index.js";

export interface StoredIdentity {
  clusterId: bigint;
  memberId: bigint;
}

export class IdentityFileError extends Error {
  override name = "IdentityFileError";
}

const FILE_NAME = "member.json";

export function loadOrCreateIdentity(dataDir: string, name: string): StoredIdentity {
  const file = path.join(dataDir, FILE_NAME);
  if (fs.existsSync(file)) return parseIdentity(file, fs.readFileSync(file, "utf8"));
  const identity = { clusterId: randomId(), memberId: randomId() };
  writeFileAtomic(file, `${JSON.stringify({ clusterId: String(identity.clusterId), memberId: String(identity.memberId), name })}\n`);
  return identity;
}

function parseIdentity(file: string, text: string): StoredIdentity {
  try {
    const parsed = JSON.parse(text) as { clusterId?: unknown; memberId?: unknown };
    if (typeof parsed.clusterId !== "string" || typeof parsed.memberId !== "string") throw new Error("clusterId and memberId must be strings");
    const clusterId = BigInt(parsed.clusterId);
    const memberId = BigInt(parsed.memberId);
    if (clusterId <= 0n || memberId <= 0n) throw new Error("IDs must be positive");
    return { clusterId, memberId };
  } catch (err) {
    throw new IdentityFileError(`${file} is damaged (${(err as Error).message}); restore it or start with an empty data directory`);
  }
}

/** A random non-zero 63-bit ID (positive as int64 too, for clients that read it signed). */
function randomId(): bigint {
  const id = randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
  return id === 0n ? 1n : id;
}
