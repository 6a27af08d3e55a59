/**
 * Loss as a function of the position in the window. Position t predicts its next token from t+1
 * tokens of history, so a model that uses its context has a loss that falls with t; a position
 * whose embedding was never trained (after `extendContext`) shows up as a bump.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { BatchSampler } from "../data.ts";
import type { GPT } from "../model/gpt.ts";
import type { ProbeSpec } from "./protocol.ts";

/** Options of {@link lossByPosition}. */
export interface PositionLossOptions {
  /** Number of batches averaged (default 8). */
  batches?: number;
  /** Windows per batch (default 8). */
  batchSize?: number;
  /** Window length (default: the model's context). */
  contextLength?: number;
  /** Seed of the windows (default 0): the same seed measures the same text. */
  seed?: number;
}

/**
 * Mean next-token cross-entropy (nats) at each position 0…T−1 of random windows of `tokens`
 * (no dropout).
 */
export async function lossByPosition(
  model: GPT,
  tokens: Int32Array,
  options: PositionLossOptions = {},
): Promise<number[]> {
  const t = options.contextLength ?? model.config.contextLength;
  const b = options.batchSize ?? 8, batches = options.batches ?? 8;
  if (!Number.isInteger(batches) || batches < 1) {
    throw new RangeError(`lossByPosition: batches must be an integer ≥ 1, got ${batches}`);
  }
  if (t > model.config.contextLength) {
    throw new RangeError(
      `lossByPosition: contextLength ${t} exceeds the model's ${model.config.contextLength}`,
    );
  }
  const sampler = new BatchSampler(tokens, b, t, options.seed ?? 0);
  const sums = new Float64Array(t);
  for (let n = 0; n < batches; n++) {
    const batch = sampler.next();
    const perPosition = tf.tidy(() => {
      const x = tf.tensor2d(batch.x, [b, t], "int32");
      const y = tf.tensor2d(batch.y, [b, t], "int32");
      const { logits, hidden } = model.forward(x);
      hidden.dispose();
      const logp = tf.logSoftmax(logits); // [B, T, V]
      const picked = tf.sum(tf.mul(logp, tf.oneHot(y, logits.shape[2])), 2); // [B, T]
      return tf.neg(tf.mean(picked, 0));
    });
    const values = await perPosition.data();
    perPosition.dispose();
    for (let i = 0; i < t; i++) sums[i] += values[i];
  }
  return Array.from(sums, (s) => s / batches);
}

/** What {@link lossByPositionProbe} measures on: held-out tokens and the windows' options. */
export interface PositionLossProbeArgs extends PositionLossOptions {
  /** Held-out token ids. */
  tokens: Int32Array;
}

/**
 * {@link lossByPosition} in the shape of a training-job probe (`ProbeSpec` in lib/train/jobs.ts),
 * so runs in workers can record how their loss by position changes while they train.
 */
export function lossByPositionProbe(model: GPT, args: PositionLossProbeArgs): Promise<number[]> {
  return lossByPosition(model, args.tokens, args);
}

/**
 * The probe spec that runs {@link lossByPositionProbe} in a training job every `every` steps
 * (a notebook cell has no `import.meta` to name this module by).
 */
export function lossByPositionProbeSpec(every: number, args: PositionLossProbeArgs): ProbeSpec {
  return { module: import.meta.url, name: "lossByPositionProbe", every, args };
}
