/**
 * Sparse attention inside the model: the per-layer `attention` field of GPTConfig
 * (lib/model/config.ts), its use by lib/model/gpt.ts and lib/attention/mod.ts (block-sparse
 * kernel on the fused path, the pattern's mask on the reference path), and checkpoints that
 * carry it.
 */
import * as tf from "@tensorflow/tfjs";
import { noAdapter } from "./gpu_support.ts";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { ConfigError, coursePreset, type GPTConfig, makeConfig } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { setReferenceKernels } from "../lib/kernels/dispatch.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../lib/train/checkpoint.ts";
import { layerPatterns, type SparsePattern } from "../lib/attention/mod.ts";

await initBackend();

const VOCAB = 13;

/** A micro-sized model config (width 16, 2 heads) with the given context and overrides. */
const micro = (contextLength: number, overrides: Partial<GPTConfig> = {}) =>
  coursePreset("micro", { vocabSize: VOCAB, contextLength, ...overrides });

/** Deterministic token ids [B, T]. */
function ids(b: number, t: number, seed: number): Int32Array {
  const values = new Int32Array(b * t);
  let s = seed;
  for (let i = 0; i < values.length; i++) {
    values[i] = (s = (s * 1103515245 + 12345) >>> 0) % VOCAB;
  }
  return values;
}

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let diff = 0, scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Runs fn with the plain tfjs compositions (masked dense attention) instead of the kernels. */
function reference<T>(fn: () => T): T {
  setReferenceKernels(true);
  try {
    return fn();
  } finally {
    setReferenceKernels(false);
  }
}

Deno.test("config: attention is validated per layer, with errors naming the field", () => {
  const base = { vocabSize: VOCAB, contextLength: 16, nLayer: 2, nHead: 2, nEmbd: 16 };
  const band: SparsePattern = { kind: "band", window: 4 };
  const bad: [unknown, RegExp][] = [
    [[band], /attention must list one pattern per layer \(nLayer = 2\), got 1 patterns/],
    [[band, band, band], /got 3 patterns/],
    [band, /attention must list one pattern per layer .* got \{"kind":"band","window":4\}/],
    [[band, { kind: "band", window: 0 }], /attention\[1\]: band pattern: window must be an/],
    [[{ kind: "fixed", block: 4, summary: 5 }, band], /attention\[0\]: .*summary \(c = 5\)/],
    [[{ kind: "diagonal" }, band], /attention\[0\]: .*unknown kind "diagonal"/],
    [[null, band], /attention\[0\]: .*must be an object/],
  ];
  for (const [attention, message] of bad) {
    assert.throws(
      () => makeConfig({ ...base, attention: attention as SparsePattern[] }),
      (err: Error) => err instanceof ConfigError && message.test(err.message),
      String(message),
    );
  }
  // GPT-3's alternation, from lib/attention.
  const alternating = makeConfig({ ...base, attention: layerPatterns("alternating", 2, band) });
  assert.deepEqual(alternating.attention, [{ kind: "dense" }, band]);
  // The config keeps its own copy of the patterns.
  const mine: SparsePattern = { kind: "band", window: 3 };
  const c = makeConfig({ ...base, attention: [mine, mine] });
  mine.window = 0;
  assert.deepEqual(c.attention, [{ kind: "band", window: 3 }, { kind: "band", window: 3 }]);
  // Without the field nothing changes: no key, and the same JSON as before.
  const plain = makeConfig(base);
  assert.ok(!("attention" in plain));
  assert.equal(
    JSON.stringify(plain),
    '{"dropout":0,"norm":"pre","tiedEmbeddings":true,"vocabSize":13,"contextLength":16,' +
      '"nLayer":2,"nHead":2,"nEmbd":16}',
  );
});

Deno.test("all-dense attention gives exactly the model without the field", () => {
  const t = 20;
  const x = tf.tensor2d(ids(2, t, 1), [2, t], "int32");
  const plain = GPT.create(micro(t), 3);
  const dense = GPT.create(micro(t, { attention: layerPatterns("dense", 2) }), 3);
  const [a, b] = [plain, dense].map((m) =>
    tf.tidy(() => m.forward(x).logits.dataSync() as Float32Array)
  );
  assert.deepEqual(a, b);
  tf.dispose(x);
  plain.dispose();
  dense.dispose();
});

