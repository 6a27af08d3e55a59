/**
 * Incremental decoding with a key/value cache.
 *
 * Rerunning the whole window for every new token repeats work: a causal model's position i
 * depends only on positions ≤ i, so the keys and values of earlier positions never change. A
 * {@link KVCache} keeps each layer's keys and values (lib/attention/cached.ts), and
 * {@link KVCache.append} runs the model's own forward pass (the same blocks as training) on
 * just the new tokens, with the cache passed in. The logits equal the full forward's for the
 * same prefix up to float rounding (tested to 1e-4).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { DecodingCache, GPT } from "./gpt.ts";
import { LayerCache } from "../attention/cached.ts";

/** Options for {@link KVCache.append}. */
export interface AppendOptions {
  /** Return the logits of every appended position ([n · vocab], row-major), not only the last. */
  allLogits?: boolean;
}

/**
 * The cached keys and values of one sequence for a {@link GPT}: 2 tensors per layer, plus a
 * transposed copy of the output head (made once: a plain matmul is several times faster than a
 * transposed one on wasm). {@link KVCache.dispose} frees them. The head copy is taken when the
 * cache is created: make a new cache after changing the model's weights.
 */
export class KVCache implements DecodingCache {
  /** The model whose states are cached. */
  readonly model: GPT;
  /** One key/value cache per block. */
  readonly layers: readonly LayerCache[];
  /** The output head as [C, vocab]. */
  readonly headT: tf.Tensor2D;

  /** An empty cache for `model`. */
  constructor(model: GPT) {
    this.model = model;
    const c = model.config;
    this.layers = Array.from({ length: c.nLayer }, () => new LayerCache());
    const head = model.params.get(c.tiedEmbeddings ? "wte.weight" : "lm_head.weight")!;
    this.headT = tf.keep(tf.transpose(head as tf.Tensor2D));
  }

  /** Number of positions cached (the next token goes to this position). */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  /** The most positions the cache can hold: the model's context length. */
  get capacity(): number {
    return this.model.config.contextLength;
  }

  /**
   * Feeds `tokens` at positions `length`, `length + 1`, … (all at once: a prompt is one batched
   * pass, a generated token a pass of one row), stores their keys and values, and returns the
   * logits of the last one (a Float32Array of `vocabSize`), or of all of them with
   * `allLogits`. On failure the cache is emptied (a half-updated cache is never reused).
   *
   * @throws {Error} If the tokens do not fit in the remaining context, or an id is outside
   * [0, vocabSize).
   */
  append(tokens: ArrayLike<number>, options: AppendOptions = {}): Float32Array {
    const c = this.model.config;
    const n = tokens.length;
    if (n === 0) throw new Error("KVCache.append: no tokens given");
    if (this.length + n > c.contextLength) {
      throw new Error(
        `KVCache.append: ${n} more token${n > 1 ? "s" : ""} would make ${this.length + n} ` +
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
    try {
      const logits = tf.tidy(() =>
        this.model.forward(tf.tensor2d(Array.from(tokens), [1, n], "int32"), {
          cache: this,
          logits: options.allLogits ? "all" : "last",
        }).logits
      );
      const out = logits.dataSync() as Float32Array;
      logits.dispose();
      return out;
    } catch (e) {
      this.reset();
      throw e;
    }
  }

  /** Empties the cache (keeps the head copy): the next token goes to position 0. */
  reset(): void {
    for (const layer of this.layers) layer.clear();
  }

  /** Frees every tensor the cache holds. */
  dispose(): void {
    this.reset();
    this.headT.dispose();
  }
}
