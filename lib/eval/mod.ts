/**
 * Evaluation: in-context learning, multiple choice, induction heads and the results files.
 *
 * In-context learning (GPT-3, Brown et al. 2020, §2): the model is not fine-tuned; it reads a
 * task description, K solved demonstrations and a query, and its continuation is the answer.
 *
 * - icl_prompts.ts: prompt layout ({@link buildPrompt}, {@link PromptFormat}), tokenization
 *   ({@link encodePrompt}) and the largest K that fits ({@link maxShots}).
 * - icl_scoring.ts: (b) the log-likelihood of every candidate answer given the prompt, from one
 *   batched forward pass over the right-padded prompt + candidate sequences
 *   ({@link scoreContinuations}); the best candidate (by the sum or the per-token mean, GPT-3's
 *   default) is the model's answer ({@link rankCandidates}).
 * - icl_exact_match.ts: (a) greedy continuation, cut at the first demonstration separator,
 *   compared with the target after trimming ({@link scoreExactMatch}).
 * - icl_experiments.ts: accuracy for each K over several seeds, with mean and spread, and an
 *   optional fraction of wrong labels ({@link evaluateIcl}).
 * - choice.ts: multiple choice by the first differing token ({@link rankFirstDifference}).
 * - induction.ts: induction-head scores and the in-context learning score (Olsson et al., 2022).
 * - results.ts: the notebooks' results files ({@link writeResults}, {@link readResults}).
 *
 * @module
 */

export { type ChoiceItem, type ChoiceResult, rankFirstDifference } from "./choice.ts";
export {
  buildPrompt,
  CHAR_FORMAT,
  ContextOverflowError,
  type DecodingTokenizer,
  DEFAULT_FORMAT,
  type EncodedPrompt,
  encodePrompt,
  formatDemonstration,
  type IclExample,
  type IclPrompt,
  maxShots,
  type MaxShotsOptions,
  type PromptFormat,
  type PromptOptions,
  resolveFormat,
  type Tokenizer,
} from "./icl_prompts.ts";
export {
  type ContinuationScore,
  type LogitsModel,
  rankCandidates,
  type RankItem,
  type RankOptions,
  type RankResult,
  scoreContinuations,
  type ScoreOptions,
  type ScoreRequest,
} from "./icl_scoring.ts";
export {
  type BatchGenerator,
  cachedGreedyGenerator,
  type ExactMatchItem,
  type ExactMatchOptions,
  type ExactMatchResult,
  extractAnswer,
  greedyGenerator,
  scoreExactMatch,
} from "./icl_exact_match.ts";
export {
  corruptLabels,
  evaluateIcl,
  type EvaluateOptions,
  type IclEvaluation,
  type IclRun,
  type IclTask,
  sampleDemonstrations,
  type ShotSummary,
  shuffleLabels,
  summarize,
} from "./icl_experiments.ts";
export {
  iclScore,
  type InductionResult,
  inductionScore,
  inductionScores,
  type RepeatedOptions,
  repeatedSequences,
  type TrainingProbe,
  trainingProbe,
  type TrainingProbeArgs,
  trainingProbeSpec,
} from "./induction.ts";
export {
  readResults,
  type ResultEntry,
  type ResultsFile,
  ResultsFormatError,
  resultsPath,
  validateResults,
  type Verdict,
  VERDICTS,
  writeResults,
} from "./results.ts";
