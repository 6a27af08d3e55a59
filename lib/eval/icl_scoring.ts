/**
 * Log-likelihood scoring for in-context learning: log P(continuation | prompt) from one batched
 * forward pass over right-padded sequences ({@link scoreContinuations}), and multiple choice by
 * the most likely candidate answer, by the sum or the per-token mean (GPT-3's default) of its
 * log-probabilities ({@link rankCandidates}).
 *
 * Every function frees the tensors it makes: `tf.memory().numTensors` is the same before and
 * after.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { encodePrompt, type IclPrompt, type Tokenizer } from "./icl_prompts.ts";

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
