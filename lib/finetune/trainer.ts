/**
 * The fine-tuning of GPT-1: AdamW over the model's and the task head's parameters on
 * L3 = L2 + λ·L1, a learning rate that warms up linearly over the first 0.2% of the steps and
 * then decays linearly to zero, shuffled mini-batches of whole examples (a new seeded
 * permutation every epoch), and periodic validation accuracy. The loop around the step and the
 * evaluation is the one pre-training uses ({@link ../train/loop.ts}); the settings are
 * {@link ./config.ts}'s.
 *
 * Every tensor is created and freed inside a step, so `tf.memory().numTensors` stays flat.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { AdamW, isStepFault } from "../train/adamw.ts";
import { type StepContext, TrainingLoop } from "../train/loop.ts";
import { linearWarmupDecay } from "../train/schedule.ts";
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
import { type FineTuneConfig, validateFineTuneConfig } from "./config.ts";

/** What one {@link FineTuner.trainStep} measured. */
export type FineTuneStepResult = LossValues & { lr: number; gradNorm: number };

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
  readonly #loop: TrainingLoop<FineTuneStepResult>;
  readonly #train: FormattedExample[];
  readonly #val: FormattedExample[];
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
    this.#loop = new TrainingLoop({
      totalSteps: config.steps,
      schedule: linearWarmupDecay(config.lr, warmup, config.steps),
      step: (context) => this.#step(context),
      label: "fine-tuning",
      namesStep: isStepFault,
    });
    this.#rng = new Rng(config.seed);
  }

  /** Steps completed. */
  get step(): number {
    return this.#loop.step;
  }

  set step(value: number) {
    this.#loop.step = value;
  }

  /** The learning rate at a step. */
  lrAt(step: number): number {
    return this.#loop.lrAt(step);
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
  trainStep(): Promise<FineTuneStepResult> {
    return this.#loop.advance();
  }

  async #step({ step, lr }: StepContext): Promise<FineTuneStepResult> {
    const batch = this.nextBatch();
    const { loss, grads } = objectiveAndGrads(this.model, this.head, batch, {
      lambda: this.config.lambda,
      training: this.model.config.dropout > 0,
      seed: this.config.seed * 1_000_003 + step * 97,
    });
    let gradNorm: number;
    try {
      gradNorm = (await this.optimizer.step(grads, lr, this.config.gradClip)).gradNorm;
    } finally {
      tf.dispose([...grads.values()]);
    }
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
    const h = this.history;
    await this.#loop.run({
      untilStep,
      evalInterval: this.config.evalInterval,
      evaluate: this.#val.length ? () => this.evaluate() : undefined,
      onStep: async (r, { step, elapsedSec }) => {
        const info: FineTuneStepInfo = {
          step,
          totalSteps: this.config.steps,
          loss: r.total,
          l2: r.l2,
          l1: r.l1,
          lr: r.lr,
          gradNorm: r.gradNorm,
          elapsedSec,
        };
        h.steps.push(step), h.loss.push(r.total), h.l2.push(r.l2), h.l1.push(r.l1);
        h.lr.push(r.lr);
        await callbacks.onStep?.(info);
      },
      onEval: async (evaluation, { step, elapsedSec }) => {
        const e: FineTuneEvalInfo = { step, ...evaluation, elapsedSec };
        h.evals.push(e);
        await callbacks.onEval?.(e);
      },
    });
    return h;
  }
}
