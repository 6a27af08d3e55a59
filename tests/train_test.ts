import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { coursePreset } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import {
  AdamW,
  CheckpointError,
  decaysByDefault,
  decodeCheckpoint,
  defaultTrainConfig,
  encodeCheckpoint,
  GradientWorkers,
  loadCheckpoint,
  lossByPosition,
  saveCheckpoint,
  type TrainConfig,
  TrainConfigError,
  Trainer,
  TrainingLoop,
  validateTrainConfig,
  warmupCosine,
} from "../lib/train/mod.ts";
import { BatchSampler, evalBatches, splitTokens } from "../lib/data.ts";
import { decodeSafetensors, encodeSafetensors } from "../lib/io/mod.ts";
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
  const trainer = new Trainer(model, split, { ...trainConfig(150), lr: 1e-2, evalInterval: 25 });
  await trainer.trainStep();
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  await trainer.run({ onStep: () => void counts.push(tf.memory().numTensors) });
  assert.ok(
    counts.every((c) => c === before),
    `numTensors drifted: ${before} -> ${[...new Set(counts)]}`,
  );
  const evals = trainer.history.evals;
  // The stream is 90% a fixed pattern: about 0.54 nats is reachable, ln 13 = 2.56 is guessing.
  // 150 steps at lr 1e-2 get below 0.85 here (0.80 measured); a weakened optimizer does not.
  assert.ok(evals.at(-1)!.valLoss < 0.95, `val after 150 steps: ${evals.at(-1)!.valLoss}`);
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

// Every setting a checkpoint stores, at ordinary and unusual values: the resumed run must take
// exactly the steps the uninterrupted run takes. gradClip: Infinity once came back from the JSON
// metadata as null, and the resumed run scaled every gradient by null / norm = 0.
const RESUME_SETTINGS: [string, Partial<TrainConfig>][] = [
  ["clipping off (gradClip: Infinity)", { gradClip: Infinity }],
  ["tight clipping (gradClip: 1e-3)", { gradClip: 1e-3 }],
  ["no weight decay, no warm-up", { weightDecay: 0, warmupSteps: 0 }],
  ["warm-up longer than the run", { warmupSteps: 50 }],
  ["beta1 = 0, beta2 = 0.5", { beta1: 0, beta2: 0.5 }],
  ["minLr = lr (constant), no evaluation", { minLr: 3e-3, evalInterval: 0 }],
  ["minLr = 0, large seed", { minLr: 0, seed: 2 ** 40 }],
];
for (const [name, overrides] of RESUME_SETTINGS) {
  Deno.test(`Trainer: resuming from a checkpoint reproduces the uninterrupted run (${name})`, async () => {
    const cfg = { ...trainConfig(6), ...overrides };
    const full = GPT.create(config(), 7);
    const fullTrainer = new Trainer(full, split, cfg);
    await fullTrainer.run();
    const model = GPT.create(config(), 7);
    const first = new Trainer(model, split, cfg);
    await first.run({}, 3);
    const loaded = decodeCheckpoint(await encodeCheckpoint(model, { trainer: first }));
    assert.deepEqual(loaded.training!.trainConfig, cfg);
    const resumed = new Trainer(loaded.model, split, loaded.training!.trainConfig);
    resumed.restore(loaded.training!);
    await resumed.run();
    assert.deepEqual(resumed.history.loss, fullTrainer.history.loss.slice(3));
    assert.deepEqual(resumed.history.gradNorm, fullTrainer.history.gradNorm.slice(3));
    for (const [p, v] of full.params) {
      assert.deepEqual(loaded.model.params.get(p)!.dataSync(), v.dataSync(), p);
    }
    [full, model, loaded.model].forEach((m) => m.dispose());
  });
}

