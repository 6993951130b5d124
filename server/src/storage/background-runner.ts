/**
 * Runs background jobs either in a dedicated worker thread (so merging never blocks the event
 * loop and uses the second core) or inline on the main thread, yielding to the event loop
 * every few hundred entries. One job at a time: the engine schedules serially.
 */
import { Worker } from "node:worker_threads";
import { runJob, type Job, type JobResult } from "./background-jobs.js";
import { CorruptionError, IOError, StorageError } from "./errors.js";
import type { FileMeta } from "./version-edit.js";

interface SerializedError {
  name: string;
  message: string;
  file?: string;
  offset?: number;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof CorruptionError) return { name: err.name, message: err.message, file: err.file, offset: err.offset };
  if (err instanceof IOError) return { name: err.name, message: err.message, file: err.file };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: "Error", message: String(err) };
}

function deserializeError(e: SerializedError): StorageError {
  if (e.name === "CorruptionError") {
    const err = new CorruptionError("", e.file ?? "", e.offset ?? 0);
    err.message = e.message;
    return err;
  }
  if (e.name === "IOError") {
    const err = new IOError("", e.file ?? "");
    err.message = e.message;
    return err;
  }
  return new StorageError(`background job failed: ${e.name}: ${e.message}`);
}

const toBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

function restoreFile(f: FileMeta): FileMeta {
  return { ...f, smallest: toBuffer(f.smallest), largest: toBuffer(f.largest) };
}

/** Gives Buffer prototypes back to the byte arrays of a job that crossed a thread boundary. */
export function restoreBuffers(job: Job): Job {
  if (job.kind === "flush") return job;
  return { ...job, l0Inputs: job.l0Inputs.map(restoreFile), sortedInputs: job.sortedInputs.map((fs) => fs.map(restoreFile)) };
}

function restoreResult(r: JobResult): JobResult {
  return { ...r, files: r.files.map(restoreFile) };
}

export class BackgroundRunner {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: JobResult) => void; reject: (e: Error) => void }>();

  constructor(private readonly useWorker: boolean) {}

  run(job: Job): Promise<JobResult> {
    if (!this.useWorker) return runJob(job, yieldToEventLoop);
    const worker = this.ensureWorker();
    const id = this.nextId++;
    // Referenced while a job runs (a caller may be waiting on it), unreferenced when idle so an
    // idle engine never keeps the process alive.
    worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, job });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./background-worker.js", import.meta.url));
    worker.on("message", (msg: { id: number; result?: JobResult; error?: SerializedError }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) worker.unref();
      if (msg.error) p.reject(deserializeError(msg.error));
      else p.resolve(restoreResult(msg.result!));
    });
    const failAll = (err: Error) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.worker = undefined;
    };
    worker.on("error", (err) => failAll(new StorageError(`background worker crashed: ${err.message}`, { cause: err })));
    worker.on("exit", (code) => {
      if (this.pending.size > 0) failAll(new StorageError(`background worker exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
