/**
 * The affine map y = x·W + b with a gradient that stays on tfjs' fast matmul path.
 *
 * On the wasm backend a plain 2-D `matMul(a, b)` runs at 10–15 GFLOP/s, but the transposed forms
 * that tfjs' own gradient uses (`matMul(dy, W, false, true)`, `matMul(x, dy, true, false)`) fall
 * back to a generic loop at under 1 GFLOP/s. Transposing explicitly (a cheap copy) and then
 * multiplying plainly is ~10× faster, so this op does exactly that. Likewise the bias gradient
 * (a column sum of dy) is computed as ones·dy, a plain matmul, ~20× faster than wasm's `sum`
 * over axis 0, and the forward adds the bias inside the fused matmul.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "./custom_op.ts";

const linearOp = customOp(([x, w, b], save) => {
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b }),
    gradFunc: (dy, saved) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const rows = dy.shape[0];
      return [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(ws)),
        tf.matMul(tf.transpose(xs), dy as tf.Tensor2D),
        tf.reshape(tf.matMul(tf.ones([1, rows]), dy as tf.Tensor2D), [dy.shape[1]!]),
      ];
    },
  };
});

/** y = x·W + b for x [N, in], W [in, out], b [out] (W in the [in, out] layout GPT-2 ships). */
export function linear(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D,
): tf.Tensor2D {
  return linearOp(x, w, b) as tf.Tensor2D;
}

/** y = x·W for x [N, in] and W [in, out], without a bias (e.g. the tied output projection). */
export function matmulFast(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return matmulOp(x, w) as tf.Tensor2D;
}

const matmulOp = customOp(([x, w], save) => {
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy, saved) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy)];
    },
  };
});
