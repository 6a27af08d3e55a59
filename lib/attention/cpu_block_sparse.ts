/**
 * Block-sparse causal self-attention on the CPU, in plain TypeScript on Float32Arrays: the same
 * qkv [B·T, 3C] → y [B·T, C] interface as `fusedCausalSelfAttention`
 * (cpu_dense.ts), but only the non-empty (query-block, key-block) tiles of a
 * {@link SparsePattern} are visited.
 *
 * How it works:
 *
 * - A {@link BlockSparsePlan} is built once per (pattern, T, block size) and cached: the tile
 *   list of {@link blockLayout} (CSR by query block) and, for every tile and every query row in
 *   it, the row's allowed keys inside that tile as runs [start, end) of consecutive positions.
 *   The runs are the pattern's exact element mask, so the result equals masked dense attention;
 *   iterating them, rather than scoring the whole tile and adding −∞, skips the masked work (a
 *   strided tile holds one key per row; a band or dense tile is one run per row, i.e. the whole
 *   tile as on a GPU).
 * - Forward, per (batch, head, query block): the block's rows keep a running max, sum and output
 *   (flash-attention's online softmax), updated once per tile: all scores of the row in the tile
 *   first, then one rescale, then the weighted sum of values. The key block of a tile stays in
 *   cache while all rows of the query block use it. Each row's log-sum-exp is saved.
 * - Backward recomputes p_ij = exp(q_i·k_j/√D − lse_i) per allowed pair and accumulates
 *   dq_i, dk_j, dv_j in float64 (single-threaded, so no races), with Δ_i = dy_i·y_i.
 * - Heads are read in place from qkv (row stride 3C) like the fused kernel: no transposes.
 * - T not divisible by the block size: the last block is simply shorter. Loops are clipped at T,
 *   which is padding with masked positions without materialising it; nothing is refused.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "../kernels/custom_op.ts";
import { LruCache } from "../cache.ts";
import {
  type BlockLayout,
  blockLayout,
  DEFAULT_BLOCK_SIZE,
  keyRuns,
  patternName,
  type SparsePattern,
  validatePattern,
} from "./patterns.ts";

/** Everything the kernels need to know about a pattern at one sequence length and block size. */
export interface BlockSparsePlan {
  pattern: SparsePattern;
  /** Sequence length T. */
  time: number;
  blockSize: number;
  /** The non-empty tiles (CSR by query block). */
  layout: BlockLayout;
  /**
   * Element mask: the runs of tile e (CSR index) and row r of its query block are
   * k = runPtr[e·blockSize + r] .. runPtr[e·blockSize + r + 1] (exclusive).
   */
  runPtr: Int32Array;
  /** Run k covers keys runs[2k] .. runs[2k + 1] (exclusive), absolute positions. */
  runs: Int32Array;
  /** Attended (i, j) pairs per head: the pattern's cost. */
  pairs: number;
  /** Bytes of the plan's own arrays (tile list and runs). */
  bytes: number;
}

