/**
 * The training loop: sample a batch, compute the loss and its gradient, clip, update with AdamW
 * on a warmup + cosine schedule, and evaluate on fixed batches every so often. Callbacks receive
 * every step and every evaluation (for live plots and progress lines).
 *
 * Tensors are created and freed inside each step, so `tf.memory().numTensors` stays flat.
 *
 * @module
 */
import { checkFields, type FieldRule } from "../settings.ts";
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { AdamW, type StepStats } from "./adamw.ts";
import { warmupCosine } from "./schedule.ts";
import { type Batch, BatchSampler, evalBatches, type Split } from "../data.ts";
import { GradientWorkers, shardBatch } from "./parallel.ts";
import { flatSize, flattenInto, unflattenViews } from "./flat.ts";
import { backendInfo } from "../backend.ts";
import type { TrainingState } from "./checkpoint.ts";

/** Training hyper-parameters. */
export interface TrainConfig {
  /** Total optimisation steps. */
  steps: number;
  /** Sequences per batch. */
  batchSize: number;
  /** Peak learning rate. */
  lr: number;
  /** Final learning rate of the cosine decay (default lr / 10). */
  minLr: number;
  /** Linear warmup steps (default 100, or steps/10 if fewer). */
  warmupSteps: number;
  /** AdamW decoupled weight decay. */
  weightDecay: number;
  beta1: number;
  beta2: number;
  /** Clip the gradient to this global norm. */
  gradClip: number;
  /** Evaluate every this many steps (and at the end); 0 disables. */
  evalInterval: number;
  /** Number of fixed batches per evaluation. */
  evalBatches: number;
  /** Seed of the batch sampler and dropout masks. */
  seed: number;
  /**
   * Threads computing each step's gradient (data parallelism: the batch is split into this many
   * equal shards, one per thread). 1 runs everything in the calling thread.
   */
  threads: number;
}

/** nanoGPT's CPU settings, scaled to the run length; the result is checked by {@link validateTrainConfig}. */
export function defaultTrainConfig(
  overrides: Partial<TrainConfig> & { steps: number },
): TrainConfig {
  const lr = overrides.lr ?? 1e-3;
  return validateTrainConfig({
    batchSize: 12,
    lr,
    minLr: lr / 10,
    warmupSteps: Math.min(100, Math.floor(overrides.steps / 10)),
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.99,
    gradClip: 1.0,
    evalInterval: Math.max(1, Math.floor(overrides.steps / 10)),
    evalBatches: 8,
    seed: 0,
    threads: 1,
    ...overrides,
  });
}

/** A training setting out of its allowed range; the message names the field and the range. */
export class TrainConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(`bad train config: ${message}`);
    this.name = "TrainConfigError";
  }
}

