/**
 * The versions written by the commands of one apply group, before the group's batch reaches the
 * engine. Later commands of the group (and later operations of a transaction) read through it,
 * so they see every earlier write without waiting for the engine. Versions are kept in the order
 * they were made (which is (revision, sub) order) and per key; a failed command is undone with
 * rollback(mark) since its versions are the newest of their keys.
 */
import { type KeyInterval, inInterval } from "./key-range.js";
import type { KeyMeta } from "./store-layout.js";

export interface PendingVersion extends KeyMeta {
  key: Uint8Array;
  /** The key as a latin1 string: a Map key with the same order as the bytes. */
  keyId: string;
  sub: number;
  deleted: boolean;
  /** Empty for a delete. */
  value: Uint8Array;
  /** The key's state just before this change, if it existed. */
  prev: KeyMeta | undefined;
}

export function keyIdOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString("latin1");
}

export class PendingWrites {
  /** Every version, in the order written. */
  readonly log: PendingVersion[] = [];
  private readonly byKey = new Map<string, PendingVersion[]>();

  add(version: PendingVersion): void {
    this.log.push(version);
    const versions = this.byKey.get(version.keyId);
    if (versions === undefined) this.byKey.set(version.keyId, [version]);
    else versions.push(version);
  }

  mark(): number {
    return this.log.length;
  }

  /** Removes every version added after `mark`. */
  rollback(mark: number): void {
    while (this.log.length > mark) {
      const v = this.log.pop()!;
      const versions = this.byKey.get(v.keyId)!;
      versions.pop();
      if (versions.length === 0) this.byKey.delete(v.keyId);
    }
  }

  latest(keyId: string): PendingVersion | undefined {
    const versions = this.byKey.get(keyId);
    return versions === undefined ? undefined : versions[versions.length - 1];
  }

  /** The version of the key written at exactly `revision`. */
  at(keyId: string, revision: number): PendingVersion | undefined {
    return this.byKey.get(keyId)?.find((v) => v.modRevision === revision);
  }

  /** The newest version of the key with modRevision <= revision. */
  newestAtOrBelow(keyId: string, revision: number): PendingVersion | undefined {
    const versions = this.byKey.get(keyId);
    if (versions === undefined) return undefined;
    for (let i = versions.length - 1; i >= 0; i--) if (versions[i]!.modRevision <= revision) return versions[i];
    return undefined;
  }

  /** Per key in the interval, the newest version <= revision (deletes included), in key order. */
  inInterval(interval: KeyInterval, revision: number): PendingVersion[] {
    const out: PendingVersion[] = [];
    for (const [keyId, versions] of this.byKey) {
      if (!inInterval(interval, versions[0]!.key)) continue;
      const v = this.newestAtOrBelow(keyId, revision);
      if (v !== undefined) out.push(v);
    }
    return out.sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
  }
}
