/**
 * A Web Worker that runs fine-tuning jobs for {@link ./jobs.ts}: it is sent the pre-trained
 * base once, then one job at a time, and replies with each job's result.
 *
 * @module
 */
import { type BackendName, initBackend } from "../backend.ts";
import type { FineTuneEvalInfo } from "./trainer.ts";
import {
  type FineTuneJob,
  type FineTuneJobResult,
  type PretrainedBase,
  runFineTuneJob,
} from "./jobs.ts";

/** Messages the worker accepts. */
export type JobRequest =
  | { kind: "init"; base: PretrainedBase; backend: BackendName }
  | { kind: "run"; job: FineTuneJob };

/** Messages the worker sends back. */
export type JobReply =
  | { kind: "ready" }
  | { kind: "eval"; info: FineTuneEvalInfo }
  | { kind: "result"; result: FineTuneJobResult }
  | { kind: "error"; message: string };

let base: PretrainedBase | undefined;

const post = (reply: JobReply) => (self as unknown as Worker).postMessage(reply);

(self as unknown as Worker).onmessage = async (event: MessageEvent<JobRequest>) => {
  const msg = event.data;
  try {
    if (msg.kind === "init") {
      await initBackend({ backend: msg.backend });
      base = msg.base;
      post({ kind: "ready" });
      return;
    }
    if (!base) throw new Error("fine-tune worker: not initialised");
    const result = await runFineTuneJob(base, msg.job, {
      onEval: (info) => post({ kind: "eval", info }),
    });
    post({ kind: "result", result });
  } catch (err) {
    post({ kind: "error", message: (err as Error).stack ?? String(err) });
  }
};
