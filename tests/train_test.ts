import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { coursePreset } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { defaultTrainConfig, Trainer } from "../lib/train/trainer.ts";
import { AdamW, decaysByDefault } from "../lib/train/adamw.ts";
import { warmupCosine } from "../lib/train/schedule.ts";
import {
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../lib/train/checkpoint.ts";
import { BatchSampler, evalBatches, splitTokens } from "../lib/data.ts";
import { lossByPosition } from "../lib/train/position_loss.ts";
import { Rng } from "../lib/random.ts";

await initBackend();

function corpus(n = 4000, vocab = 13, seed = 1): Int32Array {
  // A learnable stream: a noisy repeating pattern.
  const rng = new Rng(seed), out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = rng.next() < 0.9 ? (i * 7) % vocab : rng.int(vocab);
  }
  return out;
}
const split = splitTokens(corpus());
const config = () => coursePreset("micro", { vocabSize: 13, contextLength: 16, dropout: 0.1 });
const trainConfig = (steps: number) =>
  defaultTrainConfig({
    steps,
    batchSize: 4,
    lr: 3e-3,
    evalInterval: 5,
    evalBatches: 2,
    seed: 3,
  });

Deno.test("training lowers the loss and keeps numTensors flat", async () => {
  const model = GPT.create(config(), 0);
  const trainer = new Trainer(model, split, trainConfig(40));
  await trainer.trainStep();
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  await trainer.run({ onStep: () => void counts.push(tf.memory().numTensors) });
  assert.ok(
    counts.every((c) => c === before),
    `numTensors drifted: ${before} -> ${[...new Set(counts)]}`,
  );
  const evals = trainer.history.evals;
  assert.ok(
    evals.at(-1)!.valLoss < evals[0].valLoss - 0.3,
    `val ${evals[0].valLoss} -> ${evals.at(-1)!.valLoss}`,
  );
  model.dispose();
});

Deno.test("same seed, same losses; different seed, different losses", async () => {
  const run = async (seed: number) => {
    const model = GPT.create(config(), 0);
    const trainer = new Trainer(model, split, { ...trainConfig(6), seed });
    const h = await trainer.run();
    model.dispose();
    return h.loss;
  };
  assert.deepEqual(await run(1), await run(1));
  assert.notDeepEqual(await run(1), await run(2));
});

