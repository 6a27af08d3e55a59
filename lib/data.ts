/**
 * Language-model data: a deterministic train/validation split of a token stream and a seeded
 * sampler of (input, target) windows.
 *
 * @module
 */
import { Rng } from "./random.ts";

/** A train/validation split of one token stream. */
export interface Split {
  train: Int32Array;
  val: Int32Array;
}

/**
 * Splits a token stream: the first (1 − valFraction) for training, the rest for validation.
 * A contiguous split (as nanoGPT does) keeps validation text genuinely unseen.
 */
export function splitTokens(tokens: Int32Array, valFraction = 0.1): Split {
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new Error(
      `splitTokens: valFraction must be in (0, 1), got ${valFraction}`,
    );
  }
  const cut = Math.floor(tokens.length * (1 - valFraction));
  return { train: tokens.subarray(0, cut), val: tokens.subarray(cut) };
}

/** One batch: `x[b, t]` are inputs, `y[b, t] = x[b, t + 1]` the next tokens, row-major [B, T]. */
export interface Batch {
  x: Int32Array;
  y: Int32Array;
  batchSize: number;
  contextLength: number;
}

/** Draws random windows of `contextLength + 1` tokens from a stream, reproducibly from a seed. */
export class BatchSampler {
  readonly #tokens: Int32Array;
  readonly #rng: Rng;

  /** Creates a sampler over `tokens`. */
  constructor(
    tokens: Int32Array,
    readonly batchSize: number,
    readonly contextLength: number,
    seed = 0,
  ) {
    for (const [name, v] of [["batchSize", batchSize], ["contextLength", contextLength]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(`BatchSampler: ${name} must be an integer ≥ 1, got ${v}`);
      }
    }
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`BatchSampler: seed must be a safe integer, got ${seed}`);
    }
    if (tokens.length < contextLength + 1) {
      throw new Error(
        `BatchSampler: ${tokens.length} tokens cannot fill one window of ${contextLength + 1}`,
      );
    }
    this.#tokens = tokens;
    this.#rng = new Rng(seed);
  }

  /** The sampler's position in its random stream (saved in checkpoints to resume exactly). */
  get state(): number {
    return this.#rng.state;
  }
  set state(value: number) {
    this.#rng.restore(value);
  }

  /** The next random batch. */
  next(): Batch {
    const { batchSize: b, contextLength: t } = this;
    const x = new Int32Array(b * t), y = new Int32Array(b * t);
    const maxStart = this.#tokens.length - t - 1;
    for (let i = 0; i < b; i++) {
      const start = this.#rng.int(maxStart + 1);
      x.set(this.#tokens.subarray(start, start + t), i * t);
      y.set(this.#tokens.subarray(start + 1, start + t + 1), i * t);
    }
    return { x, y, batchSize: b, contextLength: t };
  }
}

/**
 * Fixed evaluation batches: `count` batches at evenly spaced offsets, so every evaluation of a run
 * (and of different runs) measures the same text.
 */
export function evalBatches(
  tokens: Int32Array,
  count: number,
  batchSize: number,
  contextLength: number,
): Batch[] {
  const windows = count * batchSize;
  const span = tokens.length - contextLength - 1;
  if (span < 0) {
    throw new Error(
      `evalBatches: ${tokens.length} tokens cannot fill a window of ${contextLength + 1}`,
    );
  }
  const batches: Batch[] = [];
  for (let k = 0; k < count; k++) {
    const x = new Int32Array(batchSize * contextLength),
      y = new Int32Array(batchSize * contextLength);
    for (let i = 0; i < batchSize; i++) {
      const start = Math.floor(
        ((k * batchSize + i) * span) / Math.max(1, windows - 1),
      );
      x.set(tokens.subarray(start, start + contextLength), i * contextLength);
      y.set(
        tokens.subarray(start + 1, start + contextLength + 1),
        i * contextLength,
      );
    }
    batches.push({ x, y, batchSize, contextLength });
  }
  return batches;
}
