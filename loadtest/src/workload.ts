/**
 * What each request does: its kind (put, get, or txn), chosen by the workload, and its key,
 * chosen from a keyspace of `keys` keys by a uniform or zipfian distribution. Keys are
 * `<prefix><index, 8 digits>`; with zipfian, index 0 is the hottest key (rank 1), index 1 the
 * next, and so on. One OperationSource per client, each with its own seeded stream, so a run
 * is reproducible with the same --seed and client count.
 */
import { SeededRandom } from "./seeded-random.js";
import { ZipfianSampler } from "./zipfian.js";

export type WorkloadName = "put" | "get" | "mixed" | "txn";
export type DistributionName = "uniform" | "zipfian";
export type OperationKind = "put" | "get" | "txn";

export interface WorkloadSpec {
  workload: WorkloadName;
  /** For "mixed": the fraction of gets, in [0, 1]. */
  readRatio: number;
  keys: number;
  keyPrefix: string;
  distribution: DistributionName;
  zipfS: number;
  valueBytes: number;
  seed: number;
}

export interface Operation {
  kind: OperationKind;
  key: Uint8Array;
}

export function keyBytes(prefix: string, index: number): Uint8Array {
  return Buffer.from(`${prefix}${String(index).padStart(8, "0")}`);
}

/** The value every put writes: `valueBytes` seeded random bytes (incompressible, the same in every run with the same seed). */
export function valueFor(spec: WorkloadSpec): Uint8Array {
  const random = new SeededRandom(spec.seed ^ 0x5bd1e995);
  const value = Buffer.alloc(spec.valueBytes);
  for (let i = 0; i < value.length; i++) value[i] = random.nextInt(256);
  return value;
}

export class OperationSource {
  private readonly random: SeededRandom;
  private readonly zipfian: ZipfianSampler | undefined;

  constructor(
    private readonly spec: WorkloadSpec,
    stream: number,
  ) {
    this.random = SeededRandom.forStream(spec.seed, stream);
    this.zipfian = spec.distribution === "zipfian" ? new ZipfianSampler(spec.keys, spec.zipfS) : undefined;
  }

  next(): Operation {
    return { kind: this.nextKind(), key: keyBytes(this.spec.keyPrefix, this.nextKeyIndex()) };
  }

  nextKeyIndex(): number {
    return this.zipfian === undefined ? this.random.nextInt(this.spec.keys) : this.zipfian.sample(this.random) - 1;
  }

  private nextKind(): OperationKind {
    switch (this.spec.workload) {
      case "put":
        return "put";
      case "get":
        return "get";
      case "txn":
        return "txn";
      case "mixed":
        return this.random.next() < this.spec.readRatio ? "get" : "put";
    }
  }
}
