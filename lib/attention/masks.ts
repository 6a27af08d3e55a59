/**
 * Additive attention masks for the reference path: 0 where a query may attend to a key, −1e9
 * (effectively −∞ before the softmax) where it may not.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { LruCache } from "../cache.ts";
import { keyRuns, patternName, type SparsePattern } from "./patterns.ts";

/** A model uses a few patterns at one or two lengths: 16 masks cover it. */
const masks = new LruCache<string, tf.Tensor2D>(16, (mask) => mask.dispose());

/** A [T, T] additive mask: 0 where key j ≤ query i, −1e9 where j > i (the future). Cached. */
export function causalMaskBias(t: number): tf.Tensor2D {
  return masks.getOrCreate(`causal|${t}`, () => {
    const values = new Float32Array(t * t);
    for (let i = 0; i < t; i++) {
      for (let j = i + 1; j < t; j++) values[i * t + j] = -1e9;
    }
    return tf.keep(tf.tensor2d(values, [t, t]));
  });
}

/**
 * A [T, T] additive mask for a sparse pattern: 0 where query i may attend to key j, −1e9
 * elsewhere. Cached with {@link causalMaskBias}'s masks.
 */
export function patternMaskBias(pattern: SparsePattern, t: number): tf.Tensor2D {
  if (pattern.kind === "dense") return causalMaskBias(t);
  return masks.getOrCreate(`${patternName(pattern)}|${t}`, () => {
    const values = new Float32Array(t * t).fill(-1e9);
    for (let i = 0; i < t; i++) {
      const runs = keyRuns(pattern, i);
      for (let r = 0; r < runs.length; r += 2) values.fill(0, i * t + runs[r], i * t + runs[r + 1]);
    }
    return tf.keep(tf.tensor2d(values, [t, t]));
  });
}
