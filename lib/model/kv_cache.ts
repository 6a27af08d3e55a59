/**
 * Incremental decoding with a key/value cache.
 *
 * Generating with `generate` (lib/model/generate.ts) reruns the whole window for every new
 * token, although the keys and values of earlier positions never change: a causal model's
 * position i depends only on positions ≤ i. A {@link KVCache} keeps each layer's keys and values, so adding a token
 * costs one position's worth of work (plus attention over the cached keys) instead of a full
 * forward pass. The logits are the same as the full forward's for the same prefix, up to float
 * rounding (tested to 1e-4).
 *
 * This is a second implementation of the model's forward pass in tfjs ops, reading the
 * parameters from `model.params` by their GPT-2 names and following `model.config`: pre- or
 * post-norm blocks, tied or untied output head, and the optional per-layer sparse attention
 * patterns (`config.attention`, see lib/sparse/patterns.ts). It keeps no gradient state and is
 * for inference only (no dropout).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "./gpt.ts";
import { sampleToken } from "./generate.ts";
import { gelu, layerNorm } from "./layers.ts";
import { linear, matmulFast } from "../kernels/linear.ts";
import { keyRuns, type SparsePattern } from "../sparse/patterns.ts";
import { Rng } from "../random.ts";

/** Options for {@link KVCache.append}. */
export interface AppendOptions {
  /** Return the logits of every appended position ([n · vocab], row-major), not only the last. */
  allLogits?: boolean;
}

/**
 * The cached keys and values of one sequence for a {@link GPT}, and the incremental forward
 * pass that fills them. Holds 2 tensors per layer plus a transposed copy of the output head
 * (made once, because a plain matmul is several times faster than a transposed one on the
 * wasm backend); {@link KVCache.dispose} frees them.
 *
 * Reads the weights from the model at every step, except the head copy, which is taken when
 * the cache is created: make a new cache after changing the model's weights.
 */
export class KVCache {
  /** The model whose states are cached. */
  readonly model: GPT;
  // Per layer, keys as [H, D, len] (transposed, so q·K is a plain matmul) and values [H, len, D].
  #keys: (tf.Tensor3D | undefined)[];
  #values: (tf.Tensor3D | undefined)[];
  #length = 0;
  #headT: tf.Tensor2D; // [C, vocab]
  #patterns: (SparsePattern | undefined)[];

  /** An empty cache for `model`. */
  constructor(model: GPT) {
    this.model = model;
    const c = model.config;
    this.#keys = new Array(c.nLayer).fill(undefined);
    this.#values = new Array(c.nLayer).fill(undefined);
    const head = model.params.get(c.tiedEmbeddings ? "wte.weight" : "lm_head.weight")!;
    this.#headT = tf.keep(tf.transpose(head as tf.Tensor2D));
    const patterns = c.attention;
    this.#patterns = Array.from({ length: c.nLayer }, (_, i) => patterns?.[i]);
  }

  /** Number of positions cached (the next token goes to this position). */
  get length(): number {
    return this.#length;
  }

  /** The most positions the cache can hold: the model's context length. */
  get capacity(): number {
    return this.model.config.contextLength;
  }