Deno.test("checkpoint round trip is bit-exact, and resuming reproduces the uninterrupted run", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/ckpt.safetensors`;
  const full = GPT.create(config(), 5);
  const fullTrainer = new Trainer(full, split, trainConfig(8));
  await fullTrainer.run();

  const model = GPT.create(config(), 5);
  const first = new Trainer(model, split, trainConfig(8));
  await first.run({}, 4);
  await saveCheckpoint(path, model, {
    trainer: first,
    extra: { note: "hello" },
  });
  const loaded = await loadCheckpoint(path);
  for (const [name, p] of model.params) {
    assert.deepEqual(
      loaded.model.params.get(name)!.dataSync(),
      p.dataSync(),
      name,
    );
  }
  assert.deepEqual(loaded.extra, { note: "hello" });
  assert.equal(loaded.training!.step, 4);
  const resumed = new Trainer(
    loaded.model,
    split,
    loaded.training!.trainConfig,
  );
  resumed.restore(loaded.training!);
  await resumed.run();
  assert.deepEqual(resumed.history.loss, fullTrainer.history.loss.slice(4));
  for (const [name, p] of full.params) {
    assert.deepEqual(
      loaded.model.params.get(name)!.dataSync(),
      p.dataSync(),
      name,
    );
  }
  [full, model, loaded.model].forEach((m) => m.dispose());
  await Deno.remove(dir, { recursive: true });
});

Deno.test("corrupt, truncated or missing checkpoints give clear errors", async () => {
  const model = GPT.create(config(), 0);
  const bytes = await encodeCheckpoint(model);
  assert.throws(
    () => decodeCheckpoint(bytes.slice(0, bytes.length - 10), "x"),
    CheckpointError,
  );
  assert.throws(
    () => decodeCheckpoint(bytes.slice(0, 5), "x"),
    /corrupt or incompatible checkpoint x: safetensors/,
  );
  const garbage = bytes.slice();
  garbage.fill(0x7b, 8, 40); // scribble over the header
  assert.throws(() => decodeCheckpoint(garbage, "x"), CheckpointError);
  await assert.rejects(
    () => loadCheckpoint("/nonexistent/ckpt.safetensors"),
    /checkpoint not found/,
  );
  model.dispose();
});

Deno.test("AdamW: one step by hand, decay only on linear weights", async () => {
  assert.ok(decaysByDefault("h.0.attn.c_attn.weight"));
  for (
    const name of [
      "wte.weight",
      "wpe.weight",
      "h.0.ln_1.weight",
      "ln_f.weight",
      "h.0.mlp.c_fc.bias",
    ]
  ) {
    assert.ok(!decaysByDefault(name), name);
  }
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new AdamW(new Map([["h.0.mlp.c_fc.weight", w]]), {
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-8,
    weightDecay: 0.5,
  });
  const g = tf.tensor1d([0.1, 0.3]);
  const stats = await opt.step(new Map([["h.0.mlp.c_fc.weight", g]]), 0.01, 1.0);
  // First step: m̂ = g, v̂ = g², update = lr·sign(g); decay multiplies by (1 − lr·wd).
  const expected = [1 * (1 - 0.005) - 0.01, -2 * (1 - 0.005) - 0.01];
  const got = w.dataSync();
  expected.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-6, `${got[i]} vs ${e}`));
  assert.ok(Math.abs(stats.gradNorm - Math.sqrt(0.1)) < 1e-6);
  const clipped = await opt.step(
    new Map([["h.0.mlp.c_fc.weight", tf.tensor1d([30, 40])]]),
    0.01,
    1.0,
  );
  assert.ok(Math.abs(clipped.clipScale - 1 / 50) < 1e-9);
  await assert.rejects(
    () => opt.step(new Map([["h.0.mlp.c_fc.weight", tf.tensor1d([NaN, 0])]]), 0.01),
    /diverged/,
  );
  tf.dispose([w, g]);
});

Deno.test("warmup + cosine schedule", () => {
  const lr = warmupCosine({
    maxLr: 1,
    minLr: 0.1,
    warmupSteps: 10,
    totalSteps: 110,
  });
  assert.equal(lr(0), 0.1);
  assert.equal(lr(9), 1);
  assert.ok(Math.abs(lr(60) - 0.55) < 1e-12);
  assert.ok(Math.abs(lr(110) - 0.1) < 1e-12);
  assert.ok(Math.abs(lr(5000) - 0.1) < 1e-12);
  assert.throws(
    () => warmupCosine({ maxLr: 0.1, minLr: 1, warmupSteps: 1, totalSteps: 2 }),
    /minLr/,
  );
});

Deno.test("split is contiguous; sampler and eval batches are deterministic and aligned", () => {
  const tokens = Int32Array.from({ length: 1000 }, (_, i) => i);
  const { train, val } = splitTokens(tokens, 0.1);
  assert.equal(train.length, 900);
  assert.equal(val[0], 900);
  const a = new BatchSampler(train, 3, 8, 7).next(),
    b = new BatchSampler(train, 3, 8, 7).next();
  assert.deepEqual(a, b);
  for (let i = 0; i < a.x.length; i++) assert.equal(a.y[i], a.x[i] + 1);
  const e = evalBatches(val, 2, 3, 8);
  assert.equal(e.length, 2);
  assert.ok(e.every((batch) => batch.x.every((v) => v >= 900)));
  assert.throws(
    () => new BatchSampler(Int32Array.from([1, 2]), 1, 8),
    /cannot fill/,
  );
});

Deno.test("two threads (data parallel) take the same step as one thread, up to rounding", async () => {
  const one = GPT.create(config(), 9), two = GPT.create(config(), 9);
  const base = { ...trainConfig(3), evalInterval: 0 };
  const a = new Trainer(one, split, { ...base, threads: 1 });
  const b = new Trainer(two, split, { ...base, threads: 2 });
  // Dropout masks differ by construction between 1 and 2 shards, so compare without dropout.
  (one.config as { dropout: number }).dropout = 0;
  (two.config as { dropout: number }).dropout = 0;
  const ha = await a.run(), hb = await b.run();
  ha.loss.forEach((l, i) =>
    assert.ok(Math.abs(l - hb.loss[i]) < 1e-5, `step ${i}: ${l} vs ${hb.loss[i]}`)
  );
  for (const [name, p] of one.params) {
    const x = p.dataSync(), y = two.params.get(name)!.dataSync();
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-5, `${name}[${i}]`);
  }
  assert.throws(
    () => defaultTrainConfig({ steps: 1, batchSize: 5, threads: 2 }),
    /dividing batchSize/,
  );
  one.dispose();
  two.dispose();
});

Deno.test("lossByPosition: one value per position whose mean is the model's loss", async () => {
  const model = GPT.create(coursePreset("micro", { vocabSize: 7, contextLength: 12 }), 2);
  const tokens = Int32Array.from({ length: 400 }, (_, i) => (i * 5 + (i >> 3)) % 7);
  const before = tf.memory().numTensors;
  const curve = await lossByPosition(model, tokens, { batches: 2, batchSize: 3, seed: 4 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(curve.length, 12);
  const sampler = new BatchSampler(tokens, 3, 12, 4);
  let mean = 0;
  for (let n = 0; n < 2; n++) {
    const b = sampler.next();
    const x = tf.tensor2d(b.x, [3, 12], "int32"), y = tf.tensor2d(b.y, [3, 12], "int32");
    const loss = model.loss(x, y);
    mean += loss.dataSync()[0] / 2;
    tf.dispose([x, y, loss]);
  }
  const avg = curve.reduce((s, v) => s + v, 0) / curve.length;
  assert.ok(Math.abs(avg - mean) < 1e-4, `${avg} vs ${mean}`);
  const short = await lossByPosition(model, tokens, { contextLength: 5, batches: 1 });
  assert.equal(short.length, 5);
  model.dispose();
});
