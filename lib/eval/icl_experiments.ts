/**
 * In-context learning experiments ({@link evaluateIcl}): accuracy for each number of
 * demonstrations K over several seeds (each seed draws different demonstrations from a pool
 * disjoint from the queries), with mean and spread, and an optional fraction of demonstrations
 * given a wrong label ({@link corruptLabels}) or permuted labels ({@link shuffleLabels}): does
 * the model read the labels at all?
 *
 * @module
 */
import { Rng } from "../random.ts";
import {
  buildPrompt,
  type DecodingTokenizer,
  type IclExample,
  type PromptFormat,
  resolveFormat,
} from "./icl_prompts.ts";
import { type LogitsModel, rankCandidates } from "./icl_scoring.ts";
import { type BatchGenerator, greedyGenerator, scoreExactMatch } from "./icl_exact_match.ts";

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
