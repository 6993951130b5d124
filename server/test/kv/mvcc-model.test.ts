/**
 * The MVCC store against a simple model: a list of every version ever written. Random histories
 * of puts (with leases, prev_kv, ignore_value / ignore_lease), deletes, delete-ranges,
 * transactions (compares on every target, nested, with reads at past revisions), compactions,
 * lease grants / revokes / expiries, reads at random revisions (limit, keys_only, count_only,
 * sorts, revision filters), reopens (engine and state machine), and bursts of concurrent applies
 * (one apply group) must give exactly the model's results: statuses, error classes, revisions,
 * versions, create / mod revisions, more and count.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Command, RangeRequest } from "../../src/kv/index.js";
import type { EngineOptions } from "../../src/storage/index.js";
import { TestStore, b, plain, withTempDir } from "./kv-harness.js";
import { Model, Reject, TINY_ENGINE, commandArb, deleteReq, rangeReq, valueArb } from "./mvcc-model.js";


type Step =
  | { kind: "apply"; commands: Command[] }
  | { kind: "range"; request: RangeRequest }
  | { kind: "reopen" };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: commandArb.map((c) => ({ kind: "apply" as const, commands: [c] })) },
  { weight: 2, arbitrary: fc.array(commandArb, { minLength: 2, maxLength: 6 }).map((commands) => ({ kind: "apply" as const, commands })) },
  { weight: 6, arbitrary: rangeReq.map((request) => ({ kind: "range" as const, request })) },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

// ------------------------------------------------------------------ the property

async function expectedRange(model: Model, request: RangeRequest): Promise<unknown> {
  try {
    return { ...(model.range(request) as object), revision: model.revision };
  } catch (err) {
    if (err instanceof Reject) return err.message;
    throw err;
  }
}

async function actualRange(store: TestStore, request: RangeRequest): Promise<unknown> {
  try {
    return plain(await store.kv.range(request));
  } catch (err) {
    return (err as Error).name;
  }
}

/**
 * Generated revisions (0..30) mapped onto the history so far, so that reads mostly hit readable
 * revisions (and sometimes the one after the current) and filters cut into the results.
 */
function scaleRevisions(req: RangeRequest, current: number): RangeRequest {
  const scale = (r: number | undefined, span: number): number | undefined => (r === undefined || r === 0 ? r : 1 + (r % span));
  return {
    ...req,
    revision: scale(req.revision, current + 1),
    minModRevision: scale(req.minModRevision, current),
    maxModRevision: scale(req.maxModRevision, current),
    minCreateRevision: scale(req.minCreateRevision, current),
    maxCreateRevision: scale(req.maxCreateRevision, current),
  };
}

async function runSteps(dir: string, steps: Step[], engineOptions: EngineOptions): Promise<void> {
  const store = await TestStore.open(dir, engineOptions);
  const model = new Model();
  let index = 0;
  try {
    for (const [n, step] of steps.entries()) {
      const where = `step ${n}: ${JSON.stringify(plain(step), (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`;
      if (step.kind === "apply") {
        const results = await Promise.all(step.commands.map((c) => store.apply(c)));
        for (const [i, c] of step.commands.entries()) {
          assert.deepStrictEqual(plain(results[i]), plain(model.apply(c, ++index)), `${where}, command ${i}`);
        }
        assert.equal(store.kv.appliedIndex(), index);
      } else if (step.kind === "range") {
        const request = scaleRevisions(step.request, model.revision);
        assert.deepStrictEqual(await actualRange(store, request), plain(await expectedRange(model, request)), `${where} as ${JSON.stringify(plain(request))}`);
      } else {
        await store.reopen();
        assert.equal(store.kv.appliedIndex(), index, "applied index after reopen");
      }
    }
    // Every revision still readable, over every key, must match the model at the end.
    await store.kv.waitForCompaction(model.compactRevision);
    for (let rev = Math.max(1, model.compactRevision); rev <= model.revision; rev++) {
      const request = { key: b("\0"), rangeEnd: b("\0"), revision: rev };
      assert.deepStrictEqual(await actualRange(store, request), plain(await expectedRange(model, request)), `full read at revision ${rev}`);
    }
  } finally {
    await store.close();
  }
}

describe("MVCC store against a model of revisions", () => {
  it("matches the model on random histories (with reopen, group apply and compaction)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 10, maxLength: 60 }), async (steps) => {
        await withTempDir("model", (dir) => runSteps(dir, steps, TINY_ENGINE));
      }),
      { numRuns: 120, verbose: true },
    );
  });

  it("matches the model when many commands hit few keys (long histories, physical compaction, worker-thread flushes)", async () => {
    const hotPut = fc
      .record({ key: fc.constantFrom("a", "a\0", "b"), value: valueArb })
      .map(({ key, value }) => ({ type: "put" as const, request: { key: b(key), value: b(value) } }));
    const hotStep: fc.Arbitrary<Step> = fc.oneof(
      { weight: 8, arbitrary: fc.array(hotPut, { minLength: 1, maxLength: 8 }).map((commands) => ({ kind: "apply" as const, commands })) },
      { weight: 1, arbitrary: fc.nat(200).map((revision) => ({ kind: "apply" as const, commands: [{ type: "compact" as const, revision }] })) },
      { weight: 1, arbitrary: deleteReq.map((request) => ({ kind: "apply" as const, commands: [{ type: "deleteRange" as const, request }] })) },
      { weight: 3, arbitrary: rangeReq.map((request) => ({ kind: "range" as const, request })) },
      { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(hotStep, { minLength: 20, maxLength: 60 }), async (steps) => {
        await withTempDir("model-hot", (dir) => runSteps(dir, steps, { ...TINY_ENGINE, backgroundWorker: true }));
      }),
      { numRuns: 30, verbose: true },
    );
  });
});
