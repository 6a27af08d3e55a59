/**
 * Binary heaps used by the byte-level BPE tokenizer (bpe.ts): {@linkcode PairHeap}, the
 * max-heap of (count, pair) that training pops the most frequent pair from, and
 * {@linkcode MinHeap}, the min-heap of (rank, position) candidates that encoding merges from.
 *
 * @module
 */

/** A max-heap of (count, pair key): highest count first, then the smallest key. */
export class PairHeap {
  #counts: number[] = [];
  #keys: number[] = [];

  /** Number of entries. */
  get size(): number {
    return this.#counts.length;
  }

  #above(i: number, j: number): boolean {
    const ci = this.#counts[i], cj = this.#counts[j];
    return ci > cj || (ci === cj && this.#keys[i] < this.#keys[j]);
  }

  #swap(i: number, j: number): void {
    [this.#counts[i], this.#counts[j]] = [this.#counts[j], this.#counts[i]];
    [this.#keys[i], this.#keys[j]] = [this.#keys[j], this.#keys[i]];
  }

  /** Adds an entry. */
  push(count: number, key: number): void {
    this.#counts.push(count);
    this.#keys.push(key);
    let i = this.#counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#above(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  /** Removes and returns the top entry as [count, key]; the heap must not be empty. */
  pop(): [number, number] {
    const top: [number, number] = [this.#counts[0], this.#keys[0]];
    const lastCount = this.#counts.pop()!, lastKey = this.#keys.pop()!;
    const n = this.#counts.length;
    if (n > 0) {
      this.#counts[0] = lastCount;
      this.#keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < n && this.#above(l, m)) m = l;
        if (r < n && this.#above(r, m)) m = r;
        if (m === i) break;
        this.#swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** A min-heap of non-negative numbers. */
export class MinHeap {
  #items: number[] = [];

  /** Number of items. */
  get size(): number {
    return this.#items.length;
  }

  /** Adds an item. */
  push(x: number): void {
    const h = this.#items;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent] <= x) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = x;
  }

  /** Removes and returns the smallest item; the heap must not be empty. */
  pop(): number {
    const h = this.#items;
    const top = h[0];
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const c = l + 1 < n && h[l + 1] < h[l] ? l + 1 : l;
        if (h[c] >= last) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
