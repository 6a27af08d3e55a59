/**
 * In-context learning (GPT-3, Brown et al. 2020, §2): the model is not fine-tuned; it reads a
 * task description, K solved demonstrations and a query, and its continuation is the answer.
 *
 * **Prompts** ({@link buildPrompt}). With the default format a 2-shot prompt reads
 *
 * ```text
 * Please unscramble the letters into a word, and write that word:   ← description (optional)
 * lyinevitab ⇒ inevitably                                           ← demonstration 1
 * psperha ⇒ perhaps                                                 ← demonstration 2
 * aleswh ⇒                                                          ← the query
 * ```
 *
 * Demonstrations are `input + arrow + target`, joined by the separator; the query is
 * `input + arrow` with the arrow's trailing whitespace moved to the answer, so a candidate is
 * scored (or generated) as `" inevitably"`. That is how byte-level BPE vocabularies tokenize
 * words (with their leading space), and for a character-level model it changes nothing. The
 * arrow, the separator and the line after the description are configurable
 * ({@link PromptFormat}); "⇒" is not a character of *Moby-Dick*, so a character-level model
 * trained on the book needs an ASCII arrow such as {@link CHAR_FORMAT}'s `" -- "`.
 *
 * **Scoring.** (a) {@link scoreExactMatch}: greedy continuation, cut at the first demonstration
 * separator, compared with the target after trimming. (b) {@link rankCandidates}: the
 * log-likelihood of every candidate answer given the prompt, from one batched forward pass over
 * the right-padded prompt + candidate sequences ({@link scoreContinuations}); the best candidate
 * (by the sum or the per-token mean, GPT-3's default) is the model's answer.
 *
 * **Experiments** ({@link evaluateIcl}): accuracy for each K over several seeds (each seed draws
 * different demonstrations from a pool disjoint from the queries), with mean and spread, and an
 * optional fraction of demonstrations given a wrong label (does the model read the labels at
 * all?).
 *
 * Every function frees the tensors it makes: `tf.memory().numTensors` is the same before and
 * after.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { generateCached } from "../model/kv_cache.ts";
import { Rng } from "../random.ts";

// ---------------------------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------------------------

/** One solved instance of a task: the model should continue `input ⇒` with `target`. */
export interface IclExample {
  /** What the model is shown. */
  input: string;
  /** The expected answer. */
  target: string;
}

/** How demonstrations and the query are laid out. */
export interface PromptFormat {
  /** Between an input and its output, e.g. `" ⇒ "`; may be empty (`"48+76="` then `"124"`). */
  arrow: string;
  /** Between demonstrations, e.g. `"\n"`; generation stops at it, so it may not be empty. */
  separator: string;
  /** After the task description, e.g. `"\n"`. */
  descriptionSeparator: string;
}

/** GPT-3's figures: `x ⇒ y`, one demonstration per line. */
export const DEFAULT_FORMAT: PromptFormat = Object.freeze({
  arrow: " ⇒ ",
  separator: "\n",
  descriptionSeparator: "\n",
});

/**
 * A format whose every character occurs in *Moby-Dick* (so a character-level model trained on
 * the book can read it): neither "⇒" nor ">" nor "=" does, hence `" -- "`.
 */
export const CHAR_FORMAT: PromptFormat = Object.freeze({
  arrow: " -- ",
  separator: "\n",
  descriptionSeparator: "\n",
});

/** Fills a partial format from {@link DEFAULT_FORMAT} and checks it. */
export function resolveFormat(format: Partial<PromptFormat> = {}): PromptFormat {
  const f = { ...DEFAULT_FORMAT, ...format };
  for (const key of ["arrow", "separator", "descriptionSeparator"] as const) {
    if (typeof f[key] !== "string") {
      throw new Error(`PromptFormat: ${key} must be a string, got ${JSON.stringify(f[key])}`);
    }
  }
  if (f.separator === "") {
    throw new Error(
      "PromptFormat: separator may not be empty: generation stops at it and demonstrations " +
        "would run together",
    );
  }
  return f;
}

/** `input + arrow + target`: one demonstration as it appears in a prompt. */
export function formatDemonstration(
  example: IclExample,
  format: Partial<PromptFormat> = {},
): string {
  const f = resolveFormat(format);
  return example.input + f.arrow + example.target;
}