/** An Int32Array that doubles when full. */
class IntBuilder {
  data = new Int32Array(1024);
  length = 0;
  push(a: number, b: number): void {
    if (this.length + 2 > this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = a;
    this.data[this.length++] = b;
  }
  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/**
 * Builds the plan of pattern p for sequences of length `time` and tiles of `blockSize`. Cost
 * O(runs + tiles·blockSize); the op caches plans, so this runs once per shape.
 */
export function blockSparsePlan(
  pattern: SparsePattern,
  time: number,
  blockSize: number = DEFAULT_BLOCK_SIZE,
): BlockSparsePlan {
  validatePattern(pattern, time);
  const layout = blockLayout(pattern, time, blockSize); // also checks blockSize
  const bs = blockSize;
  const runPtr = new Int32Array(layout.tiles * bs + 1);
  const runs = new IntBuilder();
  let pairs = 0;
  for (let qb = 0; qb < layout.nBlocks; qb++) {
    const i0 = qb * bs, rows = Math.min(bs, time - i0);
    const rowRuns = Array.from({ length: rows }, (_, r) => keyRuns(pattern, i0 + r));
    const cursor = new Int32Array(rows); // per row: first run that may still reach this tile
    for (let e = layout.rowPtr[qb]; e < layout.rowPtr[qb + 1]; e++) {
      const lo = layout.cols[e] * bs, hi = lo + bs;
      for (let r = 0; r < bs; r++) {
        runPtr[e * bs + r] = runs.length / 2;
        if (r >= rows) continue; // past T in the last block: no keys
        const rr = rowRuns[r];
        let k = cursor[r];
        while (k < rr.length && rr[k + 1] <= lo) k += 2;
        cursor[r] = k;
        for (; k < rr.length && rr[k] < hi; k += 2) {
          const s = Math.max(rr[k], lo), end = Math.min(rr[k + 1], hi);
          runs.push(s, end);
          pairs += end - s;
        }
      }
    }
  }
  runPtr[layout.tiles * bs] = runs.length / 2;
  const runArray = runs.toArray();
  return {
    pattern,
    time,
    blockSize,
    layout,
    runPtr,
    runs: runArray,
    pairs,
    bytes: layout.rowPtr.byteLength + layout.cols.byteLength + runPtr.byteLength +
      runArray.byteLength,
  };
}

function checkShapes(
  where: string,
  qkv: Float32Array,
  plan: BlockSparsePlan,
  b: number,
  h: number,
  d: number,
): void {
  const expected = b * plan.time * 3 * h * d;
  if (qkv.length !== expected) {
    throw new Error(
      `${where}: qkv has ${qkv.length} values, expected B·T·3·H·D = ${expected} ` +
        `(B=${b}, T=${plan.time}, H=${h}, D=${d})`,
    );
  }
}

/**
 * Forward on raw arrays: qkv [B, T, 3C] (C = H·D) → y [B, T, C] and the log-sum-exp of every
 * row, lse [B, H, T], which the backward needs.
 */
export function blockSparseForward(
  qkv: Float32Array,
  plan: BlockSparsePlan,
  b: number,
  h: number,
  d: number,
): { y: Float32Array; lse: Float32Array } {
  checkShapes("blockSparseForward", qkv, plan, b, h, d);
  const t = plan.time, bs = plan.blockSize, c = h * d, stride = 3 * c;
  const scale = 1 / Math.sqrt(d);
  const { rowPtr, nBlocks } = plan.layout;
  const { runPtr, runs } = plan;
  const y = new Float32Array(b * t * c), lse = new Float32Array(b * h * t);
  // Per-row state of one query block, in float64: output accumulator, running max and sum.
  const acc = new Float64Array(bs * d), m = new Float64Array(bs), l = new Float64Array(bs);
  const s = new Float64Array(bs); // one row's scores within one tile (≤ bs keys)
  const qr = new Float64Array(d); // the query row, times 1/√D
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      const qOff = bi * t * stride + hi * d, kOff = qOff + c, vOff = qOff + 2 * c;
      for (let qb = 0; qb < nBlocks; qb++) {
        const i0 = qb * bs, rows = Math.min(bs, t - i0);
        acc.fill(0, 0, rows * d);
        m.fill(-Infinity, 0, rows);
        l.fill(0, 0, rows);
        for (let e = rowPtr[qb]; e < rowPtr[qb + 1]; e++) {
          const rp = e * bs;
          for (let r = 0; r < rows; r++) {
            const k0 = runPtr[rp + r], k1 = runPtr[rp + r + 1];
            if (k0 === k1) continue;
            const qo = qOff + (i0 + r) * stride;
            for (let x = 0; x < d; x++) qr[x] = qkv[qo + x] * scale;
            // Scores of this row's keys in the tile, and their max.
            let mx = m[r], n = 0;
            for (let k = k0; k < k1; k++) {
              for (let j = runs[2 * k], end = runs[2 * k + 1]; j < end; j++) {
                const ko = kOff + j * stride;
                let sc = 0;
                for (let x = 0; x < d; x++) sc += qr[x] * qkv[ko + x];
                s[n++] = sc;
                if (sc > mx) mx = sc;
              }
            }
            const ao = r * d;
            if (mx > m[r]) {
              // A new running max: rescale what was summed so far (exp(−∞) = 0 the first time).
              const alpha = Math.exp(m[r] - mx);
              l[r] *= alpha;
              for (let x = 0; x < d; x++) acc[ao + x] *= alpha;
              m[r] = mx;
            }
            let sum = l[r];
            n = 0;
            for (let k = k0; k < k1; k++) {
              for (let j = runs[2 * k], end = runs[2 * k + 1]; j < end; j++) {
                const p = Math.exp(s[n++] - mx);
                sum += p;
                const vo = vOff + j * stride;
                for (let x = 0; x < d; x++) acc[ao + x] += p * qkv[vo + x];
              }
            }
            l[r] = sum;
          }
        }
        for (let r = 0; r < rows; r++) {
          const yo = (bi * t + i0 + r) * c + hi * d, inv = 1 / l[r];
          for (let x = 0; x < d; x++) y[yo + x] = acc[r * d + x] * inv;
          lse[(bi * h + hi) * t + i0 + r] = m[r] + Math.log(l[r]);
        }
      }
    }
  }
  return { y, lse };
}

