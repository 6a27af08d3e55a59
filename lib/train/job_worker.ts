/**
 * A Web Worker that runs pre-training jobs for {@link ./jobs.ts}: initialised with a backend,
 * then sent one job at a time; it streams step and probe reports and replies with the result.
 * The messages are those of {@link ./protocol.ts}.
 *
 * @module
 */
import { initBackend } from "../backend.ts";
import { runTrainingJob } from "./jobs.ts";
import type { JobReply, JobRequest } from "./protocol.ts";

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
