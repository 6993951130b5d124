/**
 * Shared pieces of the KV tests: a store in a temporary directory (engine + state machine) that
 * can be reopened, small engine sizes so flushes and compactions happen, helpers to build and
 * apply commands, and a normalizer that turns results into plain comparable values.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ApplyResult,
  type Command,
  KvStateMachine,
  type KvStateMachineOptions,
  encodeCommand,
} from "../../src/kv/index.js";
import { Engine, type EngineOptions } from "../../src/storage/index.js";

export const SMALL_ENGINE: EngineOptions = {
  memtableBytes: 16 * 1024,
  targetFileBytes: 16 * 1024,
  blockSizeBytes: 512,
  l0CompactionTrigger: 2,
  levelBaseBytes: 64 * 1024,
  backgroundWorker: false,
};

const keepFailedDirs = process.env.SISYPHUS_KEEP_DIRS === "1";

export const b = (text: string): Uint8Array => Buffer.from(text, "latin1");

/** An engine and a state machine over one directory; reopen() closes both and opens them again. */
export class TestStore {
  private nextIndex = 1;

  private constructor(
    readonly dir: string,
    public engine: Engine,
    public kv: KvStateMachine,
    private readonly engineOptions: EngineOptions,
    private readonly kvOptions: KvStateMachineOptions,
  ) {}

  static async open(dir: string, engineOptions: EngineOptions = SMALL_ENGINE, kvOptions: KvStateMachineOptions = {}): Promise<TestStore> {
    const engine = await Engine.open(dir, engineOptions);
    const kv = await KvStateMachine.open(engine, kvOptions);
    const store = new TestStore(dir, engine, kv, engineOptions, kvOptions);
    store.nextIndex = kv.appliedIndex() + 1;
    return store;
  }

  /** Applies a command at the next log index. */
  apply(command: Command): Promise<ApplyResult> {
    return this.kv.apply(this.nextIndex++, encodeCommand(command));
  }

  /** Applies raw command bytes at the next log index. */
  applyBytes(command: Uint8Array): Promise<ApplyResult> {
    return this.kv.apply(this.nextIndex++, command);
  }

  /** Applies and expects success; returns the result. */
  async applyOk(command: Command): Promise<ApplyResult & { status: "applied" }> {
    const r = await this.apply(command);
    if (r.status !== "applied") throw new Error(`expected ${command.type} to apply, got ${describe(r)}`);
    return r;
  }

  async reopen(kvOptions: KvStateMachineOptions = this.kvOptions): Promise<void> {
    await this.close();
    this.engine = await Engine.open(this.dir, this.engineOptions);
    this.kv = await KvStateMachine.open(this.engine, kvOptions);
    this.nextIndex = this.kv.appliedIndex() + 1;
  }

  async close(): Promise<void> {
    await this.kv.close();
    await this.engine.close();
  }
}

function describe(r: ApplyResult): string {
  return r.status === "rejected" ? `rejected: ${r.error.name}: ${r.error.message}` : r.status;
}

/** Runs `body` with a fresh directory; removes it afterwards and names it in a failure's message. */
export async function withTempDir<T>(label: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `sisyphus-kv-${label}-`));
  let failed = false;
  try {
    return await body(dir);
  } catch (err) {
    failed = true;
    if (err instanceof Error) err.message += `\n  test directory: ${dir}${keepFailedDirs ? " (kept)" : " (set SISYPHUS_KEEP_DIRS=1 to keep it)"}`;
    throw err;
  } finally {
    if (!(failed && keepFailedDirs)) await rm(dir, { recursive: true, force: true });
  }
}

export async function withStore<T>(
  label: string,
  body: (store: TestStore) => Promise<T>,
  kvOptions: KvStateMachineOptions = {},
  engineOptions: EngineOptions = SMALL_ENGINE,
): Promise<T> {
  return withTempDir(label, async (dir) => {
    const store = await TestStore.open(dir, engineOptions, kvOptions);
    try {
      return await body(store);
    } finally {
      await store.close();
    }
  });
}

/** Byte arrays become latin1 strings and errors their class names, so results compare with deepStrictEqual. */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("latin1");
  if (value instanceof Error) return value.name;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
    return out;
  }
  return value;
}

/** Waits for `predicate` with a deadline, yielding to the event loop in between (no fixed sleeps). */
export async function eventually(predicate: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > deadlineMs) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