/** A prompt, before tokenization. */
export interface IclPrompt {
  /** Description, demonstrations, query and the arrow without its trailing whitespace. */
  text: string;
  /** The arrow's trailing whitespace: every answer is scored or generated as `answerPrefix + target`. */
  answerPrefix: string;
  /** Number of demonstrations. */
  k: number;
}

/** Options of {@link buildPrompt}. */
export interface PromptOptions {
  /** Layout (default {@link DEFAULT_FORMAT}). */
  format?: Partial<PromptFormat>;
  /** A task description put first (GPT-3's "zero-shot" prompts have only this); none if empty. */
  description?: string;
}

/**
 * The prompt for `query` after the demonstrations `demos` (K = demos.length, in order):
 * `description + descriptionSeparator + demo_1 + separator + … + demo_K + separator + query +
 * arrow` (the arrow's trailing whitespace goes to {@link IclPrompt.answerPrefix}).
 */
export function buildPrompt(
  query: IclExample | string,
  demos: readonly IclExample[],
  options: PromptOptions = {},
): IclPrompt {
  const f = resolveFormat(options.format);
  const input = typeof query === "string" ? query : query.input;
  const head = f.arrow.trimEnd();
  const answerPrefix = f.arrow.slice(head.length);
  const parts = demos.map((d) => d.input + f.arrow + d.target);
  parts.push(input + head);
  const body = parts.join(f.separator);
  const text = options.description ? options.description + f.descriptionSeparator + body : body;
  return { text, answerPrefix, k: demos.length };
}

/** Anything that turns text into token ids (a CharTokenizer, the BPE, GPT-2's tokenizer). */
export interface Tokenizer {
  /** Text to token ids. */
  encode(text: string): ArrayLike<number>;
}

/** A tokenizer that can also turn ids back into text (needed to read generated answers). */
export interface DecodingTokenizer extends Tokenizer {
  /** Token ids to text. */
  decode(ids: ArrayLike<number>): string;
}

/** Thrown when a prompt (plus the answer it must leave room for) does not fit the context. */
export class ContextOverflowError extends Error {
  /** Creates the error. */
  constructor(
    readonly k: number,
    readonly promptTokens: number,
    readonly answerTokens: number,
    readonly contextLength: number,
  ) {
    const makes = k === 1 ? "demonstration makes" : "demonstrations make";
    super(
      `K = ${k} ${makes} a prompt of ${promptTokens} tokens; ` +
        `with ${answerTokens} token${answerTokens === 1 ? "" : "s"} for the longest answer that ` +
        `is ${promptTokens + answerTokens}, past the context of ${contextLength} tokens. ` +
        `Use fewer demonstrations (maxShots() reports the largest K that fits) or shorter ones.`,
    );
    this.name = "ContextOverflowError";
  }
}

/** A prompt's token ids and those of each answer (`answerPrefix + answer`). */
export interface EncodedPrompt {
  /** Token ids of {@link IclPrompt.text}. */
  prompt: number[];
  /** Token ids of each answer, with the prompt's answer prefix, in the order given. */
  answers: number[][];
}

/**
 * Tokenizes a prompt and its candidate answers. Prompt and answer are encoded separately (as
 * GPT-3's evaluation does), so the answer's tokens are the same whatever precedes them.
 *
 * @throws {ContextOverflowError} With `contextLength`, when the prompt plus the longest answer
 * (or plus `reserve` tokens, whichever is more) is longer than the context.
 */
export function encodePrompt(
  prompt: IclPrompt,
  tokenizer: Tokenizer,
  answers: readonly string[] = [],
  contextLength?: number,
  reserve = 0,
): EncodedPrompt {
  const ids = Array.from(tokenizer.encode(prompt.text));
  const answerIds = answers.map((a) => Array.from(tokenizer.encode(prompt.answerPrefix + a)));
  if (contextLength !== undefined) {
    const longest = Math.max(reserve, ...answerIds.map((a) => a.length));
    if (ids.length + longest > contextLength) {
      throw new ContextOverflowError(prompt.k, ids.length, longest, contextLength);
    }
  }
  return { prompt: ids, answers: answerIds };
}

