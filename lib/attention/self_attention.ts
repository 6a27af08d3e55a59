/**
 * Causal multi-head self-attention, the only kind of attention a GPT has: no encoder, so no
 * cross-attention. Each position attends to itself and to earlier positions (the causal mask),
 * or, in a sparse layer, to the subset of them its pattern allows (patterns.ts).
 *
 * This is the sub-layer the model's blocks call: the q/k/v projection, the attention core (on
 * the implementation dispatch.ts picks, or against a decoding cache), and the output
 * projection.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { linear } from "../kernels/linear.ts";
import { attend, type AttentionImplementation } from "./dispatch.ts";
import { attendCached, type LayerCache } from "./cached.ts";
import type { SparsePattern } from "./patterns.ts";

/** The four tensors of one attention sub-layer (GPT-2's names and [in, out] layout). */
export interface AttentionParams {
  /** Query/key/value projection [C, 3C]. */
  cAttnW: tf.Tensor2D;
  /** Its bias [3C]. */
  cAttnB: tf.Tensor1D;
  /** Output projection [C, C]. */
  cProjW: tf.Tensor2D;
  /** Its bias [C]. */
  cProjB: tf.Tensor1D;
}

/** Options for {@link causalSelfAttention}. */
export interface AttentionOptions {
  batch: number;
  time: number;
  nHead: number;
  /** Dropout rate on the attention weights and the output (training only). */
  dropout?: number;
  /** Seed for the dropout masks (the weights use `seed`, the output `seed + 1`). */
  seed?: number;
  /** When given, the attention weights [B, H, T, T] are pushed here (kept; caller disposes). */
  weightsOut?: tf.Tensor4D[];
  /** Which keys each query sees (default dense causal). */
  pattern?: SparsePattern;
  /** "reference" forces the plain tfjs attention (see dispatch.ts). Default "auto". */
  implementation?: AttentionImplementation;
  /**
   * Incremental decoding of one sequence (batch 1): x holds the newest positions, which attend
   * to the cached keys too, and whose keys and values are added to the cache.
   */
  cache?: LayerCache;
}

/**
 * Multi-head causal self-attention of x [B·T, C] → [B·T, C]: q, k, v from one projection,
 * scores q·kᵀ/√D per head under the layer's mask, the heads' outputs concatenated and projected
 * back to the residual width.
 */
export function causalSelfAttention(
  x: tf.Tensor2D,
  p: AttentionParams,
  o: AttentionOptions,
): tf.Tensor2D {
  if (o.cache && (o.batch !== 1 || o.dropout || o.weightsOut)) {
    throw new Error(
      "causalSelfAttention: a decoding cache holds one sequence (batch 1), without dropout " +
        "or attention weights",
    );
  }
  return tf.tidy(() => {
    const qkv = linear(x, p.cAttnW, p.cAttnB); // [B·T, 3C]
    const y = o.cache ? attendCached(qkv, o.cache, o.nHead, o.pattern) : attend(qkv, o);
    const out = linear(y, p.cProjW, p.cProjB);
    return o.dropout
      ? tf.dropout(out, o.dropout, undefined, (o.seed ?? 0) + 1) as tf.Tensor2D
      : out;
  });
}
