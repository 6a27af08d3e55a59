/**
 * Drawing the next token from a model's logits: greedy, temperature, top-k and top-p (nucleus)
 * sampling, in one function.
 *
 * @module
 */
import type { Rng } from "../random.ts";

/**
 * Logits (or the weights behind them) that are NaN or +Infinity: a numerical fault upstream,
 * never something to sample from. The message says where it was first seen.
 */
export class NonFiniteError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "NonFiniteError";
  }
}

/** How to pick a token from logits. */
export interface SamplingOptions {
  /** Divides the logits; 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens before sampling (0 or undefined = all). */
  topK?: number;
  /** Nucleus sampling: keep the most likely tokens whose probabilities sum to ≥ p. Default 1. */
  topP?: number;
  /** Always take the most likely token (same as temperature 0). */
  greedy?: boolean;
}

/** Index of the first NaN or +Infinity (−Infinity is a probability of 0, not a fault), or −1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v || v === Infinity) return i;
  }
  return -1;
}

/**
 * Checks sampling options (messages name `caller`).
 *
 * @throws {RangeError} When temperature is negative, NaN or infinite, topK is not an integer
 * ≥ 0, or topP is outside (0, 1].
 */
export function checkSamplingOptions(options: SamplingOptions, caller = "sampleToken"): void {
  const { temperature = 1, topK = 0, topP = 1 } = options;
  if (!(temperature >= 0) || temperature === Infinity) {
    throw new RangeError(
      `${caller}: temperature must be a finite number >= 0 (0 = greedy), got ${temperature}`,
    );
  }
  if (!Number.isInteger(topK) || topK < 0) {
    throw new RangeError(`${caller}: topK must be an integer >= 0 (0 = all), got ${topK}`);
  }
  if (!(topP > 0 && topP <= 1)) {
    throw new RangeError(`${caller}: topP must be in (0, 1], got ${topP}`);
  }
}

/**
 * The nucleus of a distribution (Holtzman et al., 2019): the indices of the most likely
 * entries, most likely first (ties: lower index first), up to and including the first one at
 * which the cumulative probability reaches `topP`. Always at least one index; all of them
 * (with nonzero probability) when `topP` ≥ 1.
 */
export function topPIndices(probs: ArrayLike<number>, topP: number): number[] {
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${topP}`);
  const order = Array.from({ length: probs.length }, (_, i) => i)
    .sort((a, b) => probs[b] - probs[a] || a - b);
  const kept: number[] = [];
  let total = 0;
  for (const i of order) {
    if (kept.length > 0 && (probs[i] <= 0 || total >= topP - 1e-12)) break;
    kept.push(i);
    total += probs[i];
  }
  return kept;
}

/**
 * Picks a token from logits: the argmax when `greedy` or temperature 0 (ties: the lowest id),
 * else a draw from softmax(logits / temperature) restricted to the top k and then to the top-p
 * nucleus. One draw from `rng` per sampled token.
 *
 * @throws {NonFiniteError} When a logit is NaN or +Infinity, or every logit is −Infinity.
 * @throws {RangeError} For options {@link checkSamplingOptions} refuses.
 */
export function sampleToken(logits: Float32Array, options: SamplingOptions, rng: Rng): number {
  checkSamplingOptions(options);
  const { topK = 0, topP = 1 } = options;
  const temperature = options.greedy ? 0 : options.temperature ?? 1;
  const fault = firstNonFinite(logits);
  if (fault >= 0) {
    throw new NonFiniteError(`sampleToken: logit ${fault} is ${logits[fault]}`);
  }
  if (logits.every((v) => v === -Infinity)) {
    throw new NonFiniteError("sampleToken: every logit is -Infinity; nothing can be sampled");
  }
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) best = i;
    }
    return best;
  }
  let order = Array.from(logits.keys());
  if (topK > 0 && topK < logits.length) {
    order = order.sort((a, b) => logits[b] - logits[a] || a - b).slice(0, topK);
  }
  let max = -Infinity;
  for (const i of order) max = Math.max(max, logits[i]);
  const weights = order.map((i) => Math.exp((logits[i] - max) / temperature));
  const sum = weights.reduce((a, b) => a + b, 0);
  // Positions k into `order` that may be drawn: all of them, or the top-p nucleus.
  const kept = topP >= 1 ? order.map((_, k) => k) : topPIndices(weights.map((w) => w / sum), topP);
  const mass = topP >= 1 ? sum : kept.reduce((a, k) => a + weights[k], 0);
  let r = rng.next() * mass;
  for (const k of kept) {
    r -= weights[k];
    if (r <= 0) return order[k];
  }
  return order[kept[kept.length - 1]];
}
