/**
 * Induction heads and the in-context learning score (Olsson et al., 2022, "In-context Learning
 * and Induction Heads").
 *
 * An induction head completes patterns `[A][B] … [A] → [B]`: at the second `[A]` it attends to
 * the token right after the first `[A]` and copies it. Feed a model a random token sequence
 * repeated twice; in the second copy, position i's "induction target" is i − period + 1, and a
 * head's induction score is its mean attention weight on that target. The in-context learning
 * score is the loss late in a window minus the loss early in it: negative when the model
 * predicts better with more context.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { Rng } from "../random.ts";
import { lossByPosition } from "../train/position_loss.ts";
import { CharTokenizer } from "../tokenizers/char.ts";
import { evaluateIcl, type IclTask } from "./icl_experiments.ts";
import type { PromptFormat } from "./icl_prompts.ts";
import type { ProbeSpec } from "../train/jobs.ts";

/** Options of {@link repeatedSequences}. */
export interface RepeatedOptions {
  /** Length of the random block; each sequence is the block twice (default 40). */
  period?: number;
  /** Number of sequences (default 8). */
  count?: number;
  /** Seed (default 0). */
  seed?: number;
}

/**
 * `count` sequences, each a block of `period` tokens drawn uniformly from `tokenIds` and then the
 * same block again (length 2 · period). Random blocks have no n-gram statistics to lean on: only
 * copying from the first copy predicts the second.
 */
export function repeatedSequences(
  tokenIds: readonly number[],
  options: RepeatedOptions = {},
): number[][] {
  const period = options.period ?? 40, count = options.count ?? 8;
  if (tokenIds.length < 2) throw new Error("repeatedSequences: need at least 2 token ids");
  if (!Number.isInteger(period) || period < 2) {
    throw new Error(`repeatedSequences: period must be an integer ≥ 2, got ${period}`);
  }
  const rng = new Rng(options.seed ?? 0);
  return Array.from({ length: count }, () => {
    const block = Array.from({ length: period }, () => tokenIds[rng.int(tokenIds.length)]);
    return [...block, ...block];
  });
}

/** What {@link inductionScores} measured. */
export interface InductionResult {
  /** scores[layer][head]: mean attention from second-copy positions to their induction targets. */
  scores: number[][];
  /** The head with the highest score. */
  best: { layer: number; head: number; score: number };
  /** Mean next-token loss (nats) over the first copy's predictions (positions 0 … period − 2). */
  firstCopyLoss: number;
  /** Mean next-token loss over the second copy's predictions (positions period … 2·period − 2). */
  secondCopyLoss: number;
  /** Attention weights [T][T] of the best head on the first sequence, for drawing. */
  bestPattern: number[][];
  /** Attention weights of every head on the first sequence, [layer][head][T][T]. */
  patterns: number[][][][];
}

/**
 * The induction score of one head from its attention weights on sequences that are a block of
 * `period` tokens written twice (`weights[s][i][j]`: sequence s, query i, key j): the mean weight
 * from each second-copy position i on its induction target i − period + 1, the token that followed
 * the same token in the first copy. A perfect induction head scores 1.
 */
export function inductionScore(weights: readonly number[][][], period: number): number {
  if (!Number.isInteger(period) || period < 2) {
    throw new RangeError(`inductionScore: period must be an integer ≥ 2, got ${period}`);
  }
  let sum = 0, n = 0;
  for (const w of weights) {
    if (w.length !== 2 * period) {
      throw new RangeError(
        `inductionScore: a pattern has ${w.length} rows, expected 2 · period = ${2 * period}`,
      );
    }
    for (let i = period; i < 2 * period; i++) sum += w[i][i - period + 1], n++;
  }
  return sum / n;
}

/**
 * Induction score of every head of `model` on repeated random sequences (see
 * {@link repeatedSequences}; all must have the same even length 2 · period ≤ the context), and the
 * loss on the first copy against the second: a model that copies predicts the second copy far
 * better than chance.
 */
