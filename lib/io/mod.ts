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

export {
  type DecodeOptions,
  DEFAULT_MAX_HEADER_BYTES,
  type Dtype,
  DTYPE_SIZE,
  DTYPES,
  isDtype,
  SafetensorsError,
  type SafetensorsFile,
  type TensorEntry,
  type TensorInput,
} from "./safetensors_format.ts";
export { encodeSafetensors } from "./safetensors_encode.ts";
export { decodeSafetensors } from "./safetensors_decode.ts";
export { fromFloat32, toFloat32 } from "./safetensors_convert.ts";
export {
  AtomicWriteError,
  CheckpointNotFoundError,
  readFileChecked,
  removeStaleTemps,
  STALE_TEMP_MS,
  syncDirectory,
  writeFileAtomic,
} from "./atomic.ts";