  /**
   * Feeds `tokens` at positions `length`, `length + 1`, … (all at once: a prompt is one batched
   * pass, a generated token a pass of one row), stores their keys and values, and returns the
   * logits of the last one (a Float32Array of `vocabSize`), or of all of them with
   * `allLogits`.
   *
   * @throws {Error} If the tokens do not fit in the remaining context, or an id is outside
   * [0, vocabSize).
   */
  append(tokens: ArrayLike<number>, options: AppendOptions = {}): Float32Array {
    const c = this.model.config;
    const n = tokens.length;
    if (n === 0) throw new Error("KVCache.append: no tokens given");
    if (this.#length + n > c.contextLength) {
      throw new Error(
        `KVCache.append: ${n} more token${n > 1 ? "s" : ""} would make ${this.#length + n} ` +
          `positions, past the context of ${c.contextLength}; reset() the cache or crop the input`,
      );
    }
    for (let i = 0; i < n; i++) {
      if (!Number.isInteger(tokens[i]) || tokens[i] < 0 || tokens[i] >= c.vocabSize) {
        throw new Error(
          `KVCache.append: token ${tokens[i]} at index ${i} is outside [0, ${c.vocabSize})`,
        );
      }
    }
    const start = this.#length;
    const { logits, keys, values } = tf.tidy(() => {
      const p = (name: string) => this.model.params.get(name)! as tf.Tensor;
      const d = c.nEmbd, h = c.nHead, hd = d / h, total = start + n;
      const ids = tf.tensor1d(Array.from(tokens), "int32");
      let x = tf.add(
        tf.gather(p("wte.weight"), ids),
        tf.slice(p("wpe.weight"), [start, 0], [n, d]),
      ) as tf.Tensor2D; // [n, C]
      const keys: tf.Tensor3D[] = [], values: tf.Tensor3D[] = [];
      for (let l = 0; l < c.nLayer; l++) {
        const b = `h.${l}.`;
        const ln = (z: tf.Tensor2D, which: 1 | 2) =>
          layerNorm(
            z,
            p(`${b}ln_${which}.weight`) as tf.Tensor1D,
            p(`${b}ln_${which}.bias`) as tf.Tensor1D,
          );
        const attend = (z: tf.Tensor2D) => {
          const qkv = linear(
            z,
            p(b + "attn.c_attn.weight") as tf.Tensor2D,
            p(b + "attn.c_attn.bias") as tf.Tensor1D,
          );
          // [n, 3C] → q, k, v as [H, n, D] (head j owns columns j·D … (j+1)·D of each third).
          const heads = (part: number) =>
            tf.transpose(tf.reshape(tf.slice(qkv, [0, part * d], [n, d]), [n, h, hd]), [1, 0, 2]);
          const kNew = tf.transpose(heads(1), [0, 2, 1]) as tf.Tensor3D; // [H, D, n]
          const vNew = heads(2) as tf.Tensor3D;
          const kAll = this.#keys[l] ? tf.concat([this.#keys[l]!, kNew], 2) : kNew;
          const vAll = this.#values[l] ? tf.concat([this.#values[l]!, vNew], 1) : vNew;
          keys.push(kAll as tf.Tensor3D);
          values.push(vAll as tf.Tensor3D);
          let scores = tf.mul(tf.matMul(heads(0), kAll), 1 / Math.sqrt(hd)); // [H, n, total]
          const mask = this.#mask(l, start, n, total);
          if (mask) scores = tf.add(scores, mask);
          const y = tf.matMul(tf.softmax(scores), vAll); // [H, n, D]
          const merged = tf.reshape(tf.transpose(y, [1, 0, 2]), [n, d]) as tf.Tensor2D;
          return linear(
            merged,
            p(b + "attn.c_proj.weight") as tf.Tensor2D,
            p(b + "attn.c_proj.bias") as tf.Tensor1D,
          );
        };
        const mlp = (z: tf.Tensor2D) => {
          const hidden = gelu(
            linear(
              z,
              p(b + "mlp.c_fc.weight") as tf.Tensor2D,
              p(b + "mlp.c_fc.bias") as tf.Tensor1D,
            ),
          ) as tf.Tensor2D;
          return linear(
            hidden,
            p(b + "mlp.c_proj.weight") as tf.Tensor2D,
            p(b + "mlp.c_proj.bias") as tf.Tensor1D,
          );
        };
        if (c.norm === "pre") {
          x = tf.add(x, attend(ln(x, 1)));
          x = tf.add(x, mlp(ln(x, 2)));
        } else {
          x = ln(tf.add(x, attend(x)), 1);
          x = ln(tf.add(x, mlp(x)), 2);
        }
      }
      // Only the rows whose logits are wanted go through the (large) output projection.
      if (!options.allLogits) x = tf.slice(x, [n - 1, 0], [1, d]);
      if (c.norm === "pre") {
        x = layerNorm(x, p("ln_f.weight") as tf.Tensor1D, p("ln_f.bias") as tf.Tensor1D);
      }
      return { logits: matmulFast(x, this.#headT), keys, values };
    });
    for (const t of [...this.#keys, ...this.#values]) t?.dispose();
    this.#keys = keys;
    this.#values = values;
    this.#length = start + n;
    const out = logits.dataSync() as Float32Array;
    logits.dispose();
    return out;
  }

  /**
   * The additive mask [n, total] for queries at positions start … start + n − 1 over keys
   * 0 … total − 1: 0 where the layer's pattern lets the query see the key, −1e9 elsewhere.
   * Undefined when every key is visible (one dense query: all cached keys are in its past).
   */
  #mask(layer: number, start: number, n: number, total: number): tf.Tensor2D | undefined {
    const pattern = this.#patterns[layer];
    const dense = !pattern || pattern.kind === "dense";
    if (dense && n === 1) return undefined;
    const values = new Float32Array(n * total).fill(-1e9);
    for (let i = 0; i < n; i++) {
      const q = start + i;
      const runs = dense ? [0, q + 1] : keyRuns(pattern!, q);
      for (let r = 0; r < runs.length; r += 2) {
        values.fill(0, i * total + runs[r], i * total + runs[r + 1]);
      }
    }
    return tf.tensor2d(values, [n, total]);
  }

  /** Empties the cache (keeps the head copy): the next token goes to position 0. */
  reset(): void {
    for (const t of [...this.#keys, ...this.#values]) t?.dispose();
    this.#keys.fill(undefined);
    this.#values.fill(undefined);
    this.#length = 0;
  }

  /** Frees every tensor the cache holds. */
  dispose(): void {
    this.reset();
    this.#headT.dispose();
  }
}

/** Options for {@link generateCached}. */
export interface CachedGenerateOptions {
  /** Tokens to add. */
  maxNewTokens: number;
  /** Divides the logits before the softmax. Default 1; 0 means greedy. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined = all). */
  topK?: number;
  /** Nucleus sampling: keep the most likely tokens whose probabilities sum to ≥ p. Default 1. */
  topP?: number;
  /** Seed of the sampler. Default 0. */
  seed?: number;
  /** Always take the most likely token (same as temperature 0). */
  greedy?: boolean;
  /**
   * What to do when the sequence outgrows the context: `"slide"` (default; see
   * {@link generateCached}) or `"error"`, which refuses up front unless
   * `prompt.length + maxNewTokens ≤ contextLength`.
   */
  overflow?: "slide" | "error";
}

/**
 * The nucleus of a distribution (Holtzman et al., 2019): the indices of the most likely
 * entries, most likely first (ties: lower index first), up to and including the first one at
 * which the cumulative probability reaches `topP`. Always at least one index; all of them
 * (with nonzero probability) when `topP` ≥ 1.
 */
export function topPIndices(probs: ArrayLike<number>, topP: number): number[] {
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${topP}`);
  const order = Array.from({ length: probs.length }, (_, i) => i)
    .sort((a, b) => probs[b] - probs[a] || a - b);
  const kept: number[] = [];
  let total = 0;
  for (const i of order) {
    if (kept.length > 0 && (probs[i] <= 0 || total >= topP - 1e-12)) break;
    kept.push(i);
    total += probs[i];
  }
  return kept;
}

/**
 * Picks the next token from logits: greedy when `temperature` is 0 or `greedy` is set, else a
 * draw from softmax(logits / temperature) restricted to the top k and then to the top-p
 * nucleus. Without top-p this is exactly {@link sampleToken} (same draws for the same seed).
 */
export function sampleNext(
  logits: Float32Array,
  options: Pick<CachedGenerateOptions, "temperature" | "topK" | "topP" | "greedy">,
  rng: Rng,
): number {
  const { temperature = 1, topK = 0, topP = 1, greedy = false } = options;
  if (greedy || topP >= 1) return sampleToken(logits, greedy ? 0 : temperature, topK, rng);
  if (!(temperature >= 0)) throw new Error(`temperature must be >= 0, got ${temperature}`);
  if (temperature === 0) return sampleToken(logits, 0, 0, rng);
  let order = Array.from(logits.keys());
  if (topK > 0 && topK < logits.length) {
    order = order.sort((a, b) => logits[b] - logits[a] || a - b).slice(0, topK);
  }
  let max = -Infinity;
  for (const i of order) max = Math.max(max, logits[i]);
  const weights = order.map((i) => Math.exp((logits[i] - max) / temperature));
  const sum = weights.reduce((a, b) => a + b, 0);
  const nucleus = topPIndices(weights.map((w) => w / sum), topP);
  const mass = nucleus.reduce((a, k) => a + weights[k], 0);
  let r = rng.next() * mass;
  for (const k of nucleus) {
    r -= weights[k];
    if (r <= 0) return order[k];
  }
  return order[nucleus[nucleus.length - 1]];
}

/**
 * Continues `prompt` by `maxNewTokens` tokens with a {@link KVCache} and returns prompt +
 * continuation, like `generate` in lib/model/generate.ts (same arguments, plus `topP` and
 * `greedy`).
 *
 * Context rule (`overflow: "slide"`, the default): the model reads a window that ends at the
 * newest token. It starts as the last `contextLength` tokens of the prompt; each new token is
 * appended to the cache; when the cache is full and another token must be read, the window
 * restarts from the last ⌊contextLength / 2⌋ tokens (one batched pass), so the cache is rebuilt
 * once every ⌈contextLength / 2⌉ tokens instead of every token. While prompt + continuation fit
 * in the context, the model sees exactly what `generate` shows it and (up to float rounding)
 * the results are the same; past that, `generate` always shows the last `contextLength` tokens
 * and this shows between half of that and all of it.
 * `overflow: "error"` refuses instead when `prompt.length + maxNewTokens > contextLength`.
 */
export function generateCached(
  model: GPT,
  prompt: ArrayLike<number>,
  options: CachedGenerateOptions,
): number[] {
  const { maxNewTokens, seed = 0, overflow = "slide" } = options;
  const { contextLength, vocabSize } = model.config;
  if (prompt.length === 0) {
    throw new Error("generateCached: the prompt is empty; give at least one token");
  }
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new Error(
      `generateCached: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`,
    );
  }
  for (let i = 0; i < prompt.length; i++) {
    if (!Number.isInteger(prompt[i]) || prompt[i] < 0 || prompt[i] >= vocabSize) {
      throw new Error(
        `generateCached: prompt token ${prompt[i]} at position ${i} is outside [0, ${vocabSize})`,
      );
    }
  }
  if (overflow !== "slide" && overflow !== "error") {
    throw new Error(`generateCached: overflow must be "slide" or "error", got ${overflow}`);
  }
  if (overflow === "error" && prompt.length + maxNewTokens > contextLength) {
    throw new Error(
      `generateCached: prompt (${prompt.length}) + maxNewTokens (${maxNewTokens}) = ` +
        `${prompt.length + maxNewTokens} tokens exceed the context of ${contextLength}; ` +
        `shorten them or use overflow: "slide"`,
    );
  }
  if (options.topP !== undefined && !(options.topP > 0 && options.topP <= 1)) {
    throw new Error(`generateCached: topP must be in (0, 1], got ${options.topP}`);
  }
  const tokens = Array.from(prompt);
  if (maxNewTokens === 0) return tokens;
  const rng = new Rng(seed);
  const keep = Math.max(1, Math.floor(contextLength / 2));
  const cache = new KVCache(model);
  try {
    let logits = cache.append(tokens.slice(-contextLength));
    for (let n = 0; n < maxNewTokens; n++) {
      const next = sampleNext(logits, options, rng);
      tokens.push(next);
      if (n === maxNewTokens - 1) break; // the last token is never read
      if (cache.length < contextLength) {
        logits = cache.append([next]);
      } else {
        cache.reset();
        logits = cache.append(tokens.slice(-keep));
      }
    }
  } finally {
    cache.dispose();
  }
  return tokens;
}
