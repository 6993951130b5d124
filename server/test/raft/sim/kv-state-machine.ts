/**
 * The simulated nodes' state machine: a map of string keys to string values, changed by put and
 * compare-and-set commands carried in normal log entries.
 *
 * Command format (entry data): UTF-8 JSON
 *   {"id": <op id>, "key": <string>, "kind": "put", "value": <string>}
 *   {"id": <op id>, "key": <string>, "kind": "cas", "expected": <string|null>, "value": <string>}
 * The op id names the client operation, so the simulation can find an operation's entry in the
 * log after the fact. An empty entry is a leader's no-op and changes nothing.
 */
import type { Entry } from "../../../src/raft/index.js";

export type KvCommand =
  | { readonly id: number; readonly key: string; readonly kind: "put"; readonly value: string }
  | { readonly id: number; readonly key: string; readonly kind: "cas"; readonly expected: string | null; readonly value: string };

/** What applying a command did: a cas tells whether it swapped (a put always "swaps"). */
export interface ApplyOutcome {
  readonly opId: number;
  readonly swapped: boolean;
}

/** A copy of the state as of `appliedIndex`: what a driver stores on compaction and ships in snapshots. */
export interface KvSnapshotState {
  readonly appliedIndex: number;
  readonly pairs: ReadonlyMap<string, string>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

export const EMPTY_KV_SNAPSHOT: KvSnapshotState = { appliedIndex: 0, pairs: new Map() };

export class KvStateMachine {
  private pairs: Map<string, string>;
  appliedIndex: number;

  constructor(from: KvSnapshotState) {
    this.pairs = new Map(from.pairs);
    this.appliedIndex = from.appliedIndex;
  }

  get(key: string): string | null {
    return this.pairs.get(key) ?? null;
  }

  /**
   * Applies one committed entry (the caller checks it is the next index). Returns the outcome of
   * a command, undefined for no-ops and membership changes.
   */
  apply(entry: Entry): ApplyOutcome | undefined {
    this.appliedIndex = entry.index;
    if (entry.type !== "normal" || entry.data.length === 0) return undefined;
    const command = decodeCommand(entry.data);
    const current = this.get(command.key);
    const swapped = command.kind === "put" || current === command.expected;
    if (swapped) this.pairs.set(command.key, command.value);
    return { opId: command.id, swapped };
  }

  snapshot(): KvSnapshotState {
    return { appliedIndex: this.appliedIndex, pairs: new Map(this.pairs) };
  }

  /** The state as sorted "key=value" text, for comparing replicas and printing. */
  describe(): string {
    return [...this.pairs.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
  }
}
