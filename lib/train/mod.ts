/**
 * Training a GPT: the loop pre-training and fine-tuning share, AdamW, the learning-rate
 * schedules, the pre-training `Trainer` and its settings, checkpoints, data-parallel gradient
 * workers, pools of independent training jobs, and the loss-by-position measurement.
 *
 * `watch.ts` (the live plot and progress line of a run) is not re-exported: it draws through
 * the notebook display, which a worker or a test has no use for.
 *
 * @module
 */
export {
  type EvalTiming,
  type LoopRun,
  type StepContext,
  type StepTiming,
  TrainingLoop,
  type TrainingLoopOptions,
} from "./loop.ts";
export {
  AdamW,
  type AdamWOptions,
  type AdamWState,
  decaysByDefault,
  isStepFault,
  type StepStats,
} from "./adamw.ts";
export {
  constantLr,
  linearWarmupDecay,
  warmupCosine,
  type WarmupCosineOptions,
} from "./schedule.ts";
export {
  defaultTrainConfig,
  type TrainConfig,
  TrainConfigError,
  type TrainingState,
  validateTrainConfig,
} from "./config.ts";
export {
  type EvalInfo,
  meanLoss,
  type StepInfo,
  toTensors,
  type TrainCallbacks,
  Trainer,
  type TrainHistory,
  type TrainStepResult,
} from "./trainer.ts";
export {
  CheckpointError,
  type CheckpointOptions,
  decodeCheckpoint,
  encodeCheckpoint,
  type HasTrainingState,
  loadCheckpoint,
  type LoadedCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";
export { GradientWorkers, shardBatch } from "./parallel.ts";
export type { ProbeRecord, ProbeSpec, TrainingJob, TrainingJobResult } from "./protocol.ts";
export {
  type JobCallbacks,
  runTrainingJob,
  runTrainingJobs,
  type RunTrainingJobsOptions,
} from "./jobs.ts";
export {
  lossByPosition,
  lossByPositionProbe,
  lossByPositionProbeSpec,
  type PositionLossOptions,
  type PositionLossProbeArgs,
} from "./position_loss.ts";
