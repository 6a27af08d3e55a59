/**
 * Export to Hugging Face layouts (lib/export/, scripts/export.ts): for gpt2 (pre-norm),
 * openai-gpt (post-norm) and gpt_neo (alternating dense / local band), (a) export → re-import
 * gives the same logits (max |Δ| ≤ 1e-5); (b) an independent float64 forward pass written from
 * each architecture's Hugging Face definition, reading only the exported model.safetensors and
 * config.json, gives the course model's logits (max |Δ| ≤ 1e-4), and it notices the mistakes an
 * export could make (a missing transpose, an off-by-one window, an unfolded scale or bias, a
 * query bias dropped instead of folded into ln_1.bias); (c) what a layout cannot express is
 * refused (for gpt_neo also a singular or badly ill-conditioned query block) and nothing is
 * left on disk; (d) the BPE tokenizer's vocab.json + merges.txt, read the way transformers reads
 * them, encode like the course BPE; (e) no tensor leaks; (f) the float64 solver the GPT-Neo
 * query-bias fold uses.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import r50kRanks from "gpt-tokenizer/bpeRanks/r50k_base";
import { initBackend } from "../lib/backend.ts";
import { type GPTConfig, makeConfig, parameterShapes } from "../lib/model/config.ts";
import { GPT, paramVariable } from "../lib/model/gpt.ts";
import { decodeSafetensors, encodeSafetensors, type TensorEntry } from "../lib/io/mod.ts";
import { layerPatterns, type SparsePattern } from "../lib/attention/mod.ts";
import { BpeTokenizer } from "../lib/tokenizers/bpe.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import { saveCheckpoint } from "../lib/train/checkpoint.ts";
import {
  bytesToUnicode,
  compressAttentionTypes,
  expandAttentionTypes,
  ExportError,
  exportHuggingFace,
  Gpt2FilesTokenizer,
  gptFromHuggingFace,
  loadHuggingFace,
  type NeoAttentionType,
  planLayout,
  saveHuggingFace,
  SingularMatrixError,
  solveLinear,
} from "../lib/export/mod.ts";
import { runExport } from "../scripts/export.ts";
import { Rng } from "../lib/random.ts";

await initBackend();

// Tiny models: vocabulary 37, context 12, width 24, 3 heads of 8 (√8 is irrational, so the
// scale GPT-Neo needs folded into q_proj rounds, as it would in a real model).
const V = 37, T = 12, C = 24, H = 3;
const ROUND_TRIP_TOL = 1e-5, REFERENCE_TOL = 1e-4;
const PROMPTS = [[3, 17, 36, 0, 29, 8, 8, 8, 25, 11, 30, 2], [5, 5, 1, 33, 20], [14]];
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

/**
 * A model with non-trivial weights: random gains around 1, biases ~0.1 (the query, key and value
 * biases included: GPT-Neo has none, and the export must fold them), weights large enough that
 * attention is far from uniform and GELU far from linear.
 */
function perturbedModel(overrides: Partial<GPTConfig>, seed: number): GPT {
  const config = makeConfig({
    vocabSize: V,
    contextLength: T,
    nLayer: 2,
    nHead: H,
    nEmbd: C,
    ...overrides,
  });
  const rng = new Rng(seed);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const gain = /ln_\w+\.weight$/.test(name);
    const std = gain ? 0.2 : name.endsWith(".bias") ? 0.1 : /wte|lm_head/.test(name) ? 0.5 : 0.3;
    const values = rng.normalArray(n, std);
    if (gain) values.forEach((v, i) => values[i] = v + 1);
    params.set(name, paramVariable(values, shape));
  }
  return new GPT(config, params);
}

const alternating = (nLayer: number, window: number) =>
  layerPatterns("alternating", nLayer, { kind: "band", window });

/** The three layouts' test models (GPT-Neo: global, local(3), global). */
const LAYOUTS = {
  "gpt2": () => perturbedModel({ norm: "pre" }, 1),
  "openai-gpt": () => perturbedModel({ norm: "post" }, 2),
  "gpt_neo": () => perturbedModel({ nLayer: 3, attention: alternating(3, 3) }, 3),
} as const;

/**
 * `model` with column `col` of layer `layer`'s query block (c_attn.weight[:, col], col < C)
 * multiplied by `factor`: 0 makes W_q singular, a tiny factor makes it ill-conditioned.
 */
function withQueryColumn(model: GPT, layer: number, col: number, factor: number): GPT {
  const w = model.params.get(`h.${layer}.attn.c_attn.weight`)!;
  const data = w.dataSync().slice();
  for (let inp = 0; inp < C; inp++) data[inp * 3 * C + col] *= factor;
  tf.tidy(() => w.assign(tf.tensor(data, w.shape)));
  return model;
}

const NEO_BANDS = { nLayer: 3, attention: alternating(3, 3) };

/** The course model's logits [T][V] for one sequence. */
function courseLogits(model: GPT, ids: number[]): number[][] {
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

// ---------------------------------------------------------------------------------------------
// An independent reader and forward pass. Nothing below uses the course's model, export or
// safetensors code: the files are parsed from the safetensors spec, and each architecture is
// written from transformers' modeling code (modeling_gpt2.py, modeling_openai.py,
// modeling_gpt_neo.py), in float64.

interface RefTensor {
  shape: number[];
  data: Float64Array;
}

/** safetensors: u64 header length, JSON header, data; every tensor F32, metadata format "pt". */
function readSafetensors(bytes: Uint8Array): Map<string, RefTensor> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(text(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.__metadata__, { format: "pt" });
  const out = new Map<string, RefTensor>();
  let covered = 0;
  for (const [name, h] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [begin, end] } = h as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    assert.equal(dtype, "F32", name);
    const count = shape.reduce((a, b) => a * b, 1);
    assert.equal(end - begin, 4 * count, name);
    const data = new Float64Array(count);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(8 + n + begin + 4 * i, true);
    out.set(name, { shape, data });
    covered += end - begin;
  }
  assert.equal(8 + n + covered, bytes.length, "tensors cover the data buffer exactly");
  return out;
}

type Rows = number[][];
const FLOAT32_MIN = -3.4028234663852886e38; // torch.finfo(torch.float32).min

function erf(x: number): number { // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 +
                t * (-1.453152027 + t * 1.061405429)))) *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
