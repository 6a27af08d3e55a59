import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/backend.ts";
import {
  gpt2FromSafetensors,
  HfGpt2Error,
  inferGpt2Config,
  loadHfGpt2,
} from "../lib/model/hf_gpt2.ts";
import { PUBLISHED } from "../lib/model/config.ts";
import type { GPT } from "../lib/model/gpt.ts";
import {
  CheckpointNotFoundError,
  encodeSafetensors,
  fromFloat32,
  type TensorInput,
  toFloat32,
} from "../lib/io/mod.ts";
import { Rng } from "../lib/random.ts";

await initBackend();

// A small GPT-2 in Hugging Face's layout: 2 blocks, width 32, 4 heads, vocabulary 50, context 16.
const V = 50, C = 32, H = 4, T = 16, L = 2;

/** Random weights by Hugging Face name (no prefix), large enough that every part matters. */
function randomWeights(seed: number): Map<string, { shape: number[]; values: Float32Array }> {
  const rng = new Rng(seed);
  const w = new Map<string, { shape: number[]; values: Float32Array }>();
  const add = (name: string, shape: number[], std: number, mean = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = rng.normalArray(n, std).map((v) => v + mean);
    w.set(name, { shape, values });
  };
  add("wte.weight", [V, C], 0.5);
  add("wpe.weight", [T, C], 0.3);
  for (let i = 0; i < L; i++) {
    const p = `h.${i}.`;
    add(p + "ln_1.weight", [C], 0.2, 1);
    add(p + "ln_1.bias", [C], 0.1);
    add(p + "attn.c_attn.weight", [C, 3 * C], 0.3);
    add(p + "attn.c_attn.bias", [3 * C], 0.1);
    add(p + "attn.c_proj.weight", [C, C], 0.2);
    add(p + "attn.c_proj.bias", [C], 0.1);
    add(p + "ln_2.weight", [C], 0.2, 1);
    add(p + "ln_2.bias", [C], 0.1);
    add(p + "mlp.c_fc.weight", [C, 4 * C], 0.2);
    add(p + "mlp.c_fc.bias", [4 * C], 0.1);
    add(p + "mlp.c_proj.weight", [4 * C, C], 0.1);
    add(p + "mlp.c_proj.bias", [C], 0.1);
  }
  add("ln_f.weight", [C], 0.2, 1);
  add("ln_f.bias", [C], 0.1);
  return w;
}

/** Options for {@link hfFile}. */
interface FileOptions {
  dtype?: "F32" | "F16";
  prefix?: string;
  buffers?: boolean;
  extra?: Record<string, TensorInput>;
  drop?: string;
}

/**
 * Writes the weights as a `model.safetensors` the way transformers saves GPT2LMHeadModel:
 * `transformer.` prefix, the causal-mask buffers `attn.bias` [1, 1, T, T] and
 * `attn.masked_bias` (a scalar), tensors in F32 or F16.
 */
function hfFile(
  weights: Map<string, { shape: number[]; values: Float32Array }>,
  o: FileOptions = {},
): Uint8Array {
  const { dtype = "F32", prefix = "transformer.", buffers = true } = o;
  const tensors: Record<string, TensorInput> = {};
  for (const [name, { shape, values }] of weights) {
    if (name === o.drop) continue;
    tensors[prefix + name] = { dtype, shape, data: fromFloat32(values, dtype) };
  }
  if (buffers) {
    const mask = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) mask[i * T + j] = 1;
    for (let i = 0; i < L; i++) {
      tensors[`${prefix}h.${i}.attn.bias`] = {
        dtype,
        shape: [1, 1, T, T],
        data: fromFloat32(mask, dtype),
      };
      tensors[`${prefix}h.${i}.attn.masked_bias`] = {
        dtype,
        shape: [],
        data: fromFloat32([-1e4], dtype),
      };
    }
  }
  return encodeSafetensors({ ...tensors, ...o.extra }, { format: "pt" });
}

/** The values as the file stores them (F16 rounds), to feed the reference. */
function stored(
  weights: Map<string, { shape: number[]; values: Float32Array }>,
  dtype: "F32" | "F16",
): Map<string, Float32Array> {
  return new Map(
    [...weights].map((
      [name, { shape, values }],
    ) => [name, toFloat32({ dtype, shape, data: fromFloat32(values, dtype) })]),
  );
}

/**
 * GPT-2's forward pass in plain loops and Float64, written from the paper and Hugging Face's
 * modeling_gpt2.py, independent of the library: x = wte[t] + wpe[pos]; per block
 * x += proj(attn(LN1(x))), x += mlp(LN2(x)) with causal softmax(q·kᵀ/√d) per head and
 * GELU(tanh); then LN_f and logits = x · wteᵀ (or an untied head). Returns logits [T][V].
 */