export function inductionScores(model: GPT, sequences: readonly number[][]): InductionResult {
  if (sequences.length === 0) throw new Error("inductionScores: no sequences");
  const t = sequences[0].length, period = t / 2;
  if (!Number.isInteger(period) || sequences.some((s) => s.length !== t)) {
    throw new Error("inductionScores: sequences must share one even length (a block, twice)");
  }
  if (t > model.config.contextLength) {
    throw new Error(
      `inductionScores: sequences of ${t} tokens exceed the context of ${model.config.contextLength}`,
    );
  }
  const b = sequences.length;
  const x = tf.tensor2d(sequences.flat(), [b, t], "int32");
  const { logits, hidden, attention } = model.forward(x, { returnAttention: true });
  x.dispose();
  hidden.dispose();
  // Per-position loss: −log p(next token).
  const losses = tf.tidy(() => {
    const logp = tf.logSoftmax(tf.slice(logits, [0, 0, 0], [b, t - 1, -1]));
    const next = tf.tensor2d(sequences.map((s) => s.slice(1)).flat(), [b, t - 1], "int32");
    return tf.neg(tf.mean(tf.sum(tf.mul(logp, tf.oneHot(next, logits.shape[2])), 2), 0));
  });
  logits.dispose();
  const perPosition = Array.from(losses.dataSync());
  losses.dispose();
  const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;
  const scores: number[][] = [];
  let best = { layer: 0, head: 0, score: -Infinity };
  const patterns: number[][][][] = [];
  for (const [layer, weights] of attention!.entries()) {
    const w = weights.arraySync() as number[][][][]; // [B, H, T, T]
    weights.dispose();
    const nHead = w[0].length;
    patterns.push(w[0]);
    const row: number[] = [];
    for (let h = 0; h < nHead; h++) {
      const score = inductionScore(w.map((seq) => seq[h]), period);
      row.push(score);
      if (score > best.score) best = { layer, head: h, score };
    }
    scores.push(row);
  }
  return {
    scores,
    best,
    firstCopyLoss: mean(perPosition.slice(0, period - 1)),
    secondCopyLoss: mean(perPosition.slice(period, t - 1)),
    bestPattern: patterns[best.layer][best.head],
    patterns,
  };
}

/**
 * The in-context learning score: mean loss over positions `late` minus mean loss over positions
 * `early` ([from, to) ranges into a per-position loss such as lib/train's `lossByPosition`).
 * Olsson et al. use the 500th token minus the 50th; negative means later tokens, which have more
 * context, are predicted better.
 */
export function iclScore(
  lossAtPosition: readonly number[],
  early: [number, number],
  late: [number, number],
): number {
  const span = ([from, to]: [number, number], name: string) => {
    if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to)) {
      throw new Error(
        `iclScore: ${name} must be [from, to) with 0 ≤ from < to, got [${from}, ${to})`,
      );
    }
    if (to > lossAtPosition.length) {
      throw new Error(
        `iclScore: ${name} ends at ${to}, past the ${lossAtPosition.length} positions measured`,
      );
    }
    const xs = lossAtPosition.slice(from, to);
    return xs.reduce((a, v) => a + v, 0) / xs.length;
  };
  return span(late, "late") - span(early, "early");
}

/** What {@link trainingProbe} measures on (structured-cloneable, so a worker can receive it). */
export interface TrainingProbeArgs {
  /** Repeated runs for {@link inductionScores} (a block, twice). */
  sequences: number[][];
  /** Held-out token stream for the ICL score. */
  val: Int32Array;
  /** Early and late position ranges of the ICL score. */
  early: [number, number];
  late: [number, number];
  /** In-context tasks, scored by likelihood at each K of `shots`. */
  tasks: IclTask[];
  /** Demonstration counts to score. */
  shots: number[];
  /** The character vocabulary (`CharTokenizer` symbols). */
  symbols: string[];
  /** Prompt layout of the tasks. */
  format: PromptFormat;
  /** Also return every head's attention on the first sequence. */
  keepPatterns?: boolean;
}

/** One probe of a model during training. */
export interface TrainingProbe {
  /** Loss on the first copy of the repeated runs (nats). */
  firstCopy: number;
  /** Loss on the second copy. */
  secondCopy: number;
  /** Induction score of every head, [layer][head]. */
  scores: number[][];
  /** The best head and its score. */
  best: { layer: number; head: number; score: number };
  /** ICL score (late minus early loss) on the held-out stream. */
  icl: number;
  /** Mean accuracy over the tasks at each K of `shots`. */
  accuracy: number[];
  /** Every head's attention on the first sequence, when asked. */
  patterns?: number[][][][];
}

/**
 * The induction-head and in-context measurements of a model in one call, for probing it while it
 * trains (lib/train/jobs.ts calls it by name inside a worker).
 */
export async function trainingProbe(model: GPT, args: TrainingProbeArgs): Promise<TrainingProbe> {
  const ind = inductionScores(model, args.sequences);
  const byPosition = await lossByPosition(model, args.val, { batches: 2, batchSize: 16, seed: 7 });
  const tokenizer = new CharTokenizer(args.symbols);
  const evaluation = evaluateIcl({
    model,
    tokenizer,
    task: (i) => args.tasks[i],
    shots: args.shots,
    seeds: args.tasks.map((_, i) => i),
    method: "likelihood",
    format: args.format,
    batchSize: 48,
  });
  return {
    firstCopy: ind.firstCopyLoss,
    secondCopy: ind.secondCopyLoss,
    scores: ind.scores,
    best: ind.best,
    icl: iclScore(byPosition, args.early, args.late),
    accuracy: evaluation.shots.map((s) => s.mean),
    patterns: args.keepPatterns ? ind.patterns : undefined,
  };
}

/**
 * The {@link ProbeSpec} that makes a training job (lib/train/jobs.ts) call {@link trainingProbe}
 * every `every` steps, in whatever worker runs it.
 */
export function trainingProbeSpec(every: number, args: TrainingProbeArgs): ProbeSpec {
  return { module: import.meta.url, name: "trainingProbe", every, args };
}
