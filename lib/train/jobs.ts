/**
 * Many independent pre-training runs at once. tfjs' WebAssembly backend uses one core under Deno,
 * so two runs in two Web Workers train about twice as fast as one run after the other, where the
 * data-parallel `threads` option of one run buys about a quarter. {@link runTrainingJobs} runs
 * jobs on a pool of workers; {@link runTrainingJob} runs one in the calling thread, with the same
 * numbers.
 *
 * A job may name a **probe**: a function exported by some module, called with the model every so
 * many steps, whose (structured-cloneable) result is collected. Naming it by module and export
 * rather than passing a function is what lets a worker run it.
 *
 * Nothing here is about a particular experiment: the notebook supplies the data, the settings
 * and the probe.
 *
 * @module
 */
import { backendInfo, type BackendName } from "../backend.ts";
import { GPT } from "../model/gpt.ts";
import { initSinusoidalPositions } from "../model/positions.ts";
import { encodeCheckpoint } from "./checkpoint.ts";
import { type StepInfo, Trainer } from "./trainer.ts";
import type {
  JobReply,
  JobRequest,
  ProbeRecord,
  ProbeSpec,
  TrainingJob,
  TrainingJobResult,
} from "./protocol.ts";

// The job's types live with the worker messages; notebooks and lib/eval name them from here.
export type { ProbeRecord, ProbeSpec, TrainingJob, TrainingJobResult } from "./protocol.ts";

/** Callbacks of a running job. */
export interface JobCallbacks {
  /** After every step. */
  onStep?: (info: StepInfo) => void;
  /** After every probe. */
  onProbe?: (record: ProbeRecord) => void;
}

type ProbeFn = (model: GPT, args: unknown) => unknown | Promise<unknown>;

async function loadProbe(spec: ProbeSpec): Promise<ProbeFn> {
  if (!(Number.isInteger(spec.every) && spec.every >= 1)) {
    throw new RangeError(`probe ${spec.name}: every must be an integer ≥ 1, got ${spec.every}`);
  }
  const mod = await import(spec.module);
  const fn = mod[spec.name];
  if (typeof fn !== "function") {
    throw new Error(`probe: ${spec.module} exports no function "${spec.name}"`);
  }
  return fn as ProbeFn;
}

/** Runs one job in the calling thread (what each worker does). */
export async function runTrainingJob(
  job: TrainingJob,
  callbacks: JobCallbacks = {},
): Promise<TrainingJobResult> {
  const probeFn = job.probe ? await loadProbe(job.probe) : undefined;
  const model = GPT.create(job.config, job.initSeed);
  try {
    if (job.sinusoidalPositions !== undefined) {
      initSinusoidalPositions(model, job.sinusoidalPositions);
    }
    const trainer = new Trainer(model, job.data, job.train);
    const probes: ProbeRecord[] = [];
    const probe = async (step: number) => {
      const record = { step, value: await probeFn!(model, job.probe!.args) };
      probes.push(record);
      callbacks.onProbe?.(record);
    };
    if (probeFn) await probe(0);
    const history = await trainer.run({
      onStep: async (info) => {
        callbacks.onStep?.(info);
        if (probeFn && info.step % job.probe!.every === 0) await probe(info.step);
      },
    });
    return {
      name: job.name,
      checkpoint: await encodeCheckpoint(model),
      loss: history.loss,
      probes,
      trainSeconds: history.trainSeconds,
      tokens: history.tokens,
    };
  } finally {
    model.dispose();
  }
}

/** Options of {@link runTrainingJobs}. */
export interface RunTrainingJobsOptions {
  /** Parallel workers (default: one per core, at most the number of jobs). */
  workers?: number;
  /** Backend for the workers (default: the calling thread's, else wasm). */
  backend?: BackendName;
  /** After every step of a running job, with the job's index. */
  onStep?: (info: StepInfo, index: number) => void;
  /** After every probe of a running job. */
  onProbe?: (record: ProbeRecord, index: number) => void;
  /** As each job finishes. */
  onResult?: (result: TrainingJobResult, index: number) => void | Promise<void>;
}

/**
 * Runs the jobs on a pool of Web Workers and returns their results in job order. A failing job
 * rejects with its name and the worker's error, and stops the pool.
 */
export async function runTrainingJobs(
  jobs: TrainingJob[],
  options: RunTrainingJobsOptions = {},
): Promise<TrainingJobResult[]> {
  const wanted = options.workers ?? Math.max(1, navigator.hardwareConcurrency || 1);
  if (!(Number.isInteger(wanted) && wanted >= 1)) {
    throw new RangeError(`runTrainingJobs: workers must be an integer ≥ 1, got ${options.workers}`);
  }
  const count = Math.min(jobs.length, wanted);
  const backend = options.backend ?? backendInfo()?.name ?? "wasm";
  const results: TrainingJobResult[] = new Array(jobs.length);
  const workers: Worker[] = [];
  let next = 0;
  try {
    await Promise.all(Array.from({ length: count }, async () => {
      const worker = new Worker(new URL("./job_worker.ts", import.meta.url).href, {
        type: "module",
      });
      workers.push(worker);
      const call = (request: JobRequest, index: number) =>
        new Promise<TrainingJobResult | undefined>((resolve, reject) => {
          worker.onmessage = (event: MessageEvent<JobReply>) => {
            const reply = event.data;
            if (reply.kind === "step") options.onStep?.(reply.info, index);
            else if (reply.kind === "probe") options.onProbe?.(reply.record, index);
            else if (reply.kind === "ready") resolve(undefined);
            else if (reply.kind === "result") resolve(reply.result);
            else reject(new Error(`training job "${jobs[index]?.name}": ${reply.message}`));
          };
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`training job "${jobs[index]?.name}": worker failed: ${e.message}`));
          };
          worker.postMessage(request);
        });
      await call({ kind: "init", backend }, -1);
      while (next < jobs.length) {
        const index = next++;
        const result = (await call({ kind: "run", job: jobs[index] }, index))!;
        results[index] = result;
        await options.onResult?.(result, index);
      }
    }));
  } finally {
    for (const w of workers) w.terminate();
  }
  return results;
}
