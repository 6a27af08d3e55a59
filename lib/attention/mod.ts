/**
 * Attention, in one folder: the sub-layer the model calls (self_attention.ts), the reference
 * math a learner reads (reference.ts, masks.ts), the sparse patterns as data (patterns.ts), the
 * one dispatch that picks an implementation (dispatch.ts), the fast implementations beside it
 * (cpu_dense.ts, cpu_block_sparse.ts, gpu_dense.ts, gpu_block_sparse.ts, wgsl.ts), attention
 * over a decoding cache (cached.ts) and what each implementation allocates (memory.ts).
 * README.md in this folder explains the kernels.
 *
 * @module
 */
export {
  type AttentionOptions,
  type AttentionParams,
  causalSelfAttention,
} from "./self_attention.ts";
export { attendReference, type ReferenceAttentionOptions } from "./reference.ts";
export { causalMaskBias, patternMaskBias } from "./masks.ts";
export {
  attend,
  type AttendOptions,
  type AttentionChoice,
  type AttentionImplementation,
  type AttentionKernel,
  type AttentionRequest,
  chooseAttention,
} from "./dispatch.ts";
export {
  allowed,
  attendedPairs,
  type BandPattern,
  type BlockLayout,
  blockLayout,
  blockMask,
  DEFAULT_BLOCK_SIZE,
  type DensePattern,
  type FixedPattern,
  keyRuns,
  layerPatterns,
  type LayerSchedule,
  type LogSparsePattern,
  maskMatrix,
  PATTERN_KINDS,
  patternName,
  reachability,
  type SparsePattern,
  type StridedPattern,
  validatePattern,
} from "./patterns.ts";
export { fusedCausalSelfAttention } from "./cpu_dense.ts";
export {
  blockSparseBackward,
  blockSparseCausalSelfAttention,
  blockSparseForward,
  type BlockSparseOptions,
  type BlockSparsePlan,
  blockSparsePlan,
  cachedPlan,
} from "./cpu_block_sparse.ts";
export { gpuCausalAttention, gpuCausalSelfAttention } from "./gpu_dense.ts";
export {
  type GpuBlockSparseOptions,
  gpuBlockSparseSelfAttention,
  tileList,
} from "./gpu_block_sparse.ts";
export { WORKGROUP_ROWS } from "./wgsl.ts";
export { attendCached, LayerCache } from "./cached.ts";
export { blockSparseKernelBytes, denseKernelBytes, scoreTensorBytes } from "./memory.ts";
