/**
 * The member's identity, fixed on first start and kept in <data-dir>/member.json so that the
 * cluster and member IDs in every response header stay the same across restarts:
 *   {"clusterId": "<decimal u64>", "memberId": "<decimal u64>", "name": "<--name at creation>"}
 * Written atomically (storage's writeFileAtomic: temporary file, fsync, rename, fsync of the directory).
 *
 * IDs are derived, not random, because every member must compute the same IDs for the same
 * cluster without talking first (etcd does the same):
 *   clusterId = first 63 bits of SHA-256("sisyphus/cluster/" + --initial-cluster-token)
 *   memberId  = first 63 bits of SHA-256("sisyphus/member/" + clusterId + "/" + sorted peer URLs joined by ",")
 * A member added later gets its ID the same way from the peer URLs given to `member add`, and
 * computes the same one itself when it starts with --initial-cluster-state existing.
 * Data directories created before clustering hold random IDs; they keep them (as a one-member cluster).
 */
import { createHash } from "node:crypto";
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

export function clusterIdFor(token: string): bigint {
  return hash63(`sisyphus/cluster/${token}`);
}

export function memberIdFor(clusterId: bigint, peerUrls: readonly string[]): bigint {
  return hash63(`sisyphus/member/${clusterId}/${[...peerUrls].sort().join(",")}`);
}

/** The stored identity, or (first start) the derived one, stored. */
export function loadOrCreateIdentity(dataDir: string, name: string, derived: StoredIdentity): StoredIdentity {
  const file = path.join(dataDir, FILE_NAME);
  if (fs.existsSync(file)) return parseIdentity(file, fs.readFileSync(file, "utf8"));
  writeFileAtomic(file, `${JSON.stringify({ clusterId: String(derived.clusterId), memberId: String(derived.memberId), name })}\n`);
  return derived;
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

/** A non-zero 63-bit ID (positive as int64 too, for clients that read it signed). */
function hash63(text: string): bigint {
  const id = createHash("sha256").update(text).digest().readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
  return id === 0n ? 1n : id;
}
