/**
 * The attention core as a learner reads it, in plain tfjs ops (tfjs differentiates it): every
 * fast implementation in this folder is tested against this function, values and gradients.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { causalMaskBias, patternMaskBias } from "./masks.ts";
import type { SparsePattern } from "./patterns.ts";

/** Options for {@link attendReference}. */
export interface ReferenceAttentionOptions {
  batch: number;
  time: number;
  nHead: number;
  /** Which keys each query sees (default dense causal). */
  pattern?: SparsePattern;
  /** Dropout rate on the attention weights (training only). */
  dropout?: number;
  /** Seed for the dropout mask. */
  seed?: number;
  /** When given, the attention weights [B, H, T, T] are pushed here (kept; caller disposes). */
  weightsOut?: tf.Tensor4D[];
}

/**
 * qkv [B·T, 3C] → heads [B, H, T, D] → masked softmax of q·kᵀ/√D → weighted sum of v → heads
 * merged back to [B·T, C]. The mask is causal, or the pattern's ({@link patternMaskBias}).
 */
export function attendReference(qkv: tf.Tensor2D, o: ReferenceAttentionOptions): tf.Tensor2D {
  return tf.tidy(() => {
    const { batch: b, time: t, nHead: h } = o;
    const c = qkv.shape[1] / 3, d = c / h;
    const [q, k, v] = tf.split(qkv, 3, 1).map((m) =>
      tf.transpose(tf.reshape(m, [b, t, h, d]), [0, 2, 1, 3]) as tf.Tensor4D // [B, H, T, D]
    );
    const scores = tf.add(
      tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)),
      o.pattern ? patternMaskBias(o.pattern, t) : causalMaskBias(t),
    );
    let weights = tf.softmax(scores) as tf.Tensor4D; // [B, H, T, T]
    if (o.weightsOut) o.weightsOut.push(tf.keep(weights));
    if (o.dropout) weights = tf.dropout(weights, o.dropout, undefined, o.seed) as tf.Tensor4D;
    const y = tf.matMul(weights, v); // [B, H, T, D]
    return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b * t, c]) as tf.Tensor2D;
  });
}
