/**
 * The simulated network between Raft nodes. A sent message is dropped (at random, or because a
 * partition separates its ends), or queued with a random delay in ticks, possibly twice
 * (duplicated). Any queued message whose delivery tick has come may be delivered next, chosen at
 * random: that, with the random delays, reorders messages. A partition in force when a message is
 * delivered also drops it (it formed while the message was in flight).
 *
 * A snapshot message carries the sender's state-machine snapshot along (in the real system the
 * transport streams it before the message), so the receiver can stage it.
 *
 * Every choice comes from the simulation's Prng, and the in-flight list is an array, so delivery
 * order is a function of the seed alone.
 */
import type { Message, NodeId } from "../../../src/raft/index.js";
import type { KvSnapshotState } from "./kv-state-machine.js";
import type { Prng } from "./prng.js";

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** A message is delivered 0..delayTicksMax ticks after it is sent. */
  delayTicksMax: number;
}

export interface Envelope {
  readonly message: Message;
  /** The tick from which it may be delivered. */
  readonly deliverAt: number;
  /** For snapshot messages: the sender's state-machine snapshot at the message's snapshot index. */
  readonly attachment: KvSnapshotState | undefined;
  /** The sender's incarnation (restart count), so a report back reaches only the same instance. */
  readonly senderIncarnation: number;
}

/** queued: on its way (maybe twice); lost: dropped at random; cut: a partition separates the ends. */
export type SendFate = "queued" | "lost" | "cut";

export const NO_FAULTS: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayTicksMax: 0 };

export class SimNetwork {
  faults: NetworkFaults;
  private readonly inFlight: Envelope[] = [];
  /** Node -> partition group; undefined when the network is whole. */
  private groups: Map<NodeId, number> | undefined;

  constructor(
    private readonly rng: Prng,
    faults: NetworkFaults,
  ) {
    this.faults = { ...faults };
  }

  send(message: Message, now: number, attachment: KvSnapshotState | undefined, senderIncarnation: number): SendFate {
    if (!this.canReach(message.from, message.to)) return "cut";
    if (this.rng.chance(this.faults.dropRate)) return "lost";
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const deliverAt = now + this.rng.int(this.faults.delayTicksMax + 1);
      this.inFlight.push({ message, deliverAt, attachment, senderIncarnation });
    }
    return "queued";
  }

  /** Whether a message from `from` to `to` gets through the current partition (if any). */
  canReach(from: NodeId, to: NodeId): boolean {
    if (this.groups === undefined) return true;
    return (this.groups.get(from) ?? -1) === (this.groups.get(to) ?? -1);
  }

  /** Splits the nodes into groups that cannot talk to each other; nodes not listed form one more group. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    groups.forEach((group, i) => {
      for (const id of group) this.groups!.set(id, i);
    });
  }

  heal(): void {
    this.groups = undefined;
  }

  isPartitioned(): boolean {
    return this.groups !== undefined;
  }

  describePartition(): string {
    if (this.groups === undefined) return "none";
    const byGroup = new Map<number, NodeId[]>();
    for (const [id, g] of this.groups) byGroup.set(g, [...(byGroup.get(g) ?? []), id]);
    return [...byGroup.values()].map((ids) => `{${ids.join(",")}}`).join(" | ");
  }

  deliverableCount(now: number): number {
    let n = 0;
    for (const e of this.inFlight) if (e.deliverAt <= now) n++;
    return n;
  }

  inFlightCount(): number {
    return this.inFlight.length;
  }

  /**
   * Removes and returns a random message whose delivery tick has come, or undefined if none has.
   * `reachable` is false when a partition now separates its ends: the caller drops it.
   */
  takeDeliverable(now: number): { envelope: Envelope; reachable: boolean } | undefined {
    const ready: number[] = [];
    for (let i = 0; i < this.inFlight.length; i++) if (this.inFlight[i].deliverAt <= now) ready.push(i);
    if (ready.length === 0) return undefined;
    const i = this.rng.pick(ready);
    const envelope = this.inFlight[i];
    // Swap-remove: the order of the in-flight list carries no meaning (delivery picks at random).
    this.inFlight[i] = this.inFlight[this.inFlight.length - 1];
    this.inFlight.pop();
    return { envelope, reachable: this.canReach(envelope.message.from, envelope.message.to) };
  }
}
