/**
 * Fused causal attention for the CPU backends (wasm, cpu): softmax(q·kᵀ·scale + causal mask)·v
 * per batch and head, computed in one pass over plain Float32Arrays, with a hand-written backward.
 *
 * Why: tfjs runs batched matmuls on wasm at under 1 GFLOP/s and materialises the masked scores,
 * the softmax and their gradients as separate [B, H, T, T] tensors. This kernel skips the masked
 * half entirely (j > i is never computed) and keeps the probabilities only for its own backward.
 * It matches the straightforward tfjs composition (tested in tests/attention_test.ts).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "./custom_op.ts";

/** Forward pass on raw arrays; returns the output [B·H, T, D] and the probabilities [B·H, T, T]. */
export function attentionForward(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  bh: number,
  t: number,
  d: number,
  scale: number,
): { out: Float32Array; probs: Float32Array } {
  const out = new Float32Array(bh * t * d);
  const probs = new Float32Array(bh * t * t);
  for (let h = 0; h < bh; h++) {
    const base = h * t * d, pbase = h * t * t;
    for (let i = 0; i < t; i++) {
      const qi = base + i * d, prow = pbase + i * t;
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        const kj = base + j * d;
        let s = 0;
        for (let c = 0; c < d; c++) s += q[qi + c] * k[kj + c];
        s *= scale;
        probs[prow + j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) {
        const e = Math.exp(probs[prow + j] - max);
        probs[prow + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      const oi = base + i * d;
      for (let j = 0; j <= i; j++) {
        const p = (probs[prow + j] *= inv);
        const vj = base + j * d;
        for (let c = 0; c < d; c++) out[oi + c] += p * v[vj + c];
      }
    }
  }
  return { out, probs };
}

/** Backward pass on raw arrays: gradients of q, k, v given dOut and the saved probabilities. */
export function attentionBackward(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  probs: Float32Array,
  dOut: Float32Array,
  bh: number,
  t: number,
  d: number,
  scale: number,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const dq = new Float32Array(q.length),
    dk = new Float32Array(k.length),
    dv = new Float32Array(v.length);
  const dp = new Float32Array(t);
  for (let h = 0; h < bh; h++) {
    const base = h * t * d, pbase = h * t * t;
    for (let i = 0; i < t; i++) {
      const oi = base + i * d, prow = pbase + i * t;
      // dP_ij = dO_i · v_j, and Σ_j P_ij dP_ij for the softmax backward.
      let rowDot = 0;
      for (let j = 0; j <= i; j++) {
        const vj = base + j * d;
        let s = 0;
        for (let c = 0; c < d; c++) s += dOut[oi + c] * v[vj + c];
        dp[j] = s;
        rowDot += probs[prow + j] * s;
      }
      const qi = oi;
      for (let j = 0; j <= i; j++) {
        const p = probs[prow + j];
        const ds = p * (dp[j] - rowDot) * scale;
        const kj = base + j * d;
        for (let c = 0; c < d; c++) {
          dq[qi + c] += ds * k[kj + c];
          dk[kj + c] += ds * q[qi + c];
          dv[kj + c] += p * dOut[oi + c];
        }
      }
    }
  }
  return { dq, dk, dv };
}

/**
 * Causal attention of q, k, v [B, H, T, D] → [B, H, T, D] as one differentiable tfjs op whose
 * forward and backward run the loops above.
 */
export function fusedCausalAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
): tf.Tensor4D {
  const [b, h, t, d] = q.shape;
  const scale = 1 / Math.sqrt(d);
  const op = customOp(([qt, kt, vt]) => {
    const qa = qt.dataSync() as Float32Array,
      ka = kt.dataSync() as Float32Array;
    const va = vt.dataSync() as Float32Array;
    const { out, probs } = attentionForward(qa, ka, va, b * h, t, d, scale);
    return {
      value: tf.tensor4d(out, [b, h, t, d]),
      gradFunc: (dy) => {
        const g = attentionBackward(
          qa,
          ka,
          va,
          probs,
          dy.dataSync() as Float32Array,
          b * h,
          t,
          d,
          scale,
        );
        return [
          tf.tensor4d(g.dq, [b, h, t, d]),
          tf.tensor4d(g.dk, [b, h, t, d]),
          tf.tensor4d(g.dv, [b, h, t, d]),
        ];
      },
    };
  });
  return op(q, k, v) as tf.Tensor4D;
}