/**
 * Backward on raw arrays: dqkv [B, T, 3C] from dy [B, T, C] and the forward's y and lse.
 * Probabilities are recomputed as exp(q_i·k_j/√D − lse_i), only for the pattern's pairs.
 */
export function blockSparseBackward(
  qkv: Float32Array,
  y: Float32Array,
  dy: Float32Array,
  lse: Float32Array,
  plan: BlockSparsePlan,
  b: number,
  h: number,
  d: number,
): Float32Array {
  checkShapes("blockSparseBackward", qkv, plan, b, h, d);
  const t = plan.time, bs = plan.blockSize, c = h * d, stride = 3 * c;
  if (y.length !== b * t * c || dy.length !== y.length || lse.length !== b * h * t) {
    throw new Error(
      `blockSparseBackward: y (${y.length}), dy (${dy.length}) or lse (${lse.length}) ` +
        `do not fit B=${b} T=${t} H=${h} D=${d}`,
    );
  }
  const scale = 1 / Math.sqrt(d);
  const { rowPtr, nBlocks } = plan.layout;
  const { runPtr, runs } = plan;
  const dqkv = new Float32Array(qkv.length);
  // One head's gradients in float64, rows of D; written into dqkv's columns at the end.
  const dq = new Float64Array(t * d), dk = new Float64Array(t * d), dv = new Float64Array(t * d);
  const delta = new Float64Array(t);
  const qr = new Float64Array(d), gr = new Float64Array(d), dqr = new Float64Array(d);
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      const qOff = bi * t * stride + hi * d, kOff = qOff + c, vOff = qOff + 2 * c;
      const yOff = bi * t * c + hi * d, lOff = (bi * h + hi) * t;
      dq.fill(0);
      dk.fill(0);
      dv.fill(0);
      for (let i = 0; i < t; i++) {
        // Δ_i = Σ_j p_ij dp_ij = dy_i · y_i.
        let sum = 0;
        for (let x = 0; x < d; x++) sum += dy[yOff + i * c + x] * y[yOff + i * c + x];
        delta[i] = sum;
      }
      for (let qb = 0; qb < nBlocks; qb++) {
        const i0 = qb * bs, rows = Math.min(bs, t - i0);
        for (let e = rowPtr[qb]; e < rowPtr[qb + 1]; e++) {
          const rp = e * bs;
          for (let r = 0; r < rows; r++) {
            const k0 = runPtr[rp + r], k1 = runPtr[rp + r + 1];
            if (k0 === k1) continue;
            const i = i0 + r, qo = qOff + i * stride, go = yOff + i * c, dqo = i * d;
            const li = lse[lOff + i], di = delta[i];
            // The row's q (times 1/√D) and dy, and its dq, as small float64 arrays.
            for (let x = 0; x < d; x++) {
              qr[x] = qkv[qo + x] * scale;
              gr[x] = dy[go + x];
              dqr[x] = 0;
            }
            for (let k = k0; k < k1; k++) {
              for (let j = runs[2 * k], end = runs[2 * k + 1]; j < end; j++) {
                const ko = kOff + j * stride, vo = vOff + j * stride, dko = j * d;
                let qk = 0, dp = 0;
                for (let x = 0; x < d; x++) {
                  qk += qr[x] * qkv[ko + x];
                  dp += gr[x] * qkv[vo + x];
                }
                const p = Math.exp(qk - li);
                const ds = p * (dp - di);
                for (let x = 0; x < d; x++) {
                  dqr[x] += ds * qkv[ko + x];
                  dk[dko + x] += ds * qr[x]; // ds·q/√D: the scale is already in qr
                  dv[dko + x] += p * gr[x];
                }
              }
            }
            for (let x = 0; x < d; x++) dq[dqo + x] += dqr[x] * scale;
          }
        }
      }
      for (let i = 0; i < t; i++) {
        const o = qOff + i * stride;
        for (let x = 0; x < d; x++) {
          dqkv[o + x] = dq[i * d + x];
          dqkv[o + c + x] = dk[i * d + x];
          dqkv[o + 2 * c + x] = dv[i * d + x];
        }
      }
    }
  }
  return dqkv;
}