/** Options of {@link maxShots}. */
export interface MaxShotsOptions extends PromptOptions {
  /** Demonstrations the K are drawn from. */
  pool: readonly IclExample[];
  /** The queries (their inputs and targets count). */
  queries: readonly IclExample[];
  /** Extra answers that will be scored (candidates); the longest of these and the targets counts. */
  candidates?: readonly string[];
  /** Tokens to reserve after the prompt instead, when more than the longest answer (generation). */
  reserve?: number;
  /** The model's context length. */
  contextLength: number;
  /** The tokenizer. */
  tokenizer: Tokenizer;
}

/**
 * The largest K such that every prompt fits: K demonstrations from `pool` (worst case: the K
 * longest), the longest query, and room for the longest answer. At most `pool.length`. Exact for
 * a character-level tokenizer; for BPE, token counts of concatenated text are close to, not
 * exactly, the sum of the parts, so keep a few tokens of margin.
 *
 * @throws {ContextOverflowError} When not even K = 0 fits.
 */
export function maxShots(options: MaxShotsOptions): number {
  const { pool, queries, tokenizer, contextLength } = options;
  if (queries.length === 0) throw new Error("maxShots: no queries");
  const f = resolveFormat(options.format);
  const len = (s: string) => tokenizer.encode(s).length;
  const answerPrefix = f.arrow.slice(f.arrow.trimEnd().length);
  const answers = [...queries.map((q) => q.target), ...(options.candidates ?? [])];
  const longestAnswer = Math.max(
    options.reserve ?? 0,
    ...answers.map((a) => len(answerPrefix + a)),
  );
  const longestQuery = queries.reduce((a, b) => len(b.input) > len(a.input) ? b : a);
  const sizes = new Map(pool.map((d) => [d, len(formatDemonstration(d, f))]));
  const byLength = [...pool].sort((a, b) => sizes.get(b)! - sizes.get(a)!);
  let best = -1;
  for (let k = 0; k <= byLength.length; k++) {
    const p = buildPrompt(longestQuery, byLength.slice(0, k), { ...options, format: f });
    const n = len(p.text);
    if (n + longestAnswer > contextLength) {
      if (k === 0) throw new ContextOverflowError(0, n, longestAnswer, contextLength);
      break;
    }
    best = k;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Log-likelihood scoring
// ---------------------------------------------------------------------------------------------

/**
 * What scoring needs from a model: a causal forward pass to logits [B, T, vocab]. A {@link GPT}
 * is one; a test can pass a fake whose logits are known.
 */
export interface LogitsModel {
  /** Only the two sizes are read. */
  readonly config: { readonly contextLength: number; readonly vocabSize: number };
  /** Logits [B, T, vocab] of int32 ids [B, T]; other returned tensors are freed too. */
  forward(idx: tf.Tensor2D): { logits: tf.Tensor3D };
}

/** One sequence to score: the log-probability of `continuation` after `prompt`. */
export interface ScoreRequest {
  /** Conditioning token ids (at least one). */
  prompt: ArrayLike<number>;
  /** Token ids whose probability is measured (at least one). */
  continuation: ArrayLike<number>;
}

/** The log-likelihood of one continuation. */
export interface ContinuationScore {
  /** Σ log P(token | everything before it), natural log. */
  sum: number;
  /** sum / number of tokens. */
  mean: number;
  /** log P of each continuation token. */
  logProbs: number[];
}

/** Options of {@link scoreContinuations}. */
export interface ScoreOptions {
  /** Sequences per forward pass (default 32). */
  batchSize?: number;
  /** Token id put after short sequences (default 0); never read, see below. */
  padId?: number;
}

/**
 * log P(continuation | prompt) for every request, `batchSize` sequences per forward pass.
 *
 * Sequences are right-padded: every row starts at position 0, so each token has the position
 * it would have alone, and causal attention means the padding (after the last real token) can
 * change no logit that is read. The logit at position t predicts token t + 1, so the
 * continuation's tokens at positions p … p + n − 1 (p = prompt length) are read from positions
 * p − 1 … p + n − 2. Only those rows of the logits go through the log-softmax.
 */
export function scoreContinuations(
  model: LogitsModel,
  requests: readonly ScoreRequest[],
  options: ScoreOptions = {},
): ContinuationScore[] {
  const batchSize = options.batchSize ?? 32, padId = options.padId ?? 0;
  const { contextLength, vocabSize } = model.config;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`scoreContinuations: batchSize must be a positive integer, got ${batchSize}`);
  }
  requests.forEach((r, i) => {
    if (r.prompt.length === 0) {
      throw new Error(
        `scoreContinuations: request ${i} has an empty prompt (nothing to condition on)`,
      );
    }
    if (r.continuation.length === 0) {
      throw new Error(`scoreContinuations: request ${i} has an empty continuation`);
    }
    const total = r.prompt.length + r.continuation.length;
    // The last continuation token is only predicted, never fed, hence the − 1.
    if (total - 1 > contextLength) {
      throw new Error(
        `scoreContinuations: request ${i} has ${r.prompt.length} prompt + ` +
          `${r.continuation.length} continuation tokens; ${total - 1} must be fed, past the ` +
          `context of ${contextLength}`,
      );
    }
    for (const ids of [r.prompt, r.continuation]) {
      for (let j = 0; j < ids.length; j++) {
        if (!Number.isInteger(ids[j]) || ids[j] < 0 || ids[j] >= vocabSize) {
          throw new Error(
            `scoreContinuations: request ${i} has token ${ids[j]} outside [0, ${vocabSize})`,
          );
        }
      }
    }
  });
  const out: ContinuationScore[] = [];
  for (let start = 0; start < requests.length; start += batchSize) {
    const chunk = requests.slice(start, start + batchSize);
    const seqs = chunk.map((r) => [...Array.from(r.prompt), ...Array.from(r.continuation)]);
    // Feed everything but the last token of each sequence (its logits predict nothing we read).
    const t = Math.max(...seqs.map((s) => s.length - 1));
    const b = chunk.length;
    const x = new Int32Array(b * t).fill(padId);
    const rows: number[] = [], targets: number[] = [];
    chunk.forEach((r, i) => {
      const s = seqs[i];
      x.set(s.slice(0, s.length - 1), i * t);
      for (let j = 0; j < r.continuation.length; j++) {
        const pos = r.prompt.length + j; // position of the token being predicted
        rows.push(i * t + pos - 1);
        targets.push(s[pos]);
      }
    });
    const picked = tf.tidy(() => {
      const { logits } = model.forward(tf.tensor2d(x, [b, t], "int32"));
      const z = tf.gather(tf.reshape(logits, [b * t, vocabSize]), tf.tensor1d(rows, "int32"));
      const logp = tf.sub(z, tf.logSumExp(z, 1, true));
      return tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(targets, "int32"), vocabSize)), 1);
    });
    const values = picked.dataSync();
    picked.dispose();
    let offset = 0;
    for (const r of chunk) {
      const logProbs = Array.from(values.subarray(offset, offset + r.continuation.length));
      offset += r.continuation.length;
      const sum = logProbs.reduce((a, v) => a + v, 0);
      out.push({ sum, mean: sum / logProbs.length, logProbs });
    }
  }
  return out;
}

