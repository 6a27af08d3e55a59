/**
 * What a pre-training job is and what passes between {@link ./jobs.ts} and the Web Workers of
 * {@link ./job_worker.ts}: the job, its probe and its result, and the messages each side sends.
 * Both sides import these types from here, so neither imports the other's.
 *
 * Every type here crosses a worker boundary, so it holds only structured-cloneable data.
 *
 * @module
 */
import type { BackendName } from "../backend.ts";
import type { Split } from "../data.ts";
import type { GPTConfig } from "../model/config.ts";
import type { TrainConfig } from "./config.ts";
import type { StepInfo } from "./trainer.ts";

/** A function a job calls every `every` steps (and at step 0): `module`'s export `name`. */
export interface ProbeSpec {
  /** Module URL (absolute, e.g. `new URL("../lib/eval/induction.ts", import.meta.url).href`). */
  module: string;
  /** Name of the exported function `(model: GPT, args: unknown) => unknown | Promise<unknown>`. */
  name: string;
  /** Probe every this many steps (and before the first). */
  every: number;
  /** Passed to the function as its second argument (structured-cloneable). */
  args?: unknown;
}

/** One pre-training run. */
export interface TrainingJob {
  /** A label for progress and results. */
  name: string;
  /** The model's shape. */
  config: GPTConfig;
  /** Seed of the initial weights. */
  initSeed: number;
  /** Start the learned position embeddings from sinusoids of this scale (lib/model/positions). */
  sinusoidalPositions?: number;
  /** Training settings. */
  train: TrainConfig;
  /** The token streams. */
  data: Split;
  /** Optional probe. */
  probe?: ProbeSpec;
}

/** A probe's result at one step. */
export interface ProbeRecord<T = unknown> {
  /** Steps completed when the probe ran. */
  step: number;
  /** What the probe returned. */
  value: T;
}

/** What a job produced. */
export interface TrainingJobResult<T = unknown> {
  /** The job's name. */
  name: string;
  /** The trained model as checkpoint bytes (`decodeCheckpoint` turns it back into a GPT). */
  checkpoint: Uint8Array;
  /** Loss after every step. */
  loss: number[];
  /** Every probe, in step order. */
  probes: ProbeRecord<T>[];
  /** Seconds spent in training steps (probes excluded). */
  trainSeconds: number;
  /** Tokens processed by training steps. */
  tokens: number;
}

/** Messages a job worker accepts. */
export type JobRequest =
  | { kind: "init"; backend: BackendName }
  | { kind: "run"; job: TrainingJob };

/** Messages a job worker sends back. */
export type JobReply =
  | { kind: "ready" }
  | { kind: "step"; info: StepInfo }
  | { kind: "probe"; record: ProbeRecord }
  | { kind: "result"; result: TrainingJobResult }
  | { kind: "error"; message: string };
