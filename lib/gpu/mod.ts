/**
 * The course's own WebGPU kernels: WGSL compute shaders run through tfjs-backend-webgpu.
 *
 * @module
 */
export { gpuCausalAttention, gpuCausalSelfAttention, ROWS } from "./attention.ts";