/** Options for {@link blockSparseCausalSelfAttention}. */
export interface BlockSparseOptions {
  /** Tile side (default {@link DEFAULT_BLOCK_SIZE}); any T works, the last block is shorter. */
  blockSize?: number;
}

const plans = new LruCache<string, BlockSparsePlan>(16);

/**
 * The plan for (pattern, T, block size), from a small cache (the 16 most recent), so a training
 * loop builds each plan once.
 */
export function cachedPlan(
  pattern: SparsePattern,
  time: number,
  blockSize: number = DEFAULT_BLOCK_SIZE,
): BlockSparsePlan {
  validatePattern(pattern, time);
  const key = `${patternName(pattern)}|${time}|${blockSize}`;
  return plans.getOrCreate(key, () => blockSparsePlan(pattern, time, blockSize));
}

/**
 * Block-sparse causal multi-head attention of qkv [B·T, 3C] → [B·T, C] under `pattern`, as one
 * differentiable op (gradient dqkv [B·T, 3C]). Equal to softmax(q·kᵀ/√D + mask)·v per head with
 * the pattern's mask (tested), computed only on the pattern's tiles and pairs. Runs on the CPU
 * whatever the backend (it reads qkv with dataSync).
 */
export function blockSparseCausalSelfAttention(
  qkv: tf.Tensor2D,
  batch: number,
  time: number,
  nHead: number,
  pattern: SparsePattern,
  options: BlockSparseOptions = {},
): tf.Tensor2D {
  const c = qkv.shape[1] / 3, d = c / nHead;
  if (!Number.isInteger(d) || d < 1 || qkv.shape[0] !== batch * time) {
    throw new Error(
      `blockSparseCausalSelfAttention: qkv [${qkv.shape}] does not fit ` +
        `B=${batch} T=${time} H=${nHead}`,
    );
  }
  const plan = cachedPlan(pattern, time, options.blockSize ?? DEFAULT_BLOCK_SIZE);
  const op = customOp(([x]) => {
    const qkvValues = x.dataSync() as Float32Array;
    const { y, lse } = blockSparseForward(qkvValues, plan, batch, nHead, d);
    return {
      value: tf.tensor2d(y, [batch * time, c]),
      gradFunc: (dy) => {
        const dyValues = dy.dataSync() as Float32Array;
        const dqkv = blockSparseBackward(qkvValues, y, dyValues, lse, plan, batch, nHead, d);
        return [tf.tensor2d(dqkv, [batch * time, 3 * c])];
      },
    };
  });
  return op(qkv) as tf.Tensor2D;
}
