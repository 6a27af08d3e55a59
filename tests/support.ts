/** Helpers shared by the test files: comparisons and tiny models. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { coursePreset, type GPTConfig } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { Rng } from "../lib/random.ts";

/** Largest |a_i − b_i| of two arrays or tensors of the same size. */
export function maxAbsDiff(
  a: ArrayLike<number> | tf.Tensor,
  b: ArrayLike<number> | tf.Tensor,
): number {
  const x = a instanceof tf.Tensor ? a.dataSync() : a;
  const y = b instanceof tf.Tensor ? b.dataSync() : b;
  assert.equal(x.length, y.length, "maxAbsDiff: sizes differ");
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Fails unless every |got_i − want_i| < tol, naming `what` and the largest difference. */
export function assertClose(
  what: string,
  got: ArrayLike<number> | tf.Tensor,
  want: ArrayLike<number> | tf.Tensor,
  tol = 1e-4,
): void {
  const diff = maxAbsDiff(got, want);
  assert.ok(diff < tol, `${what}: max |Δ| = ${diff} ≥ ${tol}`);
}

/** A tensor of standard normal values from a seeded stream. */
export function randn(shape: number[], seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Rng(seed).normalArray(size, 1), shape);
}

/** The course's "micro" model (tiny, fast) with overrides, freshly initialised from `seed`. */
export function microGpt(overrides: Partial<GPTConfig> = {}, seed = 0): GPT {
  return GPT.create(
    coursePreset("micro", { vocabSize: 13, contextLength: 16, ...overrides }),
    seed,
  );
}
