/**
 * Pre-training: sample a batch, compute the loss and its gradient, clip, update with AdamW on a
 * warmup + cosine schedule, and evaluate on fixed batches every so often. Callbacks receive every
 * step and every evaluation (for live plots and progress lines). The loop itself is
 * {@link ./loop.ts}'s, shared with fine-tuning; the settings are {@link ./config.ts}'s.
 *
 * Tensors are created and freed inside each step, so `tf.memory().numTensors` stays flat.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { AdamW, isStepFault, type StepStats } from "./adamw.ts";
import { warmupCosine } from "./schedule.ts";
import { type Batch, BatchSampler, evalBatches, type Split } from "../data.ts";
import { GradientWorkers, shardBatch } from "./parallel.ts";
import { flatSize, flattenInto, unflattenViews } from "./flat.ts";
import { type TrainConfig, type TrainingState, validateTrainConfig } from "./config.ts";
import { type StepContext, TrainingLoop } from "./loop.ts";

// The settings moved to config.ts; notebooks still import them from here.
export {
  defaultTrainConfig,
  type TrainConfig,
  TrainConfigError,
  validateTrainConfig,
} from "./config.ts";

/** Reported after every step. */
export interface StepInfo {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Training throughput over the recent steps. */
  tokensPerSec: number;
  /** Seconds since this run started. */
  elapsedSec: number;
  /** Tokens trained on so far (as `TrainHistory.tokens`). */
  tokens: number;
  /** Seconds spent in training steps so far, evaluations excluded (as `TrainHistory.trainSeconds`). */
  trainSeconds: number;
}

/** Reported after every evaluation. */
export interface EvalInfo {
  step: number;
  trainLoss: number;
  valLoss: number;
  elapsedSec: number;
}

/** Callbacks; each may return a promise, which the loop awaits. */
export interface TrainCallbacks {
  onStep?: (info: StepInfo) => void | Promise<void>;
  onEval?: (info: EvalInfo) => void | Promise<void>;
}

/** Everything measured during a run. */
export interface TrainHistory {
  steps: number[];
  loss: number[];
  lr: number[];
  gradNorm: number[];
  evals: EvalInfo[];
  /** Seconds of training (evaluations excluded). */
  trainSeconds: number;
  /** Tokens processed in training steps. */
  tokens: number;
}

/** What one {@link Trainer.trainStep} measured. */
export type TrainStepResult = { loss: number; lr: number } & StepStats;

/**
 * Trains a GPT on a token split: the batches, the loss and gradient (in this thread, or split
 * over gradient workers with `threads` > 1), the AdamW update and the evaluation on fixed
 * batches. The loop around them (step counter, schedule, evaluation interval, callbacks) is
 * {@link TrainingLoop}'s.
 */
export class Trainer {
  /** The model being trained (updated in place). */
  readonly model: GPT;
  /** The hyper-parameters, validated. */
  readonly config: TrainConfig;
  /** AdamW over the model's parameters. */
  readonly optimizer: AdamW;
  /** The training batches' sampler. */
  readonly sampler: BatchSampler;
  /** Everything measured so far. */
  readonly history: TrainHistory = {
    steps: [],
    loss: [],
    lr: [],
    gradNorm: [],
    evals: [],
    trainSeconds: 0,
    tokens: 0,
  };
  readonly #loop: TrainingLoop<TrainStepResult>;
  readonly #evalTrain: Batch[];
  readonly #evalVal: Batch[];
  #workers: GradientWorkers | undefined;