/** Every field of {@link TrainConfig}, each with the check its value must pass and the range said. */
const TRAIN_FIELDS: Record<keyof TrainConfig, FieldRule> = {
  steps: [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"],
  batchSize: [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"],
  lr: [(v) => Number.isFinite(v) && v > 0, "a finite number > 0"],
  minLr: [(v) => Number.isFinite(v) && v >= 0, "a finite number ≥ 0"],
  warmupSteps: [(v) => Number.isInteger(v) && v >= 0, "an integer ≥ 0"],
  weightDecay: [(v) => Number.isFinite(v) && v >= 0, "a finite number ≥ 0"],
  beta1: [(v) => v >= 0 && v < 1, "in [0, 1)"],
  beta2: [(v) => v >= 0 && v < 1, "in [0, 1)"],
  gradClip: [(v) => v > 0, "> 0 (Infinity turns clipping off)"],
  evalInterval: [(v) => Number.isInteger(v) && v >= 0, "an integer ≥ 0 (0: no evaluation)"],
  evalBatches: [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"],
  seed: [(v) => Number.isSafeInteger(v), "a safe integer"],
  threads: [(v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"],
};

/**
 * Checks every field of a training configuration, however it was built (by
 * {@link defaultTrainConfig}, by hand, or read back from a checkpoint): each must be a number in
 * its range, no field may be missing or unknown, `minLr` may not exceed `lr`, and `threads` must
 * divide `batchSize`. Returns the config; throws {@link TrainConfigError} naming the field.
 */
export function validateTrainConfig(config: TrainConfig): TrainConfig {
  checkFields(config, TRAIN_FIELDS, (message) => new TrainConfigError(message));
  if (config.minLr > config.lr) {
    throw new TrainConfigError(`minLr (${config.minLr}) must not exceed lr (${config.lr})`);
  }
  if (config.batchSize % config.threads !== 0) {
    throw new TrainConfigError(
      `threads (${config.threads}) must be a positive integer dividing batchSize (${config.batchSize})`,
    );
  }
  return config;
}

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

/** Trains a GPT on a token split. */
export class Trainer {
  readonly model: GPT;
  readonly config: TrainConfig;
  readonly optimizer: AdamW;
  readonly sampler: BatchSampler;
  readonly history: TrainHistory = {
    steps: [],
    loss: [],
    lr: [],
    gradNorm: [],
    evals: [],
    trainSeconds: 0,
    tokens: 0,
  };
  /** Steps completed. */
  step = 0;
  readonly #schedule: (step: number) => number;
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
    this.#schedule = warmupCosine({
      maxLr: config.lr,
      minLr: config.minLr,
      warmupSteps: config.warmupSteps,
      totalSteps: config.steps,
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
  async trainStep(): Promise<{ loss: number; lr: number } & StepStats> {
    const batch = this.sampler.next();
    const lr = this.#schedule(this.step);
    const training = this.model.config.dropout > 0;
    const seed = this.config.seed * 1_000_003 + this.step * 97;
    let result;
    try {
      result = this.config.threads === 1
        ? await this.#localStep(batch, lr, training, seed)
        : await this.#parallelStep(batch, lr, training, seed);
    } catch (err) {
      // Name the step: "step 1,234 of 2,000" tells a diverging run from a bad start.
      if (err instanceof Error && err.message.startsWith("AdamW.step:")) {
        err.message = `training step ${
          this.step + 1
        } of ${this.config.steps} (lr ${lr}): ${err.message}`;
      }
      throw err;
    }
    const { loss, stats } = result;
    this.step++;
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
    if (tf.getBackend() === "webgpu") {
      throw new Error("threads > 1 is for the CPU backends; on webgpu train with threads: 1");
    }
    this.#workers ??= await GradientWorkers.start(
      threads - 1,
      this.model.config,
      backendInfo()?.name ?? (tf.getBackend() as "wasm"),
    );
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
    const start = performance.now();
    const tokensPerStep = this.config.batchSize * this.model.config.contextLength;
    try {
      await this.#loop(callbacks, untilStep, start, tokensPerStep);
    } finally {
      this.close();
    }
    return this.history;
  }

  async #loop(callbacks: TrainCallbacks, untilStep: number, start: number, tokensPerStep: number) {
    let windowStart = performance.now(), windowSteps = 0, lastYield = performance.now();
    while (this.step < untilStep) {
      const t0 = performance.now();
      const r = await this.trainStep();
      const dt = (performance.now() - t0) / 1000;
      this.history.trainSeconds += dt;
      this.history.tokens += tokensPerStep;
      windowSteps++;
      const windowSec = (performance.now() - windowStart) / 1000;
      const info: StepInfo = {
        step: this.step,
        totalSteps: this.config.steps,
        loss: r.loss,
        lr: r.lr,
        gradNorm: r.gradNorm,
        tokensPerSec: (windowSteps * tokensPerStep) / Math.max(windowSec, 1e-9),
        elapsedSec: (performance.now() - start) / 1000,
        tokens: this.history.tokens,
        trainSeconds: this.history.trainSeconds,
      };
      if (windowSec > 10) (windowStart = performance.now()), (windowSteps = 0);
      this.history.steps.push(this.step);
      this.history.loss.push(r.loss);
      this.history.lr.push(r.lr);
      this.history.gradNorm.push(r.gradNorm);
      await callbacks.onStep?.(info);
      const ev = this.config.evalInterval;
      if ((ev > 0 && this.step % ev === 0) || this.step === untilStep) {
        const e: EvalInfo = {
          step: this.step,
          trainLoss: await this.evaluate("train"),
          valLoss: await this.evaluate("val"),
          elapsedSec: (performance.now() - start) / 1000,
        };
        this.history.evals.push(e);
        await callbacks.onEval?.(e);
      }
      // Let the event loop run now and then (Jupyter display messages, timers, Ctrl-C).
      if (performance.now() - lastYield > 200) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    }
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