function referenceLogits(
  w: Map<string, Float32Array>,
  ids: number[],
  head = w.get("wte.weight")!,
): number[][] {
  const n = ids.length, d = C / H;
  const get = (name: string) => w.get(name)!;
  let x = ids.map((id, t) =>
    Array.from(
      { length: C },
      (_, c) => get("wte.weight")[id * C + c] + get("wpe.weight")[t * C + c],
    )
  );
  const ln = (rows: number[][], g: Float32Array, b: Float32Array) =>
    rows.map((r) => {
      const mean = r.reduce((a, v) => a + v, 0) / C;
      const variance = r.reduce((a, v) => a + (v - mean) ** 2, 0) / C;
      return r.map((v, c) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[c] + b[c]);
    });
  const affine = (rows: number[][], W: Float32Array, b: Float32Array, out: number) =>
    rows.map((r) =>
      Array.from({ length: out }, (_, j) => {
        let s = b[j];
        for (let i = 0; i < r.length; i++) s += r[i] * W[i * out + j];
        return s;
      })
    );
  const gelu = (v: number) =>
    0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  for (let l = 0; l < L; l++) {
    const p = `h.${l}.`;
    const h1 = ln(x, get(p + "ln_1.weight"), get(p + "ln_1.bias"));
    const qkv = affine(h1, get(p + "attn.c_attn.weight"), get(p + "attn.c_attn.bias"), 3 * C);
    const y = x.map(() => new Array<number>(C).fill(0));
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < n; i++) {
        const scores: number[] = [];
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let k = 0; k < d; k++) s += qkv[i][h * d + k] * qkv[j][C + h * d + k];
          scores.push(s / Math.sqrt(d));
        }
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, v) => a + v, 0);
        for (let j = 0; j <= i; j++) {
          for (let k = 0; k < d; k++) y[i][h * d + k] += (e[j] / z) * qkv[j][2 * C + h * d + k];
        }
      }
    }
    const attn = affine(y, get(p + "attn.c_proj.weight"), get(p + "attn.c_proj.bias"), C);
    x = x.map((r, i) => r.map((v, c) => v + attn[i][c]));
    const h2 = ln(x, get(p + "ln_2.weight"), get(p + "ln_2.bias"));
    const hidden = affine(h2, get(p + "mlp.c_fc.weight"), get(p + "mlp.c_fc.bias"), 4 * C)
      .map((r) => r.map(gelu));
    const mlp = affine(hidden, get(p + "mlp.c_proj.weight"), get(p + "mlp.c_proj.bias"), C);
    x = x.map((r, i) => r.map((v, c) => v + mlp[i][c]));
  }
  x = ln(x, get("ln_f.weight"), get("ln_f.bias"));
  return x.map((r) =>
    Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let c = 0; c < C; c++) s += r[c] * head[v * C + c];
      return s;
    })
  );
}

/** The model's logits [T][V] for one sequence. */
function modelLogits(model: GPT, ids: number[]): number[][] {
  const logits = tf.tidy(() =>
    model.forward(tf.tensor2d(ids, [1, ids.length], "int32")).logits.squeeze([0])
  );
  const out = logits.arraySync() as number[][];
  logits.dispose();
  return out;
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => m = Math.max(m, Math.abs(v - b[i][j]))));
  return m;
}

const weights = randomWeights(1);
const IDS = [3, 17, 42, 0, 49, 8, 8, 8, 25, 11, 30, 2, 7, 44, 19, 5]; // the full context

Deno.test("hf gpt2: F32 file with prefix and mask buffers matches an independent forward", () => {
  const before = tf.memory().numTensors;
  const model = gpt2FromSafetensors(hfFile(weights), { nHead: H });
  const c = model.config;
  assert.deepEqual(
    [c.vocabSize, c.contextLength, c.nLayer, c.nHead, c.nEmbd, c.norm, c.tiedEmbeddings],
    [V, T, L, H, C, "pre", true],
  );
  assert.equal(tf.memory().numTensors - before, model.params.size); // one tensor per parameter
  const ref = referenceLogits(stored(weights, "F32"), IDS);
  const got = modelLogits(model, IDS);
  const scale = Math.max(...ref.flat().map(Math.abs));
  assert.ok(scale > 1, `logits should not be tiny (max |logit| ${scale})`);
  const diff = maxDiff(got, ref);
  assert.ok(diff < 1e-4, `max |Δlogit| = ${diff}`);
  // A prefix of the sequence gives the same logits as the first rows (causality).
  assert.ok(maxDiff(modelLogits(model, IDS.slice(0, 5)), ref.slice(0, 5)) < 1e-4);
  model.dispose();
});

Deno.test("hf gpt2: F16 file, no prefix, no buffers; widened exactly", () => {
  const model = gpt2FromSafetensors(
    hfFile(weights, { dtype: "F16", prefix: "", buffers: false }),
    { nHead: H },
  );
  const ref16 = referenceLogits(stored(weights, "F16"), IDS);
  const diff = maxDiff(modelLogits(model, IDS), ref16);
  assert.ok(diff < 1e-4, `max |Δlogit| = ${diff}`);
  // It is the F16-rounded model: the exact F32 weights give visibly different logits.
  assert.ok(maxDiff(ref16, referenceLogits(stored(weights, "F32"), IDS)) > 1e-3);
  model.dispose();
});

