/**
 * Watching fine-tuning jobs in a notebook: {@link runJobsWithPlot} runs jobs on the worker pool
 * of `jobs.ts`, draws every job's validation accuracy live, and prints one line per finished
 * job with its test accuracy and time.
 *
 * @module
 */
import { LivePlot } from "../display/live.ts";
import { flush } from "../display/mod.ts";
import { runFineTuneJobs } from "./jobs.ts";
import type { FineTuneJob, FineTuneJobResult, PretrainedBase } from "./protocol.ts";

/** Options of {@link runJobsWithPlot}. */
export interface JobsPlotOptions {
  /** Plot title. */
  title: string;
  /** Parallel workers (default: one per core). */
  workers?: number;
  /**
   * Which jobs get a live line (default: all). With several seeds per setting, drawing one
   * seed keeps the plot readable; every job still prints its result line.
   */
  plotted?: (job: FineTuneJob, index: number) => boolean;
}

/** Runs `jobs` in parallel workers with a live validation-accuracy plot; results in job order. */
export async function runJobsWithPlot(
  base: PretrainedBase,
  jobs: FineTuneJob[],
  options: JobsPlotOptions,
): Promise<FineTuneJobResult[]> {
  const plot = new LivePlot({
    title: options.title,
    xLabel: "step",
    yLabel: "validation accuracy",
    intervalMs: 5000,
  });
  const started = performance.now();
  const results = await runFineTuneJobs(base, jobs, {
    workers: options.workers,
    onEval: (e, i) => {
      if (options.plotted?.(jobs[i], i) ?? true) plot.push(jobs[i].name, e.step, e.accuracy);
    },
    onResult: (r) => {
      const test = r.test ? `test accuracy ${(100 * r.test.accuracy).toFixed(1)}%` : "done";
      const total = ((performance.now() - started) / 60000).toFixed(1);
      console.log(`${r.name}: ${test} (${r.seconds.toFixed(0)} s; ${total} min so far)`);
    },
  });
  await plot.finish();
  await flush();
  return results;
}
