/**
 * Range reads over a StoreView, with etcd's semantics: `count` is every key of the range at the
 * revision read; the min/max revision filters and `limit` then apply, and `more` says that more
 * keys passed the filters than the limit let through. A sort other than ascending key order sorts
 * every matching key before the limit is applied; in key order the scan stops collecting at the
 * limit but still counts the rest.
 */
import { CompactedError, FutureRevisionError, InvalidArgumentError } from "./errors.js";
import { type KeyInterval, compareBytes, keyInterval } from "./key-range.js";
import type { LiveEntry, StoreView } from "./store-view.js";
import { type KeyValue, type RangeRequest, type RangeResult, SortOrder, SortTarget } from "./types.js";

const EMPTY = new Uint8Array(0);

/** Validates a range request's fields; returns its interval. `field` prefixes error field names. */
export function checkRangeRequest(req: RangeRequest, field: string): KeyInterval {
  const interval = keyInterval(req.key, req.rangeEnd, field);
  nonNegative(req.limit, `${field}limit`);
  nonNegative(req.revision, `${field}revision`);
  nonNegative(req.minModRevision, `${field}min_mod_revision`);
  nonNegative(req.maxModRevision, `${field}max_mod_revision`);
  nonNegative(req.minCreateRevision, `${field}min_create_revision`);
  nonNegative(req.maxCreateRevision, `${field}max_create_revision`);
  if (req.sortOrder !== undefined && SortOrder[req.sortOrder] === undefined) {
    throw new InvalidArgumentError(`unknown sort order ${req.sortOrder}`, `${field}sort_order`);
  }
  if (req.sortTarget !== undefined && SortTarget[req.sortTarget] === undefined) {
    throw new InvalidArgumentError(`unknown sort target ${req.sortTarget}`, `${field}sort_target`);
  }
  return interval;
}

function nonNegative(value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(`must be an integer, got ${value}`, field);
  if (value < 0) throw new InvalidArgumentError(`must not be negative, got ${value}`, field);
}

/** The revision a read asks for (0 = current), checked against the readable window. */
export function readRevision(requested: number | undefined, current: number, compactRevision: number): number {
  if (requested === undefined || requested === 0) return current;
  if (requested > current) throw new FutureRevisionError(requested, current);
  if (requested < compactRevision) throw new CompactedError(requested, compactRevision);
  return requested;
}

export async function runRange(view: StoreView, req: RangeRequest, interval: KeyInterval, revision: number): Promise<RangeResult> {
  const limit = req.limit ?? 0;
  const order = req.sortOrder ?? SortOrder.Unspecified;
  const target = req.sortTarget ?? SortTarget.Unspecified;
  const byKey = target === SortTarget.Unspecified || target === SortTarget.Key;
  const keyOrder = byKey && order !== SortOrder.Descend;
  const countOnly = req.countOnly === true;
  const minMod = req.minModRevision ?? 0;
  const maxMod = req.maxModRevision ?? 0;
  const minCreate = req.minCreateRevision ?? 0;
  const maxCreate = req.maxCreateRevision ?? 0;

  let count = 0;
  let matched = 0;
  const entries: LiveEntry[] = [];
  for await (const e of view.scan(interval, revision)) {
    count++;
    if (minMod > 0 && e.modRevision < minMod) continue;
    if (maxMod > 0 && e.modRevision > maxMod) continue;
    if (minCreate > 0 && e.createRevision < minCreate) continue;
    if (maxCreate > 0 && e.createRevision > maxCreate) continue;
    matched++;
    if (countOnly || (keyOrder && limit > 0 && entries.length >= limit)) continue;
    entries.push(e);
  }
  if (countOnly) return { kvs: [], more: false, count };

  if (!keyOrder) sortEntries(view, entries, order, target);
  const kept = limit > 0 && entries.length > limit ? entries.slice(0, limit) : entries;
  const kvs: KeyValue[] = kept.map((e) => ({
    key: e.key,
    createRevision: e.createRevision,
    modRevision: e.modRevision,
    version: e.version,
    value: req.keysOnly === true ? EMPTY : loadValue(view, e),
    lease: e.lease,
  }));
  return { kvs, more: limit > 0 && matched > limit, count };
}

function loadValue(view: StoreView, e: LiveEntry): Uint8Array {
  e.value ??= view.value(e.key, e.modRevision);
  return e.value;
}

/** Sorts by the target; ties keep ascending key order (the scan's order, and sort is stable). */
function sortEntries(view: StoreView, entries: LiveEntry[], order: SortOrder, target: SortTarget): void {
  const sign = order === SortOrder.Descend ? -1 : 1;
  switch (target) {
    case SortTarget.Unspecified:
    case SortTarget.Key:
      if (sign < 0) entries.reverse();
      return;
    case SortTarget.Version:
      entries.sort((a, b) => sign * (a.version - b.version));
      return;
    case SortTarget.CreateRevision:
      entries.sort((a, b) => sign * (a.createRevision - b.createRevision));
      return;
    case SortTarget.ModRevision:
      entries.sort((a, b) => sign * (a.modRevision - b.modRevision));
      return;
    case SortTarget.Value:
      for (const e of entries) loadValue(view, e);
      entries.sort((a, b) => sign * compareBytes(a.value!, b.value!));
      return;
  }
}
