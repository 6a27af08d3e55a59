/**
 * GELU (the tanh approximation GPT-1/2/3 use) as a single fused op for the CPU backends.
 *
 * Written as tfjs ops, GELU is ~8 ops forward and ~15 backward; here it is one loop each way, in
 * the WebAssembly module (JavaScript's Math.tanh made it ~5× slower). Tested against the
 * composition in tests/kernels_test.ts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "./custom_op.ts";
import { geluBackward, geluForward } from "./wasm/mod.ts";

/** Fused GELU (tanh approximation) of any tensor, forward and backward in WebAssembly. */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  const op = customOp(([xt]) => {
    const xa = xt.dataSync() as Float32Array;
    const { y, th } = geluForward(xa);
    return {
      value: tf.tensor(y, xt.shape),
      gradFunc: (dy) => [tf.tensor(geluBackward(xa, th, dy.dataSync() as Float32Array), xt.shape)],
    };
  });
  return op(x);
}