Deno.test("alternating dense/band layers: the fused path equals the masked reference path", () => {
  // T = 80 spans two 64-position blocks of the block-sparse kernel; a 4-layer model alternates
  // dense and band layers (GPT-3's scheme) and a strided layer checks a multi-run pattern.
  const t = 80, b = 2;
  const configs: GPTConfig[] = [
    micro(t, {
      nLayer: 4,
      attention: layerPatterns("alternating", 4, { kind: "band", window: 7 }),
    }),
    micro(t, { attention: [{ kind: "strided", stride: 9 }, { kind: "band", window: 30 }] }),
  ];
  for (const config of configs) {
    const model = GPT.create(config, 11);
    const x = tf.tensor2d(ids(b, t, 2), [b, t], "int32");
    const y = tf.tensor2d(ids(b, t, 3), [b, t], "int32");
    const run = () => {
      const { value, grads } = model.valueAndGrads(() => model.loss(x, y));
      const out = {
        loss: value.dataSync()[0],
        grads: new Map([...grads].map(([name, g]) => [name, g.dataSync() as Float32Array])),
      };
      tf.dispose([value, ...grads.values()]);
      return out;
    };
    const before = tf.memory().numTensors;
    const fused = run();
    const ref = reference(run);
    const what = JSON.stringify(config.attention);
    assert.ok(
      Math.abs(fused.loss - ref.loss) < 1e-5 * Math.abs(ref.loss),
      `${what}: loss ${fused.loss} vs ${ref.loss}`,
    );
    for (const [name, g] of ref.grads) {
      const err = relErr(fused.grads.get(name)!, g);
      assert.ok(err < 1e-4, `${what}: gradient of ${name} differs by ${err}`);
    }
    // The masks the reference path caches are kept on purpose; nothing else may leak.
    assert.ok(tf.memory().numTensors - before <= config.nLayer, "tensors leaked");
    // The sparse layers really are sparse: the dense model's loss is different.
    const dense = new GPT({ ...config, attention: undefined }, model.params);
    const denseLoss = tf.tidy(() => dense.loss(x, y).dataSync()[0]);
    assert.ok(Math.abs(denseLoss - ref.loss) > 1e-4, `${what}: sparse and dense losses agree`);
    tf.dispose([x, y]);
    model.dispose();
  }
});

Deno.test("one band layer: position i does not see tokens more than window − 1 back", () => {
  const t = 40, window = 6;
  const model = GPT.create(micro(t, { nLayer: 1, attention: [{ kind: "band", window }] }), 7);
  const base = ids(1, t, 4);
  const logits = (tokens: Int32Array) =>
    tf.tidy(() => {
      const x = tf.tensor2d(tokens, [1, t], "int32");
      return model.forward(x).logits.arraySync()[0] as number[][];
    });
  const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((v, k) => Math.abs(v - b[k])));
  for (const path of ["fused", "reference"] as const) {
    const at = (tokens: Int32Array) =>
      path === "fused" ? logits(tokens) : reference(() => logits(tokens));
    const original = at(base);
    for (const i of [window, 20, t - 1]) {
      // Every token at or before i − window replaced: position i's logits must not move.
      const far = base.slice();
      for (let j = 0; j <= i - window; j++) far[j] = (far[j] + 1 + j) % VOCAB;
      assert.equal(maxDiff(at(far)[i], original[i]), 0, `${path}: i=${i} saw beyond its window`);
      // The oldest token inside the window does reach it.
      const near = base.slice();
      near[i - window + 1] = (near[i - window + 1] + 1) % VOCAB;
      assert.ok(maxDiff(at(near)[i], original[i]) > 1e-6, `${path}: i=${i} ignores its window`);
    }
  }
  // A dense model with the same weights does see the far tokens.
  const dense = new GPT({ ...model.config, attention: undefined }, model.params);
  const x = tf.tensor2d(base, [1, t], "int32");
  const far = base.slice();
  far[0] = (far[0] + 1) % VOCAB;
  const xFar = tf.tensor2d(far, [1, t], "int32");
  const moved = tf.tidy(() =>
    tf.max(tf.abs(tf.sub(dense.forward(x).logits, dense.forward(xFar).logits))).dataSync()[0]
  );
  assert.ok(moved > 1e-6, "the dense model ignores the first token");
  tf.dispose([x, xFar]);
  model.dispose();
});

