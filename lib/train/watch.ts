/**
 * Watching a training run in a notebook: a live loss plot (train loss every step, train/val
 * evaluations as they happen) and a progress line with throughput and ETA.
 *
 * @module
 */
import { LivePlot } from "../display/live.ts";
import { Progress } from "../display/progress.ts";
import type { JupyterBackend } from "../display/jupyter.ts";
import type { EvalInfo, StepInfo, TrainCallbacks } from "./trainer.ts";

/** Options for {@link watchTraining}. */
export interface WatchOptions {
  /** Plot title. */
  title: string;
  /** Steps in the run (for the progress line's ETA). */
  totalSteps: number;
  /** Also plot the evaluated train loss (default true). */
  showTrainEval?: boolean;
  /** Output backend for the plot and the progress line (default: the Deno kernel). */
  backend?: JupyterBackend;
}

/** Trainer callbacks that drive a live plot and a progress line; `finish()` renders the end. */
export function watchTraining(
  options: WatchOptions,
): TrainCallbacks & { finish(): Promise<void> } {
  const plot = new LivePlot({
    title: options.title,
    xLabel: "step",
    yLabel: "loss (nats/token)",
    // The evaluated train loss is drawn dashed on top of the validation loss: on
    // the book the two nearly coincide, and a solid line would hide one of them.
    dashed: ["train (eval)"],
    backend: options.backend,
  });
  const progress = new Progress({
    total: options.totalSteps,
    label: "train",
    backend: options.backend,
  });
  let lastVal = NaN;
  let last: StepInfo | undefined;
  return {
    onStep(s: StepInfo) {
      last = s;
      plot.push("train (batch)", s.step, s.loss);
      progress.tick(s.step, {
        loss: s.loss,
        // No validation figure before the first evaluation (not "val NaN").
        ...(Number.isNaN(lastVal) ? {} : { val: lastVal }),
        "tok/s": s.tokensPerSec,
      });
    },
    onEval(e: EvalInfo) {
      lastVal = e.valLoss;
      plot.push("val", e.step, e.valLoss);
      if (options.showTrainEval ?? true) {
        plot.push("train (eval)", e.step, e.trainLoss);
      }
    },
    async finish() {
      await plot.finish();
      // The final line shows the last evaluation (the one at the last step) and the run's
      // throughput, tokens over training seconds: the figures a summary of the run quotes.
      await progress.finish(
        last
          ? {
            loss: last.loss,
            ...(Number.isNaN(lastVal) ? {} : { val: lastVal }),
            "tok/s": last.tokens / Math.max(last.trainSeconds, 1e-9),
          }
          : undefined,
      );
    },
  };
}
