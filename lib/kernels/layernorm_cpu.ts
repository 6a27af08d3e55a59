/**
 * LayerNorm as a single fused op for the CPU backends (GELU's twin is gelu_cpu.ts).
 *
 * Written as tfjs compositions, a LayerNorm is ~10 ops forward and ~20 backward; for a small
 * model the per-op overhead costs more than the arithmetic. Here it is one loop forward and one
 * loop backward over plain arrays in JavaScript. Tested against the composition in
 * tests/kernels_test.ts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "./custom_op.ts";

/** LayerNorm over rows of x [N, C]; returns y and the per-row mean and 1/std for the backward. */
export function layerNormForward(
  x: Float32Array,
  gain: Float32Array,
  bias: Float32Array,
  n: number,
  c: number,
  eps: number,
): { y: Float32Array; mean: Float32Array; rstd: Float32Array } {
  const y = new Float32Array(n * c), mean = new Float32Array(n), rstd = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const o = r * c;
    let s = 0;
    for (let i = 0; i < c; i++) s += x[o + i];
    const mu = s / c;
    let v = 0;
    for (let i = 0; i < c; i++) v += (x[o + i] - mu) * (x[o + i] - mu);
    const rs = 1 / Math.sqrt(v / c + eps);
    for (let i = 0; i < c; i++) y[o + i] = (x[o + i] - mu) * rs * gain[i] + bias[i];
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/** Gradients of LayerNorm with respect to x, gain and bias. */
export function layerNormBackward(
  dy: Float32Array,
  x: Float32Array,
  gain: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  n: number,
  c: number,
): { dx: Float32Array; dgain: Float32Array; dbias: Float32Array } {
  const dx = new Float32Array(n * c), dgain = new Float32Array(c), dbias = new Float32Array(c);
  for (let r = 0; r < n; r++) {
    const o = r * c, mu = mean[r], rs = rstd[r];
    // dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)), with dx̂ = dy · gain.
    let sumD = 0, sumDX = 0;
    for (let i = 0; i < c; i++) {
      const xhat = (x[o + i] - mu) * rs;
      const d = dy[o + i] * gain[i];
      sumD += d;
      sumDX += d * xhat;
      dgain[i] += dy[o + i] * xhat;
      dbias[i] += dy[o + i];
    }
    const meanD = sumD / c, meanDX = sumDX / c;
    for (let i = 0; i < c; i++) {
      const xhat = (x[o + i] - mu) * rs;
      dx[o + i] = rs * (dy[o + i] * gain[i] - meanD - xhat * meanDX);
    }
  }
  return { dx, dgain, dbias };
}

/** Fused LayerNorm of x [N, C] with gain and bias [C]. */
export function fusedLayerNorm(
  x: tf.Tensor2D,
  gain: tf.Tensor1D,
  bias: tf.Tensor1D,
  eps = 1e-5,
): tf.Tensor2D {
  const [n, c] = x.shape;
  const op = customOp(([xt, gt, bt]) => {
    const xa = xt.dataSync() as Float32Array, ga = gt.dataSync() as Float32Array;
    const { y, mean, rstd } = layerNormForward(xa, ga, bt.dataSync() as Float32Array, n, c, eps);
    return {
      value: tf.tensor2d(y, [n, c]),
      gradFunc: (dy) => {
        const g = layerNormBackward(dy.dataSync() as Float32Array, xa, ga, mean, rstd, n, c);
        return [tf.tensor2d(g.dx, [n, c]), tf.tensor1d(g.dgain), tf.tensor1d(g.dbias)];
      },
    };
  });
  return op(x, gain, bias) as tf.Tensor2D;
}