const geluTanh = (v: number) =>
  0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const geluErf = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
const silu = (v: number) => v / (1 + Math.exp(-v));
/** transformers' ACT2FN (gpt2, gpt_neo) and modeling_openai's ACT_FNS ("gelu" → gelu_new). */
const ACT2FN: Record<string, (v: number) => number> = {
  gelu_new: geluTanh,
  gelu: geluErf,
  relu: (v) => Math.max(0, v),
};
const OPENAI_ACT_FNS: Record<string, (v: number) => number> = {
  relu: (v) => Math.max(0, v),
  silu,
  gelu: geluTanh,
  swish: silu,
};

function layerNorm(x: Rows, g: RefTensor, b: RefTensor, eps: number): Rows {
  return x.map((r) => {
    const mean = r.reduce((a, v) => a + v, 0) / r.length;
    const variance = r.reduce((a, v) => a + (v - mean) ** 2, 0) / r.length;
    return r.map((v, c) => ((v - mean) / Math.sqrt(variance + eps)) * g.data[c] + b.data[c]);
  });
}

/** Conv1D (GPT-2, OpenAI GPT): y = x W + b with W [in, out]. */
function conv1d(x: Rows, w: RefTensor, b: RefTensor): Rows {
  const [nIn, nOut] = w.shape;
  return x.map((r) =>
    Array.from({ length: nOut }, (_, j) => {
      let s = b.data[j];
      for (let i = 0; i < nIn; i++) s += r[i] * w.data[i * nOut + j];
      return s;
    })
  );
}

/** nn.Linear (GPT-Neo): y = x Wᵀ + b with W [out, in]. */
function linear(x: Rows, w: RefTensor, b?: RefTensor): Rows {
  const [nOut, nIn] = w.shape;
  return x.map((r) =>
    Array.from({ length: nOut }, (_, j) => {
      let s = b ? b.data[j] : 0;
      for (let i = 0; i < nIn; i++) s += r[i] * w.data[j * nIn + i];
      return s;
    })
  );
}

/**
 * Multi-head attention over all T keys: scores q·k · scale, then `mask(i, j, score)` (which
 * returns the masked score as the architecture writes it), softmax, weighted sum of v.
 */
function attend(
  q: Rows,
  k: Rows,
  v: Rows,
  nHead: number,
  scale: number,
  mask: (i: number, j: number, s: number) => number,
): Rows {
  const n = q.length, d = q[0].length / nHead;
  const y = q.map(() => new Array<number>(q[0].length).fill(0));
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < n; i++) {
      const scores = k.map((kj, j) => {
        let s = 0;
        for (let c = 0; c < d; c++) s += q[i][h * d + c] * kj[h * d + c];
        return mask(i, j, s * scale);
      });
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < n; j++) {
        for (let c = 0; c < d; c++) y[i][h * d + c] += (e[j] / z) * v[j][h * d + c];
      }
    }
  }
  return y;
}

const split3 = (qkv: Rows, c: number) =>
  [0, 1, 2].map((part) => qkv.map((r) => r.slice(part * c, (part + 1) * c)));
const add = (a: Rows, b: Rows) => a.map((r, i) => r.map((v, c) => v + b[i][c]));
const logitsOf = (x: Rows, head: RefTensor) =>
  x.map((r) =>
    Array.from({ length: head.shape[0] }, (_, t) => {
      let s = 0;
      for (let c = 0; c < r.length; c++) s += r[c] * head.data[t * r.length + c];
      return s;
    })
  );

/** transformers' activation tables: ACT2FN (gpt2, gpt_neo) and modeling_openai's ACT_FNS. */
function activation(table: Record<string, (v: number) => number>, name: unknown) {
  const f = table[name as string];
  if (!f) {
    throw new Error(`reference: no activation ${JSON.stringify(name)} (a KeyError in Python)`);
  }
  return f;
}

