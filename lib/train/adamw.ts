/**
 * AdamW (Loshchilov & Hutter): Adam with weight decay applied to the weights directly rather
 * than through the gradient, and gradient clipping by global norm.
 *
 * The update runs as one loop over plain arrays per parameter (a few ms), instead of ~10 tfjs
 * ops per parameter, whose per-op overhead would dominate a small model's step. It never asks
 * which backend it runs on: {@link AdamW.step} reads gradients and weights back with `data()`,
 * which every backend supports. Decay applies to the matrices of the linear layers only: not to
 * biases, LayerNorm gains or the embeddings.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** AdamW hyper-parameters. */
export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay (0.1 in GPT-3). */
  weightDecay: number;
  /** Which parameters are decayed; default {@link decaysByDefault}. */
  decays?: (name: string) => boolean;
}

const DEFAULTS: AdamWOptions = {
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
};

/** Linear-layer matrices decay; biases, LayerNorm parameters and embeddings do not. */
export function decaysByDefault(name: string): boolean {
  return name.endsWith(".weight") && !/(^|\.)ln_\w*\.weight$/.test(name) &&
    !/^(wte|wpe)\.weight$/.test(name);
}

/** Optimizer state, for checkpoints. */
export interface AdamWState {
  /** Number of updates applied so far. */
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/** What one {@link AdamW.step} did. */
export interface StepStats {
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** Factor the gradient was scaled by (1 = not clipped). */
  clipScale: number;
}

/** Every error {@link AdamW.step} and {@link AdamW.stepArrays} throw starts so. */
const STEP_FAULT = "AdamW.step:";

/**
 * Whether an error is one of {@link AdamW.step}'s: a missing gradient, or a non-finite one
 * (nothing was updated). Training loops name the failing step in such errors.
 */
export function isStepFault(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith(STEP_FAULT);
}

/** AdamW over a model's named variables. */
export class AdamW {
  readonly options: AdamWOptions;
  readonly #params: Map<string, tf.Variable>;
  readonly #decays: (name: string) => boolean;
  #state: AdamWState;

  /** Creates zeroed moments for every parameter. */
  constructor(
    params: Map<string, tf.Variable>,
    options: Partial<AdamWOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    const checks: [keyof AdamWOptions, boolean, string][] = [
      ["beta1", this.options.beta1 >= 0 && this.options.beta1 < 1, "in [0, 1)"],
      ["beta2", this.options.beta2 >= 0 && this.options.beta2 < 1, "in [0, 1)"],
      ["eps", Number.isFinite(this.options.eps) && this.options.eps > 0, "a finite number > 0"],
      [
        "weightDecay",
        Number.isFinite(this.options.weightDecay) && this.options.weightDecay >= 0,
        "a finite number ≥ 0",
      ],
    ];
    for (const [key, ok, range] of checks) {
      if (!ok) throw new RangeError(`AdamW: ${key} must be ${range}, got ${this.options[key]}`);
    }
    this.#params = params;
    this.#decays = this.options.decays ?? decaysByDefault;
    const m = new Map<string, Float32Array>(),
      v = new Map<string, Float32Array>();
    for (const [name, p] of params) {
      m.set(name, new Float32Array(p.size));
      v.set(name, new Float32Array(p.size));
    }
    this.#state = { t: 0, m, v };
  }

  /** The moments and step count (live views; copy before mutating). */
  get state(): AdamWState {
    return this.#state;
  }

  /** Replaces the state (e.g. from a checkpoint), checking every array's size. */
  setState(state: AdamWState): void {
    for (const [name, p] of this.#params) {
      for (const key of ["m", "v"] as const) {
        const a = state[key].get(name);
        if (!a || a.length !== p.size) {
          throw new Error(
            `AdamW.setState: ${key} for "${name}" is missing or has the wrong size`,
          );
        }
      }
    }
    this.#state = state;
  }

