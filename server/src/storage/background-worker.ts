/**
 * Entry point of the background worker thread: runs flush and compaction jobs posted by the
 * engine (background-runner.ts) one at a time and posts back their results. Byte arrays lose
 * their Buffer prototype when cloned across threads; the runner restores them.
 */
import { parentPort } from "node:worker_threads";
import { runJob, type Job } from "./background-jobs.js";
import { restoreBuffers, serializeError } from "./background-runner.js";

if (parentPort === null) throw new Error("background-worker.js must run as a worker thread");
const port = parentPort;

port.on("message", (msg: { id: number; job: Job }) => {
  runJob(restoreBuffers(msg.job), () => undefined).then(
    (result) => port.postMessage({ id: msg.id, result }),
    (err: unknown) => port.postMessage({ id: msg.id, error: serializeError(err) }),
  );
});
