/**
 * Sparse attention patterns as data: which keys j a query i may attend to.
 *
 * Every pattern here is causal (never j > i) and always lets a query see itself (j = i), so no
 * softmax row is ever empty. A pattern is described three ways, from the most to the least
 * detailed, and the tests check that they agree:
 *
 * - {@link allowed}: the definition, a predicate on one (query i, key j) pair;
 * - {@link keyRuns}: the keys of query i as sorted runs [start, end) of consecutive positions,
 *   which is what kernels iterate over (a band is one run, a stride many runs of one key);
 * - {@link blockLayout}: the (query-block, key-block) tiles that contain at least one allowed
 *   pair, which is what a block-sparse kernel schedules.
 *
 * The patterns are Child et al. 2019 (Sparse Transformers: strided, fixed), Li et al. 2019
 * (LogSparse), the local band of Beltagy et al. / GPT-3, and dense causal attention.
 * {@link layerPatterns} builds GPT-3's per-layer alternation of dense and sparse layers.
 *
 * @module
 */

/** Dense causal attention: j ≤ i. */
export interface DensePattern {
  kind: "dense";
}

/** A local band: the last `window` positions, j ∈ (i − window, i]. */
export interface BandPattern {
  kind: "band";
  /** Keys per query (≥ 1), the query itself included. */
  window: number;
}

/**
 * Child et al.'s strided pattern: the previous `stride` positions, j ∈ (i − l, i], plus every
 * position a multiple of `stride` back, (i − j) mod l = 0. With l ≈ √n a query sees ~2√n keys and
 * any key reaches any later query in two layers.
 */
export interface StridedPattern {
  kind: "strided";
  /** The stride l (≥ 1). */
  stride: number;
}

/**
 * Child et al.'s fixed pattern: positions are cut into blocks of `block`; a query sees its own
 * block up to itself, plus the last `summary` positions of every earlier block (the "summary"
 * positions that carry a block's information forward).
 */
export interface FixedPattern {
  kind: "fixed";
  /** Block length l (≥ 1). */
  block: number;
  /** Summary positions c per block, 1 ≤ c ≤ l. */
  summary: number;
}

/**
 * LogSparse (Li et al. 2019): the query itself and the keys 1, 2, 4, 8, … positions back, so a
 * query sees ⌊log2 i⌋ + 2 keys and the whole model O(n log n) pairs.
 */
export interface LogSparsePattern {
  kind: "logsparse";
}

/** An attention pattern: a discriminated union on `kind`, with its parameters. */
export type SparsePattern =
  | DensePattern
  | BandPattern
  | StridedPattern
  | FixedPattern
  | LogSparsePattern;

/** The pattern kinds, in the order the course introduces them. */
export const PATTERN_KINDS: readonly SparsePattern["kind"][] = [
  "dense",
  "band",
  "strided",
  "fixed",
  "logsparse",
];

/** A short human-readable name, e.g. "strided(l=64)", for plots and benchmark tables. */
export function patternName(p: SparsePattern): string {
  switch (p.kind) {
    case "dense":
      return "dense";
    case "band":
      return `band(w=${p.window})`;
    case "strided":
      return `strided(l=${p.stride})`;
    case "fixed":
      return `fixed(l=${p.block},c=${p.summary})`;
    case "logsparse":
      return "logsparse";
  }
}

