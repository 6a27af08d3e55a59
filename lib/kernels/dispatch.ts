/**
 * Which implementation of an op runs: the fused CPU kernels on the wasm and cpu backends, the
 * WGSL kernels of lib/attention/ on webgpu, or (`GPT_COURSE_KERNELS=reference`, or
 * {@link setReferenceKernels}) the plain tfjs compositions everywhere. Attention adds its own
 * choices on top of this (lib/attention/dispatch.ts).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

let referenceRequested: boolean | undefined;
try {
  referenceRequested = Deno.env.get("GPT_COURSE_KERNELS") === "reference";
} catch {
  referenceRequested = false; // no --allow-env
}

/** True when the plain tfjs compositions are asked for everywhere (env or {@link setReferenceKernels}). */
export function referenceKernelsRequested(): boolean {
  return referenceRequested === true;
}

/** True on wasm and cpu unless the reference compositions are requested. */
export function useCpuKernels(): boolean {
  const backend = tf.getBackend();
  if (backend !== "wasm" && backend !== "cpu") return false;
  return referenceRequested !== true;
}

/** True on webgpu unless the reference compositions are requested (see {@link useCpuKernels}). */
export function useGpuKernels(): boolean {
  return tf.getBackend() === "webgpu" && referenceRequested !== true;
}

/** Forces the reference compositions on (true) or restores the default (false). */
export function setReferenceKernels(on: boolean): void {
  referenceRequested = on;
}