/** Logits [n][vocab] of `ids` under config.json + tensors, as transformers computes them. */
function hfLogits(cfg: Record<string, unknown>, w: Map<string, RefTensor>, ids: number[]): Rows {
  const get = (name: string) => {
    const t = w.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t;
  };
  const eps = cfg.layer_norm_epsilon as number;
  // The pieces of block i, by their names under transformer.h.i.
  const ln = (x: Rows, i: number, name: string) =>
    layerNorm(
      x,
      get(`transformer.h.${i}.${name}.weight`),
      get(`transformer.h.${i}.${name}.bias`),
      eps,
    );
  const conv = (x: Rows, i: number, name: string) =>
    conv1d(x, get(`transformer.h.${i}.${name}.weight`), get(`transformer.h.${i}.${name}.bias`));
  const lin = (x: Rows, i: number, name: string, bias = true) =>
    linear(
      x,
      get(`transformer.h.${i}.${name}.weight`),
      bias ? get(`transformer.h.${i}.${name}.bias`) : undefined,
    );
  const embed = (tokens: string, positions: string): Rows => {
    const tok = get(tokens), pos = get(positions), width = tok.shape[1];
    return ids.map((id, t) =>
      Array.from({ length: width }, (_, c) => tok.data[id * width + c] + pos.data[t * width + c])
    );
  };
  const head = (tokens: string) =>
    get(cfg.tie_word_embeddings === false ? "lm_head.weight" : tokens);
  const causal = (i: number, j: number) => j <= i;

  if (cfg.model_type === "gpt2") {
    assert.equal(cfg.scale_attn_by_inverse_layer_idx, false);
    const act = activation(ACT2FN, cfg.activation_function);
    const nHead = cfg.n_head as number, width = cfg.n_embd as number;
    const scale = cfg.scale_attn_weights ? 1 / Math.sqrt(width / nHead) : 1;
    let x = embed("transformer.wte.weight", "transformer.wpe.weight");
    for (let i = 0; i < (cfg.n_layer as number); i++) {
      const [q, k, v] = split3(conv(ln(x, i, "ln_1"), i, "attn.c_attn"), width);
      const a = attend(q, k, v, nHead, scale, (qi, kj, s) => causal(qi, kj) ? s : FLOAT32_MIN);
      x = add(x, conv(a, i, "attn.c_proj"));
      const hidden = conv(ln(x, i, "ln_2"), i, "mlp.c_fc").map((r) => r.map(act));
      x = add(x, conv(hidden, i, "mlp.c_proj"));
    }
    x = layerNorm(x, get("transformer.ln_f.weight"), get("transformer.ln_f.bias"), eps);
    return logitsOf(x, head("transformer.wte.weight"));
  }

  if (cfg.model_type === "openai-gpt") {
    const act = activation(OPENAI_ACT_FNS, cfg.afn);
    const nHead = cfg.n_head as number, width = cfg.n_embd as number;
    let x = embed("transformer.tokens_embed.weight", "transformer.positions_embed.weight");
    for (let i = 0; i < (cfg.n_layer as number); i++) {
      const [q, k, v] = split3(conv(x, i, "attn.c_attn"), width);
      // Block(scale=True): w / sqrt(d), then w * b + -1e4 * (1 - b) with b the causal tril.
      const a = attend(q, k, v, nHead, 1 / Math.sqrt(width / nHead), (qi, kj, s) => {
        const b = causal(qi, kj) ? 1 : 0;
        return s * b + -1e4 * (1 - b);
      });
      const n = ln(add(x, conv(a, i, "attn.c_proj")), i, "ln_1");
      const hidden = conv(n, i, "mlp.c_fc").map((r) => r.map(act));
      x = ln(add(n, conv(hidden, i, "mlp.c_proj")), i, "ln_2");
    }
    return logitsOf(x, head("transformer.tokens_embed.weight")); // no final LayerNorm
  }

  assert.equal(cfg.model_type, "gpt_neo");
  const act = activation(ACT2FN, cfg.activation_function);
  const nHead = cfg.num_heads as number, window = cfg.window_size as number;
  const layers = (cfg.attention_types as [string[], number][]).flatMap(([unit, count]) =>
    Array.from({ length: count }, () => unit).flat()
  );
  assert.equal(layers.length, cfg.num_layers);
  // bias = tril(ones); local layers: bias ^ tril(bias, -window_size), where tril(M, k) keeps
  // the entries with j - i <= k.
  const local = (i: number, j: number) => causal(i, j) !== (causal(i, j) && j - i <= -window);
  let x = embed("transformer.wte.weight", "transformer.wpe.weight");
  layers.forEach((type, i) => {
    const h = ln(x, i, "ln_1");
    const allowed = type === "local" ? local : causal;
    const a = attend(
      lin(h, i, "attn.attention.q_proj", false),
      lin(h, i, "attn.attention.k_proj", false),
      lin(h, i, "attn.attention.v_proj", false),
      nHead,
      1, // GPT-Neo does not scale the scores
      (qi, kj, s) => allowed(qi, kj) ? s : FLOAT32_MIN,
    );
    x = add(x, lin(a, i, "attn.attention.out_proj"));
    const hidden = lin(ln(x, i, "ln_2"), i, "mlp.c_fc").map((r) => r.map(act));
    x = add(x, lin(hidden, i, "mlp.c_proj"));
  });
  x = layerNorm(x, get("transformer.ln_f.weight"), get("transformer.ln_f.bias"), eps);
  return logitsOf(x, head("transformer.wte.weight"));
}

/** config.json and tensors of exported files, for {@link hfLogits}. */
function parsed(files: Map<string, Uint8Array>) {
  return {
    cfg: JSON.parse(text(files.get("config.json"))) as Record<string, unknown>,
    tensors: readSafetensors(files.get("model.safetensors")!),
  };
}

/** Max |Δ| between the reference on the files and the course model, over all prompts. */
function referenceGap(
  model: GPT,
  cfg: Record<string, unknown>,
  tensors: Map<string, RefTensor>,
): number {
  return Math.max(
    ...PROMPTS.map((ids) => maxDiff(hfLogits(cfg, tensors, ids), courseLogits(model, ids))),
  );
}

// ---------------------------------------------------------------------------------------------

