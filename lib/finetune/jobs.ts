/**
 * Many fine-tuning runs at once: sweeps (λ × seed × task) are independent jobs, and the
 * fine-tuning loop uses one core, so {@link runFineTuneJobs} runs jobs in parallel Web Workers,
 * one per core. Each job starts from the same pre-trained checkpoint (sent once per worker as
 * bytes), so a job's result does not depend on the worker that ran it or on how many ran
 * alongside: {@link runFineTuneJob} in the calling thread gives the same numbers.
 *
 * @module
 */
import { backendInfo, type BackendName } from "../backend.ts";
import { GPT } from "../model/gpt.ts";
import { decodeCheckpoint } from "../train/checkpoint.ts";
import { CharTokenizer } from "../tokenizers/char.ts";
import { BpeTokenizer } from "../tokenizers/bpe.ts";
import type { TaskKind } from "./formats.ts";
import { TaskHead } from "./head.ts";
import { extendEmbeddings, SPECIAL_TOKENS, TaskTokenizer } from "./tokens.ts";
import { type FineTuneCallbacks, type FineTuneEvalInfo, FineTuner } from "./trainer.ts";
import type {
  FineTuneJob,
  FineTuneJobResult,
  JobReply,
  JobRequest,
  PretrainedBase,
} from "./protocol.ts";
import { lossByPosition } from "../train/position_loss.ts";

const mean = (a: readonly number[]) => a.reduce((s, v) => s + v, 0) / a.length;

/** The tokenizer a {@link PretrainedBase} names: character-level or byte-level BPE. */
export function baseTokenizer(json: unknown): CharTokenizer | BpeTokenizer {
  const type = (json as { type?: unknown } | null)?.type;
  if (type === "bpe") return BpeTokenizer.fromJSON(json);
  if (type === "char") return CharTokenizer.fromJSON(json);
  throw new Error(
    `fine-tune base: unknown tokenizer type ${JSON.stringify(type)} (expected "char" or "bpe")`,
  );
}

/** Runs one job in the calling thread (what each worker does). */
export async function runFineTuneJob<K extends TaskKind>(
  base: PretrainedBase,
  job: FineTuneJob<K>,
  callbacks: FineTuneCallbacks = {},
): Promise<FineTuneJobResult> {
  const start = performance.now();
  const from = job.base ?? base;
  const tokenizer = new TaskTokenizer(baseTokenizer(from.tokenizer));
  const pretrained = decodeCheckpoint(from.checkpoint, job.name).model;
  const seed = job.config.seed;
  let model = extendEmbeddings(pretrained, SPECIAL_TOKENS.length, seed);
  pretrained.dispose();
  if (job.init === "scratch") {
    const config = model.config;
    model.dispose();
    model = GPT.create(config, 1000 + seed);
  }
  const head = TaskHead.forTask(job.data.kind, job.data.numClasses, model.config.nEmbd, seed);
  const tuner = new FineTuner(model, head, tokenizer, job.data, job.config);
  try {
    const history = await tuner.run(callbacks);
    const test = job.data.test ? tuner.evaluate(job.data.test) : undefined;
    const lm = job.languageModelEval;
    const languageModelLoss = lm ? mean(await lossByPosition(model, lm.tokens, lm)) : undefined;
    const seconds = (performance.now() - start) / 1000;
    return { name: job.name, history, test, seconds, languageModelLoss };
  } finally {
    model.dispose();
    head.dispose();
  }
}

/** Options of {@link runFineTuneJobs}. */
export interface RunJobsOptions {
  /** Parallel workers (default: one per core, at most the number of jobs). */
  workers?: number;
  /** Called as each job finishes, with its index in `jobs`. */
  onResult?: (result: FineTuneJobResult, index: number) => void | Promise<void>;
  /** Called after each validation evaluation of a running job (for progress output). */
  onEval?: (info: FineTuneEvalInfo, index: number) => void;
  /** Backend for the workers (default: the one the calling thread uses, else wasm). */
  backend?: BackendName;
}

/**
 * Runs the jobs on a pool of workers and returns their results in job order. A failing job
 * rejects with its name and the worker's error.
 */
export async function runFineTuneJobs(
  base: PretrainedBase,
  jobs: FineTuneJob[],
  options: RunJobsOptions = {},
): Promise<FineTuneJobResult[]> {
  const backend = options.backend ?? backendInfo()?.name ?? "wasm";
  if (backend === "webgpu") {
    throw new Error("runFineTuneJobs: workers run on the CPU backends; use runFineTuneJob");
  }
  const count = Math.max(
    1,
    Math.min(options.workers ?? navigator.hardwareConcurrency ?? 1, jobs.length),
  );
  const results: FineTuneJobResult[] = new Array(jobs.length);
  let next = 0;
  const workers = Array.from(
    { length: count },
    () => new Worker(new URL("./job_worker.ts", import.meta.url), { type: "module" }),
  );
  const request = (w: Worker, msg: JobRequest, index = -1) =>
    new Promise<JobReply>((resolve, reject) => {
      w.onmessage = (e: MessageEvent<JobReply>) => {
        if (e.data.kind === "eval") options.onEval?.(e.data.info, index);
        else resolve(e.data);
      };
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`fine-tune worker crashed: ${e.message}`));
      };
      w.postMessage(msg);
    });
  try {
    await Promise.all(workers.map(async (w) => {
      const ready = await request(w, { kind: "init", base, backend });
      if (ready.kind === "error") throw new Error(`fine-tune worker: ${ready.message}`);
      while (next < jobs.length) {
        const index = next++;
        const reply = await request(w, { kind: "run", job: jobs[index] }, index);
        if (reply.kind === "error") {
          throw new Error(`fine-tune job "${jobs[index].name}" failed: ${reply.message}`);
        }
        if (reply.kind !== "result") throw new Error(`fine-tune worker: unexpected reply`);
        results[index] = reply.result;
        await options.onResult?.(reply.result, index);
      }
    }));
  } finally {
    for (const w of workers) w.terminate();
  }
  return results;
}
