/**
 * The course's parameters (GPT-2 names, Conv1D weights [in, out]) renamed and, where the layout
 * needs it, re-laid-out into a Hugging Face state dict, as `save_pretrained` of the layout's
 * `*LMHeadModel` / `*ForCausalLM` names it (`transformer.` prefix; `lm_head.weight` only for an
 * untied head, since a tied one is the token embedding and transformers does not store it).
 *
 * - `gpt2`: the same names and layouts, prefixed.
 * - `openai-gpt`: `wte`/`wpe` become `tokens_embed`/`positions_embed`; the blocks keep their
 *   names and Conv1D layouts; there is no final LayerNorm (a post-norm model has none).
 * - `gpt_neo`: q/k/v/out are `nn.Linear` (weights [out, in], so transposed) and split; the MLP's
 *   `c_fc`/`c_proj` are `nn.Linear` too (transposed). GPT-Neo has no 1/√d on the scores and no
 *   q/k/v biases, so three folds, each exact in exact arithmetic:
 *   1. the scale goes into q_proj: q_proj = W_qᵀ/√d;
 *   2. the query bias goes into ln_1's bias. ln_1(x) = x̂·γ + β feeds only the attention (the
 *      MLP has ln_2), and adding Δβ to β adds Δβ·W_q to every query, Δβ·W_k to every key and
 *      Δβ·W_v to every value. Δβ solves Δβ·W_q = b_q (float64, lib/export/solve.ts), so the
 *      queries come out exactly as the course computes them; a singular W_q has no such Δβ (in
 *      general), and a non-zero query bias there is refused. Let δ be the shift ln_1.bias really gets once β + Δβ is rounded to float32
 *      (δ ≈ Δβ, and δ is used below, so rounding costs only δ·W_q − b_q, which is tiny);
 *   3. the keys and values lose their biases and gain δ·W_k and δ·W_v. A constant added to
 *      every key adds q·c, the same number, to every score of a query, and softmax ignores that,
 *      so the key shift is dropped. A constant added to every value comes out of the attention
 *      unchanged, since each row of attention weights sums to 1 (Σⱼ aᵢⱼ(vⱼ + c) = Σⱼ aᵢⱼvⱼ + c),
 *      so out_proj.bias = b_out + (b_v − δ·W_v)·W_out puts back what the values lost.
 *   Rounding β + Δβ to float32 can still matter when W_q is ill-conditioned (a large Δβ whose
 *   rounding error, times W_q, is no longer small), so lib/export/export.ts checks the exported
 *   model's logits against the course model's (lib/export/verify.ts) and refuses the export
 *   when they differ by more than 1e-4 · max(1, max |logit|).
 *
 * @module
 */
import type { GPTConfig } from "../model/config.ts";
import { parameterShapes } from "../model/config.ts";
import { ExportError } from "./errors.ts";
import type { LayoutPlan } from "./layout.ts";
import { SingularMatrixError, solveLinear } from "./solve.ts";

/** A tensor of the export: row-major float32 values and their shape. */
export interface HfTensor {
  /** Dimensions. */
  shape: number[];
  /** Values, row-major. */
  data: Float32Array;
}

/** `rows × cols` row-major → its transpose, `cols × rows`. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

/**
 * The Hugging Face tensors of a course model, by name (see the module docs).
 * @param c The model's configuration.
 * @param plan Its layout ({@link planLayout}).
 * @param weights Its parameters by course name ({@link parameterShapes}); not modified.
 * @throws {ExportError} `unsupported-model` for a gpt_neo export with a non-zero query bias
 * whose query block of c_attn.weight is singular (no shift of ln_1.bias reproduces the bias),
 * naming the layer.
 */
