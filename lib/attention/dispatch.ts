/**
 * The one place where attention picks its implementation. Everything above it (the model's
 * blocks) asks for "attention of this qkv under this pattern"; this file decides how:
 *
 * | backend     | dense pattern            | sparse pattern                  |
 * | ----------- | ------------------------ | ------------------------------- |
 * | wasm, cpu   | `cpu-dense` (wasm SIMD)  | `cpu-block-sparse`              |
 * | webgpu      | `gpu-dense` (WGSL)       | `gpu-block-sparse` (WGSL)       |
 * | other       | `reference`              | `reference` (masked dense)      |
 *
 * The reference path (reference.ts) also runs when the caller asks for it (`implementation:
 * "reference"`, or `GPT_COURSE_KERNELS=reference` for the whole library), when it wants the
 * attention weights, and when dropout is on: the fast kernels never materialise the [T, T]
 * weights, so they cannot drop them. That fallback costs O(T²) memory and time, sparse layers
 * included, so it is said once on stderr rather than taken silently.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { referenceKernelsRequested, useCpuKernels, useGpuKernels } from "../kernels/dispatch.ts";
import { fusedCausalSelfAttention } from "./cpu_dense.ts";
import { blockSparseCausalSelfAttention } from "./cpu_block_sparse.ts";
import { gpuCausalSelfAttention } from "./gpu_dense.ts";
import { gpuBlockSparseSelfAttention } from "./gpu_block_sparse.ts";
import { attendReference, type ReferenceAttentionOptions } from "./reference.ts";
import { patternName, type SparsePattern } from "./patterns.ts";

/** What a caller may ask for: the best available kernel, or the reference ops. */
export type AttentionImplementation = "auto" | "reference";

/** The implementations {@link chooseAttention} picks from. */
export type AttentionKernel =
  | "cpu-dense"
  | "cpu-block-sparse"
  | "gpu-dense"
  | "gpu-block-sparse"
  | "reference";

/** What the choice depends on. */
export interface AttentionRequest {
  /** The tfjs backend (default: the current one). */
  backend?: string;
  /** The layer's pattern (undefined or dense: dense causal). */
  pattern?: SparsePattern;
  /** Dropout rate on the attention weights (0: none). */
  dropout?: number;
  /** The caller wants the [B, H, T, T] weights. */
  wantWeights?: boolean;
  /** "reference" forces the plain tfjs ops. Default "auto". */
  implementation?: AttentionImplementation;
}

/** The kernel chosen, and why the reference path was taken when that is a fallback. */
export interface AttentionChoice {
  kernel: AttentionKernel;
  /** Set when a fast kernel exists in principle but the reference path runs instead. */
  fallback?: string;
}

/** Picks the attention implementation for one call (pure: says nothing). */
export function chooseAttention(request: AttentionRequest): AttentionChoice {
  const backend = request.backend ?? tf.getBackend();
  const sparse = request.pattern !== undefined && request.pattern.kind !== "dense";
  if (request.implementation === "reference" || referenceKernelsRequested()) {
    return { kernel: "reference" };
  }
  const cpu = backend === tf.getBackend()
    ? useCpuKernels()
    : backend === "wasm" || backend === "cpu";
  const gpu = backend === tf.getBackend() ? useGpuKernels() : backend === "webgpu";
  if (!cpu && !gpu) {
    return { kernel: "reference", fallback: `no attention kernel for the ${backend} backend` };
  }
  if (request.wantWeights) return { kernel: "reference" }; // asked for: not a fallback
  if (request.dropout) {
    return {
      kernel: "reference",
      fallback: `attention dropout ${request.dropout} needs the [T, T] weights, which the fast ` +
        `kernels never build: running the reference attention (O(T²) time and memory` +
        `${
          sparse ? `, the ${patternName(request.pattern!)} layers as masked dense attention` : ""
        })`,
    };
  }
  const device = cpu ? "cpu" : "gpu";
  return { kernel: sparse ? `${device}-block-sparse` : `${device}-dense` };
}

const said = new Set<string>();

/** Writes a fallback to stderr the first time it happens. */
function sayOnce(message: string): void {
  if (said.has(message)) return;
  said.add(message);
  console.warn(`attention: ${message}`);
}

/** Options for {@link attend}: the reference path's, plus the choice of implementation. */
export interface AttendOptions extends ReferenceAttentionOptions {
  /** "reference" forces the plain tfjs ops. Default "auto". */
  implementation?: AttentionImplementation;
}

/**
 * Causal multi-head attention of qkv [B·T, 3C] (q, k, v side by side) → merged heads
 * [B·T, C], on the implementation {@link chooseAttention} picks.
 */
export function attend(qkv: tf.Tensor2D, o: AttendOptions): tf.Tensor2D {
  const pattern = o.pattern?.kind === "dense" ? undefined : o.pattern;
  const choice = chooseAttention({
    pattern,
    dropout: o.dropout,
    wantWeights: o.weightsOut !== undefined,
    implementation: o.implementation,
  });
  if (choice.fallback) sayOnce(choice.fallback);
  const { batch: b, time: t, nHead: h } = o;
  switch (choice.kernel) {
    case "cpu-dense":
      return fusedCausalSelfAttention(qkv, b, t, h);
    case "cpu-block-sparse":
      return blockSparseCausalSelfAttention(qkv, b, t, h, pattern!);
    case "gpu-dense":
      return gpuCausalSelfAttention(qkv, b, t, h);
    case "gpu-block-sparse":
      return gpuBlockSparseSelfAttention(qkv, b, t, h, pattern!);
    case "reference":
      return attendReference(qkv, { ...o, pattern });
  }
}