Deno.test("hf gpt2: lm_head equal to wte stays tied; a different one gives an untied head", () => {
  const wte = weights.get("wte.weight")!;
  const tied = gpt2FromSafetensors(
    hfFile(weights, {
      extra: { "lm_head.weight": { dtype: "F32", shape: [V, C], data: wte.values } },
    }),
    { nHead: H },
  );
  assert.equal(tied.config.tiedEmbeddings, true);
  assert.ok(!tied.params.has("lm_head.weight"));
  tied.dispose();
  const head = new Rng(9).normalArray(V * C, 0.5);
  const untied = gpt2FromSafetensors(
    hfFile(weights, { extra: { "lm_head.weight": { dtype: "F32", shape: [V, C], data: head } } }),
    { nHead: H },
  );
  assert.equal(untied.config.tiedEmbeddings, false);
  const ref = referenceLogits(stored(weights, "F32"), IDS, head);
  assert.ok(maxDiff(modelLogits(untied, IDS), ref) < 1e-4);
  untied.dispose();
});

Deno.test("hf gpt2: the configuration is inferred, with heads known for GPT-2's widths", () => {
  const shapesOf = (c: { vocabSize: number; contextLength: number; nEmbd: number }, n: number) => {
    const t: Record<string, { shape: number[] }> = {
      "transformer.wte.weight": { shape: [c.vocabSize, c.nEmbd] },
      "transformer.wpe.weight": { shape: [c.contextLength, c.nEmbd] },
    };
    for (let i = 0; i < n; i++) t[`transformer.h.${i}.ln_1.weight`] = { shape: [c.nEmbd] };
    return t;
  };
  for (const name of ["gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"] as const) {
    const p = PUBLISHED[name];
    const c = inferGpt2Config(shapesOf(p, p.nLayer));
    assert.deepEqual(
      [c.vocabSize, c.contextLength, c.nLayer, c.nHead, c.nEmbd, c.dropout, c.norm],
      [p.vocabSize, p.contextLength, p.nLayer, p.nHead, p.nEmbd, p.dropout, p.norm],
      name,
    );
  }
  assert.throws(
    () => inferGpt2Config(shapesOf({ vocabSize: V, contextLength: T, nEmbd: C }, 2)),
    /width 32 is not a published GPT-2 size \(768, 1024, 1280, 1600\); pass nHead/,
  );
  assert.equal(
    inferGpt2Config(shapesOf({ vocabSize: V, contextLength: T, nEmbd: C }, 2), { nHead: 8 })
      .nHead,
    8,
  );
});

Deno.test("hf gpt2: clear errors name the missing, mis-shaped or unexpected tensor", () => {
  const numTensors = tf.memory().numTensors;
  const load = (bytes: Uint8Array) => () => gpt2FromSafetensors(bytes, { nHead: H });
  const fails = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (err: Error) => {
      assert.ok(err instanceof HfGpt2Error, `${err}`);
      assert.match(err.message, pattern);
      return true;
    });
  fails(
    load(hfFile(weights, { drop: "h.1.mlp.c_fc.bias" })),
    /missing tensor "h\.1\.mlp\.c_fc\.bias" \(expected for 2 blocks of width 32\)/,
  );
  fails(load(hfFile(weights, { drop: "wpe.weight" })), /tensor "wpe\.weight" .*is missing/);
  const bad = new Map(weights);
  bad.set("h.0.attn.c_proj.weight", { shape: [C, C + 1], values: new Float32Array(C * (C + 1)) });
  fails(
    load(hfFile(bad)),
    /tensor "transformer\.h\.0\.attn\.c_proj\.weight" has shape \[32,33\], expected \[32,32\]/,
  );
  fails(
    load(hfFile(weights, {
      extra: { "score.weight": { dtype: "F32", shape: [2, C], data: new Float32Array(2 * C) } },
    })),
    /unexpected tensor "score\.weight"; not a GPT-2 parameter/,
  );
  fails(
    load(hfFile(weights, {
      extra: { "transformer.ln_f.bias": { dtype: "I32", shape: [C], data: new Int32Array(C) } },
    })),
    /tensor "transformer\.ln_f\.bias" is I32; expected F32, F16 or BF16/,
  );
  fails(load(new Uint8Array([1, 2, 3])), /cannot load GPT-2 weights from <bytes>: safetensors:/);
  assert.equal(tf.memory().numTensors, numTensors); // failed loads leak nothing
});

Deno.test("hf gpt2: loadHfGpt2 reads a file and names a missing one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "model.safetensors");
    await Deno.writeFile(path, hfFile(weights, { dtype: "F16" }));
    const model = await loadHfGpt2(path, { nHead: H });
    assert.equal(model.config.nLayer, L);
    model.dispose();
    await assert.rejects(
      () => loadHfGpt2(join(dir, "absent.safetensors")),
      (err: Error) => err instanceof CheckpointNotFoundError && /not found/.test(err.message),
    );
    await Deno.writeFile(path, hfFile(weights, { drop: "ln_f.weight" }));
    await assert.rejects(
      () => loadHfGpt2(path, { nHead: H }),
      new RegExp(`from ${path.replaceAll(".", "\\.")}: missing tensor "ln_f\\.weight"`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
