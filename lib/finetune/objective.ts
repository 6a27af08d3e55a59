/**
 * GPT-1's fine-tuning objective. With C the labelled examples:
 *
 * - L2(C) = −Σ log P(y | x¹…xᵐ): the task's cross-entropy, here averaged over the examples of a
 *   batch;
 * - L1(C) = the language-model loss on the same sequences, as an auxiliary objective: mean
 *   next-token cross-entropy (nats/token) over the targets {@link padBatch} marks (ordinary
 *   tokens only: no padding, no predictions of `[Delim]`/`[Extract]`, and for multiple choice
 *   only the correct option's sequence);
 * - L3(C) = L2(C) + λ·L1(C). GPT-1 used λ = 0.5; λ = 0 is plain supervised fine-tuning, and
 *   then the total is exactly L2 (the same tensor, not L2 + 0·L1).
 *
 * One forward pass gives both: the logits for L1 and the hidden states for the head.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { crossEntropy } from "../model/layers.ts";
import type { TaskBatch } from "./formats.ts";
import { gatherExtract, type TaskHead, taskLogits } from "./head.ts";

/** Options of {@link fineTuneObjective}. */
export interface ObjectiveOptions {
  /** Weight λ of the auxiliary language-model loss (GPT-1: 0.5). */
  lambda: number;
  /** Apply the model's dropout. Default false. */
  training?: boolean;
  /** Dropout seed for this call. */
  seed?: number;
}

/** The objective's parts as tensors (the caller disposes them, or runs inside a tidy). */
export interface ObjectiveTensors {
  /** L3 = L2 + λ·L1 (the very L2 tensor when λ = 0). */
  total: tf.Scalar;
  /** Task cross-entropy, mean over examples. */
  l2: tf.Scalar;
  /** Language-model cross-entropy, mean over counted tokens (0 when none count). */
  l1: tf.Scalar;
  /** Task logits [numExamples, numClasses]. */
  logits: tf.Tensor2D;
}

function checkLambda(lambda: number): void {
  if (!(lambda >= 0) || !Number.isFinite(lambda)) {
    throw new Error(`fine-tune objective: lambda must be a finite number >= 0, got ${lambda}`);
  }
}

/** Computes L1, L2 and L3 for a batch with one forward pass of the model. */
export function fineTuneObjective(
  model: GPT,
  head: TaskHead,
  batch: TaskBatch,
  options: ObjectiveOptions,
): ObjectiveTensors {
  checkLambda(options.lambda);
  return tf.tidy(() => {
    const { numSeqs: n, seqLen: t } = batch;
    const ids = tf.tensor2d(batch.ids, [n, t], "int32");
    const { logits, hidden } = model.forward(ids, {
      training: options.training,
      seed: options.seed,
    });
    const v = logits.shape[2];
    const l1 = crossEntropy(
      tf.reshape(logits, [n * t, v]),
      tf.tensor1d(batch.lmTargets, "int32"),
    );
    const features = gatherExtract(hidden, batch.extract);
    const task = taskLogits(batch.kind, head, features, batch.seqsPerExample);
    const l2 = crossEntropy(task, tf.tensor1d(batch.labels, "int32"));
    const total = options.lambda === 0 ? l2 : tf.add(l2, tf.mul(l1, options.lambda)) as tf.Scalar;
    return { total, l2, l1, logits: task };
  });
}

/** Loss values of one step, as numbers. */
export interface LossValues {
  /** L3 = L2 + λ·L1. */
  total: number;
  /** Task loss. */
  l2: number;
  /** Language-model loss. */
  l1: number;
}

/**
 * The variables L3 with weight `lambda` depends on: the model's and the head's, in one map
 * (names do not collide). With λ = 0 and a separate output matrix (untied embeddings), the
 * language-model head `lm_head.weight` takes no part in the objective and is left out: it
 * has no gradient, and it must not be decayed either.
 */
export function trainableParams(
  model: GPT,
  head: TaskHead,
  lambda = 0.5,
): Map<string, tf.Variable> {
  const all = new Map(model.params);
  if (lambda === 0) all.delete("lm_head.weight");
  for (const [name, p] of head.params) {
    if (all.has(name)) throw new Error(`trainableParams: "${name}" is in both model and head`);
    all.set(name, p);
  }
  return all;
}

/**
 * The objective's values and the gradient of L3 with respect to every model and head parameter
 * (keyed by name, head parameters as `head.weight`/`head.bias`). The caller disposes the
 * gradients.
 */
export function objectiveAndGrads(
  model: GPT,
  head: TaskHead,
  batch: TaskBatch,
  options: ObjectiveOptions,
): { loss: LossValues; grads: Map<string, tf.Tensor> } {
  const params = trainableParams(model, head, options.lambda);
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  let parts: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const o = fineTuneObjective(model, head, batch, options);
    parts = tf.keep(tf.stack([o.l2, o.l1]));
    return o.total;
  }, vars);
  const [l2, l1] = parts!.dataSync();
  const total = value.dataSync()[0];
  tf.dispose([value, parts!]);
  return {
    loss: { total, l2, l1 },
    grads: new Map(names.map((n, i) => [n, grads[vars[i].name]])),
  };
}

/**
 * Predicted class (argmax of the task logits), class probabilities [numExamples, numClasses]
 * and losses (L3 with weight `lambda`) of a batch, without dropout.
 */
export function predictBatch(
  model: GPT,
  head: TaskHead,
  batch: TaskBatch,
  lambda = 0,
): { predictions: Int32Array; probs: Float32Array; loss: LossValues } {
  const o = fineTuneObjective(model, head, batch, { lambda });
  const probs = tf.tidy(() => tf.softmax(o.logits));
  const pred = tf.tidy(() => tf.argMax(o.logits, 1));
  const result = {
    predictions: Int32Array.from(pred.dataSync()),
    probs: probs.dataSync() as Float32Array,
    loss: { total: o.total.dataSync()[0], l2: o.l2.dataSync()[0], l1: o.l1.dataSync()[0] },
  };
  tf.dispose([o.total, o.l2, o.l1, o.logits, probs, pred]);
  return result;
}