Deno.test("validateTrainConfig: every field is checked, the message names it and its range", () => {
  const good = trainConfig(10);
  const cases: [Partial<Record<keyof TrainConfig, unknown>>, RegExp][] = [
    [{ steps: 0 }, /steps must be an integer ≥ 1, got 0/],
    [{ steps: 2.5 }, /steps must be an integer ≥ 1/],
    [{ batchSize: -1 }, /batchSize must be an integer ≥ 1/],
    [{ lr: 0 }, /lr must be a finite number > 0/],
    [{ lr: Infinity }, /lr must be a finite number > 0/],
    [{ lr: NaN }, /lr must be a finite number > 0/],
    [{ minLr: -1e-4 }, /minLr must be a finite number ≥ 0/],
    [{ minLr: 1 }, /minLr \(1\) must not exceed lr/],
    [{ warmupSteps: -1 }, /warmupSteps must be an integer ≥ 0/],
    [{ weightDecay: -0.1 }, /weightDecay must be a finite number ≥ 0/],
    [{ beta1: 1 }, /beta1 must be in \[0, 1\)/],
    [{ beta2: -0.1 }, /beta2 must be in \[0, 1\)/],
    [{ gradClip: 0 }, /gradClip must be > 0 \(Infinity turns clipping off\)/],
    [{ gradClip: null }, /gradClip must be > 0 .*got null/],
    [{ gradClip: "1" }, /gradClip must be > 0 .*got "1"/],
    [{ evalInterval: -5 }, /evalInterval must be an integer ≥ 0/],
    [{ evalBatches: 0 }, /evalBatches must be an integer ≥ 1/],
    [{ seed: 0.5 }, /seed must be a safe integer/],
    [{ threads: 3 }, /threads \(3\) must be a positive integer dividing batchSize \(4\)/],
    [{ threads: 0 }, /threads must be an integer ≥ 1/],
  ];
  for (const [bad, message] of cases) {
    const c = { ...good, ...bad } as TrainConfig;
    assert.throws(() => validateTrainConfig(c), message, JSON.stringify(bad));
    // The same check guards the Trainer, whatever built the config.
    assert.throws(
      () => new Trainer(GPT.create(config(), 0), split, c),
      (e: Error) => e instanceof TrainConfigError && message.test(e.message),
      JSON.stringify(bad),
    );
  }
  const { lr: _lr, ...missing } = good;
  assert.throws(() => validateTrainConfig(missing as TrainConfig), /lr must be .*got undefined/);
  assert.throws(
    () => validateTrainConfig({ ...good, learningRate: 1 } as unknown as TrainConfig),
    /unknown field "learningRate"/,
  );
  assert.equal(validateTrainConfig(good), good);
});

