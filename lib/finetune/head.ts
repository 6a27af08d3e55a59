/**
 * The task head of GPT-1 fine-tuning: one linear layer on the final hidden state at the
 * `[Extract]` token, P(y | x) = softmax(h_Extract · W + b).
 *
 * How the sequences of one example become its class scores depends on the task:
 *
 * - classification, entailment: one sequence; the head maps its `[Extract]` state to
 *   `numClasses` logits.
 * - similarity: two sequences (both orderings); their `[Extract]` states are ADDED before the
 *   head, so the prediction cannot depend on which sentence came first.
 * - multiple choice: one sequence per option; a head with ONE output scores each option, and the
 *   scores of an example's options are its logits (softmax across the options).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { linear } from "../kernels/linear.ts";
import { Rng } from "../random.ts";
import type { TaskKind } from "./formats.ts";

/** Number of head outputs a task needs: 1 for multiple choice, else the number of classes. */
export function headOutputs(kind: TaskKind, numClasses: number): number {
  return kind === "multipleChoice" ? 1 : numClasses;
}

/** A linear layer W [C, outputs], b [outputs], as named tfjs variables. */
export class TaskHead {
  /** `head.weight` [C, outputs] and `head.bias` [outputs] (names distinct from the GPT's). */
  readonly params: Map<string, tf.Variable>;
  /** Width of the hidden state it reads (the model's nEmbd). */
  readonly inputSize: number;
  /** Number of outputs. */
  readonly outputSize: number;

  /** Wraps existing variables (shapes are checked). */
  constructor(weight: tf.Variable, bias: tf.Variable) {
    if (weight.rank !== 2 || bias.rank !== 1 || weight.shape[1] !== bias.shape[0]) {
      throw new Error(
        `TaskHead: weight [${weight.shape}] and bias [${bias.shape}] do not form a linear layer`,
      );
    }
    this.inputSize = weight.shape[0];
    this.outputSize = weight.shape[1];
    this.params = new Map([["head.weight", weight], ["head.bias", bias]]);
  }

  /** A new head: W ~ N(0, 0.02) from `seed` (GPT-1's init), b = 0. */
  static create(inputSize: number, outputSize: number, seed = 0): TaskHead {
    for (const [k, v] of [["inputSize", inputSize], ["outputSize", outputSize]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`TaskHead: ${k} must be a positive integer, got ${v}`);
      }
    }
    const w = tf.tensor2d(
      new Rng(seed).normalArray(inputSize * outputSize, 0.02),
      [inputSize, outputSize],
    );
    const b = tf.zeros([outputSize]);
    const head = new TaskHead(tf.variable(w), tf.variable(b));
    tf.dispose([w, b]);
    return head;
  }

  /** The head for a task on a model of width `nEmbd`. */
  static forTask(kind: TaskKind, numClasses: number, nEmbd: number, seed = 0): TaskHead {
    return TaskHead.create(nEmbd, headOutputs(kind, numClasses), seed);
  }

  /** x [N, C] → x·W + b [N, outputs]. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return linear(
      x,
      this.params.get("head.weight") as unknown as tf.Tensor2D,
      this.params.get("head.bias") as unknown as tf.Tensor1D,
    );
  }

  /** Frees the variables. */
  dispose(): void {
    for (const p of this.params.values()) p.dispose();
  }
}

/**
 * The hidden state at each sequence's `[Extract]` position: rows `n·T + extract[n]` of hidden
 * [N, T, C] viewed as [N·T, C]. Returns [N, C].
 */
export function gatherExtract(hidden: tf.Tensor3D, extract: ArrayLike<number>): tf.Tensor2D {
  const [n, t, c] = hidden.shape;
  if (extract.length !== n) {
    throw new Error(`gatherExtract: ${extract.length} positions for ${n} sequences`);
  }
  const rows = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (!(extract[i] >= 0 && extract[i] < t)) {
      throw new Error(`gatherExtract: position ${extract[i]} outside [0, ${t})`);
    }
    rows[i] = i * t + extract[i];
  }
  return tf.tidy(() => tf.gather(tf.reshape(hidden, [n * t, c]), tf.tensor1d(rows, "int32")));
}

/**
 * Task logits [numExamples, numClasses] from the `[Extract]` states [numExamples · S, C] of
 * examples with S sequences each (rows grouped by example), following the rules in the module
 * description.
 */
export function taskLogits(
  kind: TaskKind,
  head: TaskHead,
  features: tf.Tensor2D,
  seqsPerExample: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, c] = features.shape;
    const s = seqsPerExample;
    if (n % s !== 0) {
      throw new Error(`taskLogits: ${n} sequences do not split into groups of ${s}`);
    }
    switch (kind) {
      case "classification":
      case "entailment":
        if (s !== 1) throw new Error(`taskLogits: ${kind} has one sequence per example`);
        return head.apply(features);
      case "similarity": {
        if (s !== 2) throw new Error("taskLogits: similarity has two sequences per example");
        const pooled = tf.sum(tf.reshape(features, [n / 2, 2, c]), 1) as tf.Tensor2D;
        return head.apply(pooled);
      }
      case "multipleChoice":
        if (head.outputSize !== 1) {
          throw new Error(`taskLogits: multiple choice needs a head with 1 output`);
        }
        return tf.reshape(head.apply(features), [n / s, s]) as tf.Tensor2D;
      default:
        throw new Error(`taskLogits: unknown task kind ${JSON.stringify(kind)}`);
    }
  });
}