/** One multiple-choice query for {@link rankCandidates}. */
export interface RankItem {
  /** The prompt (query included). */
  prompt: IclPrompt;
  /** The answers to choose from (without the answer prefix). */
  candidates: readonly string[];
  /** The right answer, if known (must be one of the candidates). */
  target?: string;
}

/** Options of {@link rankCandidates}. */
export interface RankOptions extends ScoreOptions {
  /** Pick by total log-probability or per-token mean (GPT-3's default; default "mean"). */
  rankBy?: "sum" | "mean";
}

/** What {@link rankCandidates} found. */
export interface RankResult {
  /** Index of the chosen candidate, per item. */
  choices: number[];
  /** The chosen answer, per item. */
  answers: string[];
  /** Scores of every candidate, per item. */
  scores: ContinuationScore[][];
  /** Whether the choice equals the target, per item (false where there is no target). */
  correct: boolean[];
  /** Share of items answered correctly (NaN if there are no items). */
  accuracy: number;
}

/**
 * Scores every candidate of every item ({@link scoreContinuations}: all items' candidates go
 * through the same batched passes) and picks the most likely one; ties go to the first.
 *
 * @throws {ContextOverflowError} When a prompt plus a candidate does not fit the context.
 */
export function rankCandidates(
  model: LogitsModel,
  tokenizer: Tokenizer,
  items: readonly RankItem[],
  options: RankOptions = {},
): RankResult {
  const rankBy = options.rankBy ?? "mean";
  if (rankBy !== "sum" && rankBy !== "mean") {
    throw new Error(`rankCandidates: rankBy must be "sum" or "mean", got ${rankBy}`);
  }
  const requests: ScoreRequest[] = [];
  for (const [i, item] of items.entries()) {
    if (item.candidates.length === 0) {
      throw new Error(`rankCandidates: item ${i} has no candidates`);
    }
    if (item.target !== undefined && !item.candidates.includes(item.target)) {
      throw new Error(
        `rankCandidates: item ${i}'s target ${JSON.stringify(item.target)} is not among its ` +
          `candidates ${JSON.stringify(item.candidates)}`,
      );
    }
    // The same rule as maxShots (prompt + answer ≤ context), although the last answer token is
    // only predicted and never fed: one token of slack, for one consistent rule.
    const enc = encodePrompt(item.prompt, tokenizer, item.candidates, model.config.contextLength);
    for (const a of enc.answers) requests.push({ prompt: enc.prompt, continuation: a });
  }
  const flat = scoreContinuations(model, requests, options);
  const result: RankResult = { choices: [], answers: [], scores: [], correct: [], accuracy: NaN };
  let offset = 0, right = 0;
  for (const item of items) {
    const scores = flat.slice(offset, offset + item.candidates.length);
    offset += item.candidates.length;
    let best = 0;
    for (let c = 1; c < scores.length; c++) {
      if (scores[c][rankBy] > scores[best][rankBy]) best = c;
    }
    const ok = item.target !== undefined && item.candidates[best] === item.target;
    if (ok) right++;
    result.choices.push(best);
    result.answers.push(item.candidates[best]);
    result.scores.push(scores);
    result.correct.push(ok);
  }
  if (items.length) result.accuracy = right / items.length;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Exact match of a greedy continuation
// ---------------------------------------------------------------------------------------------

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
 * Greedy decoding with lib/model/kv_cache.ts's `generateCached`, one prompt at a time (always
 * `maxNewTokens` tokens; the answer is cut at the separator afterwards). Faster than
 * {@link greedyGenerator} for long answers on a real GPT.
 */
