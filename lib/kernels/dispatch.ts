/**
 * Which implementation of an op runs: the fused CPU kernels of this folder on the wasm and cpu
 * backends, the WGSL kernels of lib/gpu/ on webgpu, or (`GPT_COURSE_KERNELS=reference`, or
 * {@link setReferenceKernels}) the plain tfjs compositions everywhere.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * True on wasm and cpu unless `GPT_COURSE_KERNELS=reference` asks for the plain tfjs
 * compositions (for comparisons and debugging).
 */
export function useCpuKernels(): boolean {
  const backend = tf.getBackend();
  if (backend !== "wasm" && backend !== "cpu") return false;
  return referenceRequested !== true;
}

let referenceRequested: boolean | undefined;
try {
  referenceRequested = Deno.env.get("GPT_COURSE_KERNELS") === "reference";
} catch {
  referenceRequested = false; // no --allow-env
}

/** True on webgpu unless the reference compositions are requested (see {@link useCpuKernels}). */
export function useGpuKernels(): boolean {
  return tf.getBackend() === "webgpu" && referenceRequested !== true;
}

/** Forces the reference compositions on (true) or restores the default (false). */
export function setReferenceKernels(on: boolean): void {
  referenceRequested = on;
}
