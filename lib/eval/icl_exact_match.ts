/**
 * Exact-match scoring for in-context learning: greedy continuation of each prompt
 * ({@link greedyGenerator}, {@link cachedGreedyGenerator}), cut at the first demonstration
 * separator and compared with the target after trimming ({@link scoreExactMatch}).
 *
 * Every function frees the tensors it makes: `tf.memory().numTensors` is the same before and
 * after.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { generate } from "../model/generate.ts";
import {
  type DecodingTokenizer,
  encodePrompt,
  type IclPrompt,
  type PromptFormat,
  resolveFormat,
} from "./icl_prompts.ts";
import type { LogitsModel } from "./icl_scoring.ts";

/**
 * Continues each prompt by up to `maxNewTokens` tokens and returns only the new tokens, one row
 * per prompt. A generator may stop row `i` early once `isDone(i, newTokens)` is true (the row
 * then ends there or later; extra tokens are harmless, the answer is cut at the separator).
 */
export type BatchGenerator = (
  prompts: readonly (readonly number[])[],
  maxNewTokens: number,
  isDone?: (row: number, newTokens: readonly number[]) => boolean,
) => number[][];

/**
 * Greedy decoding of many prompts at once: every step is one forward pass over the right-padded
 * batch, reading each row's logits at its own last token (rows of different lengths keep their
 * own positions, as in {@link scoreContinuations}). Rows that are done leave the batch. Works
 * with any {@link LogitsModel}; without a cache each step reruns the whole prefix, which for
 * the short answers of these tasks costs less than one pass per query and token. Ties go to the
 * lowest token id, as in `sampleToken`.
 */
export function greedyGenerator(
  model: LogitsModel,
  options: { batchSize?: number } = {},
): BatchGenerator {
  const batchSize = options.batchSize ?? 32;
  const { contextLength, vocabSize } = model.config;
  return (prompts, maxNewTokens, isDone) => {
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new Error(`greedyGenerator: prompt ${i} is empty`);
      if (p.length + maxNewTokens - 1 > contextLength) {
        throw new Error(
          `greedyGenerator: prompt ${i} (${p.length} tokens) + ${maxNewTokens} new tokens do not ` +
            `fit the context of ${contextLength}`,
        );
      }
    });
    const out = prompts.map(() => [] as number[]);
    for (let start = 0; start < prompts.length; start += batchSize) {
      let active = Array.from(
        { length: Math.min(batchSize, prompts.length - start) },
        (_, i) => start + i,
      );
      for (let step = 0; step < maxNewTokens && active.length > 0; step++) {
        const seqs = active.map((i) => [...prompts[i], ...out[i]]);
        const t = Math.max(...seqs.map((s) => s.length)), b = seqs.length;
        const x = new Int32Array(b * t);
        seqs.forEach((s, r) => x.set(s, r * t));
        const last = seqs.map((s, r) => r * t + s.length - 1);
        const next = tf.tidy(() => {
          const { logits } = model.forward(tf.tensor2d(x, [b, t], "int32"));
          const z = tf.gather(tf.reshape(logits, [b * t, vocabSize]), tf.tensor1d(last, "int32"));
          return tf.argMax(z, 1);
        });
        const ids = next.dataSync();
        next.dispose();
        active.forEach((i, r) => out[i].push(ids[r]));
        active = active.filter((i) => !isDone?.(i, out[i]));
      }
    }
    return out;
  };
}

/**
 * Greedy decoding with lib/model/generate.ts's `generate` (through the key/value cache), one prompt at a time (always
 * `maxNewTokens` tokens; the answer is cut at the separator afterwards). Faster than
 * {@link greedyGenerator} for long answers on a real GPT.
 */
export function cachedGreedyGenerator(model: GPT): BatchGenerator {
  return (prompts, maxNewTokens) =>
    prompts.map((p) =>
      generate(model, p, { maxNewTokens, greedy: true, overflow: "error" }).slice(p.length)
    );
}

/**
 * The answer in a generated continuation: drop the answer prefix (the arrow's trailing
 * whitespace) if it is there, cut at the first demonstration separator, trim.
 */
export function extractAnswer(
  continuation: string,
  answerPrefix: string,
  format: Partial<PromptFormat> = {},
): string {
  const f = resolveFormat(format);
  let s = answerPrefix && continuation.startsWith(answerPrefix)
    ? continuation.slice(answerPrefix.length)
    : continuation;
  const cut = s.indexOf(f.separator);
  if (cut >= 0) s = s.slice(0, cut);
  return s.trim();
}

/** One generation query for {@link scoreExactMatch}. */
export interface ExactMatchItem {
  /** The prompt (query included). */
  prompt: IclPrompt;
  /** The right answer. */
  target: string;
}

/** Options of {@link scoreExactMatch}. */
export interface ExactMatchOptions {
  /** The layout the prompts were built with (for the separator). */
  format?: Partial<PromptFormat>;
  /**
   * Tokens to generate at most (default: the longest `answerPrefix + target + separator`, so a
   * right answer is always followed by the separator or the budget's end).
   */
  maxNewTokens?: number;
  /** The model's context, to fail early with a {@link ContextOverflowError}. */
  contextLength?: number;
}

/** What {@link scoreExactMatch} found. */
export interface ExactMatchResult {
  /** The extracted answer, per item. */
  answers: string[];
  /** The raw generated text, per item. */
  continuations: string[];
  /** answer === target.trim(), per item. */
  correct: boolean[];
  /** Share correct (NaN without items). */
  accuracy: number;
}

/** Generates an answer for every item (one call of `generator`) and compares it exactly. */
export function scoreExactMatch(
  generator: BatchGenerator,
  tokenizer: DecodingTokenizer,
  items: readonly ExactMatchItem[],
  options: ExactMatchOptions = {},
): ExactMatchResult {
  const f = resolveFormat(options.format);
  const maxNew = options.maxNewTokens ??
    Math.max(
      1,
      ...items.map((it) =>
        tokenizer.encode(it.prompt.answerPrefix + it.target + f.separator).length
      ),
    );
  const prompts = items.map((it) =>
    encodePrompt(it.prompt, tokenizer, [], options.contextLength, maxNew).prompt
  );
  // Stop a row once its answer is complete: the separator has appeared after the prefix.
  const isDone = (row: number, ids: readonly number[]) => {
    const text = tokenizer.decode(ids);
    const prefix = items[row].prompt.answerPrefix;
    const body = prefix && text.startsWith(prefix) ? text.slice(prefix.length) : text;
    return body.includes(f.separator);
  };
  const generated = generator(prompts, maxNew, isDone);
  const continuations = generated.map((ids) => tokenizer.decode(ids));
  const answers = continuations.map((c, i) => extractAnswer(c, items[i].prompt.answerPrefix, f));
  const correct = answers.map((a, i) => a === items[i].target.trim());
  const right = correct.filter(Boolean).length;
  return { answers, continuations, correct, accuracy: items.length ? right / items.length : NaN };
}