Deno.test("attention maps of a sparse layer are zero outside its pattern", () => {
  const t = 12, window = 3;
  const attention = [{ kind: "band", window }, { kind: "dense" }] as SparsePattern[];
  const model = GPT.create(micro(t, { attention }), 1);
  const x = tf.tensor2d(ids(1, t, 5), [1, t], "int32");
  const out = model.forward(x, { returnAttention: true });
  const [band, dense] = out.attention!.map((a) => a.arraySync()[0][0] as number[][]);
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < t; j++) {
      if (j > i || j <= i - window) assert.equal(band[i][j], 0, `band (${i}, ${j})`);
      else assert.ok(band[i][j] > 0);
      assert.equal(dense[i][j] > 0, j <= i, `dense (${i}, ${j})`);
    }
  }
  tf.dispose([x, out.logits, out.hidden, ...out.attention!]);
  model.dispose();
});

Deno.test("checkpoints carry the attention patterns; old configs round-trip unchanged", async () => {
  const t = 24;
  const attention = layerPatterns("alternating", 2, { kind: "strided", stride: 5 });
  const x = tf.tensor2d(ids(1, t, 6), [1, t], "int32");
  for (const config of [micro(t, { attention }), micro(t)]) {
    const model = GPT.create(config, 9);
    const bytes = await encodeCheckpoint(model);
    const loaded = decodeCheckpoint(bytes).model;
    assert.deepEqual(loaded.config, model.config);
    assert.equal("attention" in loaded.config, config.attention !== undefined);
    const [a, b] = [model, loaded].map((m) =>
      tf.tidy(() => m.forward(x).logits.dataSync() as Float32Array)
    );
    assert.deepEqual(b, a);
    model.dispose();
    loaded.dispose();
  }
  tf.dispose(x);
});

const noGpu = await noAdapter();

Deno.test({
  name: "webgpu: sparse layers through the WGSL kernel equal the masked reference path" +
    (noGpu ? ` (ignored: ${noGpu})` : ""),
  ignore: noGpu !== undefined,
  // tfjs-webgpu leaves buffer mappings and queue callbacks in flight between tests.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend({ backend: "webgpu", allowFallbackAdapter: true });
    try {
      const t = 80, b = 2;
      const attention = layerPatterns("alternating", 4, { kind: "band", window: 7 });
      const model = GPT.create(micro(t, { nLayer: 4, attention }), 11);
      const x = tf.tensor2d(ids(b, t, 2), [b, t], "int32");
      const y = tf.tensor2d(ids(b, t, 3), [b, t], "int32");
      // webgpu has no dataSync: read everything back asynchronously.
      const run = async () => {
        const { value, grads } = model.valueAndGrads(() => model.loss(x, y));
        const out = new Map<string, Float32Array>();
        for (const [name, g] of grads) out.set(name, (await g.data()) as Float32Array);
        const loss = (await value.data())[0];
        tf.dispose([value, ...grads.values()]);
        return { loss, grads: out };
      };
      const fused = await run();
      setReferenceKernels(true);
      const ref = await run().finally(() => setReferenceKernels(false));
      assert.ok(Math.abs(fused.loss - ref.loss) < 1e-5 * ref.loss, `${fused.loss} vs ${ref.loss}`);
      for (const [name, g] of ref.grads) {
        const err = relErr(fused.grads.get(name)!, g);
        assert.ok(err < 1e-4, `gradient of ${name} differs by ${err}`);
      }
      tf.dispose([x, y]);
      model.dispose();
    } finally {
      await initBackend({ backend: "wasm" });
    }
  },
});