Deno.test("decodeCheckpoint: a training state that cannot be resumed exactly is refused", async () => {
  const model = GPT.create(config(), 0);
  const trainer = new Trainer(model, split, trainConfig(6));
  await trainer.run({}, 2);
  const bytes = await encodeCheckpoint(model, { trainer });
  // Rewrite the "training" metadata and re-encode with the same tensors.
  const file = decodeSafetensors(bytes);
  const withTraining = (edit: (t: Record<string, unknown>) => void) => {
    const t = JSON.parse(file.metadata.training);
    edit(t);
    return encodeSafetensors(file.tensors, { ...file.metadata, training: JSON.stringify(t) });
  };
  const cases: [(t: Record<string, unknown>) => void, RegExp][] = [
    [(t) => (t.trainConfig as TrainConfig).gradClip = null as unknown as number, /gradClip/],
    [(t) => delete (t.trainConfig as Partial<TrainConfig>).lr, /trainConfig: .*lr must be/],
    [(t) => t.step = -1, /training\.step must be an integer ≥ 0/],
    [(t) => t.step = 99, /training\.adamT \(2\) must equal training\.step \(99\)/],
    [(t) => (t.step = 99, t.adamT = 99), /training\.step \(99\) is past the run's 6 steps/],
    [(t) => t.samplerState = "x", /samplerState must be a 32-bit unsigned integer/],
    [(t) => t.trainConfig = 5, /trainConfig: bad train config: expected an object/],
  ];
  for (const [edit, message] of cases) {
    assert.throws(
      () => decodeCheckpoint(withTraining(edit)),
      (e: Error) => e instanceof CheckpointError && message.test(e.message),
      String(edit),
    );
  }
  model.dispose();
});

// tests/fixtures/train_checkpoint_v1.safetensors was written by the code before the training
// state was a type of its own (checkpoint.ts read it off a Trainer): encodeCheckpoint(model,
// { trainer, extra: { note: "fixture" } }) of GPT.create(makeConfig({ vocabSize: 13,
// contextLength: 8, nLayer: 1, nHead: 2, nEmbd: 8 }), 5) after 3 of 6 steps of
// defaultTrainConfig({ steps: 6, batchSize: 2, lr: 3e-3, evalInterval: 0, evalBatches: 1,
// seed: 3, gradClip: Infinity }) on the tokens (i * 7) % 13, i < 400, on the cpu backend.
Deno.test("checkpoint format: a file the earlier code wrote loads, and writes back byte for byte", async () => {
  const bytes = await Deno.readFile(
    new URL("./fixtures/train_checkpoint_v1.safetensors", import.meta.url),
  );
  const loaded = decodeCheckpoint(bytes, "fixture");
  const state = loaded.training!;
  assert.equal(state.step, 3);
  assert.equal(state.adamT, 3);
  assert.equal(state.samplerState, 758928760);
  assert.deepEqual(
    state.trainConfig,
    defaultTrainConfig({
      steps: 6,
      batchSize: 2,
      lr: 3e-3,
      evalInterval: 0,
      evalBatches: 1,
      seed: 3,
      gradClip: Infinity,
    }),
  );
  assert.deepEqual(loaded.extra, { note: "fixture" });
  // Through a Trainer and back: restore it, then save the training state it reports.
  const tokens = Int32Array.from({ length: 400 }, (_, i) => (i * 7) % 13);
  const trainer = new Trainer(loaded.model, splitTokens(tokens), state.trainConfig);
  trainer.restore(state);
  const again = await encodeCheckpoint(loaded.model, {
    training: trainer.trainingState(),
    extra: loaded.extra,
  });
  // `{ trainer }` (what the notebooks pass) is the same as `{ training: trainer.trainingState() }`.
  assert.deepEqual(await encodeCheckpoint(loaded.model, { trainer, extra: loaded.extra }), again);
  const before = decodeSafetensors(bytes), after = decodeSafetensors(again);
  assert.deepEqual(Object.keys(after.tensors), Object.keys(before.tensors));
  for (const [key, t] of Object.entries(before.tensors)) {
    assert.deepEqual(after.tensors[key], t, key);
  }
  for (const key of ["format", "training", "extra"]) {
    assert.equal(after.metadata[key], before.metadata[key], key);
  }
  // The model's config may gain fields (with defaults) over time; the stored ones come back as
  // they were, and with no new field the whole file is the same bytes.
  const stored = JSON.parse(before.metadata.config), written = JSON.parse(after.metadata.config);
  for (const [key, value] of Object.entries(stored)) assert.deepEqual(written[key], value, key);
  if (after.metadata.config === before.metadata.config) assert.deepEqual(again, bytes);
  loaded.model.dispose();
});

Deno.test("TrainingLoop: schedule, step counter, evaluation interval and last step, failing step named", async () => {
  const seen: string[] = [];
  const loop = new TrainingLoop({
    totalSteps: 7,
    schedule: (step) => step / 10,
    step: ({ step, lr }) => Promise.resolve({ step, lr }),
    label: "toy",
  });
  const run = (untilStep: number, evalInterval: number, evaluate = true) =>
    loop.run({
      untilStep,
      evalInterval,
      evaluate: evaluate ? () => `eval after ${loop.step}` : undefined,
      onStep: (s, t) => void seen.push(`step ${s.step} -> ${t.step} at lr ${s.lr}`),
      onEval: (e, t) => void seen.push(`${e} (${t.step})`),
    });
  await run(5, 2);
  assert.deepEqual(seen.splice(0), [
    "step 0 -> 1 at lr 0",
    "step 1 -> 2 at lr 0.1",
    "eval after 2 (2)",
    "step 2 -> 3 at lr 0.2",
    "step 3 -> 4 at lr 0.3",
    "eval after 4 (4)",
    "step 4 -> 5 at lr 0.4",
    "eval after 5 (5)",
  ]);
  await run(5, 2);
  assert.deepEqual(seen.splice(0), [], "nothing left to do at untilStep");
  await run(6, 0, false);
  assert.deepEqual(seen.splice(0), ["step 5 -> 6 at lr 0.5"], "no evaluation without evaluate");
  await run(7, 0);
  assert.deepEqual(seen.splice(0), ["step 6 -> 7 at lr 0.6", "eval after 7 (7)"]);
  assert.equal(loop.lrAt(3), 0.3);

  const failing = (namesStep?: (err: Error) => boolean) =>
    new TrainingLoop({
      totalSteps: 3,
      schedule: () => 0.5,
      step: () => Promise.reject(new Error("boom")),
      label: "toy",
      namesStep,
    });
  const named = failing((err) => err.message === "boom");
  await assert.rejects(
    () => named.advance(),
    (e: Error) => e.message === "toy step 1 of 3 (lr 0.5): boom",
  );
  assert.equal(named.step, 0, "a failed step is not counted");
  await assert.rejects(() => failing().advance(), (e: Error) => e.message === "boom");
});

Deno.test("GradientWorkers refuse webgpu before starting any worker", async () => {
  await assert.rejects(
    () => GradientWorkers.start(1, config(), "webgpu"),
    /GradientWorkers: data parallelism \(threads > 1\) is for the CPU backends .*threads: 1/,
  );
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
    /the gradient of "h.0.mlp.c_fc.weight" holds NaN at index 0 while every weight is finite.*nothing was updated/,
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

Deno.test("AdamW: three steps by hand, bias correction, decay only where it applies, clipping active", () => {
  // Two parameters: a linear matrix (decays) and a bias (does not). Gradients chosen so that
  // step 2 is clipped (global norm 5 > 1) and steps 1 and 3 are not.
  const params = new Map<string, tf.Variable>([
    ["h.0.mlp.c_fc.weight", tf.variable(tf.tensor([0.5, -1.0]))],
    ["h.0.mlp.c_fc.bias", tf.variable(tf.tensor([2.0]))],
  ]);
  const opt = { beta1: 0.8, beta2: 0.9, eps: 1e-8, weightDecay: 0.5 };
  const adam = new AdamW(params, opt);
  const grads = [
    [[0.3, -0.4], [0.1]], // norm 0.51: not clipped
    [[3.0, 0.0], [4.0]], // norm 5: clipped to 1 (scale 0.2)
    [[-0.2, 0.1], [0.05]],
  ];
  const lrs = [0.1, 0.05, 0.02];
  // Reference in float64, written from the algorithm's definition.
  const w = [[0.5, -1.0], [2.0]];
  const m = [[0, 0], [0]], v = [[0, 0], [0]];
  const decays = [true, false];
  for (let t = 1; t <= 3; t++) {
    const g = grads[t - 1];
    const norm = Math.sqrt(g.flat().reduce((a, x) => a + x * x, 0));
    const scale = norm > 1 ? 1 / norm : 1;
    const stats = adam.stepArrays(
      new Map([
        ["h.0.mlp.c_fc.weight", Float32Array.from(g[0])],
        ["h.0.mlp.c_fc.bias", Float32Array.from(g[1])],
      ]),
      lrs[t - 1],
      1,
    );
    assert.ok(Math.abs(stats.gradNorm - norm) < 1e-6);
    assert.ok(Math.abs(stats.clipScale - scale) < 1e-7);
    for (let p = 0; p < 2; p++) {
      for (let i = 0; i < w[p].length; i++) {
        const gi = g[p][i] * scale;
        m[p][i] = opt.beta1 * m[p][i] + (1 - opt.beta1) * gi;
        v[p][i] = opt.beta2 * v[p][i] + (1 - opt.beta2) * gi * gi;
        const mHat = m[p][i] / (1 - opt.beta1 ** t), vHat = v[p][i] / (1 - opt.beta2 ** t);
        const decay = decays[p] ? 1 - lrs[t - 1] * opt.weightDecay : 1;
        w[p][i] = w[p][i] * decay - lrs[t - 1] * mHat / (Math.sqrt(vHat) + opt.eps);
      }
    }
    const got = [...params.values()].map((x) => Array.from(x.dataSync()));
    for (let p = 0; p < 2; p++) {
      got[p].forEach((x, i) =>
        assert.ok(Math.abs(x - w[p][i]) < 1e-6, `step ${t}, param ${p}[${i}]: ${x} vs ${w[p][i]}`)
      );
    }
  }
  assert.equal(adam.state.t, 3);
  params.forEach((p) => p.dispose());
});

Deno.test("Trainer: the optimizer gets the config's betas and weight decay", () => {
  const model = GPT.create(config(), 0);
  const cfg = { ...trainConfig(4), beta1: 0.7, beta2: 0.8, weightDecay: 0.3 };
  const trainer = new Trainer(model, split, cfg);
  assert.equal(trainer.optimizer.options.beta1, 0.7);
  assert.equal(trainer.optimizer.options.beta2, 0.8);
  assert.equal(trainer.optimizer.options.weightDecay, 0.3);
  model.dispose();
});

Deno.test("BatchSampler: every window start from 0 to the last one can be drawn, no other", () => {
  const tokens = Int32Array.from({ length: 20 }, (_, i) => i);
  const t = 5, sampler = new BatchSampler(tokens, 1, t, 4);
  const starts = new Set<number>();
  for (let i = 0; i < 4000; i++) {
    const b = sampler.next();
    starts.add(b.x[0]);
    assert.deepEqual(Array.from(b.y), Array.from(b.x).map((x) => x + 1));
  }
  // The last window is tokens[14..19) with targets up to tokens[19].
  assert.deepEqual([...starts].sort((a, b) => a - b), Array.from({ length: 15 }, (_, i) => i));
});

Deno.test("warmupCosine: edges — no warm-up, the step that ends warm-up, runs shorter than warm-up", () => {
  const none = warmupCosine({ maxLr: 1, minLr: 0.1, warmupSteps: 0, totalSteps: 10 });
  assert.ok(Math.abs(none(0) - 1) < 1e-12, "no warm-up starts at the peak");
  const s = warmupCosine({ maxLr: 1, minLr: 0.1, warmupSteps: 4, totalSteps: 10 });
  // Warm-up is linear, (step + 1) / warmupSteps: the last warm-up step reaches the peak.
  assert.deepEqual([0, 1, 2, 3].map(s), [0.25, 0.5, 0.75, 1]);
  assert.ok(Math.abs(s(4) - 1) < 1e-12, "the cosine starts at the peak");
  assert.ok(s(5) < 1, "and decays from there");
  assert.ok(Math.abs(s(10) - 0.1) < 1e-12, "minLr at the end");
  const short = warmupCosine({ maxLr: 1, minLr: 0.1, warmupSteps: 50, totalSteps: 10 });
  for (let i = 0; i < 10; i++) {
    const v = short(i);
    assert.ok(Number.isFinite(v) && v > 0 && v <= 1, `step ${i}: ${v}`);
  }
});
