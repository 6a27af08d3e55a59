/**
 * A Web Worker that runs pre-training jobs for {@link ./jobs.ts}: initialised with a backend,
 * then sent one job at a time; it streams step and probe reports and replies with the result.
 *
 * @module
 */
import { type BackendName, initBackend } from "../backend.ts";
import type { StepInfo } from "./trainer.ts";
import {
  type ProbeRecord,
  runTrainingJob,
  type TrainingJob,
  type TrainingJobResult,
} from "./jobs.ts";

/** Messages the worker accepts. */
export type JobRequest =
  | { kind: "init"; backend: BackendName }
  | { kind: "run"; job: TrainingJob };

/** Messages the worker sends back. */
export type JobReply =
  | { kind: "ready" }
  | { kind: "step"; info: StepInfo }
  | { kind: "probe"; record: ProbeRecord }
  | { kind: "result"; result: TrainingJobResult }
  | { kind: "error"; message: string };

const post = (reply: JobReply, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(reply, transfer);

(self as unknown as Worker).onmessage = async (event: MessageEvent<JobRequest>) => {
  const msg = event.data;
  try {
    if (msg.kind === "init") {
      await initBackend({ backend: msg.backend });
      post({ kind: "ready" });
      return;
    }
    const result = await runTrainingJob(msg.job, {
      onStep: (info) => post({ kind: "step", info }),
      onProbe: (record) => post({ kind: "probe", record }),
    });
    post({ kind: "result", result }, [result.checkpoint.buffer as ArrayBuffer]);
  } catch (err) {
    post({ kind: "error", message: (err as Error).stack ?? String(err) });
  }
};
