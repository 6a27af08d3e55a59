/**
 * A Web Worker that runs fine-tuning jobs for {@link ./jobs.ts}: it is sent the pre-trained
 * base once, then one job at a time, and replies with each job's result. The messages are those
 * of {@link ./protocol.ts}.
 *
 * @module
 */
import { initBackend } from "../backend.ts";
import { runFineTuneJob } from "./jobs.ts";
import type { JobReply, JobRequest, PretrainedBase } from "./protocol.ts";

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