export function hfTensors(
  c: GPTConfig,
  plan: LayoutPlan,
  weights: ReadonlyMap<string, Float32Array>,
): Map<string, HfTensor> {
  const d = c.nEmbd, v = c.vocabSize;
  const get = (name: string) => {
    const values = weights.get(name);
    if (!values) throw new Error(`hfTensors: no parameter "${name}"`);
    return values;
  };
  const shapes = parameterShapes(c);
  const out = new Map<string, HfTensor>();
  const put = (name: string, shape: number[], data: Float32Array) => out.set(name, { shape, data });
  const head = () => {
    if (!c.tiedEmbeddings) put("lm_head.weight", [v, d], get("lm_head.weight"));
  };
  if (plan.layout === "gpt2") {
    for (const [name, data] of weights) {
      if (name === "lm_head.weight") continue;
      put(`transformer.${name}`, shapes.get(name)!, data);
    }
    head();
    return out;
  }
  if (plan.layout === "openai-gpt") {
    put("transformer.tokens_embed.weight", [v, d], get("wte.weight"));
    put("transformer.positions_embed.weight", [c.contextLength, d], get("wpe.weight"));
    for (const [name, data] of weights) {
      if (name.startsWith("h.")) put(`transformer.${name}`, shapes.get(name)!, data);
    }
    head();
    return out;
  }
  put("transformer.wte.weight", [v, d], get("wte.weight"));
  put("transformer.wpe.weight", [c.contextLength, d], get("wpe.weight"));
  const scale = Math.sqrt(d / c.nHead);
  for (let i = 0; i < c.nLayer; i++) {
    const p = `h.${i}.`, to = `transformer.h.${i}.`;
    const w = get(p + "attn.c_attn.weight"), b = get(p + "attn.c_attn.bias"); // [C, 3C], [3C]
    const lnBias = get(p + "ln_1.bias");
    const shift = queryBiasShift(w, b, lnBias, d, i); // fold 2 (see the module docs)
    const q = new Float32Array(d * d), k = new Float32Array(d * d), val = new Float32Array(d * d);
    for (let inp = 0; inp < d; inp++) {
      for (let o = 0; o < d; o++) {
        const row = inp * 3 * d;
        q[o * d + inp] = w[row + o] / scale;
        k[o * d + inp] = w[row + d + o];
        val[o * d + inp] = w[row + 2 * d + o];
      }
    }
    // What the values lost: b_v − δ·W_v, in float64.
    const lost = new Float64Array(d);
    for (let o = 0; o < d; o++) {
      let s = b[2 * d + o];
      for (let inp = 0; inp < d; inp++) s -= shift.delta[inp] * w[inp * 3 * d + 2 * d + o];
      lost[o] = s;
    }
    const proj = get(p + "attn.c_proj.weight"), projBias = get(p + "attn.c_proj.bias");
    const outBias = new Float32Array(d);
    for (let o = 0; o < d; o++) {
      let s = projBias[o]; // float64 sum, rounded once
      for (let inp = 0; inp < d; inp++) s += lost[inp] * proj[inp * d + o];
      outBias[o] = s;
    }
    put(to + "ln_1.weight", [d], get(p + "ln_1.weight"));
    put(to + "ln_1.bias", [d], shift.bias);
    put(to + "attn.attention.q_proj.weight", [d, d], q);
    put(to + "attn.attention.k_proj.weight", [d, d], k);
    put(to + "attn.attention.v_proj.weight", [d, d], val);
    put(to + "attn.attention.out_proj.weight", [d, d], transpose(proj, d, d));
    put(to + "attn.attention.out_proj.bias", [d], outBias);
    put(to + "ln_2.weight", [d], get(p + "ln_2.weight"));
    put(to + "ln_2.bias", [d], get(p + "ln_2.bias"));
    put(to + "mlp.c_fc.weight", [4 * d, d], transpose(get(p + "mlp.c_fc.weight"), d, 4 * d));
    put(to + "mlp.c_fc.bias", [4 * d], get(p + "mlp.c_fc.bias"));
    put(to + "mlp.c_proj.weight", [d, 4 * d], transpose(get(p + "mlp.c_proj.weight"), 4 * d, d));
    put(to + "mlp.c_proj.bias", [d], get(p + "mlp.c_proj.bias"));
  }
  put("transformer.ln_f.weight", [d], get("ln_f.weight"));
  put("transformer.ln_f.bias", [d], get("ln_f.bias"));
  head();
  return out;
}

/** ln_1's new bias and the shift δ it really applies (see the module docs, fold 2). */
interface QueryBiasShift {
  /** β + Δβ rounded to float32 (β itself when the query bias is zero). */
  bias: Float32Array;
  /** The stored bias minus β, in float64: what the keys and values gain. */
  delta: Float64Array;
}

/**
 * Solves Δβ·W_q = b_q for one layer (W_q: columns 0..d−1 of c_attn.weight [d, 3d]; b_q: entries
 * 0..d−1 of c_attn.bias) and rounds β + Δβ to float32.
 * @throws {ExportError} `unsupported-model` when b_q ≠ 0 and W_q is singular.
 */
function queryBiasShift(
  w: Float32Array,
  b: Float32Array,
  lnBias: Float32Array,
  d: number,
  layer: number,
): QueryBiasShift {
  const bq = b.subarray(0, d);
  if (bq.every((v) => v === 0)) return { bias: lnBias, delta: new Float64Array(d) };
  // Δβ·W_q = b_q is W_qᵀ Δβᵀ = b_qᵀ: row o of W_qᵀ is column o of W_q.
  const wqT = new Float64Array(d * d);
  for (let inp = 0; inp < d; inp++) {
    for (let o = 0; o < d; o++) wqT[o * d + inp] = w[inp * 3 * d + o];
  }
  let solution: Float64Array;
  try {
    solution = solveLinear(wqT, bq);
  } catch (err) {
    if (!(err instanceof SingularMatrixError)) throw err;
    const maxQueryBias = bq.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    throw new ExportError(
      "unsupported-model",
      `layer ${layer}: the query block of "h.${layer}.attn.c_attn.weight" (columns 0–${d - 1}) ` +
        `is singular (${err.message}), so its query bias (max |value| ` +
        `${maxQueryBias.toExponential(3)}) cannot be moved into ln_1.bias; GPT-Neo's q_proj ` +
        "has no bias, so the gpt_neo export refuses this model rather than export it " +
        "approximately",
      err,
    );
  }
  const bias = new Float32Array(d), delta = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    bias[j] = lnBias[j] + solution[j];
    delta[j] = bias[j] - lnBias[j];
  }
  return { bias, delta };
}