  /**
   * Applies one update with learning rate `lr` from `grads` (by parameter name), after scaling
   * the gradient so its global norm is at most `clipNorm` (Infinity disables clipping).
   * Does not dispose `grads`.
   */
  async step(grads: Map<string, tf.Tensor>, lr: number, clipNorm = 1.0): Promise<StepStats> {
    const arrays = new Map<string, Float32Array>();
    for (const name of this.#params.keys()) {
      const g = grads.get(name);
      if (!g) throw new Error(`${STEP_FAULT} no gradient for "${name}"`);
      // data(), not dataSync(): the WebGPU backend can only read back asynchronously.
      arrays.set(name, (await g.data()) as Float32Array);
    }
    const weights = new Map<string, Float32Array>();
    for (const [name, p] of this.#params) weights.set(name, (await p.data()) as Float32Array);
    return this.stepArrays(arrays, lr, clipNorm, weights);
  }

  #describeFault(
    arrays: Map<string, Float32Array>,
    gradNorm: number,
    weights?: Map<string, Float32Array>,
  ): string {
    const firstNonFinite = (named: Map<string, Float32Array>) => {
      for (const [name, a] of named) {
        for (let i = 0; i < a.length; i++) {
          if (!Number.isFinite(a[i])) return `"${name}" holds ${a[i]} at index ${i}`;
        }
      }
      return undefined;
    };
    const grad = firstNonFinite(arrays);
    const weight = weights ? firstNonFinite(weights) : firstNonFinite(
      new Map([...this.#params].map(([n, p]) => [n, p.dataSync() as Float32Array])),
    );
    const where = grad ? `the gradient of ${grad}` : `the gradient norm is ${gradNorm} (overflow)`;
    return weight
      ? `${where}; the weights already hold non-finite values (${
        weight.replace(/^"/, 'parameter "')
      }), ` +
        "so they were loaded or set that way: nothing was updated"
      : `${where} while every weight is finite: the forward or backward pass overflowed ` +
        "(a learning rate too high is the usual cause); nothing was updated";
  }

  /** {@link AdamW.step} with gradients given as plain arrays (e.g. averaged across workers). */
  stepArrays(
    arrays: Map<string, Float32Array>,
    lr: number,
    clipNorm = 1.0,
    weights?: Map<string, Float32Array>,
  ): StepStats {
    let sq = 0;
    for (const [name, p] of this.#params) {
      const a = arrays.get(name);
      if (!a || a.length !== p.size) {
        throw new Error(`${STEP_FAULT} gradient for "${name}" is missing or has the wrong size`);
      }
      for (let i = 0; i < a.length; i++) sq += a[i] * a[i];
    }
    const gradNorm = Math.sqrt(sq);
    if (!Number.isFinite(gradNorm)) {
      // Nothing is updated: say where the fault first shows, so that its cause can be told apart
      // (corrupt weights loaded from a file, or a step that overflowed).
      throw new Error(`${STEP_FAULT} ${this.#describeFault(arrays, gradNorm, weights)}`);
    }
    const clipScale = gradNorm > clipNorm ? clipNorm / gradNorm : 1;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const t = ++this.#state.t;
    const c1 = 1 / (1 - beta1 ** t), c2 = 1 / (1 - beta2 ** t);
    for (const [name, p] of this.#params) {
      const g = arrays.get(name)!,
        m = this.#state.m.get(name)!,
        v = this.#state.v.get(name)!;
      const w = weights?.get(name) ?? (p.dataSync() as Float32Array); // copies on every backend
      const decay = this.#decays(name) ? 1 - lr * weightDecay : 1;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] * clipScale;
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        w[i] = w[i] * decay - (lr * (m[i] * c1)) / (Math.sqrt(v[i] * c2) + eps);
      }
      tf.tidy(() => p.assign(tf.tensor(w, p.shape)));
    }
    return { gradNorm, clipScale };
  }
}
