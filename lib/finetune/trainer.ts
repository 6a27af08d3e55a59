/**
 * The fine-tuning loop of GPT-1: AdamW over the model's and the task head's parameters on
 * L3 = L2 + λ·L1, a learning rate that warms up linearly over the first 0.2% of the steps and
 * then decays linearly to zero, shuffled mini-batches of whole examples (a new seeded
 * permutation every epoch), and periodic validation accuracy.
 *
 * GPT-1's own settings: lr 6.25e-5, batch 32, 3 epochs, λ = 0.5, warmup 0.2%, weight decay
 * 0.01, dropout 0.1. The defaults below keep the shape of that recipe but use a larger learning
 * rate (1e-4), which suits the course's small models.
 *
 * Every tensor is created and freed inside a step, so `tf.memory().numTensors` stays flat.
 *
 * @module
 */
import { checkFields, type FieldRule } from "../settings.ts";
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { AdamW } from "../train/adamw.ts";
import { Rng } from "../random.ts";
import {
  type ExampleOf,
  formatExample,
  type FormattedExample,
  padBatch,
  type TaskBatch,
  type TaskKind,
} from "./formats.ts";
import type { TaskHead } from "./head.ts";
import type { TaskTokenizer } from "./tokens.ts";
import { type LossValues, objectiveAndGrads, predictBatch, trainableParams } from "./objective.ts";

/** Fine-tuning hyper-parameters. */
export interface FineTuneConfig {
  /** Total optimisation steps. */
  steps: number;
  /** Examples per batch (a similarity example is 2 sequences, a k-way choice k). */
  batchSize: number;
  /** Peak learning rate. */
  lr: number;
  /** Fraction of the steps spent warming up (GPT-1: 0.002); at least one step. */
  warmupFraction: number;
  /** Weight λ of the auxiliary language-model loss in L3 = L2 + λ·L1. */
  lambda: number;
  /** AdamW decoupled weight decay (on linear-layer matrices, including the head's). */
  weightDecay: number;
  /** AdamW first-moment decay. */
  beta1: number;
  /** AdamW second-moment decay. */
  beta2: number;
  /** Clip the gradient to this global norm. */
  gradClip: number;
  /** Evaluate validation accuracy every this many steps (and at the end); 0 disables. */
  evalInterval: number;
  /** Validation examples used by the periodic evaluation (the first ones; 0 = all). */
  evalExamples: number;
  /** Examples per evaluation batch. */
  evalBatchSize: number;
  /** Seed of the example order and the dropout masks. */
  seed: number;
}

/** A fine-tuning configuration error that names the field and its allowed range. */
export class FineTuneConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(`bad fine-tune config: ${message}`);
    this.name = "FineTuneConfigError";
  }
}

