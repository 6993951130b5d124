/**
 * Expires leases: the member that decides lease expiry (the single node, or the Raft leader)
 * looks for leases past their deadline on a timer and proposes one leaseExpire command for them,
 * so their keys are deleted through the same write path as any delete and every member applies
 * the same expiry. One proposal at a time; a lease kept alive after it was listed survives,
 * because apply expires only leases that still exist and the next check re-lists.
 */
import { encodeCommand } from "./command-codec.js";
import type { Proposer } from "./proposer.js";
import type { KvStateMachine } from "./state-machine.js";

export interface LeaseExpiryOptions {
  /** How often to look for expired leases. */
  checkIntervalMs: number;
  /** Most leases expired by one command. */
  maxLeasesPerCommand: number;
  /** Hears of a failed expiry proposal (it is retried at the next check). */
  onError: (err: unknown) => void;
  /** Whether this member decides expiry now (the Raft leader); others only apply what it decides. */
  isLeader: () => boolean;
}

export class LeaseExpiry {
  private timer: NodeJS.Timeout | undefined;
  private proposing: Promise<void> | undefined;

  constructor(
    /** The current store (a snapshot install replaces it). */
    private readonly store: () => KvStateMachine,
    private readonly proposer: Proposer,
    private readonly options: LeaseExpiryOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.options.checkIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a proposal in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.proposing;
  }

  private check(): void {
    if (this.proposing !== undefined || !this.options.isLeader()) return;
    const ids = this.store().expiredLeases(undefined, this.options.maxLeasesPerCommand);
    if (ids.length === 0) return;
    this.proposing = this.proposer
      .propose(encodeCommand({ type: "leaseExpire", ids }))
      .then(
        () => undefined,
        (err: unknown) => this.options.onError(err),
      )
      .finally(() => {
        this.proposing = undefined;
      });
  }
}