export function cachedGreedyGenerator(model: GPT): BatchGenerator {
  return (prompts, maxNewTokens) =>
    prompts.map((p) =>
      generateCached(model, p, { maxNewTokens, greedy: true, overflow: "error" }).slice(p.length)
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

// ---------------------------------------------------------------------------------------------
// Experiments: accuracy against K over seeds
// ---------------------------------------------------------------------------------------------

/** A task to evaluate: demonstrations are drawn from `pool`, the model answers `queries`. */
export interface IclTask {
  /** Solved examples the demonstrations are drawn from. */
  pool: readonly IclExample[];
  /** Examples the model must answer. */
  queries: readonly IclExample[];
  /** Answers to rank (likelihood method); default: the distinct targets of pool and queries. */
  candidates?: readonly string[];
  /** Task description put first in every prompt. */
  description?: string;
  /**
   * Inputs may occur both in the pool and among the queries. Off by default (a query's input in
   * the pool could be copied from a demonstration); on for tasks whose rule exists only in the
   * context, where the query must be one of the inputs the demonstrations define.
   */
  sharedInputs?: boolean;
}

/** Options of {@link evaluateIcl}. */
export interface EvaluateOptions {
  /** The model. */
  model: LogitsModel;
  /** Its tokenizer (decode is needed for the exact-match method). */
  tokenizer: DecodingTokenizer;
  /** The task, or a task per seed (e.g. a fresh random mapping for every seed). */
  task: IclTask | ((seed: number) => IclTask);
  /** The numbers of demonstrations K to try, e.g. [0, 1, 4, 16]. */
  shots: readonly number[];
  /** One run per seed and K; each seed draws different demonstrations. */
  seeds: readonly number[];
  /** "likelihood": rank the candidates; "exact": greedy generation must equal the target. */
  method: "likelihood" | "exact";
  /** Prompt layout (default {@link DEFAULT_FORMAT}). */
  format?: Partial<PromptFormat>;
  /** Overrides the task's description ("" for none). */
  description?: string;
  /** Likelihood method: rank by "sum" or "mean" (default) log-probability. */
  rankBy?: "sum" | "mean";
  /**
   * Share p of each prompt's demonstrations (round(p·K) of them, at random places) whose target
   * is replaced by a random wrong label from `labelSpace`. Default 0.
   */
  wrongLabelFraction?: number;
  /** Labels to draw wrong ones from (default: the task's candidates, else the pool's targets). */
  labelSpace?: readonly string[];
  /**
   * Permute the targets among each prompt's demonstrations (see {@link shuffleLabels}): the
   * labels in play stay, which input has which is lost. Default false.
   */
  shuffleLabels?: boolean;
  /** Sequences per forward pass (default 32). */
  batchSize?: number;
  /** Exact method: the decoder (default {@link greedyGenerator} of the model). */
  generator?: BatchGenerator;
  /** Exact method: tokens to generate at most (see {@link ExactMatchOptions.maxNewTokens}). */
  maxNewTokens?: number;
  /** Called after each (K, seed) run, e.g. to print progress. */
  onRun?: (run: IclRun) => void;
}

/** One (K, seed) run. */
export interface IclRun {
  /** Demonstrations per prompt. */
  k: number;
  /** The seed of its demonstration draw. */
  seed: number;
  /** Share of queries answered correctly. */
  accuracy: number;
  /** The model's answer to each query. */
  answers: string[];
  /** Per query, whether the answer was right. */
  correct: boolean[];
}

/** Accuracy at one K over the seeds. */
export interface ShotSummary {
  /** Demonstrations per prompt. */
  k: number;
  /** Accuracy of each seed, in the order of `seeds`. */
  accuracies: number[];
  /** Their mean. */
  mean: number;
  /** Their sample standard deviation (0 for one seed). */
  std: number;
  /** The lowest. */
  min: number;
  /** The highest. */
  max: number;
}

/** What {@link evaluateIcl} measured. */
export interface IclEvaluation {
  /** The scoring method. */
  method: "likelihood" | "exact";
  /** One summary per K, in the order of `shots`. */
  shots: ShotSummary[];
  /** Likelihood method: the mean of 1 / (number of candidates) over the seeds' tasks. */
  chance?: number;
  /** Every run. */
  runs: IclRun[];
}

/** Mean, sample standard deviation, min and max of some numbers. */
export function summarize(values: readonly number[]): Omit<ShotSummary, "k" | "accuracies"> {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * For each query, `k` distinct pool indices in random order (a partial Fisher–Yates shuffle per
 * query). Taking the first K of them for every K makes the demonstrations nested (the 4-shot
 * prompt extends the 1-shot one), so curves over K differ by K alone, not by a fresh draw.
 */
export function sampleDemonstrations(
  poolSize: number,
  queries: number,
  k: number,
  rng: Rng,
): number[][] {
  if (k > poolSize) {
    throw new Error(`sampleDemonstrations: K = ${k} demonstrations from a pool of ${poolSize}`);
  }
  return Array.from({ length: queries }, () => {
    const idx = Array.from({ length: poolSize }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(poolSize - i);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    return idx.slice(0, k);
  });
}

/**
 * A copy of `demos` in which round(fraction · K) of them, at random places, carry a label drawn
 * uniformly from `labelSpace` minus their true target.
 */
export function corruptLabels(
  demos: readonly IclExample[],
  fraction: number,
  labelSpace: readonly string[],
  rng: Rng,
): IclExample[] {
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new Error(`corruptLabels: fraction must be in [0, 1], got ${fraction}`);
  }
  const out = demos.map((d) => ({ ...d }));
  const count = Math.round(fraction * demos.length);
  const places = rng.shuffle(demos.map((_, i) => i)).slice(0, count);
  for (const i of places) {
    const wrong = labelSpace.filter((l) => l !== out[i].target);
    if (wrong.length === 0) {
      throw new Error(
        `corruptLabels: no wrong label for ${JSON.stringify(out[i].target)} in the label space ` +
          JSON.stringify(labelSpace),
      );
    }
    out[i].target = wrong[rng.int(wrong.length)];
  }
  return out;
}

/**
 * A copy of `demos` whose targets are a random permutation of theirs: the same labels, in the
 * same numbers, no longer tied to their inputs. A control for tasks whose rule exists only in the
 * context: a model that reads the rule falls to what the label space alone gives.
 */
export function shuffleLabels(demos: readonly IclExample[], rng: Rng): IclExample[] {
  const targets = rng.shuffle(demos.map((d) => d.target));
  return demos.map((d, i) => ({ input: d.input, target: targets[i] }));
}

/**
 * Accuracy against the number of demonstrations K, over seeds: for every seed, every query gets
 * its own random demonstrations from the pool (nested over K, see
 * {@link sampleDemonstrations}), optionally with wrong labels, and all queries of a (K, seed)
 * are scored together (one batched likelihood pass, or one batched greedy decode).
 *
 * @throws {Error} When a query's input is also in the pool (unless `task.sharedInputs`), when
 * a K exceeds the pool, or with a {@link ContextOverflowError} when a prompt does not fit.
 */
export function evaluateIcl(options: EvaluateOptions): IclEvaluation {
  const { model, tokenizer, shots, seeds, method } = options;
  const fraction = options.wrongLabelFraction ?? 0;
  if (method !== "likelihood" && method !== "exact") {
    throw new Error(`evaluateIcl: method must be "likelihood" or "exact", got ${method}`);
  }
  if (seeds.length === 0) throw new Error("evaluateIcl: give at least one seed");
  if (shots.length === 0) throw new Error("evaluateIcl: give at least one K in shots");
  for (const k of shots) {
    if (!Number.isInteger(k) || k < 0) {
      throw new Error(`evaluateIcl: every K must be a non-negative integer, got ${k}`);
    }
  }
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new Error(`evaluateIcl: wrongLabelFraction must be in [0, 1], got ${fraction}`);
  }
  const format = resolveFormat(options.format);
  const maxK = Math.max(...shots);
  const runs: IclRun[] = [];
  const chances: number[] = [];
  for (const seed of seeds) {
    const task = typeof options.task === "function" ? options.task(seed) : options.task;
    checkTask(task, maxK);
    const description = options.description ?? task.description;
    const candidates = task.candidates ??
      [...new Set([...task.pool, ...task.queries].map((e) => e.target))];
    const labelSpace = options.labelSpace ?? candidates;
    if (method === "likelihood") chances.push(1 / candidates.length);
    const rng = new Rng(seed);
    const orders = sampleDemonstrations(task.pool.length, task.queries.length, maxK, rng);
    const wrongRng = rng.fork();
    for (const k of shots) {
      const prompts = task.queries.map((q, i) => {
        let demos = orders[i].slice(0, k).map((j) => task.pool[j]);
        if (fraction > 0) demos = corruptLabels(demos, fraction, labelSpace, wrongRng);
        if (options.shuffleLabels) demos = shuffleLabels(demos, wrongRng);
        return buildPrompt(q, demos, { format, description });
      });
      let answers: string[], correct: boolean[], accuracy: number;
      if (method === "likelihood") {
        ({ answers, correct, accuracy } = rankCandidates(
          model,
          tokenizer,
          prompts.map((prompt, i) => ({ prompt, candidates, target: task.queries[i].target })),
          { rankBy: options.rankBy, batchSize: options.batchSize },
        ));
      } else {
        const generator = options.generator ??
          greedyGenerator(model, { batchSize: options.batchSize });
        ({ answers, correct, accuracy } = scoreExactMatch(
          generator,
          tokenizer,
          prompts.map((prompt, i) => ({ prompt, target: task.queries[i].target })),
          { format, maxNewTokens: options.maxNewTokens, contextLength: model.config.contextLength },
        ));
      }
      const run = { k, seed, accuracy, answers, correct };
      runs.push(run);
      options.onRun?.(run);
    }
  }
  return {
    method,
    shots: shots.map((k) => {
      const accuracies = seeds.map((s) => runs.find((r) => r.k === k && r.seed === s)!.accuracy);
      return { k, accuracies, ...summarize(accuracies) };
    }),
    chance: chances.length ? summarize(chances).mean : undefined,
    runs,
  };
}

/** Checks a task for {@link evaluateIcl}: non-empty, pool big enough, pool disjoint from queries. */
function checkTask(task: IclTask, maxK: number): void {
  if (task.queries.length === 0) throw new Error("evaluateIcl: the task has no queries");
  if (maxK > task.pool.length) {
    throw new Error(
      `evaluateIcl: K = ${maxK} demonstrations but the pool holds only ${task.pool.length}`,
    );
  }
  if (task.sharedInputs) return;
  const inPool = new Set(task.pool.map((e) => e.input));
  const shared = task.queries.find((q) => inPool.has(q.input));
  if (shared) {
    throw new Error(
      `evaluateIcl: the query input ${JSON.stringify(shared.input)} is also in the demonstration ` +
        "pool; keep the pool disjoint from the queries (or set sharedInputs for a task whose " +
        "rule exists only in the context)",
    );
  }
}
