/**
 * The writer that durable-log-crash.test.ts SIGKILLs. It opens the durable Raft log in <dir>
 * (fsync on; small segments, so that kills also land while a segment is being started), goes on
 * at lastIndex() + 1, and saves one entry per save, with the hard state committing it:
 *
 *   node durable-log-crash-child.js <dir>
 *
 * Protocol on stdout: one line per save, the entry's index, written only once that save has
 * resolved (durable). Writes to a pipe are synchronous on Linux, so a line written before the
 * kill reaches the parent. The writer stops by itself after MAX_SAVES or MAX_RUN_MS, so one whose
 * parent died does not run on.
 */
import { fileURLToPath } from "node:url";
import { DurableLog, type Entry } from "../../src/raft/index.js";

export const CRASH_SEGMENT_BYTES = 16 * 1024;
export const CRASH_ENTRY_BYTES = 256;
const MAX_SAVES = 20_000;
const MAX_RUN_MS = 30_000;

/** The entry the writer saves at `index`: its bytes follow from the index, so damage or misplacement shows. */
export function crashEntry(index: number): Entry {
  const data = Buffer.alloc(CRASH_ENTRY_BYTES);
  data.writeUInt32LE(index, 0);
  for (let i = 4; i < CRASH_ENTRY_BYTES; i++) data[i] = (index * 31 + i * 7) & 0xff;
  return { term: 1, index, type: "normal", data };
}

async function main(dir: string): Promise<void> {
  const log = DurableLog.open(dir, { segmentBytes: CRASH_SEGMENT_BYTES });
  const started = performance.now();
  let index = log.lastIndex() + 1;
  for (let saves = 0; saves < MAX_SAVES && performance.now() - started < MAX_RUN_MS; saves++, index++) {
    await log.save({ entries: [crashEntry(index)], hardState: { term: 1, vote: 0n, commit: index } });
    process.stdout.write(`${index}\n`);
  }
  await log.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  main(dir).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
