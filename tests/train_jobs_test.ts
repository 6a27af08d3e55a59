import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { makeConfig } from "../lib/model/config.ts";
import {
  decodeCheckpoint,
  defaultTrainConfig,
  lossByPosition,
  lossByPositionProbeSpec,
  runTrainingJob,
  runTrainingJobs,
  type TrainingJob,
} from "../lib/train/mod.ts";
import { splitTokens } from "../lib/data.ts";
import { sinusoidalTable } from "../lib/model/positions.ts";
import { Rng } from "../lib/random.ts";
import type { GPT } from "../lib/model/gpt.ts";

await initBackend();

/** A probe for the tests: the step-independent sum of the position embeddings. */
export function wpeSum(model: GPT, args: unknown): { sum: number; args: unknown } {
  const sum = (model.params.get("wpe.weight")!.dataSync() as Float32Array).reduce(
    (a, v) => a + v,
    0,
  );
  return { sum, args };
}

const rng = new Rng(2);
const tokens = Int32Array.from({ length: 3000 }, (_, i) => (rng.next() < 0.8 ? i % 7 : rng.int(7)));
const job = (name: string, seed: number): TrainingJob => ({
  name,
  config: makeConfig({ vocabSize: 7, contextLength: 12, nLayer: 1, nHead: 2, nEmbd: 8 }),
  initSeed: seed,
  sinusoidalPositions: 0.05,
  train: defaultTrainConfig({ steps: 6, batchSize: 4, lr: 3e-3, evalInterval: 0, seed }),
  data: splitTokens(tokens, 0.1),
  probe: { module: import.meta.url, name: "wpeSum", every: 3, args: { tag: name } },
});

Deno.test("runTrainingJob: trains, probes at 0 and every 3 steps, starts from sinusoids", async () => {
  const r = await runTrainingJob(job("a", 1));
  assert.equal(r.loss.length, 6);
  assert.deepEqual(r.probes.map((p) => p.step), [0, 3, 6]);
  const initial = sinusoidalTable(12, 8, 0.05).reduce((a, v) => a + v, 0);
  const first = r.probes[0].value as { sum: number; args: unknown };
  assert.ok(Math.abs(first.sum - initial) < 1e-4, `${first.sum} vs ${initial}`);
  assert.deepEqual(first.args, { tag: "a" });
  const model = decodeCheckpoint(r.checkpoint).model;
  assert.equal(model.config.nEmbd, 8);
  model.dispose();
});

Deno.test("runTrainingJobs: workers give the same numbers as the calling thread, in job order", async () => {
  const jobs = [job("a", 1), job("b", 2), job("c", 3)];
  const steps: number[] = [];
  const parallel = await runTrainingJobs(jobs, { workers: 2, onStep: (_, i) => steps.push(i) });
  assert.deepEqual(parallel.map((r) => r.name), ["a", "b", "c"]);
  assert.equal(steps.length, 18);
  for (const [i, j] of jobs.entries()) {
    const local = await runTrainingJob(j);
    assert.deepEqual(parallel[i].loss, local.loss, j.name);
    assert.deepEqual(parallel[i].probes, local.probes, j.name);
    assert.deepEqual(parallel[i].checkpoint, local.checkpoint, j.name);
  }
});

Deno.test("runTrainingJobs: a missing probe or a bad setting fails with the job's name", async () => {
  const bad = { ...job("no probe", 1), probe: { module: import.meta.url, name: "nope", every: 3 } };
  await assert.rejects(runTrainingJob(bad), /exports no function "nope"/);
  await assert.rejects(
    runTrainingJobs([bad], { workers: 1 }),
    /training job "no probe": .*exports no function "nope"/s,
  );
  const zero = { ...job("zero", 1), probe: { module: import.meta.url, name: "wpeSum", every: 0 } };
  await assert.rejects(runTrainingJob(zero), /every must be an integer ≥ 1/);
  await assert.rejects(
    runTrainingJobs([job("a", 1)], { workers: 0 }),
    /workers must be an integer ≥ 1/,
  );
});

Deno.test("lossByPositionProbe: in a worker, the last probe is lossByPosition of the trained model", async () => {
  const split = splitTokens(tokens, 0.1);
  const args = { tokens: split.val, batches: 2, batchSize: 3, seed: 5 };
  const probe = lossByPositionProbeSpec(6, args);
  const [r] = await runTrainingJobs([{ ...job("positions", 3), probe }], { workers: 1 });
  assert.deepEqual(r.probes.map((p) => p.step), [0, 6]);
  const trained = decodeCheckpoint(r.checkpoint, "positions").model;
  const here = await lossByPosition(trained, split.val, args);
  trained.dispose();
  assert.deepEqual(r.probes[1].value, here);
  assert.equal(here.length, 12);
  assert.notDeepEqual(r.probes[0].value, here);
});
