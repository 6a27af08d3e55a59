/**
 * Sampling text from a GPT, one token at a time: run the model on the last `contextLength`
 * tokens, take the logits of the final position, and draw the next token.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "./gpt.ts";
import { Rng } from "../random.ts";

/** Sampling options. */
export interface GenerateOptions {
  /** Tokens to add. */
  maxNewTokens: number;
  /** Divides the logits; 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens before sampling (0 or undefined = all). */
  topK?: number;
  /** Seed of the sampler. Default 0. */
  seed?: number;
}

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

/** Index of the first NaN or +Infinity (−Infinity is a probability of 0, not a fault), or −1. */
function firstFault(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v || v === Infinity) return i;
  }
  return -1;
}

/**
 * Picks a token from logits: greedy when temperature is 0, else a draw from the softmax of
 * logits / temperature restricted to the top k.
 *
 * @throws {NonFiniteError} When a logit is NaN or +Infinity, or every logit is −Infinity.
 * @throws {RangeError} When temperature is negative or NaN, or topK is not an integer ≥ 0.
 */
export function sampleToken(
  logits: Float32Array,
  temperature: number,
  topK: number,
  rng: Rng,
): number {
  if (!(temperature >= 0) || temperature === Infinity) {
    throw new RangeError(
      `sampleToken: temperature must be a finite number >= 0 (0 = greedy), got ${temperature}`,
    );
  }
  if (!Number.isInteger(topK) || topK < 0) {
    throw new RangeError(`sampleToken: topK must be an integer >= 0 (0 = all), got ${topK}`);
  }
  const fault = firstFault(logits);
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
    order = order.sort((a, b) => logits[b] - logits[a]).slice(0, topK);
  }
  let max = -Infinity;
  for (const i of order) max = Math.max(max, logits[i]);
  const weights = order.map((i) => Math.exp((logits[i] - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = rng.next() * total;
  for (let k = 0; k < order.length; k++) {
    r -= weights[k];
    if (r <= 0) return order[k];
  }
  return order[order.length - 1];
}

/**
 * Continues `prompt` (token ids) by `maxNewTokens` tokens and returns prompt + continuation.
 * A prompt longer than the context is cropped to its last `contextLength` tokens for the model
 * (the returned sequence still starts with the full prompt).
 */
export function generate(
  model: GPT,
  prompt: ArrayLike<number>,
  options: GenerateOptions,
): number[] {
  const { maxNewTokens, temperature = 1, topK = 0, seed = 0 } = options;
  if (prompt.length === 0) {
    throw new Error("generate: the prompt is empty; give at least one token");
  }
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new Error(
      `generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`,
    );
  }
  const { contextLength, vocabSize } = model.config;
  for (let i = 0; i < prompt.length; i++) {
    if (
      !Number.isInteger(prompt[i]) || prompt[i] < 0 || prompt[i] >= vocabSize
    ) {
      throw new Error(
        `generate: prompt token ${prompt[i]} at position ${i} is outside [0, ${vocabSize})`,
      );
    }
  }
  if (!(temperature >= 0) || temperature === Infinity) {
    throw new RangeError(
      `generate: temperature must be a finite number >= 0 (0 = greedy), got ${temperature}`,
    );
  }
  if (!Number.isInteger(topK) || topK < 0) {
    throw new RangeError(`generate: topK must be an integer >= 0 (0 = all), got ${topK}`);
  }
  const rng = new Rng(seed);
  const tokens = Array.from(prompt);
  for (let n = 0; n < maxNewTokens; n++) {
    const window = tokens.slice(-contextLength);
    const last = tf.tidy(() => {
      const { logits } = model.forward(
        tf.tensor2d(window, [1, window.length], "int32"),
      );
      return tf.slice(logits, [0, window.length - 1, 0], [1, 1, vocabSize]);
    });
    const values = last.dataSync() as Float32Array;
    last.dispose();
    const fault = firstFault(values);
    if (fault >= 0) {
      throw new NonFiniteError(
        `generate: the logits for new token ${n} are ${values[fault]} (vocabulary entry ${fault})` +
          `; ${
            faultyParameter(model) ??
              "every parameter is finite, so the fault is in the forward pass"
          }`,
      );
    }
    tokens.push(sampleToken(values, temperature, topK, rng));
  }
  return tokens;
}

/** The first parameter holding a NaN or infinite value, named with the value's index. */
function faultyParameter(model: GPT): string | undefined {
  for (const [name, p] of model.params) {
    const values = p.dataSync() as Float32Array;
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) return `parameter ${name} holds ${values[i]} at index ${i}`;
    }
  }
  return undefined;
}
