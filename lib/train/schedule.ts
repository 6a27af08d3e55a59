/**
 * Learning-rate schedules.
 *
 * @module
 */

/** Options for {@link warmupCosine}. */
export interface WarmupCosineOptions {
  /** Peak learning rate, reached at the end of warmup. */
  maxLr: number;
  /** Final learning rate, reached at `totalSteps`. */
  minLr: number;
  /** Steps of linear warmup from 0 to `maxLr`. */
  warmupSteps: number;
  /** Steps over which the cosine decays to `minLr`; later steps stay at `minLr`. */
  totalSteps: number;
}

/** Linear warmup to `maxLr`, then cosine decay to `minLr` (GPT-2/3, nanoGPT). */
export function warmupCosine(o: WarmupCosineOptions): (step: number) => number {
  if (!(o.maxLr > 0) || !(o.minLr >= 0) || o.minLr > o.maxLr) {
    throw new Error(
      `warmupCosine: need 0 <= minLr <= maxLr and maxLr > 0, got ${o.minLr}, ${o.maxLr}`,
    );
  }
  if (!(o.warmupSteps >= 0) || !(o.totalSteps > 0)) {
    throw new Error(
      `warmupCosine: bad step counts warmup=${o.warmupSteps} total=${o.totalSteps}`,
    );
  }
  return (step: number) => {
    if (step < o.warmupSteps) return (o.maxLr * (step + 1)) / o.warmupSteps;
    if (step >= o.totalSteps) return o.minLr;
    const progress = (step - o.warmupSteps) /
      Math.max(1, o.totalSteps - o.warmupSteps);
    return o.minLr +
      0.5 * (1 + Math.cos(Math.PI * progress)) * (o.maxLr - o.minLr);
  };
}

/** A constant learning rate. */
export function constantLr(lr: number): (step: number) => number {
  return () => lr;
}

/**
 * GPT-1's schedule: linear warmup from lr/warmupSteps to `lr` over `warmupSteps`, then linear
 * decay to 0 at `totalSteps` (the last step, totalSteps − 1, still gets a small positive rate).
 */
export function linearWarmupDecay(
  lr: number,
  warmupSteps: number,
  totalSteps: number,
): (step: number) => number {
  if (!(lr > 0) || !(warmupSteps >= 0) || !(totalSteps > 0)) {
    throw new Error(`linearWarmupDecay: bad arguments ${lr}, ${warmupSteps}, ${totalSteps}`);
  }
  return (step: number) => {
    if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    if (step >= totalSteps) return 0;
    return (lr * (totalSteps - step)) / Math.max(1, totalSteps - warmupSteps);
  };
}
