/**
 * The fast CPU kernels of everything but attention (lib/attention/ holds those): the
 * affine map with a fast gradient (linear.ts), fused LayerNorm and GELU (layernorm_cpu.ts,
 * gelu_cpu.ts), tfjs ops the wasm backend lacks (register.ts), the switch between kernels and
 * reference compositions (dispatch.ts), and the WebAssembly module (wasm/).
 *
 * @module
 */
export { customOp, type CustomOpForward } from "./custom_op.ts";
export {
  referenceKernelsRequested,
  setReferenceKernels,
  useCpuKernels,
  useGpuKernels,
} from "./dispatch.ts";
export { fusedGelu } from "./gelu_cpu.ts";
export { fusedLayerNorm, layerNormBackward, layerNormForward } from "./layernorm_cpu.ts";
export { linear, matmulFast } from "./linear.ts";
export { registerMissingKernels, segmentSumInto } from "./register.ts";