  /** Prepares sampler, optimizer and the fixed evaluation batches. */
  constructor(model: GPT, data: Split, config: TrainConfig) {
    this.model = model;
    this.config = validateTrainConfig({ ...config });
    const t = model.config.contextLength;
    this.sampler = new BatchSampler(
      data.train,
      config.batchSize,
      t,
      config.seed,
    );
    this.optimizer = new AdamW(model.params, {
      beta1: config.beta1,
      beta2: config.beta2,
      weightDecay: config.weightDecay,
    });
    this.#loop = new TrainingLoop({
      totalSteps: config.steps,
      schedule: warmupCosine({
        maxLr: config.lr,
        minLr: config.minLr,
        warmupSteps: config.warmupSteps,
        totalSteps: config.steps,
      }),
      step: (context) => this.#step(context),
      label: "training",
      namesStep: isStepFault,
    });
    this.#evalTrain = evalBatches(
      data.train,
      config.evalBatches,
      config.batchSize,
      t,
    );
    this.#evalVal = evalBatches(
      data.val,
      config.evalBatches,
      config.batchSize,
      t,
    );
  }

  /** Steps completed. */
  get step(): number {
    return this.#loop.step;
  }

  set step(value: number) {
    this.#loop.step = value;
  }

  /**
   * Where the run stands, for a checkpoint: the step, the sampler's position, the config and the
   * optimizer's moments (live views: encode them before the next step).
   */
  trainingState(): TrainingState {
    const { t, m, v } = this.optimizer.state;
    return {
      step: this.step,
      samplerState: this.sampler.state,
      trainConfig: this.config,
      adamT: t,
      m,
      v,
    };
  }

  /**
   * Continues from a checkpoint's training state: step, sampler position and optimizer moments.
   * With the same data and config, the resumed run reproduces the uninterrupted one exactly.
   */
  restore(state: Omit<TrainingState, "trainConfig">): void {
    this.optimizer.setState({ t: state.adamT, m: state.m, v: state.v });
    this.sampler.state = state.samplerState;
    this.step = state.step;
  }

  /** One optimisation step on the next batch; returns its loss and gradient statistics. */
  trainStep(): Promise<TrainStepResult> {
    return this.#loop.advance();
  }

  async #step({ step, lr }: StepContext): Promise<TrainStepResult> {
    const batch = this.sampler.next();
    const training = this.model.config.dropout > 0;
    const seed = this.config.seed * 1_000_003 + step * 97;
    const { loss, stats } = this.config.threads === 1
      ? await this.#localStep(batch, lr, training, seed)
      : await this.#parallelStep(batch, lr, training, seed);
    return { loss, lr, ...stats };
  }

  async #localStep(batch: Batch, lr: number, training: boolean, seed: number) {
    const { x, y } = toTensors(batch);
    const { value, grads } = this.model.valueAndGrads(() =>
      this.model.loss(x, y, { training, seed })
    );
    try {
      const loss = (await value.data())[0];
      return { loss, stats: await this.optimizer.step(grads, lr, this.config.gradClip) };
    } finally {
      tf.dispose([value, x, y, ...grads.values()]);
    }
  }

  async #parallelStep(batch: Batch, lr: number, training: boolean, seed: number) {
    const threads = this.config.threads;
    const params = this.model.params;
    // The workers take the calling thread's backend, and refuse one they cannot use (webgpu).
    this.#workers ??= await GradientWorkers.start(threads - 1, this.model.config);
    const shards = shardBatch(batch, threads);
    const seeds = shards.map((_, i) => seed + i * 7919);
    const weights = flattenInto(params, params, new Float32Array(flatSize(params)));
    const remote = this.#workers.grads(weights, shards.slice(1), training, seeds.slice(1));
    // This thread's shard runs while the workers compute theirs.
    const { x, y } = toTensors(shards[0]);
    const { value, grads } = this.model.valueAndGrads(() =>
      this.model.loss(x, y, { training, seed: seeds[0] })
    );
    let loss = value.dataSync()[0];
    const sum = flattenInto(grads, params, new Float32Array(weights.length));
    tf.dispose([value, x, y, ...grads.values()]);
    for (const r of await remote) {
      loss += r.loss;
      for (let i = 0; i < sum.length; i++) sum[i] += r.grads[i];
    }
    for (let i = 0; i < sum.length; i++) sum[i] /= threads;
    const stats = this.optimizer.stepArrays(unflattenViews(params, sum), lr, this.config.gradClip);
    return { loss: loss / threads, stats };
  }

  /** Stops any worker threads (a later step restarts them). */
  close(): void {
    this.#workers?.close();
    this.#workers = undefined;
  }

  /** Mean loss over the fixed evaluation batches of "train" or "val" (no dropout). */
  evaluate(which: "train" | "val"): Promise<number> {
    const batches = which === "train" ? this.#evalTrain : this.#evalVal;
    return meanLoss(this.model, batches);
  }

  /** Trains until `config.steps` (or `untilStep`), calling back after steps and evaluations. */
  async run(callbacks: TrainCallbacks = {}, untilStep = this.config.steps): Promise<TrainHistory> {
    const h = this.history;
    const tokensPerStep = this.config.batchSize * this.model.config.contextLength;
    let windowStart = performance.now(), windowSteps = 0;
    try {
      await this.#loop.run({
        untilStep,
        evalInterval: this.config.evalInterval,
        evaluate: async () => ({
          trainLoss: await this.evaluate("train"),
          valLoss: await this.evaluate("val"),
        }),
        onStep: async (r, { step, seconds, elapsedSec }) => {
          h.trainSeconds += seconds;
          h.tokens += tokensPerStep;
          windowSteps++;
          const windowSec = (performance.now() - windowStart) / 1000;
          const info: StepInfo = {
            step,
            totalSteps: this.config.steps,
            loss: r.loss,
            lr: r.lr,
            gradNorm: r.gradNorm,
            tokensPerSec: (windowSteps * tokensPerStep) / Math.max(windowSec, 1e-9),
            elapsedSec,
            tokens: h.tokens,
            trainSeconds: h.trainSeconds,
          };
          if (windowSec > 10) (windowStart = performance.now()), (windowSteps = 0);
          h.steps.push(step), h.loss.push(r.loss), h.lr.push(r.lr), h.gradNorm.push(r.gradNorm);
          await callbacks.onStep?.(info);
        },
        onEval: async ({ trainLoss, valLoss }, { step, elapsedSec }) => {
          const e: EvalInfo = { step, trainLoss, valLoss, elapsedSec };
          h.evals.push(e);
          await callbacks.onEval?.(e);
        },
      });
    } finally {
      this.close();
    }
    return h;
  }
}

/** A batch as int32 tensors [B, T]. */
export function toTensors(batch: Batch): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const shape: [number, number] = [batch.batchSize, batch.contextLength];
  return {
    x: tf.tensor2d(batch.x, shape, "int32"),
    y: tf.tensor2d(batch.y, shape, "int32"),
  };
}

/** Mean next-token loss of a model over batches (nats/token). */
export async function meanLoss(model: GPT, batches: Batch[]): Promise<number> {
  let total = 0;
  for (const batch of batches) {
    const { x, y } = toTensors(batch);
    const loss = model.loss(x, y);
    total += (await loss.data())[0];
    tf.dispose([x, y, loss]);
  }
  return total / batches.length;
}
