/**
 * What a pre-training run is, apart from the model and the data: its settings
 * ({@link TrainConfig}, with {@link validateTrainConfig} checking every field) and the state it
 * resumes from ({@link TrainingState}, what a checkpoint stores besides the weights).
 *
 * The trainer reads a config and produces and consumes a training state; the checkpoint code
 * writes and reads a training state. Neither needs the other, only this module.
 *
 * @module
 */
import { checkFields, type FieldRule } from "../settings.ts";

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
  /** AdamW first-moment decay. */
  beta1: number;
  /** AdamW second-moment decay. */
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

/**
 * Where a run stands: everything besides the weights that a resumed run needs to continue
 * exactly as the uninterrupted one would. A checkpoint stores it; the trainer produces it
 * (`Trainer.trainingState()`) and continues from it (`Trainer.restore`).
 */
export interface TrainingState {
  /** Steps completed. */
  step: number;
  /** The batch sampler's random state. */
  samplerState: number;
  /** The run's settings. */
  trainConfig: TrainConfig;
  /** AdamW's update count (equal to `step`). */
  adamT: number;
  /** AdamW first moments, by parameter name. */
  m: Map<string, Float32Array>;
  /** AdamW second moments, by parameter name. */
  v: Map<string, Float32Array>;
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