Deno.test("export: each layout's tensors, config.json and README", () => {
  const before = tf.memory().numTensors;
  for (const [layout, make] of Object.entries(LAYOUTS)) {
    const model = make();
    const files = exportHuggingFace(model);
    assert.deepEqual([...files.keys()].sort(), ["README.txt", "config.json", "model.safetensors"]);
    const { cfg, tensors } = parsed(files);
    assert.equal(cfg.model_type, layout);
    assert.match(text(files.get("README.txt")), new RegExp(`"${layout}" layout`));
    const shape = (name: string) => tensors.get(name)?.shape.join("x");
    if (layout === "gpt2") {
      assert.deepEqual(cfg.architectures, ["GPT2LMHeadModel"]);
      assert.deepEqual(
        [
          cfg.vocab_size,
          cfg.n_positions,
          cfg.n_embd,
          cfg.n_layer,
          cfg.n_head,
          cfg.activation_function,
        ],
        [V, T, C, 2, H, "gelu_new"],
      );
      assert.equal(shape("transformer.h.1.attn.c_attn.weight"), "24x72"); // Conv1D: in × out
      assert.equal(shape("transformer.h.0.mlp.c_proj.weight"), "96x24");
      assert.equal(tensors.size, 2 + 2 * 12 + 2);
    } else if (layout === "openai-gpt") {
      assert.deepEqual([cfg.afn, cfg.n_positions, cfg.architectures], ["gelu", T, [
        "OpenAIGPTLMHeadModel",
      ]]);
      assert.equal(shape("transformer.tokens_embed.weight"), "37x24");
      assert.equal(shape("transformer.positions_embed.weight"), "12x24");
      assert.ok(![...tensors.keys()].some((n) => n.includes("ln_f")), "no final LayerNorm");
      assert.equal(tensors.size, 2 + 2 * 12);
    } else {
      assert.deepEqual(cfg.attention_types, [[["global", "local"], 1], [["global"], 1]]);
      assert.deepEqual([cfg.window_size, cfg.max_position_embeddings, cfg.num_layers], [3, T, 3]);
      assert.equal(shape("transformer.h.0.attn.attention.q_proj.weight"), "24x24");
      assert.equal(shape("transformer.h.2.mlp.c_fc.weight"), "96x24"); // nn.Linear: out × in
      assert.ok(!tensors.has("transformer.h.0.attn.attention.q_proj.bias"));
      assert.equal(tensors.size, 2 + 3 * 13 + 2);
      const readme = text(files.get("README.txt")).replace(/\s+/g, " ");
      assert.match(
        readme,
        /query bias b_q into ln_1\.bias, shifted by the d that solves d @ W_q = b_q/,
      );
      assert.match(readme, /compared the logits with the course model's on two fixed full-context/);
    }
    assert.equal(cfg.layer_norm_epsilon, 1e-5);
    assert.equal(cfg.tie_word_embeddings, true);
    assert.ok(!tensors.has("lm_head.weight"), "a tied head is not stored");
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("export: round trip and an independent Hugging Face forward match the course logits", () => {
  const before = tf.memory().numTensors;
  for (const [layout, make] of Object.entries(LAYOUTS)) {
    const model = make();
    const files = exportHuggingFace(model);
    const back = gptFromHuggingFace({
      config: text(files.get("config.json")),
      safetensors: files.get("model.safetensors")!,
    });
    assert.deepEqual(back.config.attention, model.config.attention, layout);
    for (const ids of PROMPTS) {
      const want = courseLogits(model, ids);
      assert.ok(Math.max(...want.flat().map(Math.abs)) > 1, `${layout}: logits are not tiny`);
      const roundTrip = maxDiff(courseLogits(back, ids), want);
      assert.ok(roundTrip <= ROUND_TRIP_TOL, `${layout} round trip: max |Δ| ${roundTrip}`);
    }
    const { cfg, tensors } = parsed(files);
    const gap = referenceGap(model, cfg, tensors);
    assert.ok(gap <= REFERENCE_TOL, `${layout} reference: max |Δ| ${gap}`);
    if (layout === "gpt_neo") {
      for (let i = 0; i < 3; i++) {
        // Clearly non-zero query, key and value biases, all folded away; ln_1.bias shifted.
        const qkv = model.params.get(`h.${i}.attn.c_attn.bias`)!.dataSync();
        for (const part of [0, 1, 2]) {
          const bias = qkv.slice(part * C, (part + 1) * C);
          assert.ok(Math.max(...bias.map(Math.abs)) > 0.1, `layer ${i} bias part ${part}`);
        }
        const beta = model.params.get(`h.${i}.ln_1.bias`)!.dataSync();
        const shifted = tensors.get(`transformer.h.${i}.ln_1.bias`)!.data;
        assert.ok(Math.max(...shifted.map((v, j) => Math.abs(v - beta[j]))) > 0.05, `layer ${i}`);
        assert.ok(!tensors.has(`transformer.h.${i}.attn.attention.q_proj.bias`));
      }
    }
    back.dispose();
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("export: the reference notices each mistake an export could make", () => {
  const transposed = (t: RefTensor): RefTensor => {
    const [r, c] = t.shape, data = new Float64Array(t.data.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = t.data[i * c + j];
    return { shape: [c, r], data };
  };
  const scaled = (t: RefTensor, s: number): RefTensor => ({
    shape: t.shape,
    data: t.data.map((v) => v * s),
  });
  const neo = LAYOUTS.gpt_neo(), gpt2 = LAYOUTS.gpt2(), openai = LAYOUTS["openai-gpt"]();
  const a0 = "transformer.h.0.attn.attention.", a1 = "transformer.h.1.attn.attention.";
  const cases: [string, GPT, (cfg: Record<string, unknown>, w: Map<string, RefTensor>) => void][] =
    [
      [
        "gpt2: a square Conv1D weight not transposed",
        gpt2,
        (_, w) =>
          w.set(
            "transformer.h.0.attn.c_proj.weight",
            transposed(w.get("transformer.h.0.attn.c_proj.weight")!),
          ),
      ],
      ["gpt2: exact-erf GELU instead of gelu_new", gpt2, (cfg) => cfg.activation_function = "gelu"],
      ["openai-gpt: relu instead of gelu", openai, (cfg) => cfg.afn = "relu"],
      [
        "gpt_neo: q_proj not transposed to nn.Linear's [out, in]",
        neo,
        (_, w) => w.set(a0 + "q_proj.weight", transposed(w.get(a0 + "q_proj.weight")!)),
      ],
      ["gpt_neo: window_size one smaller", neo, (cfg) => cfg.window_size = 2],
      ["gpt_neo: window_size one larger", neo, (cfg) => cfg.window_size = 4],
      [
        "gpt_neo: 1/sqrt(d) not folded into q_proj",
        neo,
        (_, w) =>
          w.set(a1 + "q_proj.weight", scaled(w.get(a1 + "q_proj.weight")!, Math.sqrt(C / H))),
      ],
    ];
  for (const [what, model, mutate] of cases) {
    const { cfg, tensors } = parsed(exportHuggingFace(model));
    mutate(cfg, tensors);
    const gap = referenceGap(model, cfg, tensors);
    assert.ok(gap > 10 * REFERENCE_TOL, `${what}: max |Δ| only ${gap}`);
  }
  // The value bias must move into out_proj.bias: without the fold the logits differ.
  const { cfg, tensors } = parsed(exportHuggingFace(neo));
  const vBias = neo.params.get("h.0.attn.c_attn.bias")!.dataSync().slice(2 * C);
  const proj = neo.params.get("h.0.attn.c_proj.bias")!.dataSync();
  assert.ok(Math.max(...vBias.map(Math.abs)) > 0.05, "the test model has a real value bias");
  const kBias = neo.params.get("h.0.attn.c_attn.bias")!.dataSync().slice(C, 2 * C);
  assert.ok(Math.max(...kBias.map(Math.abs)) > 0.05, "and a real key bias, which the export drops");
  tensors.set(a0 + "out_proj.bias", { shape: [C], data: Float64Array.from(proj) });
  assert.ok(referenceGap(neo, cfg, tensors) > 10 * REFERENCE_TOL, "unfolded value bias");
  // The query bias must move into ln_1.bias: the export without that fold (ln_1.bias left as
  // β, out_proj.bias = b_out + b_v·W_out as for a model with no query bias) is well off.
  const dropped = parsed(exportHuggingFace(neo));
  for (let i = 0; i < 3; i++) {
    const p = `h.${i}.`, to = `transformer.h.${i}.`;
    const b = neo.params.get(p + "attn.c_attn.bias")!.dataSync();
    const wOut = neo.params.get(p + "attn.c_proj.weight")!.dataSync();
    const bOut = neo.params.get(p + "attn.c_proj.bias")!.dataSync();
    const beta = neo.params.get(p + "ln_1.bias")!.dataSync();
    const data = new Float64Array(C);
    for (let o = 0; o < C; o++) {
      data[o] = bOut[o];
      for (let j = 0; j < C; j++) data[o] += b[2 * C + j] * wOut[j * C + o];
    }
    dropped.tensors.set(to + "attn.attention.out_proj.bias", { shape: [C], data });
    dropped.tensors.set(to + "ln_1.bias", { shape: [C], data: Float64Array.from(beta) });
  }
  const droppedGap = referenceGap(neo, dropped.cfg, dropped.tensors);
  assert.ok(droppedGap > 100 * REFERENCE_TOL, `query bias dropped: max |Δ| only ${droppedGap}`);
  for (const m of [neo, gpt2, openai]) m.dispose();
});

Deno.test("export: untied heads are written as lm_head.weight with tie_word_embeddings false", () => {
  const before = tf.memory().numTensors;
  for (const [layout, make] of Object.entries(LAYOUTS)) {
    const tied = make();
    const untied = perturbedModel({ ...tied.config, tiedEmbeddings: false }, 7);
    tied.dispose();
    const files = exportHuggingFace(untied);
    const { cfg, tensors } = parsed(files);
    assert.equal(cfg.tie_word_embeddings, false);
    assert.deepEqual(tensors.get("lm_head.weight")?.shape, [V, C]);
    assert.ok(referenceGap(untied, cfg, tensors) <= REFERENCE_TOL, layout);
    const back = gptFromHuggingFace({ config: cfg, safetensors: files.get("model.safetensors")! });
    assert.equal(back.config.tiedEmbeddings, false, layout);
    assert.ok(
      maxDiff(courseLogits(back, PROMPTS[0]), courseLogits(untied, PROMPTS[0])) <= ROUND_TRIP_TOL,
    );
    back.dispose();
    untied.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("layout: bands as wide as the context are dense; GPT-Neo's attention_types round trip", () => {
  const base = { vocabSize: V, contextLength: T, nLayer: 2, nHead: H, nEmbd: C };
  assert.equal(planLayout(makeConfig({ ...base, attention: alternating(2, T) })).layout, "gpt2");
  assert.equal(
    planLayout(makeConfig({ ...base, norm: "post", attention: layerPatterns("dense", 2) })).layout,
    "openai-gpt",
  );
  assert.deepEqual(
    planLayout(
      makeConfig({ ...base, attention: layerPatterns("sparse", 2, { kind: "band", window: 4 }) }),
    ),
    { layout: "gpt_neo", attentionLayers: ["local", "local"], windowSize: 4 },
  );
  const g = "global", l = "local";
  assert.deepEqual(compressAttentionTypes([g, l, g, l, g]), [[[g, l], 2], [[g], 1]]);
  const lists: NeoAttentionType[][] = [[], [g], [l, l, g], [g, g, l, l, g, l], [g, l, g, l, g, l]];
  for (const list of lists) {
    assert.deepEqual(expandAttentionTypes(compressAttentionTypes(list), list.length), list);
  }
});

Deno.test("export: what a layout cannot express is refused, naming what and why", () => {
  const before = tf.memory().numTensors;
  const dense: SparsePattern = { kind: "dense" };
  const band = (window: number): SparsePattern => ({ kind: "band", window });
  const abc = new BpeTokenizer([[97, 98], [256, 99], [98, 99], [97, 258]]); // ids 257, 259: "abc"
  const cases: [string, () => GPT, string, RegExp, unknown?][] = [
    [
      "strided pattern",
      () => perturbedModel({ attention: [dense, { kind: "strided", stride: 3 }] }, 1),
      "unsupported-model",
      /layer 1 uses strided\(l=3\) attention, which no Hugging Face layout can express/,
    ],
    [
      "fixed pattern",
      () => perturbedModel({ attention: [{ kind: "fixed", block: 4, summary: 1 }, dense] }, 1),
      "unsupported-model",
      /layer 0 uses fixed\(l=4,c=1\) attention/,
    ],
    [
      "LogSparse pattern",
      () => perturbedModel({ attention: [dense, { kind: "logsparse" }] }, 1),
      "unsupported-model",
      /layer 1 uses logsparse attention/,
    ],
    [
      "two band widths",
      () => perturbedModel({ nLayer: 3, attention: [band(3), dense, band(5)] }, 1),
      "unsupported-model",
      /different band widths \(band\(w=3\) from layer 0, band\(w=5\) from layer 2\); GPT-Neo has a single window_size/,
    ],
    [
      "a band in a post-norm model",
      () => perturbedModel({ norm: "post", attention: alternating(2, 3) }, 1),
      "unsupported-model",
      /post-norm \(GPT-1\) model with local-band layers \(layer 1\) has no Hugging Face layout/,
    ],
    [
      "gpt_neo: a singular query block with a non-zero query bias",
      () => withQueryColumn(perturbedModel(NEO_BANDS, 1), 1, 5, 0),
      "unsupported-model",
      /layer 1: the query block of "h\.1\.attn\.c_attn\.weight" \(columns 0–23\) is singular .*so its query bias \(max \|value\| \d\.\d{3}e-\d+\) cannot be moved into ln_1\.bias; GPT-Neo's q_proj has no bias/,
    ],
    [
      "gpt_neo: a query block so ill-conditioned that the float32 fold is not exact",
      () => withQueryColumn(perturbedModel(NEO_BANDS, 1), 2, 7, 1e-6),
      "unsupported-model",
      /gpt_neo export not exact: .* max \|Δ\| \d\.\d{3}e[-+]\d+ on 2 fixed sequences of 12 tokens, above the tolerance .*; layer 2 needs the largest shift \(max \|Δβ\| \d\.\d{3}e\+\d+\)/,
    ],
    [
      "a tokenizer with more ids than the model",
      () => perturbedModel({}, 1),
      "tokenizer",
      /the tokenizer has 256 tokens but the model only 37/,
      new BpeTokenizer([]).toJSON(),
    ],
    [
      "two BPE ids with the same bytes",
      () => perturbedModel({ vocabSize: abc.vocabSize }, 1),
      "tokenizer",
      /BPE ids 257 and 259 are the same bytes \("abc" in GPT-2's byte alphabet\)/,
      abc,
    ],
    [
      "not a course tokenizer",
      () => perturbedModel({}, 1),
      "tokenizer",
      /not a course tokenizer/,
      { type: "wordpiece", vocab: {} },
    ],
  ];
  for (const [what, make, reason, pattern, tokenizer] of cases) {
    const model = make();
    assert.throws(
      () => exportHuggingFace(model, { tokenizer }),
      (err: Error) => {
        assert.ok(err instanceof ExportError, `${what}: ${err}`);
        assert.equal(err.reason, reason, what);
        assert.match(err.message, pattern, what);
        return true;
      },
    );
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("solve: Gaussian elimination with partial pivoting solves and refuses singular systems", () => {
  const rng = new Rng(11);
  for (const n of [1, 2, 5, 24]) {
    for (let trial = 0; trial < 3; trial++) {
      // Random, made well-conditioned by a dominant diagonal; a known solution.
      const a = Array.from(rng.normalArray(n * n, 1), (v, i) => i % (n + 1) === 0 ? v + 2 * n : v);
      const x = Array.from(rng.normalArray(n, 1));
      const b = Array.from(
        { length: n },
        (_, r) => x.reduce((s, xc, c) => s + a[r * n + c] * xc, 0),
      );
      const got = solveLinear(a, b);
      got.forEach((v, i) =>
        assert.ok(Math.abs(v - x[i]) < 1e-12, `n=${n}: x[${i}] ${v} vs ${x[i]}`)
      );
    }
  }
  // A zero where the first pivot would be: only row exchanges make this solvable.
  assert.deepEqual(Array.from(solveLinear([0, 2, 3, 0], [4, 9])), [3, 2]);
  // Plain Gaussian random matrices (no dominant diagonal) still solve to a tiny residual.
  const n = 24, a = rng.normalArray(n * n, 0.3), b = rng.normalArray(n, 0.1);
  const x = solveLinear(a, b);
  for (let r = 0; r < n; r++) {
    let s = -b[r];
    for (let c = 0; c < n; c++) s += a[r * n + c] * x[c];
    assert.ok(Math.abs(s) < 1e-12, `residual of row ${r}: ${s}`);
  }
  const singular: [string, number[], number[]][] = [
    ["a zero column", [1, 0, 2, 0], [1, 1]],
    ["two equal rows", [1, 2, 3, 1, 2, 3, 0, 1, 4], [1, 2, 3]],
    ["the zero matrix", [0, 0, 0, 0], [0, 1]],
  ];
  for (const [what, m, rhs] of singular) {
    assert.throws(() => solveLinear(m, rhs), SingularMatrixError, what);
  }
  assert.throws(() => solveLinear([1, 2, 3], [1, 2]), /A has 3 entries, expected 2² = 4/);
});

/** The names in a directory, sorted. */
async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("save: refused and failed exports leave nothing behind", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const model = LAYOUTS.gpt2();
    const ckpt = join(parent, "model.safetensors");
    await saveCheckpoint(ckpt, model);
    const hfFile = join(parent, "hf.safetensors");
    await Deno.writeFile(hfFile, exportHuggingFace(model).get("model.safetensors")!);
    model.dispose();
    const junk = join(parent, "junk.bin");
    await Deno.writeFile(junk, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const strided = perturbedModel({
      attention: [{ kind: "dense" }, { kind: "strided", stride: 3 }],
    }, 1);
    const stridedCkpt = join(parent, "strided.safetensors");
    await saveCheckpoint(stridedCkpt, strided);
    strided.dispose();
    const existing = join(parent, "existing");
    await Deno.mkdir(existing);
    await Deno.writeTextFile(join(existing, "keep.txt"), "old export");
    const plainFile = join(parent, "plain");
    await Deno.writeTextFile(plainFile, "not a directory");
    const start = await listing(parent);
    const numTensors = tf.memory().numTensors;
    let tempSeen = "";
    const crash = (dir: string) => {
      tempSeen = dir;
      throw new Error("simulated crash before the rename");
    };
    const cases: [string, () => Promise<unknown>, string, RegExp][] = [
      [
        "a Hugging Face file, not a course checkpoint",
        () => saveHuggingFace(hfFile, join(parent, "out")),
        "bad-input",
        /is not a course checkpoint .*format is "pt", expected "gpt-course-checkpoint\/1"/,
      ],
      [
        "not safetensors at all",
        () => saveHuggingFace(junk, join(parent, "out")),
        "bad-input",
        /is not a course checkpoint/,
      ],
      [
        "a missing checkpoint",
        () => saveHuggingFace(join(parent, "absent.safetensors"), join(parent, "out")),
        "bad-input",
        /cannot read checkpoint ".*absent\.safetensors"/,
      ],
      [
        "an existing directory without overwrite",
        () => saveHuggingFace(ckpt, existing),
        "exists",
        /output directory ".*existing" already exists; pass overwrite \(--overwrite\)/,
      ],
      [
        "a file in the way, even with overwrite",
        () => saveHuggingFace(ckpt, plainFile, { overwrite: true }),
        "exists",
        /exists and is not a directory/,
      ],
      [
        "a strided model",
        () => saveHuggingFace(stridedCkpt, join(parent, "out")),
        "unsupported-model",
        /strided\(l=3\)/,
      ],
      [
        "a crash before replacing an existing export",
        () => saveHuggingFace(ckpt, existing, { overwrite: true, beforeCommit: crash }),
        "io",
        /cannot write ".*existing": simulated crash before the rename/,
      ],
      [
        "a crash before creating a new export",
        () => saveHuggingFace(ckpt, join(parent, "new"), { beforeCommit: crash }),
        "io",
        /simulated crash/,
      ],
    ];
    for (const [what, run, reason, pattern] of cases) {
      await assert.rejects(run, (err: Error) => {
        assert.ok(err instanceof ExportError, `${what}: ${err}`);
        assert.equal(err.reason, reason, what);
        assert.match(err.message, pattern, what);
        return true;
      });
      assert.deepEqual(await listing(parent), start, `${what}: the parent directory changed`);
    }
    // The crash came after every file was written to a hidden sibling directory.
    assert.match(tempSeen, /[/\\]\.new\.[0-9a-f-]{36}\.tmp$/);
    assert.deepEqual(await listing(existing), ["keep.txt"]);
    assert.equal(tf.memory().numTensors, numTensors);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("save: a checkpoint with its tokenizer, read back; overwrite replaces the directory", async () => {
  const parent = await Deno.makeTempDir();
  const before = tf.memory().numTensors;
  try {
    const chars = CharTokenizer.fromText("call me ishmael. 1851, 7 years ago, never mind!\n");
    assert.ok(chars.vocabSize <= V);
    const model = LAYOUTS["openai-gpt"]();
    const ckpt = join(parent, "gpt1.safetensors"), out = join(parent, "hf");
    await saveCheckpoint(ckpt, model, { extra: { tokenizer: chars.toJSON(), corpus: "test" } });
    const result = await saveHuggingFace(ckpt, out);
    assert.equal(result.layout, "openai-gpt");
    assert.deepEqual(result.tokenizer, { kind: "char", from: "checkpoint" });
    assert.deepEqual(await listing(out), [
      "README.txt",
      "config.json",
      "model.safetensors",
      "vocab.json",
    ]);
    const vocabText = await Deno.readTextFile(join(out, "vocab.json"));
    const vocab = JSON.parse(vocabText);
    assert.equal(Object.keys(vocab).length, chars.vocabSize);
    chars.symbols.forEach((s, id) => assert.equal(vocab[s], id, JSON.stringify(s)));
    // Written in id order, digits included (a JS object would list "1", "5", ... first).
    assert.deepEqual(
      vocabText.trim().split("\n").slice(1, -1).map((line) => line.trim().replace(/,$/, "")),
      chars.symbols.map((s, id) => `${JSON.stringify(s)}: ${id}`),
    );
    const readme = await Deno.readTextFile(join(out, "README.txt"));
    assert.match(readme, /character-level, \d+ symbols/);
    assert.match(readme, /GPT2Tokenizer \/ AutoTokenizer do not apply/);
    assert.match(readme, /Model ids \d+–36 have no entry/);
    const back = await loadHuggingFace(out);
    assert.ok(
      maxDiff(courseLogits(back, PROMPTS[0]), courseLogits(model, PROMPTS[0])) <= ROUND_TRIP_TOL,
    );
    back.dispose();
    // Overwrite from the model itself (no tokenizer given): the old directory goes entirely.
    await Deno.writeTextFile(join(out, "stale.txt"), "from before");
    const again = await saveHuggingFace(model, out, { overwrite: true });
    assert.equal(again.tokenizer, null);
    assert.deepEqual(await listing(out), ["README.txt", "config.json", "model.safetensors"]);
    assert.deepEqual(await listing(parent), ["gpt1.safetensors", "hf"]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

// Text with contractions, numbers, punctuation runs, whitespace runs, accents, CJK and emoji.
const CORPUS = [
  "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money",
  "in my purse, and nothing particular to interest me on shore, I thought I would sail about.",
  "Don't we'll they're I've you'd she's it'll -- 1851, 3.14159 and 42!!! ... ??? ***",
  "naïve café résumé déjà vu; Ærøskøbing; Straße; Ελληνικά, русский текст",
  "東京タワーは高い。中文文本没有空格所以整段是一个词 😀👍🏽 👨‍👩‍👧 🇫🇷",
  "tabs\t\tand   spaces    \n\n\n  indented\r\n  lines  ",
].join("\n").repeat(3);
const TEXTS = [
  CORPUS,
  "Some money, no money: I would sail about the watery part of the world.",
  "   leading and trailing spaces   \n\t\t\n",
  "unseen: Zürich, naïveté, 北京, 🐋 whales; wouldn't they'd",
  "",
  "a",
];

Deno.test("tokenizer: vocab.json + merges.txt, read as transformers reads them, encode like the course BPE", () => {
  const before = tf.memory().numTensors;
  const bpe = BpeTokenizer.train(CORPUS, 256 + 150);
  const model = perturbedModel({ vocabSize: bpe.vocabSize, nLayer: 1 }, 4);
  const files = exportHuggingFace(model, { tokenizer: bpe.toJSON() });
  model.dispose();
  assert.deepEqual([...files.keys()].sort(), [
    "README.txt",
    "config.json",
    "merges.txt",
    "model.safetensors",
    "tokenizer_config.json",
    "vocab.json",
  ]);
  const merges = text(files.get("merges.txt")), vocab = text(files.get("vocab.json"));
  assert.ok(merges.startsWith("#version: 0.2\n") && merges.endsWith("\n"));
  assert.equal(merges.split("\n").length, bpe.merges.length + 2);
  const hf = new Gpt2FilesTokenizer(vocab, merges);
  assert.equal(hf.vocab.size, bpe.vocabSize);
  let merged = 0;
  for (const t of TEXTS) {
    const want = Array.from(bpe.encode(t));
    assert.deepEqual(hf.encode(t), want, JSON.stringify(t.slice(0, 40)));
    assert.equal(hf.decode(want), t);
    merged += want.filter((id) => id >= 256).length;
  }
  assert.ok(merged > 100, `merges are exercised (${merged} merged tokens)`);
  // transformers drops the last line of merges.txt when the file lacks its final newline: the
  // comparison above would catch a writer that forgot it.
  const truncated = new Gpt2FilesTokenizer(vocab, merges.slice(0, -1));
  assert.notDeepEqual(truncated.encode(CORPUS), Array.from(bpe.encode(CORPUS)));
  assert.deepEqual(JSON.parse(text(files.get("tokenizer_config.json"))), {
    tokenizer_class: "GPT2Tokenizer",
    model_max_length: T,
    add_prefix_space: false,
    add_bos_token: false,
    bos_token: null,
    eos_token: null,
    unk_token: null,
    pad_token: null,
    clean_up_tokenization_spaces: false,
    errors: "replace",
  });
  assert.match(text(files.get("README.txt")), /byte-level BPE \(150 merges, 406 ids\)/);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("tokenizer: GPT-2's byte alphabet agrees with GPT-2's own vocabulary", () => {
  const table = bytesToUnicode();
  assert.deepEqual([table[32], table[10], table[65], table[0xa0]], ["Ġ", "Ċ", "A", "ł"]);
  assert.equal(new Set(table).size, 256);
  // GPT-2's ids 0-255 are the 256 bytes ordered by the code point of their character.
  const order = [...Array(256).keys()].sort((a, b) =>
    table[a].codePointAt(0)! - table[b].codePointAt(0)!
  );
  const ranks = r50kRanks as (string | number[])[];
  for (let id = 0; id < 256; id++) {
    const r = ranks[id];
    const bytes = typeof r === "string" ? [...new TextEncoder().encode(r)] : [...r];
    assert.deepEqual(bytes, [order[id]], `GPT-2 id ${id}`);
  }
});

Deno.test("import: config.json and the tensors are checked before anything is built", () => {
  const before = tf.memory().numTensors;
  const neo = LAYOUTS.gpt_neo(), gpt2 = LAYOUTS.gpt2();
  const neoFiles = exportHuggingFace(neo), gpt2Files = exportHuggingFace(gpt2);
  neo.dispose();
  gpt2.dispose();
  const neoCfg = JSON.parse(text(neoFiles.get("config.json")));
  const gpt2Cfg = JSON.parse(text(gpt2Files.get("config.json")));
  const neoTensors = decodeSafetensors(neoFiles.get("model.safetensors")!).tensors;
  const reencoded = (edit: (t: Record<string, TensorEntry>) => void) => {
    const t = { ...neoTensors };
    edit(t);
    return encodeSafetensors(t, { format: "pt" });
  };
  const cases: [Record<string, unknown>, Uint8Array, RegExp][] = [
    [
      { ...neoCfg, num_layers: 1e9 },
      neoFiles.get("model.safetensors")!,
      /num_layers is 1000000000 but the file holds only 43 tensors/,
    ],
    [
      { ...neoCfg, activation_function: "gelu" },
      neoFiles.get("model.safetensors")!,
      /activation_function is "gelu"; the course uses GELU's tanh form/,
    ],
    [
      { ...neoCfg, layer_norm_epsilon: 1e-6 },
      neoFiles.get("model.safetensors")!,
      /layer_norm_epsilon is 0\.000001; the course's LayerNorm uses 1e-5/,
    ],
    [
      { ...neoCfg, attention_types: [[["global", "local"], 1e12]] },
      neoFiles.get("model.safetensors")!,
      /gives 2000000000000 layers but num_layers is 3/,
    ],
    [
      { ...neoCfg, attention_types: [[["global", "sparse", "global"], 1]] },
      neoFiles.get("model.safetensors")!,
      /names "sparse"; only "global" and "local" exist/,
    ],
    [
      { ...neoCfg, vocab_size: 38 },
      neoFiles.get("model.safetensors")!,
      /tensor "wte\.weight" has shape \[37,24\], expected \[38,24\]/,
    ],
    [
      { ...neoCfg, model_type: "llama" },
      neoFiles.get("model.safetensors")!,
      /model_type is "llama"; the course reads "gpt2", "openai-gpt" and "gpt_neo"/,
    ],
    [
      neoCfg,
      reencoded((t) => delete t["transformer.h.2.mlp.c_fc.bias"]),
      /missing tensor\(s\) "h\.2\.mlp\.c_fc\.bias"/,
    ],
    [
      neoCfg,
      reencoded((t) =>
        t["transformer.h.0.attn.attention.q_proj.bias"] = t["transformer.ln_f.bias"]
      ),
      /unexpected tensor\(s\) "h\.0\.attn\.attention\.q_proj\.bias"/,
    ],
    [
      { ...gpt2Cfg, n_positions: 13 },
      gpt2Files.get("model.safetensors")!,
      /n_positions is 13 but the tensors give 12/,
    ],
    [
      { ...gpt2Cfg, tie_word_embeddings: false },
      gpt2Files.get("model.safetensors")!,
      /unties the head but there is no lm_head\.weight/,
    ],
    [
      { ...gpt2Cfg, n_inner: 64 },
      gpt2Files.get("model.safetensors")!,
      /n_inner is 64; the course's MLP is 4 × 24 wide/,
    ],
  ];
  for (const [config, safetensors, pattern] of cases) {
    assert.throws(() => gptFromHuggingFace({ config, safetensors }), (err: Error) => {
      assert.ok(err instanceof ExportError && err.reason === "bad-input", `${err}`);
      assert.match(err.message, pattern);
      return true;
    });
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("cli: deno task export writes, refuses and explains", async () => {
  const parent = await Deno.makeTempDir();
  const before = tf.memory().numTensors;
  try {
    const bpe = BpeTokenizer.train(CORPUS, 300);
    const model = perturbedModel({ vocabSize: bpe.vocabSize }, 5);
    const ckpt = join(parent, "gpt2.safetensors"), out = join(parent, "hf");
    const tokFile = join(parent, "tokenizer.json");
    await saveCheckpoint(ckpt, model); // no tokenizer stored, as notebook 03 would
    await Deno.writeTextFile(tokFile, JSON.stringify(bpe.toJSON()));
    model.dispose();
    const run = async (...args: string[]) => {
      const log = { out: [] as string[], err: [] as string[] };
      const code = await runExport(args, {
        out: (l) => log.out.push(l),
        err: (l) => log.err.push(l),
      });
      return { code, out: log.out.join("\n"), err: log.err.join("\n") };
    };
    let r = await run(ckpt, out, "--tokenizer", tokFile);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\(gpt2, GPT2LMHeadModel\)/);
    assert.match(r.out, /tokenizer: bpe, from the --tokenizer file/);
    assert.ok((await listing(out)).includes("merges.txt"));
    r = await run(ckpt, out);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /export refused: output directory .* already exists; pass overwrite \(--overwrite\)/,
    );
    r = await run(ckpt, out, "--overwrite");
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /stores no tokenizer and --tokenizer was not given/);
    assert.ok(!(await listing(out)).includes("merges.txt"));
    r = await run(tokFile, join(parent, "other"));
    assert.equal(r.code, 1);
    assert.match(r.err, /is not a course checkpoint/);
    r = await run(ckpt);
    assert.equal(r.code, 2);
    assert.match(r.err, /usage: deno task export/);
    assert.deepEqual(await listing(parent), ["gpt2.safetensors", "hf", "tokenizer.json"]);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
