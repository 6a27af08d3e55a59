/**
 * Sparse attention: patterns as data (which keys each query sees, at the element and the block
 * level) and a block-sparse causal attention kernel for the CPU that computes only the pattern's
 * tiles, and its WebGPU twin (WGSL, lib/gpu/sparse_attention.ts).
 *
 * @module
 */
export {
  allowed,
  attendedPairs,
  type BandPattern,
  type BlockLayout,
  blockLayout,
  blockMask,
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
export {
  blockSparseBackward,
  blockSparseCausalSelfAttention,
  blockSparseForward,
  type BlockSparseOptions,
  type BlockSparsePlan,
  blockSparsePlan,
  cachedPlan,
  DEFAULT_BLOCK_SIZE,
} from "./block_sparse.ts";
export {
  type GpuBlockSparseOptions,
  gpuBlockSparseSelfAttention,
  tileList,
} from "../gpu/sparse_attention.ts";
