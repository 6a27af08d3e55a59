/**
 * Fine-tuning a pre-trained GPT on labelled tasks, as GPT-1 does: special tokens and input
 * formats, a linear task head on the `[Extract]` state, the L3 = L2 + λ·L1 objective, the
 * fine-tuner (on the training loop pre-training uses), and pools of fine-tuning jobs.
 *
 * `watch.ts` (live plots of running jobs) is not re-exported: it draws through the notebook
 * display, which a worker or a test has no use for.
 *
 * @module
 */
export {
  type BaseTokenizer,
  extendContext,
  extendEmbeddings,
  SPECIAL_TOKENS,
  type SpecialToken,
  TaskTokenizer,
} from "./tokens.ts";
export {
  type ClassificationExample,
  ENTAILMENT_LABELS,
  type EntailmentExample,
  type ExampleOf,
  formatClassification,
  formatEntailment,
  FormatError,
  formatExample,
  formatMultipleChoice,
  type FormatOptions,
  formatSimilarity,
  type FormattedExample,
  type FormatTokenizer,
  type MultipleChoiceExample,
  padBatch,
  type PadOptions,
  type Sequence,
  type SimilarityExample,
  type TaskBatch,
  type TaskDataset,
  type TaskExample,
  type TaskKind,
} from "./formats.ts";
export { gatherExtract, headOutputs, TaskHead, taskLogits } from "./head.ts";
export {
  fineTuneObjective,
  type LossValues,
  objectiveAndGrads,
  type ObjectiveOptions,
  type ObjectiveTensors,
  predictBatch,
  trainableParams,
} from "./objective.ts";
export {
  defaultFineTuneConfig,
  type FineTuneConfig,
  FineTuneConfigError,
  stepsForEpochs,
  validateFineTuneConfig,
} from "./config.ts";
export { linearWarmupDecay } from "../train/schedule.ts";
export {
  evaluateTask,
  type FineTuneCallbacks,
  type FineTuneData,
  type FineTuneEvalInfo,
  type FineTuneHistory,
  FineTuner,
  type FineTuneStepInfo,
  type FineTuneStepResult,
  formatAll,
  type TaskEvaluation,
} from "./trainer.ts";
export type {
  FineTuneJob,
  FineTuneJobResult,
  LanguageModelEval,
  PretrainedBase,
} from "./protocol.ts";
export { baseTokenizer, runFineTuneJob, runFineTuneJobs, type RunJobsOptions } from "./jobs.ts";
