/**
 * The training loop that pre-training (`Trainer`) and fine-tuning (`FineTuner`) share: a step
 * counter, the learning-rate schedule, a caller-supplied step function run once per step, a
 * caller-supplied evaluation every so many steps (and after the last), callbacks after each, and
 * a pause now and then for the event loop.
 *
 * Nothing here knows what is being trained or on what: the caller's step function samples its
 * batch, computes its loss and gradient and updates its parameters; the caller's evaluation
 * measures whatever it measures. The loop only decides when each runs.
 *
 * @module
 */

/** What a step function is told about the step it runs. */
export interface StepContext {
  /** Steps completed before this one (0 for the first). */
  step: number;
  /** The schedule's learning rate for this step. */
  lr: number;
}

/** How a {@link TrainingLoop} runs its steps. */
export interface TrainingLoopOptions<S> {
  /** Steps in the whole run (named in error messages; a run stops here by default). */
  totalSteps: number;
  /** Learning rate of a step, by the number of steps completed before it. */
  schedule: (step: number) => number;
  /** Runs one optimisation step and returns what it measured. */
  step: (context: StepContext) => Promise<S>;
  /** What a step is called in error messages: "training" gives "training step 3 of 10 (lr …): …". */
  label: string;
  /** Which errors of a step get the step's number prefixed to their message (default: none). */
  namesStep?: (err: Error) => boolean;
}

/** When a step ended, as {@link LoopRun.onStep} is told. */
export interface StepTiming {
  /** Steps completed (1 after the first step). */
  step: number;
  /** Seconds the step function took. */
  seconds: number;
  /** Seconds since {@link TrainingLoop.run} started. */
  elapsedSec: number;
}

/** When an evaluation ended, as {@link LoopRun.onEval} is told. */
export interface EvalTiming {
  /** Steps completed when the evaluation ran. */
  step: number;
  /** Seconds since {@link TrainingLoop.run} started. */
  elapsedSec: number;
}

/** One call of {@link TrainingLoop.run}: where to stop, when to evaluate, whom to tell. */
export interface LoopRun<S, E> {
  /** Stop once this many steps are completed. */
  untilStep: number;
  /** Evaluate every this many steps, and after the last step of the run; 0: only after the last. */
  evalInterval: number;
  /** The evaluation; without one, nothing is evaluated. */
  evaluate?: () => E | Promise<E>;
  /** After every step, with what the step function returned; awaited. */
  onStep?: (stats: S, timing: StepTiming) => void | Promise<void>;
  /** After every evaluation, with what the evaluation returned; awaited. */
  onEval?: (result: E, timing: EvalTiming) => void | Promise<void>;
}

/** Let the event loop run at least this often (Jupyter display messages, timers, Ctrl-C). */
const YIELD_EVERY_MS = 200;

/** A step counter with a schedule and a step function; {@link TrainingLoop.run} drives it. */
export class TrainingLoop<S> {
  /** Steps completed (set it to continue a run from a saved state). */
  step = 0;
  /** Steps in the whole run. */
  readonly totalSteps: number;
  readonly #options: TrainingLoopOptions<S>;

  /** Creates the loop at step 0. */
  constructor(options: TrainingLoopOptions<S>) {
    this.#options = options;
    this.totalSteps = options.totalSteps;
  }

  /** The learning rate of the step after `step` completed steps. */
  lrAt(step: number): number {
    return this.#options.schedule(step);
  }

  /**
   * Runs one step at the schedule's learning rate and counts it. An error the step function
   * throws (and `namesStep` accepts) says which step failed: "step 1,234 of 2,000" tells a
   * diverging run from a bad start. The counter does not move when the step fails.
   */
  async advance(): Promise<S> {
    const lr = this.#options.schedule(this.step);
    let stats: S;
    try {
      stats = await this.#options.step({ step: this.step, lr });
    } catch (err) {
      if (err instanceof Error && this.#options.namesStep?.(err)) {
        err.message = `${this.#options.label} step ${
          this.step + 1
        } of ${this.totalSteps} (lr ${lr}): ${err.message}`;
      }
      throw err;
    }
    this.step++;
    return stats;
  }

  /** Steps until `untilStep`, evaluating and calling back as `run` says. */
  async run<E>(run: LoopRun<S, E>): Promise<void> {
    const start = performance.now();
    const sinceStart = () => (performance.now() - start) / 1000;
    let lastYield = performance.now();
    while (this.step < run.untilStep) {
      const t0 = performance.now();
      const stats = await this.advance();
      const seconds = (performance.now() - t0) / 1000;
      await run.onStep?.(stats, { step: this.step, seconds, elapsedSec: sinceStart() });
      const every = run.evalInterval;
      if (run.evaluate && ((every > 0 && this.step % every === 0) || this.step === run.untilStep)) {
        const result = await run.evaluate();
        await run.onEval?.(result, { step: this.step, elapsedSec: sinceStart() });
      }
      if (performance.now() - lastYield > YIELD_EVERY_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    }
  }
}
