/**
 * The attention folder's seams: the dispatch picks by backend, pattern and request and says
 * once when it falls back; the reference option is honoured; the block runs alone; the forward
 * pass through a decoding cache is the same blocks; parameter counts come from the shapes.
 * (Each fast kernel against the reference: kernels_test.ts, sparse_test.ts, gpu_*_test.ts.)
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { attend, chooseAttention, type SparsePattern } from "../lib/attention/mod.ts";
import { countParams, parameterShapes, PUBLISHED } from "../lib/model/config.ts";
import { KVCache } from "../lib/model/kv_cache.ts";
import { LruCache } from "../lib/cache.ts";
import { assertClose, microGpt, randn } from "./support.ts";

await initBackend();

const band: SparsePattern = { kind: "band", window: 3 };

Deno.test("chooseAttention: the table of backend × pattern × request", () => {
  const cases: {
    request: Parameters<typeof chooseAttention>[0];
    kernel: string;
    fallback?: RegExp;
  }[] = [
    { request: { backend: "wasm" }, kernel: "cpu-dense" },
    { request: { backend: "cpu", pattern: { kind: "dense" } }, kernel: "cpu-dense" },
    { request: { backend: "wasm", pattern: band }, kernel: "cpu-block-sparse" },
    { request: { backend: "webgpu" }, kernel: "gpu-dense" },
    { request: { backend: "webgpu", pattern: band }, kernel: "gpu-block-sparse" },
    { request: { backend: "wasm", implementation: "reference" }, kernel: "reference" },
    { request: { backend: "webgpu", wantWeights: true }, kernel: "reference" },
    {
      request: { backend: "wasm", dropout: 0.1, pattern: band },
      kernel: "reference",
      fallback: /dropout 0\.1 .*band\(w=3\) layers as masked dense/,
    },
    {
      request: { backend: "webgl" },
      kernel: "reference",
      fallback: /no attention kernel for the webgl/,
    },
  ];
  for (const { request, kernel, fallback } of cases) {
    const choice = chooseAttention(request);
    assert.equal(choice.kernel, kernel, JSON.stringify(request));
    if (fallback) assert.match(choice.fallback ?? "", fallback);
    else assert.equal(choice.fallback, undefined, JSON.stringify(request));
  }
});

Deno.test("attend: a dropout fallback is said once on stderr, and only once", () => {
  const said: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => said.push(args.join(" "));
  try {
    const qkv = randn([2 * 5, 3 * 8], 1) as tf.Tensor2D;
    for (let i = 0; i < 3; i++) {
      tf.dispose(attend(qkv, { batch: 2, time: 5, nHead: 2, dropout: 0.25, seed: i }));
    }
    qkv.dispose();
  } finally {
    console.warn = warn;
  }
  assert.equal(said.length, 1, said.join("\n"));
  assert.match(said[0], /^attention: attention dropout 0\.25 needs the \[T, T\] weights/);
});

Deno.test("GPT.forward: attention 'reference' equals the kernels, dense and sparse layers", () => {
  const model = microGpt({ attention: [{ kind: "dense" }, band] }, 2);
  const idx = tf.tensor2d(
    [[1, 5, 2, 9, 0, 3, 3, 7], [4, 4, 1, 0, 12, 6, 2, 8]],
    undefined,
    "int32",
  );
  const logits = (options = {}) => tf.tidy(() => model.forward(idx, options).logits);
  tf.dispose(logits({ attention: "reference" })); // builds the two cached masks
  const before = tf.memory().numTensors;
  const fast = logits();
  const reference = logits({ attention: "reference" });
  assertClose("logits", fast, reference, 1e-5);
  tf.dispose([fast, reference]);
  assert.equal(tf.memory().numTensors, before);
  idx.dispose();
  model.dispose();
});

Deno.test("Block: the blocks run one by one give GPT.forward's logits (pre and post norm)", () => {
  for (const norm of ["pre", "post"] as const) {
    const model = microGpt({ norm, nLayer: 3 }, 4);
    const idx = tf.tensor2d([[3, 1, 4, 1, 5, 9, 2, 6]], undefined, "int32");
    const [b, t] = idx.shape;
    const byHand = tf.tidy(() => {
      let x = model.embed(idx);
      for (const block of model.blocks) x = block.forward(x, { batch: b, time: t });
      return model.head(model.finalNorm(x));
    });
    const logits = model.forward(idx).logits;
    assertClose(`${norm}-norm logits`, byHand, logits, 1e-6);
    assert.equal(model.blocks.length, 3);
    assert.equal(model.blocks[2].params.mlp.cFcW, model.params.get("h.2.mlp.c_fc.weight"));
    tf.dispose([byHand, logits, idx]);
    model.dispose();
  }
});

Deno.test("GPT.forward with a cache: same blocks, same logits as the full pass, sparse layers too", () => {
  const model = microGpt({ attention: [band, { kind: "strided", stride: 3 }] }, 5);
  const ids = [2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4];
  const full = tf.tidy(() =>
    model.forward(tf.tensor2d([ids], undefined, "int32")).logits.reshape([ids.length, -1])
  );
  const rows = full.arraySync() as number[][];
  const cache = new KVCache(model);
  assertClose("prompt of 4", cache.append(ids.slice(0, 4)), rows[3], 1e-4);
  for (let i = 4; i < ids.length; i++) {
    assertClose(`token ${i}`, cache.append([ids[i]]), rows[i], 1e-4);
  }
  assert.throws(
    () => model.forward(tf.tensor2d([[1], [2]], undefined, "int32"), { cache }),
    /decoding cache needs batch 1/,
  );
  cache.dispose();
  full.dispose();
  model.dispose();
});

Deno.test("countParams: summed from the parameter shapes, and cheap for the largest models", () => {
  const model = microGpt({ tiedEmbeddings: false }, 0);
  const fromShapes = [...parameterShapes(model.config).values()]
    .reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
  assert.equal(countParams(model.config).total, fromShapes);
  let size = 0;
  for (const p of model.params.values()) size += p.size;
  assert.equal(countParams(model.config).total, size);
  model.dispose();
  const t0 = performance.now();
  const gpt3 = countParams(PUBLISHED["gpt3-175b"]).total;
  assert.ok(performance.now() - t0 < 50);
  assert.ok(Math.abs(gpt3 / 175e9 - 1) < 0.01, `GPT-3 175B: ${gpt3}`);
});

Deno.test("LruCache: keeps the most recent entries and hands the dropped ones to onEvict", () => {
  const dropped: number[] = [];
  const cache = new LruCache<string, number>(2, (v) => dropped.push(v));
  let made = 0;
  const get = (k: string) => cache.getOrCreate(k, () => ++made);
  assert.equal(get("a"), 1);
  assert.equal(get("b"), 2);
  assert.equal(get("a"), 1); // a is now the most recent
  assert.equal(get("c"), 3); // drops b
  assert.deepEqual(dropped, [2]);
  assert.equal(get("b"), 4);
  assert.equal(cache.size, 2);
  assert.throws(() => new LruCache(0), /capacity/);
});