function checkInt(where: string, name: string, value: unknown, min: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new Error(`${where}: ${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
}

/**
 * Throws a clear error naming the bad parameter when `p` is not a valid pattern for sequences
 * of length `n` (e.g. "band pattern: window must be an integer ≥ 1, got 0"). Parameters larger
 * than n are allowed: a band wider than the sequence is simply dense.
 */
export function validatePattern(p: SparsePattern, n: number): void {
  checkInt("validatePattern", "sequence length n", n, 0);
  if (p === null || typeof p !== "object") {
    throw new Error(`validatePattern: a pattern must be an object, got ${String(p)}`);
  }
  const where = `${String((p as { kind?: unknown }).kind)} pattern`;
  switch (p.kind) {
    case "dense":
    case "logsparse":
      return;
    case "band":
      return checkInt(where, "window", p.window, 1);
    case "strided":
      return checkInt(where, "stride", p.stride, 1);
    case "fixed":
      checkInt(where, "block", p.block, 1);
      checkInt(where, "summary", p.summary, 1);
      if (p.summary > p.block) {
        throw new Error(
          `${where}: summary (c = ${p.summary}) must not exceed block (l = ${p.block})`,
        );
      }
      return;
    default:
      throw new Error(
        `validatePattern: unknown kind "${(p as { kind?: unknown }).kind}"; ` +
          `expected one of ${PATTERN_KINDS.join(", ")}`,
      );
  }
}

/** True when a power of two (1, 2, 4, …). */
function isPowerOfTwo(x: number): boolean {
  return x > 0 && (x & (x - 1)) === 0;
}

/** Whether query i may attend to key j under pattern p: the pattern's definition. */
export function allowed(p: SparsePattern, i: number, j: number): boolean {
  if (j > i || j < 0) return false; // causal, always
  const back = i - j;
  switch (p.kind) {
    case "dense":
      return true;
    case "band":
      return back < p.window;
    case "strided":
      return back < p.stride || back % p.stride === 0;
    case "fixed":
      return Math.floor(i / p.block) === Math.floor(j / p.block) ||
        j % p.block >= p.block - p.summary;
    case "logsparse":
      return back === 0 || isPowerOfTwo(back);
  }
}

/**
 * The keys of query i as sorted, disjoint runs of consecutive positions: a flat array
 * [start0, end0, start1, end1, …] with each run [start, end) and adjacent runs merged. This is
 * the same set as {@link allowed} (tested), computed in time proportional to the number of runs,
 * which is how kernels and counts avoid an O(n) scan per query.
 */
export function keyRuns(p: SparsePattern, i: number): number[] {
  const runs: number[] = [];
  // Appends [s, e), merging with the previous run when they touch; runs arrive in order.
  const push = (s: number, e: number) => {
    if (e <= s) return;
    const last = runs.length - 1;
    if (last > 0 && runs[last] === s) runs[last] = e;
    else runs.push(s, e);
  };
  switch (p.kind) {
    case "dense":
      push(0, i + 1);
      break;
    case "band":
      push(Math.max(0, i - p.window + 1), i + 1);
      break;
    case "strided": {
      const l = p.stride, local = Math.max(0, i - l + 1);
      // The stride keys below the local window, ascending: i mod l, i mod l + l, …, ≤ i − l.
      for (let j = i % l; j < local; j += l) push(j, j + 1);
      push(local, i + 1);
      break;
    }
    case "fixed": {
      const l = p.block, own = Math.floor(i / l) * l;
      for (let start = 0; start < own; start += l) push(start + l - p.summary, start + l);
      push(own, i + 1);
      break;
    }
    case "logsparse": {
      let step = 1;
      while (step * 2 <= i) step *= 2;
      for (; step >= 1; step /= 2) if (step <= i) push(i - step, i - step + 1);
      push(i, i + 1);
      break;
    }
  }
  return runs;
}

/** The n×n mask as rows of 0/1 (row = query i, column = key j), for drawing and tests. */
export function maskMatrix(p: SparsePattern, n: number): number[][] {
  validatePattern(p, n);
  return Array.from(
    { length: n },
    (_, i) => Array.from({ length: n }, (_, j) => (allowed(p, i, j) ? 1 : 0)),
  );
}

/** How many (i, j) pairs the pattern attends to over a sequence of n: the attention's cost. */
export function attendedPairs(p: SparsePattern, n: number): number {
  validatePattern(p, n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const runs = keyRuns(p, i);
    for (let r = 0; r < runs.length; r += 2) total += runs[r + 1] - runs[r];
  }
  return total;
}

/**
 * How many attention layers information needs, at worst, to flow from a key j to a later query
 * i (max over all j ≤ i of the shortest path), when layer k uses `patterns` (one pattern for
 * every layer, or a list cycled over the layers, as {@link layerPatterns} makes). 0 for n ≤ 1;
 * Infinity when some j never reaches some i (e.g. a band of window 1).
 *
 * Computed as a breadth-first search from every source at once on bitsets: after s layers,
 * reach[i] is the set of positions whose information has arrived at i, and a layer replaces it
 * by the union of reach[j] over the keys j of i. Cost per layer ~ pairs · n/32 word operations:
 * fine for n ≤ 512 (dense n = 512 is ~2M per layer), slow beyond a few thousand.
 */
export function reachability(
  patterns: SparsePattern | readonly SparsePattern[],
  n: number,
): number {
  const list = Array.isArray(patterns) ? patterns : [patterns as SparsePattern];
  if (list.length === 0) throw new Error("reachability: the list of layer patterns is empty");
  list.forEach((p) => validatePattern(p, n));
  if (n <= 1) return 0;
  const words = Math.ceil(n / 32);
  let reach = new Uint32Array(n * words);
  for (let i = 0; i < n; i++) reach[i * words + (i >>> 5)] |= 1 << (i & 31);
  // Row i is complete when it holds every j ≤ i.
  const complete = (bits: Uint32Array, i: number) => {
    const row = i * words, full = i >>> 5;
    for (let w = 0; w < full; w++) if (bits[row + w] !== 0xffffffff) return false;
    return bits[row + full] === 0xffffffff >>> (31 - (i & 31)); // bits 0 ..= i mod 32
  };
  const runsOf = list.map((p) => Array.from({ length: n }, (_, i) => keyRuns(p, i)));
  let unchanged = 0;
  for (let layer = 1;; layer++) {
    const runs = runsOf[(layer - 1) % list.length];
    const next = new Uint32Array(n * words);
    let changed = false, done = true;
    for (let i = 0; i < n; i++) {
      const row = i * words, used = (i >>> 5) + 1; // words past i's own stay zero (causal)
      const r = runs[i];
      for (let k = 0; k < r.length; k += 2) {
        for (let j = r[k]; j < r[k + 1]; j++) {
          const src = j * words, top = (j >>> 5) + 1; // j ≤ i, so top ≤ used
          for (let w = 0; w < top; w++) next[row + w] |= reach[src + w];
        }
      }
      for (let w = 0; w < used && !changed; w++) changed = next[row + w] !== reach[row + w];
      if (done && !complete(next, i)) done = false;
    }
    reach = next;
    if (done) return layer;
    // A full cycle of layers with no change means some pairs are never connected.
    unchanged = changed ? 0 : unchanged + 1;
    if (unchanged >= list.length) return Infinity;
  }
}

/** Tile side of the block-sparse kernels when none is given: 64 positions (also the GPU
 * kernels' workgroup of rows). */
export const DEFAULT_BLOCK_SIZE = 64;

/** The (query-block, key-block) tiles of a pattern that hold at least one allowed pair. */
export interface BlockLayout {
  /** Sequence length n. */
  n: number;
  /** Tile side (positions per block). */
  blockSize: number;
  /** ⌈n / blockSize⌉; the last block is shorter when blockSize does not divide n. */
  nBlocks: number;
  /** CSR by query block: the tiles of query block qb are cols[rowPtr[qb] .. rowPtr[qb + 1]). */
  rowPtr: Int32Array;
  /** Key block of every non-empty tile, ascending within each query block. */
  cols: Int32Array;
  /** Number of non-empty tiles (cols.length); dense causal has nBlocks·(nBlocks + 1)/2. */
  tiles: number;
}

/**
 * The block-level description of pattern p over n positions: every (query block, key block)
 * tile that contains at least one allowed (i, j), in CSR form. Built from {@link keyRuns}, so
 * it costs O(runs + blocks touched), not O(n²).
 */
export function blockLayout(p: SparsePattern, n: number, blockSize: number): BlockLayout {
  validatePattern(p, n);
  checkInt("blockLayout", "blockSize", blockSize, 1);
  const nBlocks = Math.ceil(n / blockSize);
  const rowPtr = new Int32Array(nBlocks + 1);
  const cols: number[] = [];
  const seen = new Int32Array(nBlocks).fill(-1); // seen[kb] = last query block that marked kb
  for (let qb = 0; qb < nBlocks; qb++) {
    const marked: number[] = [];
    const end = Math.min(n, (qb + 1) * blockSize);
    for (let i = qb * blockSize; i < end; i++) {
      const runs = keyRuns(p, i);
      for (let r = 0; r < runs.length; r += 2) {
        const last = Math.floor((runs[r + 1] - 1) / blockSize);
        for (let kb = Math.floor(runs[r] / blockSize); kb <= last; kb++) {
          if (seen[kb] !== qb) {
            seen[kb] = qb;
            marked.push(kb);
          }
        }
      }
    }
    marked.sort((a, b) => a - b);
    cols.push(...marked);
    rowPtr[qb + 1] = cols.length;
  }
  return { n, blockSize, nBlocks, rowPtr, cols: Int32Array.from(cols), tiles: cols.length };
}

/** The tile mask of {@link blockLayout} as rows of 0/1 (nBlocks × nBlocks), for drawing. */
export function blockMask(layout: BlockLayout): number[][] {
  const m = Array.from({ length: layout.nBlocks }, () => new Array(layout.nBlocks).fill(0));
  for (let qb = 0; qb < layout.nBlocks; qb++) {
    for (let e = layout.rowPtr[qb]; e < layout.rowPtr[qb + 1]; e++) m[qb][layout.cols[e]] = 1;
  }
  return m;
}

/** How the layers of a model choose their attention pattern (see {@link layerPatterns}). */
export type LayerSchedule = "dense" | "sparse" | "alternating";

/**
 * One pattern per layer. "dense": every layer dense; "sparse": every layer uses `sparse`;
 * "alternating": GPT-3's scheme ("alternating dense and locally banded sparse attention
 * patterns in the layers"): even layers (0, 2, …) dense, odd layers `sparse`, by default a
 * local band of 256 as an illustration (GPT-3 does not publish its band width).
 */
export function layerPatterns(
  schedule: LayerSchedule,
  nLayer: number,
  sparse: SparsePattern = { kind: "band", window: 256 },
): SparsePattern[] {
  checkInt("layerPatterns", "nLayer", nLayer, 0);
  validatePattern(sparse, 0);
  const dense: SparsePattern = { kind: "dense" };
  switch (schedule) {
    case "dense":
      return Array.from({ length: nLayer }, () => dense);
    case "sparse":
      return Array.from({ length: nLayer }, () => sparse);
    case "alternating":
      return Array.from({ length: nLayer }, (_, k) => (k % 2 === 0 ? dense : sparse));
    default:
      throw new Error(
        `layerPatterns: unknown schedule "${schedule}"; expected dense, sparse or alternating`,
      );
  }
}
