/**
 * Attention for incremental decoding: the n newest positions of one sequence attend to every
 * cached key plus their own, and their keys and values join the cache.
 *
 * A causal model's position i depends only on positions ≤ i, so the keys and values of earlier
 * positions never change while a sequence grows; keeping them turns "one more token" from a
 * whole forward pass into one position's worth of work plus attention over the cache. The
 * model's blocks run exactly as in training, with a {@link LayerCache} handed to each layer's
 * attention (lib/model/kv_cache.ts keeps one per layer). Inference only: no dropout, no
 * gradients.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { keyRuns, type SparsePattern } from "./patterns.ts";

/**
 * One layer's cached keys, as [H, D, len] (transposed once, so q·K is a plain matmul), and
 * values [H, len, D], for a single sequence. The tensors are kept (outside any tidy scope).
 */
export class LayerCache {
  #keys?: tf.Tensor3D;
  #values?: tf.Tensor3D;

  /** Positions cached. */
  get length(): number {
    return this.#values?.shape[1] ?? 0;
  }

  /** Appends keys [H, D, n] and values [H, n, D]; returns all keys and values so far (kept). */
  append(keys: tf.Tensor3D, values: tf.Tensor3D): { keys: tf.Tensor3D; values: tf.Tensor3D } {
    const allKeys = this.#keys ? tf.concat([this.#keys, keys], 2) : keys;
    const allValues = this.#values ? tf.concat([this.#values, values], 1) : values;
    this.#keys?.dispose();
    this.#values?.dispose();
    this.#keys = tf.keep(allKeys);
    this.#values = tf.keep(allValues);
    return { keys: this.#keys, values: this.#values };
  }

  /** Frees the cached tensors; the cache is empty afterwards. */
  clear(): void {
    this.#keys?.dispose();
    this.#values?.dispose();
    this.#keys = this.#values = undefined;
  }
}

/**
 * Attention of qkv [n, 3C] (the n newest positions, at `cache.length` … `cache.length + n − 1`)
 * over the cached keys and their own → merged heads [n, C]. Their keys and values are appended
 * to `cache`. The mask follows `pattern` (dense causal when undefined).
 */
export function attendCached(
  qkv: tf.Tensor2D,
  cache: LayerCache,
  nHead: number,
  pattern?: SparsePattern,
): tf.Tensor2D {
  const n = qkv.shape[0], c = qkv.shape[1] / 3, d = c / nHead;
  const start = cache.length, total = start + n;
  return tf.tidy(() => {
    // [n, 3C] → q, k, v as [H, n, D] (head j owns columns j·D … (j+1)·D of each third).
    const heads = (part: number) =>
      tf.transpose(tf.reshape(tf.slice(qkv, [0, part * c], [n, c]), [n, nHead, d]), [1, 0, 2]);
    const { keys, values } = cache.append(
      tf.transpose(heads(1), [0, 2, 1]) as tf.Tensor3D, // [H, D, n]
      heads(2) as tf.Tensor3D,
    );
    let scores = tf.mul(tf.matMul(heads(0), keys), 1 / Math.sqrt(d)); // [H, n, total]
    const mask = cachedMask(pattern, start, n, total);
    if (mask) scores = tf.add(scores, mask);
    const y = tf.matMul(tf.softmax(scores), values); // [H, n, D]
    return tf.reshape(tf.transpose(y, [1, 0, 2]), [n, c]) as tf.Tensor2D;
  });
}

/**
 * The additive mask [n, total] for queries at start … start + n − 1 over keys 0 … total − 1:
 * 0 where the pattern lets the query see the key, −1e9 elsewhere. Undefined when every key is
 * visible (one dense query: all cached keys are in its past).
 */
function cachedMask(
  pattern: SparsePattern | undefined,
  start: number,
  n: number,
  total: number,
): tf.Tensor2D | undefined {
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
