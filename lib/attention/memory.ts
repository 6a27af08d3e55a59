/**
 * What one attention forward + backward allocates, computed rather than sampled (a sampled
 * heap figure would mix in tfjs' pools and the garbage collector): the bytes of every buffer an
 * implementation creates for qkv [B·n, 3C] with H heads of size D. The inputs qkv and dy belong
 * to the caller and are not counted. Used by the sparse benchmark and notebook 05.
 *
 * @module
 */
import type { BlockSparsePlan } from "./cpu_block_sparse.ts";

const f32 = (count: number) => 4 * count;
/** The wasm kernels place each buffer at a 16-byte boundary (lib/kernels/wasm/mod.ts). */
const padded = (count: number) => Math.ceil(f32(count) / 16) * 16;

/** Element counts of qkv, y (= dy) and the per-row log-sum-exp. */
function sizes(batch: number, n: number, nHead: number, headSize: number) {
  const c = nHead * headSize;
  return { qkv: batch * n * 3 * c, y: batch * n * c, lse: batch * nHead * n };
}

/**
 * The dense fused wasm kernel (cpu_dense.ts): its WebAssembly buffers for the backward (the
 * larger layout: qkv and dqkv, y, dy, lse), plus y, lse and dqkv copied out to JavaScript.
 */
export function denseKernelBytes(
  batch: number,
  n: number,
  nHead: number,
  headSize: number,
): number {
  const s = sizes(batch, n, nHead, headSize);
  return padded(s.qkv) * 2 + padded(s.y) * 2 + padded(s.lse) + f32(s.y + s.lse + s.qkv);
}

/**
 * The block-sparse CPU kernel (cpu_block_sparse.ts) under `plan`: outputs y, lse and dqkv,
 * float64 accumulators (one query block's rows in the forward, one head in the backward) and
 * the plan's own arrays.
 */
export function blockSparseKernelBytes(
  plan: BlockSparsePlan,
  batch: number,
  nHead: number,
  headSize: number,
): number {
  const n = plan.time, s = sizes(batch, n, nHead, headSize);
  const scratch = 8 * plan.blockSize * (headSize + 3) + 8 * (3 * n * headSize + n);
  return f32(s.y + s.lse + s.qkv) + scratch + plan.bytes;
}

/** One [B, H, n, n] float32 score tensor, what the plain tfjs composition materialises. */
export function scoreTensorBytes(batch: number, n: number, nHead: number): number {
  return f32(batch * nHead * n * n);
}
