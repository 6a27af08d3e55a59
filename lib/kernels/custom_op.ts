/**
 * A typed wrapper around `tf.customGrad`: an op with a hand-written gradient.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The forward function of a custom op: returns its value and a gradient function. */
export type CustomOpForward = (
  inputs: tf.Tensor[],
  save: tf.GradSaveFunc,
) => {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
};

/** Builds a differentiable op from a forward function that also returns its gradient. */
export function customOp(
  forward: CustomOpForward,
): (...inputs: tf.Tensor[]) => tf.Tensor {
  const f = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    return forward(args as tf.Tensor[], save);
  };
  return tf.customGrad(
    f as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (
    ...inputs: tf.Tensor[]
  ) => tf.Tensor;
}
