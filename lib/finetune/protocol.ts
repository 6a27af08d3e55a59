/**
 * What a fine-tuning job is and what passes between {@link ./jobs.ts} and the Web Workers of
 * {@link ./job_worker.ts}: the shared pre-trained base, the job and its result, and the messages
 * each side sends. Both sides import these types from here, so neither imports the other's.
 *
 * Every type here crosses a worker boundary, so it holds only structured-cloneable data.
 *
 * @module
 */
import type { BackendName } from "../backend.ts";
import type { ExampleOf, TaskKind } from "./formats.ts";
import type { FineTuneConfig } from "./config.ts";
import type { FineTuneData, FineTuneEvalInfo, FineTuneHistory, TaskEvaluation } from "./trainer.ts";

/** The starting point every job shares: a checkpoint and its tokenizer. */
export interface PretrainedBase {
  /** Checkpoint bytes (`encodeCheckpoint` of the pre-trained model, without special tokens). */
  checkpoint: Uint8Array;
  /** The base tokenizer as `CharTokenizer.toJSON()` or `BpeTokenizer.toJSON()` wrote it. */
  tokenizer: unknown;
}

/** One fine-tuning run. */
export interface FineTuneJob<K extends TaskKind = TaskKind> {
  /** A label for progress and results, e.g. "entailment λ=0.5 seed 1". */
  name: string;
  /** Training and validation examples, and optionally test examples evaluated at the end. */
  data: FineTuneData<K> & { test?: readonly ExampleOf[K][] };
  /** Hyper-parameters (`config.seed` also seeds the head and the special-token rows). */
  config: FineTuneConfig;
  /** Start from the pre-trained weights, or from a fresh random model of the same shape. */
  init: "pretrained" | "scratch";
  /**
   * This job's own starting point instead of the one the pool shares (e.g. a model with another
   * tokenizer, so runs on two tokenizers share one pool of workers).
   */
  base?: PretrainedBase;
  /**
   * Held-out text of the pre-training corpus (base-vocabulary ids): after fine-tuning, the job
   * measures the model's language-model loss on fixed windows of it, to see how much of the
   * language model fine-tuning kept.
   */
  languageModelEval?: LanguageModelEval;
}

/** Where and how much {@link FineTuneJob.languageModelEval} measures. */
export interface LanguageModelEval {
  /** Token ids of held-out pre-training text. */
  tokens: Int32Array;
  /** Number of batches of windows (default 8). */
  batches?: number;
  /** Windows per batch (default 8). */
  batchSize?: number;
  /** Seed of the windows (default 0): the same seed measures the same text. */
  seed?: number;
}

/** What a job measured. */
export interface FineTuneJobResult {
  /** The job's name. */
  name: string;
  /** Losses per step and every validation evaluation. */
  history: FineTuneHistory;
  /** Evaluation on the test examples, when the job had some. */
  test?: TaskEvaluation;
  /** Wall-clock seconds of the job (setup, training and evaluations). */
  seconds: number;
  /** Mean next-token loss (nats) on `languageModelEval`'s windows, when the job had it. */
  languageModelLoss?: number;
}

/** Messages a fine-tuning worker accepts. */
export type JobRequest =
  | { kind: "init"; base: PretrainedBase; backend: BackendName }
  | { kind: "run"; job: FineTuneJob };

/** Messages a fine-tuning worker sends back. */
export type JobReply =
  | { kind: "ready" }
  | { kind: "eval"; info: FineTuneEvalInfo }
  | { kind: "result"; result: FineTuneJobResult }
  | { kind: "error"; message: string };
