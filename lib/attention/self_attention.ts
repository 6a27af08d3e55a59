/**
 * Causal multi-head self-attention, the only kind of attention a GPT has: no encoder, so no
 * cross-attention. Each position attends to itself and to earlier positions; the causal mask
 * sets every score for a later position to −∞ (here −1e9) before the softmax. A layer may also
 * use a sparse pattern (lib/sparse/patterns.ts), which masks more of the past.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { linear } from "../kernels/linear.ts";
import { fusedCausalSelfAttention } from "../kernels/attention_cpu.ts";
import { useCpuKernels, useGpuKernels } from "../kernels/dispatch.ts";
import { gpuCausalSelfAttention } from "../gpu/attention.ts";
import { gpuBlockSparseSelfAttention } from "../gpu/sparse_attention.ts";
import { blockSparseCausalSelfAttention } from "../sparse/block_sparse.ts";
import { keyRuns, patternName, type SparsePattern } from "../sparse/patterns.ts";

/** The four tensors of one attention sub-block (GPT-2's names and [in, out] layout). */
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

const maskCache = new Map<number, tf.Tensor2D>();

/** A [T, T] additive mask: 0 where key j ≤ query i, −1e9 where j > i (the future). */
export function causalMaskBias(t: number): tf.Tensor2D {
  let mask = maskCache.get(t);
  if (!mask) {
    const values = new Float32Array(t * t);
    for (let i = 0; i < t; i++) {
      for (let j = i + 1; j < t; j++) values[i * t + j] = -1e9;
    }
    mask = tf.keep(tf.tensor2d(values, [t, t]));
    maskCache.set(t, mask);
  }
  return mask;
}

const PATTERN_MASKS = 16;
const patternMasks = new Map<string, tf.Tensor2D>();

/**
 * A [T, T] additive mask for a sparse pattern: 0 where query i may attend to key j, −1e9
 * elsewhere. The 16 most recent masks are cached (a model has a few patterns at one length).
 */
export function patternMaskBias(pattern: SparsePattern, t: number): tf.Tensor2D {
  if (pattern.kind === "dense") return causalMaskBias(t);
  const key = `${patternName(pattern)}|${t}`;
  let mask = patternMasks.get(key);
  if (mask) {
    patternMasks.delete(key); // re-inserted below as the most recent
  } else {
    const values = new Float32Array(t * t).fill(-1e9);
    for (let i = 0; i < t; i++) {
      const runs = keyRuns(pattern, i);
      for (let r = 0; r < runs.length; r += 2) values.fill(0, i * t + runs[r], i * t + runs[r + 1]);
    }
    mask = tf.keep(tf.tensor2d(values, [t, t]));
  }
  patternMasks.set(key, mask);
  if (patternMasks.size > PATTERN_MASKS) {
    const oldest = patternMasks.keys().next().value!;
    patternMasks.get(oldest)!.dispose();
    patternMasks.delete(oldest);
  }
  return mask;
}

/** Options for {@link causalSelfAttention}. */
export interface AttentionOptions {
  batch: number;
  time: number;
  nHead: number;
  /** Dropout rate on the attention weights and the output (training only). */
  dropout?: number;
  /** Seed for the dropout masks. */
  seed?: number;
  /** When given, the attention weights [B, H, T, T] are pushed here (kept; caller disposes). */
  weightsOut?: tf.Tensor4D[];
  /** Which keys each query sees (default dense causal). */
  pattern?: SparsePattern;
}

/**
 * Multi-head causal self-attention of x [B·T, C] → [B·T, C].
 * q, k, v come from one projection; scores are q·kᵀ/√d per head; the output of all heads is
 * concatenated and projected back to the residual width. On the CPU backends the middle part
 * runs as one fused kernel (lib/kernels/attention_cpu.ts), on webgpu as the WGSL kernels of
 * lib/gpu/attention.ts; {@link attendReference} is the same computation in plain tfjs ops.
 * A sparse `o.pattern` runs as block-sparse attention (lib/sparse/block_sparse.ts, or
 * lib/gpu/sparse_attention.ts on webgpu), which visits only the pattern's pairs.
 */
export function causalSelfAttention(
  x: tf.Tensor2D,
  p: AttentionParams,
  o: AttentionOptions,
): tf.Tensor2D {
  return tf.tidy(() => {
    const qkv = linear(x, p.cAttnW, p.cAttnB); // [B·T, 3C]
    const { batch: b, time: t, nHead: h } = o;
    const sparse = o.pattern?.kind === "dense" ? undefined : o.pattern;
    // Attention maps and dropout on the weights need the weights materialised: reference path.
    const fused = !o.weightsOut && !o.dropout;
    const y = fused && useCpuKernels()
      ? (sparse
        ? blockSparseCausalSelfAttention(qkv, b, t, h, sparse)
        : fusedCausalSelfAttention(qkv, b, t, h))
      : fused && useGpuKernels()
      ? (sparse
        ? gpuBlockSparseSelfAttention(qkv, b, t, h, sparse)
        : gpuCausalSelfAttention(qkv, b, t, h))
      : attendReference(qkv, o);
    const out = linear(y, p.cProjW, p.cProjB);
    return o.dropout
      ? tf.dropout(out, o.dropout, undefined, (o.seed ?? 0) + 1) as tf.Tensor2D
      : out;
  });
}

/**
 * The attention core in plain tfjs ops: qkv [B·T, 3C] → heads [B, H, T, D] → masked softmax of
 * q·kᵀ/√D → weighted sum of v → heads merged back to [B·T, C]. The mask is causal, or the
 * pattern's ({@link patternMaskBias}) when `o.pattern` is given.
 */
export function attendReference(qkv: tf.Tensor2D, o: AttentionOptions): tf.Tensor2D {
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
