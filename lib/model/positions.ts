/**
 * Sinusoidal initial values for the learned position embeddings (`wpe`).
 *
 * GPT-1 replaced the original Transformer's fixed sinusoids with learned position embeddings,
 * initialised at random. Random vectors carry no notion of "the position just before": a head
 * that must attend to the previous token has to learn that relation for every position
 * separately, which is the slow first step of an induction head. Starting the learned table
 * from sinusoids keeps the embeddings learned (they train like any other weight) but makes
 * "one position back" the same linear map everywhere: each (sin, cos) pair at position p + 1 is
 * the pair at p rotated by a fixed angle.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "./gpt.ts";

/**
 * The original Transformer's table: row p, columns 2i and 2i + 1 hold
 * scale · sin(p / 10000^(2i/d)) and scale · cos(p / 10000^(2i/d)). `d` must be even.
 */
export function sinusoidalTable(positions: number, d: number, scale = 1): Float32Array {
  if (!Number.isInteger(positions) || positions < 1) {
    throw new RangeError(`sinusoidalTable: positions must be an integer ≥ 1, got ${positions}`);
  }
  if (!Number.isInteger(d) || d < 2 || d % 2 !== 0) {
    throw new RangeError(`sinusoidalTable: d must be an even integer ≥ 2, got ${d}`);
  }
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new RangeError(`sinusoidalTable: scale must be a finite number > 0, got ${scale}`);
  }
  const table = new Float32Array(positions * d);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < d / 2; i++) {
      const angle = p / Math.pow(10000, (2 * i) / d);
      table[p * d + 2 * i] = scale * Math.sin(angle);
      table[p * d + 2 * i + 1] = scale * Math.cos(angle);
    }
  }
  return table;
}

/**
 * Overwrites a model's position embeddings with {@link sinusoidalTable} values (in place; they
 * stay trainable). The default scale 0.05 keeps them the same order as the token embeddings'
 * initial values (standard deviation 0.02), so neither swamps the other after the first
 * LayerNorm.
 */
export function initSinusoidalPositions(model: GPT, scale = 0.05): void {
  const { contextLength, nEmbd } = model.config;
  const wpe = model.params.get("wpe.weight");
  if (!wpe) throw new Error("initSinusoidalPositions: the model has no wpe.weight");
  const values = tf.tensor2d(sinusoidalTable(contextLength, nEmbd, scale), [contextLength, nEmbd]);
  wpe.assign(values);
  values.dispose();
}
