/**
 * A small least-recently-used map, for the derived data the model rebuilds at every step
 * otherwise (attention masks, block-sparse plans): a model uses a few patterns at one or two
 * lengths, so a handful of entries covers a training run.
 *
 * @module
 */

/** A map that keeps its `capacity` most recently used entries and drops the oldest. */
export class LruCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #capacity: number;
  readonly #onEvict?: (value: V) => void;

  /**
   * @param capacity How many entries to keep (≥ 1).
   * @param onEvict Called with each dropped value (e.g. to dispose a kept tensor).
   */
  constructor(capacity: number, onEvict?: (value: V) => void) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`LruCache: capacity must be an integer >= 1, got ${capacity}`);
    }
    this.#capacity = capacity;
    this.#onEvict = onEvict;
  }

  /** The value for `key`, made with `make` on a miss; either way it becomes the most recent. */
  getOrCreate(key: K, make: () => V): V {
    let value: V;
    if (this.#entries.has(key)) {
      value = this.#entries.get(key)!;
      this.#entries.delete(key); // re-inserted below as the most recent
    } else {
      value = make();
    }
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value as K;
      const dropped = this.#entries.get(oldest)!;
      this.#entries.delete(oldest);
      this.#onEvict?.(dropped);
    }
    return value;
  }

  /** Number of entries held. */
  get size(): number {
    return this.#entries.size;
  }
}
