/**
 * The small building blocks of a GPT block: LayerNorm, GELU and the token-level cross-entropy.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "../kernels/custom_op.ts";
import { useCpuKernels } from "../kernels/dispatch.ts";
import { fusedGelu } from "../kernels/gelu_cpu.ts";
import { fusedLayerNorm } from "../kernels/layernorm_cpu.ts";

/**
 * LayerNorm over the last axis: (x − mean) / sqrt(var + eps) · gain + bias.
 * Runs a fused kernel on the CPU backends, {@link layerNormReference} elsewhere.
 */
export function layerNorm(
  x: tf.Tensor2D,
  gain: tf.Tensor1D,
  bias: tf.Tensor1D,
  eps = 1e-5,
): tf.Tensor2D {
  return useCpuKernels()
    ? fusedLayerNorm(x, gain, bias, eps)
    : layerNormReference(x, gain, bias, eps);
}

/** LayerNorm written as tfjs ops (differentiated by tfjs). */
export function layerNormReference(
  x: tf.Tensor2D,
  gain: tf.Tensor1D,
  bias: tf.Tensor1D,
  eps = 1e-5,
): tf.Tensor2D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(
      tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gain),
      bias,
    );
  });
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, in the tanh approximation that GPT-1/2/3 use; fused on the CPU backends. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return useCpuKernels() ? fusedGelu(x) : geluReference(x);
}

/** GELU written as tfjs ops (x³ as x²·x: wasm's Pow is slow). */
export function geluReference(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(
      tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)),
      GELU_C,
    );
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

/**
 * Mean cross-entropy (nats per token) of `logits` [N, V] against integer `targets` [N].
 * Targets equal to -1 are ignored (used to leave padding or prompt tokens out of a loss).
 * The gradient is written out (softmax − one-hot) rather than differentiated through
 * logSoftmax, which saves several full-size [N, V] temporaries per step.
 */
export function crossEntropy(
  logits: tf.Tensor2D,
  targets: tf.Tensor1D,
): tf.Scalar {
  const [n, vocab] = logits.shape;
  if (targets.shape[0] !== n) {
    throw new Error(
      `crossEntropy: ${n} rows of logits but ${targets.shape[0]} targets`,
    );
  }
  const op = customOp(([z], save) => {
    const mask = tf.cast(tf.greaterEqual(targets, 0), "float32");
    const oneHot = tf.mul(
      tf.oneHot(tf.maximum(targets, tf.scalar(0, "int32")), vocab).toFloat(),
      tf.expandDims(mask, 1),
    );
    const logp = tf.logSoftmax(z);
    const count = tf.maximum(tf.sum(mask), 1);
    const loss = tf.div(tf.neg(tf.sum(tf.mul(logp, oneHot))), count);
    save([logp, oneHot, mask, count]);
    return {
      value: loss,
      gradFunc: (dy, saved) => {
        const [lp, oh, m, c] = saved;
        const probs = tf.mul(tf.exp(lp), tf.expandDims(m, 1));
        return [tf.mul(tf.sub(probs, oh), tf.div(dy, c))];
      },
    };
  });
  return op(logits) as tf.Scalar;
}
