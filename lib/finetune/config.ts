/**
 * Fine-tuning's settings: {@link FineTuneConfig}, GPT-1's recipe as defaults
 * ({@link defaultFineTuneConfig}) and the check of every field ({@link validateFineTuneConfig}).
 *
 * GPT-1's own settings: lr 6.25e-5, batch 32, 3 epochs, λ = 0.5, warmup 0.2%, weight decay
 * 0.01, dropout 0.1. The defaults below keep the shape of that recipe but use a larger learning
 * rate (1e-4), which suits the course's small models.
 *
 * @module
 */
import { checkFields, type FieldRule } from "../settings.ts";

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
