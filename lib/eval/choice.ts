/**
 * Multiple choice in one forward pass per question: rank candidate answers by the first token
 * where they differ. Cheaper than lib/eval/icl_scoring.ts's `rankCandidates` (one sequence per
 * candidate) when everything after that token is fixed by it, e.g. " man's name." against
 * " woman's name.", or one letter among 26.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { LogitsModel } from "./icl_scoring.ts";
import type { Tokenizer } from "./icl_prompts.ts";

/** One multiple-choice question for {@link rankFirstDifference}. */
export interface ChoiceItem {
  /** The prompt text (question included, without the answer prefix). */
  text: string;
  /** Put before every candidate (the arrow's trailing whitespace, e.g. " "). */
  answerPrefix: string;
  /** The answers to choose from. */
  candidates: readonly string[];
  /** Index of the right candidate. */
  target: number;
}

/** What {@link rankFirstDifference} found. */
export interface ChoiceResult {
  /** The chosen candidate's index, per item. */
  choices: number[];
  /** log P of each candidate's deciding token, per item. */
  logProbs: number[][];
  /** Share of items answered correctly. */
  accuracy: number;
}

/**
 * Multiple choice in one forward pass per question. Each candidate is tokenized as
 * `answerPrefix + candidate` (separately from the prompt, as lib/eval/icl_prompts.ts's `encodePrompt`
 * does); the tokens all candidates share at their start (a character model's leading space)
 * are appended to the prompt, and the candidates are ranked by the log-probability of their
 * first token after that, which must differ between candidates. When everything after that token
 * is determined by it (`man's name.` once `m` is chosen), this is the ranking by total
 * log-likelihood, at 1/candidates of the cost: one pass per question instead of one per
 * candidate. Questions are right-padded into batches of `batchSize`.
 *
 * @throws {Error} When two candidates share their deciding token, or a prompt does not fit.
 */
export function rankFirstDifference(
  model: LogitsModel,
  tokenizer: Tokenizer,
  items: readonly ChoiceItem[],
  options: { batchSize?: number } = {},
): ChoiceResult {
  const batchSize = options.batchSize ?? 32;
  const { contextLength, vocabSize } = model.config;
  const encoded = items.map((item, i) => {
    const answers = item.candidates.map((c) => Array.from(tokenizer.encode(item.answerPrefix + c)));
    let shared = 0;
    while (answers.every((a) => a.length > shared + 1 && a[shared] === answers[0][shared])) {
      shared++;
    }
    const deciding = answers.map((a) => a[shared]);
    if (new Set(deciding).size !== deciding.length || deciding.some((d) => d === undefined)) {
      throw new Error(
        `rankFirstDifference: item ${i}: candidates ${JSON.stringify(item.candidates)} do not ` +
          "differ in one token after their shared start",
      );
    }
    const prompt = [...Array.from(tokenizer.encode(item.text)), ...answers[0].slice(0, shared)];
    if (prompt.length === 0 || prompt.length > contextLength) {
      throw new Error(
        `rankFirstDifference: item ${i} has a prompt of ${prompt.length} tokens; the context ` +
          `holds ${contextLength}`,
      );
    }
    return { prompt, deciding };
  });
  const result: ChoiceResult = { choices: [], logProbs: [], accuracy: NaN };
  let right = 0;
  for (let start = 0; start < encoded.length; start += batchSize) {
    const chunk = encoded.slice(start, start + batchSize);
    const b = chunk.length, t = Math.max(...chunk.map((e) => e.prompt.length));
    const x = new Int32Array(b * t);
    chunk.forEach((e, r) => x.set(e.prompt, r * t));
    const last = chunk.map((e, r) => r * t + e.prompt.length - 1);
    const logp = tf.tidy(() => {
      const { logits } = model.forward(tf.tensor2d(x, [b, t], "int32"));
      const z = tf.gather(tf.reshape(logits, [b * t, vocabSize]), tf.tensor1d(last, "int32"));
      return tf.sub(z, tf.logSumExp(z, 1, true));
    });
    const values = logp.dataSync();
    logp.dispose();
    chunk.forEach((e, r) => {
      const scores = e.deciding.map((id) => values[r * vocabSize + id]);
      let best = 0;
      for (let c = 1; c < scores.length; c++) if (scores[c] > scores[best]) best = c;
      const item = items[start + r];
      if (best === item.target) right++;
      result.choices.push(best);
      result.logProbs.push(scores);
    });
  }
  if (items.length) result.accuracy = right / items.length;
  return result;
}
