/**
 * Seeded pseudo-random numbers. Everything random in the course (weight init, batch sampling,
 * dropout seeds, sampling during generation) flows from these, so a run is repeatable from its
 * seed on every backend.
 *
 * @module
 */

/** A seeded generator of uniform floats in [0, 1), normals and integers. */
export class Rng {
  #state: number;
  #spareNormal: number | undefined;

  /** Creates a generator; equal seeds give equal streams. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    }
    // Spread small seeds (0, 1, 2, ...) over the state space.
    this.#state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  }

  /** A uniform float in [0, 1) (mulberry32). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A standard normal sample (Box–Muller, caching the second value). */
  normal(): number {
    if (this.#spareNormal !== undefined) {
      const z = this.#spareNormal;
      this.#spareNormal = undefined;
      return z;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A Float32Array of `n` normal samples with the given standard deviation. */
  normalArray(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /** Shuffles an array in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** The internal state, to save and later {@link Rng.restore} a stream exactly. */
  get state(): number {
    return this.#state;
  }

  /** Continues from a state returned by {@link Rng.state}. */
  restore(state: number): void {
    this.#state = state >>> 0;
    this.#spareNormal = undefined;
  }

  /** A new generator whose stream is independent of this one's future draws. */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 2 ** 32));
  }
}
