/**
 * Fused causal self-attention for the CPU backends (wasm, cpu): from the query/key/value
 * projection qkv [B·T, 3C] straight to the merged heads y [B·T, C], in one WebAssembly SIMD
 * kernel forward and one backward (lib/kernels/wasm/kernels.c).
 *
 * Why: as tfjs ops this is a split, three transposes, two batched matmuls (under 1 GFLOP/s on
 * wasm), a mask, a softmax and a transpose, each materialising a tensor, and twice as many ops
 * backward. The kernel never computes the masked half (j > i), keeps only a log-sum-exp per row
 * for the backward (probabilities are recomputed), and needs no head transposes because it reads
 * each head's slice of qkv in place. Tested against the tfjs composition in
 * tests/kernels_test.ts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "../kernels/custom_op.ts";
import { attentionBackward, attentionForward } from "../kernels/wasm/mod.ts";

/** Causal multi-head attention of qkv [B·T, 3C] → [B·T, C] as one differentiable op. */
export function fusedCausalSelfAttention(
  qkv: tf.Tensor2D,
  batch: number,
  time: number,
  nHead: number,
): tf.Tensor2D {
  const c = qkv.shape[1] / 3, d = c / nHead;
  if (!Number.isInteger(d) || qkv.shape[0] !== batch * time) {
    throw new Error(
      `fusedCausalSelfAttention: qkv [${qkv.shape}] does not fit B=${batch} T=${time} H=${nHead}`,
    );
  }
  const op = customOp(([x]) => {
    const qkvValues = x.dataSync() as Float32Array;
    const { y, lse } = attentionForward(qkvValues, batch, time, nHead, d);
    return {
      value: tf.tensor2d(y, [batch * time, c]),
      gradFunc: (dy) => {
        const dqkv = attentionBackward(
          qkvValues,
          y,
          dy.dataSync() as Float32Array,
          lse,
          batch,
          time,
          nHead,
          d,
        );
        return [tf.tensor2d(dqkv, [batch * time, 3 * c])];
      },
    };
  });
  return op(qkv) as tf.Tensor2D;
}
