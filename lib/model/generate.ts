/**
 * Sampling text from a GPT: feed the prompt once, then one token at a time, each through the
 * model's own blocks with a key/value cache (kv_cache.ts), drawing every new token from the
 * logits of the last position (sample.ts).
 *
 * @module
 */
import type { GPT } from "./gpt.ts";
import { KVCache } from "./kv_cache.ts";
import {
  checkSamplingOptions,
  firstNonFinite,
  NonFiniteError,
  sampleToken,
  type SamplingOptions,
} from "./sample.ts";
import { Rng } from "../random.ts";

/** Options for {@link generate}. */
export interface GenerateOptions extends SamplingOptions {
  /** Tokens to add. */
  maxNewTokens: number;
  /** Seed of the sampler. Default 0. */
  seed?: number;
  /**
   * What to do when the sequence outgrows the context: `"slide"` (default; see
   * {@link generate}) or `"error"`, which refuses up front unless
   * `prompt.length + maxNewTokens ≤ contextLength`.
   */
  overflow?: "slide" | "error";
}

/**
 * Continues `prompt` (token ids) by `maxNewTokens` tokens and returns prompt + continuation.
 * Every input is checked once, before any work.
 *
 * Context rule (`overflow: "slide"`, the default): the model reads a window that ends at the
 * newest token. It starts as the last `contextLength` tokens of the prompt (the returned
 * sequence still starts with the full prompt); each new token joins the cache; when the cache
 * is full and another token must be read, the window restarts from the last
 * ⌊contextLength / 2⌋ tokens (one batched pass), so the cache is rebuilt once every
 * ⌈contextLength / 2⌉ tokens instead of the window being recomputed at every token.
 *
 * @throws {Error} For an empty prompt, a token outside the vocabulary, a bad `maxNewTokens` or
 * `overflow`, or (with `overflow: "error"`) a continuation that does not fit the context.
 * @throws {RangeError} For sampling options {@link checkSamplingOptions} refuses.
 * @throws {NonFiniteError} When the logits hold NaN or +Infinity; the message names the first
 * parameter that is not finite, if any.
 */
export function generate(
  model: GPT,
  prompt: ArrayLike<number>,
  options: GenerateOptions,
): number[] {
  const { maxNewTokens, seed = 0, overflow = "slide" } = options;
  const { contextLength, vocabSize } = model.config;
  if (prompt.length === 0) {
    throw new Error("generate: the prompt is empty; give at least one token");
  }
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  }
  for (let i = 0; i < prompt.length; i++) {
    if (!Number.isInteger(prompt[i]) || prompt[i] < 0 || prompt[i] >= vocabSize) {
      throw new Error(
        `generate: prompt token ${prompt[i]} at position ${i} is outside [0, ${vocabSize})`,
      );
    }
  }
  checkSamplingOptions(options, "generate");
  if (overflow !== "slide" && overflow !== "error") {
    throw new Error(`generate: overflow must be "slide" or "error", got ${overflow}`);
  }
  if (overflow === "error" && prompt.length + maxNewTokens > contextLength) {
    throw new Error(
      `generate: prompt (${prompt.length}) + maxNewTokens (${maxNewTokens}) = ` +
        `${prompt.length + maxNewTokens} tokens exceed the context of ${contextLength}; ` +
        `shorten them or use overflow: "slide"`,
    );
  }
  const tokens = Array.from(prompt);
  if (maxNewTokens === 0) return tokens;
  const rng = new Rng(seed);
  const keep = Math.max(1, Math.floor(contextLength / 2));
  const cache = new KVCache(model);
  try {
    let logits = cache.append(tokens.slice(-contextLength));
    for (let n = 0; n < maxNewTokens; n++) {
      const fault = firstNonFinite(logits);
      if (fault >= 0) {
        throw new NonFiniteError(
          `generate: the logits for new token ${n} are ${logits[fault]} (vocabulary entry ` +
            `${fault}); ${
              faultyParameter(model) ??
                "every parameter is finite, so the fault is in the forward pass"
            }`,
        );
      }
      const next = sampleToken(logits, options, rng);
      tokens.push(next);
      if (n === maxNewTokens - 1) break; // the last token is never read
      if (cache.length < contextLength) {
        logits = cache.append([next]);
      } else {
        cache.reset();
        logits = cache.append(tokens.slice(-keep));
      }
    }
  } finally {
    cache.dispose();
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