/** Every field of {@link FineTuneConfig}, with the check its value must pass and the range said. */
const FINE_TUNE_FIELDS: Record<keyof FineTuneConfig, FieldRule> = {
  steps: [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"],
  batchSize: [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"],
  lr: [(v) => Number.isFinite(v) && v > 0, "a finite number > 0"],
  warmupFraction: [(v) => v >= 0 && v < 1, "in [0, 1)"],
  lambda: [(v) => Number.isFinite(v) && v >= 0, "a finite number ≥ 0"],
  weightDecay: [(v) => Number.isFinite(v) && v >= 0, "a finite number ≥ 0"],
  beta1: [(v) => v >= 0 && v < 1, "in [0, 1)"],
  beta2: [(v) => v >= 0 && v < 1, "in [0, 1)"],
  gradClip: [(v) => v > 0, "> 0 (Infinity turns clipping off)"],
  evalInterval: [(v) => Number.isInteger(v) && v >= 0, "an integer ≥ 0 (0: no evaluation)"],
  evalExamples: [(v) => Number.isInteger(v) && v >= 0, "an integer ≥ 0 (0: all)"],
  evalBatchSize: [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"],
  seed: [(v) => Number.isSafeInteger(v), "a safe integer"],
};

/**
 * Checks every field of a fine-tuning configuration, however it was built (by
 * {@link defaultFineTuneConfig} or by hand): each must be a number in its range, none missing or
 * unknown. Returns the config; throws {@link FineTuneConfigError} naming the field and range.
 */
export function validateFineTuneConfig(config: FineTuneConfig): FineTuneConfig {
  checkFields(config, FINE_TUNE_FIELDS, (message) => new FineTuneConfigError(message));
  return config;
}

/** GPT-1's recipe with course-sized defaults; only `steps` is required. */
export function defaultFineTuneConfig(
  overrides: Partial<FineTuneConfig> & { steps: number },
): FineTuneConfig {
  const c: FineTuneConfig = {
    batchSize: 16,
    lr: 1e-4,
    warmupFraction: 0.002,
    lambda: 0.5,
    weightDecay: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    gradClip: 1.0,
    evalInterval: Math.max(1, Math.floor(overrides.steps / 10)),
    evalExamples: 0,
    evalBatchSize: 32,
    seed: 0,
    ...overrides,
  };
  return validateFineTuneConfig(c);
}

/** Steps for `epochs` passes over `numExamples` examples in batches of `batchSize`. */
export function stepsForEpochs(numExamples: number, batchSize: number, epochs: number): number {
  return Math.max(1, Math.ceil((numExamples * epochs) / batchSize));
}

/**
 * GPT-1's schedule: linear warmup from lr/warmupSteps to `lr` over `warmupSteps`, then linear
 * decay to 0 at `totalSteps` (the last step, totalSteps − 1, still gets a small positive rate).
 */
export function linearWarmupDecay(
  lr: number,
  warmupSteps: number,
  totalSteps: number,
): (step: number) => number {
  if (!(lr > 0) || !(warmupSteps >= 0) || !(totalSteps > 0)) {
    throw new Error(`linearWarmupDecay: bad arguments ${lr}, ${warmupSteps}, ${totalSteps}`);
  }
  return (step: number) => {
    if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    if (step >= totalSteps) return 0;
    return (lr * (totalSteps - step)) / Math.max(1, totalSteps - warmupSteps);
  };
}

/** Reported after every step. */
export interface FineTuneStepInfo {
  /** Steps completed (1 after the first step). */
  step: number;
  /** Steps in the run. */
  totalSteps: number;
  /** L3 = L2 + λ·L1. */
  loss: number;
  /** Task loss. */
  l2: number;
  /** Language-model loss. */
  l1: number;
  /** Learning rate used for this step. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Seconds since this run started. */
  elapsedSec: number;
}

/** Accuracy and confusion of a model on labelled examples. */
export interface TaskEvaluation {
  /** Fraction of examples whose argmax prediction is the label. */
  accuracy: number;
  /** confusion[true][predicted] = count. */
  confusion: number[][];
  /** Mean task loss L2 over the examples. */
  l2: number;
  /** Mean language-model loss L1 over the batches. */
  l1: number;
  /** Number of examples. */
  n: number;
}

/** Reported after every evaluation. */
export interface FineTuneEvalInfo extends TaskEvaluation {
  /** Steps completed when the evaluation ran. */
  step: number;
  /** Seconds since this run started. */
  elapsedSec: number;
}

/** Callbacks; each may return a promise, which the loop awaits. */
export interface FineTuneCallbacks {
  /** Called after every optimisation step. */
  onStep?: (info: FineTuneStepInfo) => void | Promise<void>;
  /** Called after every evaluation. */
  onEval?: (info: FineTuneEvalInfo) => void | Promise<void>;
}

/** Everything measured during a run. */
export interface FineTuneHistory {
  /** Step number of each entry. */
  steps: number[];
  /** L3 per step. */
  loss: number[];
  /** L2 per step. */
  l2: number[];
  /** L1 per step. */
  l1: number[];
  /** Learning rate per step. */
  lr: number[];
  /** Every evaluation. */
  evals: FineTuneEvalInfo[];
}

/** A task's training and validation examples, as fine-tuning needs them. */
export interface FineTuneData<K extends TaskKind = TaskKind> {
  /** The task type. */
  kind: K;
  /** Classes (for multiple choice: options per example). */
  numClasses: number;
  /** Training examples. */
  train: readonly ExampleOf[K][];
  /** Validation examples (for the periodic evaluation). */
  val: readonly ExampleOf[K][];
}

/** Formats examples for a model's context (throws `FormatError` on one that cannot fit). */
export function formatAll<K extends TaskKind>(
  tokenizer: TaskTokenizer,
  kind: K,
  numClasses: number,
  examples: readonly ExampleOf[K][],
  contextLength: number,
): FormattedExample[] {
  return examples.map((e) => formatExample(tokenizer, kind, e, numClasses, { contextLength }));
}

/**
 * Accuracy, confusion matrix and mean losses of `model` + `head` on formatted examples
 * (no dropout), in batches of `batchSize` examples.
 */
export function evaluateTask(
  model: GPT,
  head: TaskHead,
  tokenizer: Pick<TaskTokenizer, "isSpecial">,
  examples: readonly FormattedExample[],
  numClasses: number,
  batchSize = 32,
): TaskEvaluation {
  const confusion = Array.from({ length: numClasses }, () => new Array(numClasses).fill(0));
  let correct = 0, l2 = 0, l1 = 0, batches = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = padBatch(examples.slice(i, i + batchSize), tokenizer);
    const r = predictBatch(model, head, batch);
    for (let j = 0; j < batch.numExamples; j++) {
      const y = batch.labels[j], p = r.predictions[j];
      confusion[y][p]++;
      if (y === p) correct++;
    }
    l2 += r.loss.l2 * batch.numExamples;
    l1 += r.loss.l1;
    batches++;
  }
  const n = examples.length;
  return {
    accuracy: n ? correct / n : NaN,
    confusion,
    l2: n ? l2 / n : NaN,
    l1: batches ? l1 / batches : NaN,
    n,
  };
}

/** Fine-tunes a model and a task head on a labelled task. */
export class FineTuner<K extends TaskKind = TaskKind> {
  /** The model being fine-tuned (updated in place). */
  readonly model: GPT;
  /** The task head (updated in place). */
  readonly head: TaskHead;
  /** The tokenizer with the special tokens. */
  readonly tokenizer: TaskTokenizer;
  /** The hyper-parameters. */
  readonly config: FineTuneConfig;
  /** AdamW over model and head parameters. */
  readonly optimizer: AdamW;
  /** The task type. */
  readonly kind: K;
  /** Classes (multiple choice: options per example). */
  readonly numClasses: number;
  /** Everything measured so far. */
  readonly history: FineTuneHistory = { steps: [], loss: [], l2: [], l1: [], lr: [], evals: [] };
  /** Steps completed. */
  step = 0;
  readonly #train: FormattedExample[];
  readonly #val: FormattedExample[];
  readonly #schedule: (step: number) => number;
  readonly #rng: Rng;
  #order: number[] = [];
  #cursor = 0;

  /**
   * Formats every example once for the model's context (errors surface here), and sets up the
   * optimizer over model + head parameters.
   */
  constructor(
    model: GPT,
    head: TaskHead,
    tokenizer: TaskTokenizer,
    data: FineTuneData<K>,
    config: FineTuneConfig,
  ) {
    validateFineTuneConfig(config);
    if (tokenizer.vocabSize > model.config.vocabSize) {
      throw new Error(
        `FineTuner: the tokenizer has ${tokenizer.vocabSize} ids but the model only ` +
          `${model.config.vocabSize} embeddings (extendEmbeddings adds rows for special tokens)`,
      );
    }
    if (head.inputSize !== model.config.nEmbd) {
      throw new Error(
        `FineTuner: head reads ${head.inputSize} features, model width is ${model.config.nEmbd}`,
      );
    }
    if (data.train.length === 0) throw new Error("FineTuner: no training examples");
    this.model = model;
    this.head = head;
    this.tokenizer = tokenizer;
    this.config = config;
    this.kind = data.kind;
    this.numClasses = data.numClasses;
    const ctx = model.config.contextLength;
    this.#train = formatAll(tokenizer, data.kind, data.numClasses, data.train, ctx);
    const val = config.evalExamples > 0 ? data.val.slice(0, config.evalExamples) : data.val;
    this.#val = formatAll(tokenizer, data.kind, data.numClasses, val, ctx);
    this.optimizer = new AdamW(trainableParams(model, head, config.lambda), {
      beta1: config.beta1,
      beta2: config.beta2,
      weightDecay: config.weightDecay,
    });
    const warmup = config.warmupFraction > 0
      ? Math.max(1, Math.round(config.warmupFraction * config.steps))
      : 0;
    this.#schedule = linearWarmupDecay(config.lr, warmup, config.steps);
    this.#rng = new Rng(config.seed);
  }

  /** The learning rate at a step. */
  lrAt(step: number): number {
    return this.#schedule(step);
  }

  /** The next batch: examples in a seeded order, reshuffled at every epoch. */
  nextBatch(): TaskBatch {
    const picked: FormattedExample[] = [];
    while (picked.length < this.config.batchSize) {
      if (this.#cursor >= this.#order.length) {
        this.#order = this.#rng.shuffle([...this.#train.keys()]);
        this.#cursor = 0;
      }
      picked.push(this.#train[this.#order[this.#cursor++]]);
    }
    return padBatch(picked, this.tokenizer);
  }

  /** One optimisation step on the next batch. */
  async trainStep(): Promise<LossValues & { lr: number; gradNorm: number }> {
    const batch = this.nextBatch();
    const lr = this.#schedule(this.step);
    const { loss, grads } = objectiveAndGrads(this.model, this.head, batch, {
      lambda: this.config.lambda,
      training: this.model.config.dropout > 0,
      seed: this.config.seed * 1_000_003 + this.step * 97,
    });
    let gradNorm: number;
    try {
      gradNorm = (await this.optimizer.step(grads, lr, this.config.gradClip)).gradNorm;
    } catch (err) {
      // Name the step, as the pre-training loop does: a diverging run from a bad start.
      if (err instanceof Error && err.message.startsWith("AdamW.step:")) {
        err.message = `fine-tuning step ${
          this.step + 1
        } of ${this.config.steps} (lr ${lr}): ${err.message}`;
      }
      throw err;
    } finally {
      tf.dispose([...grads.values()]);
    }
    this.step++;
    return { ...loss, lr, gradNorm };
  }

  /** Accuracy and confusion on the (first `evalExamples`) validation examples, or on others. */
  evaluate(examples?: readonly ExampleOf[K][]): TaskEvaluation {
    const formatted = examples
      ? formatAll(
        this.tokenizer,
        this.kind,
        this.numClasses,
        examples,
        this.model.config.contextLength,
      )
      : this.#val;
    return evaluateTask(
      this.model,
      this.head,
      this.tokenizer,
      formatted,
      this.numClasses,
      this.config.evalBatchSize,
    );
  }

  /** Trains until `config.steps` (or `untilStep`), calling back after steps and evaluations. */
  async run(
    callbacks: FineTuneCallbacks = {},
    untilStep = this.config.steps,
  ): Promise<FineTuneHistory> {
    const start = performance.now();
    let lastYield = performance.now();
    while (this.step < untilStep) {
      const r = await this.trainStep();
      const info: FineTuneStepInfo = {
        step: this.step,
        totalSteps: this.config.steps,
        loss: r.total,
        l2: r.l2,
        l1: r.l1,
        lr: r.lr,
        gradNorm: r.gradNorm,
        elapsedSec: (performance.now() - start) / 1000,
      };
      const h = this.history;
      h.steps.push(this.step), h.loss.push(r.total), h.l2.push(r.l2), h.l1.push(r.l1);
      h.lr.push(r.lr);
      await callbacks.onStep?.(info);
      const ev = this.config.evalInterval;
      if (this.#val.length && ((ev > 0 && this.step % ev === 0) || this.step === untilStep)) {
        const e: FineTuneEvalInfo = {
          step: this.step,
          ...this.evaluate(),
          elapsedSec: (performance.now() - start) / 1000,
        };
        h.evals.push(e);
        await callbacks.onEval?.(e);
      }
      if (performance.now() - lastYield > 200) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    }
    return this.history;
  }
}
