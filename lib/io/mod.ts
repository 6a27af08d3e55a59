/**
 * File I/O for checkpoints: the safetensors codec and crash-safe writes.
 *
 * @example Save and load a checkpoint
 * ```ts ignore
 * import {
 *   decodeSafetensors,
 *   encodeSafetensors,
 *   readFileChecked,
 *   writeFileAtomic,
 * } from "./mod.ts";
 *
 * const bytes = encodeSafetensors({
 *   bias: { dtype: "F32", shape: [2], data: new Float32Array([0.5, -1]) },
 * });
 * await writeFileAtomic("model.safetensors", bytes);
 * const { tensors } = decodeSafetensors(
 *   await readFileChecked("model.safetensors"),
 * );
 * ```
 *
 * @module
 */

export * from "./safetensors.ts";
export * from "./atomic.ts";
