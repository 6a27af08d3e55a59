/**
 * A dependency-free codec for the
 * {@link https://github.com/huggingface/safetensors safetensors} file format.
 *
 * Layout of a file:
 *
 * 1. 8 bytes: `N`, the header length, an unsigned little-endian 64-bit integer.
 * 2. `N` bytes: a UTF-8 JSON object that must start with `{` and may be padded
 *    with trailing spaces. Each key is a tensor name mapped to
 *    `{"dtype", "shape", "data_offsets": [begin, end]}`; the optional key
 *    `__metadata__` maps to a string-to-string object.
 * 3. The byte buffer. `data_offsets` are relative to its start; tensors are
 *    stored contiguously, little-endian, row-major, without gaps or overlaps,
 *    and together cover the buffer exactly.
 *
 * {@linkcode encodeSafetensors} writes files byte-identical to the reference
 * Rust implementation (tensors ordered by descending dtype alignment, then by
 * name; `__metadata__` first; compact JSON; header padded with spaces to a
 * multiple of 8 bytes so every tensor's data is naturally aligned).
 * {@linkcode decodeSafetensors} treats its input as untrusted and throws a
 * {@linkcode SafetensorsError} naming the problem for any malformed file.
 *
 * @example Round trip
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, toFloat32 } from "./mod.ts";
 *
 * const bytes = encodeSafetensors(
 *   { "wte.weight": { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 *   { format: "pt" },
 * );
 * const { tensors, metadata } = decodeSafetensors(bytes);
 * toFloat32(tensors["wte.weight"]); // Float32Array [1, 2, 3, 4]
 * metadata.format; // "pt"
 * ```
 *
 * This file holds the dtypes, the decoded and to-be-encoded tensor types, the error type and the
 * validation helpers shared by safetensors_encode.ts (writing), safetensors_decode.ts (reading)
 * and safetensors_convert.ts (float conversions). Import the public API from `./mod.ts`.
 *
 * @module

/**
 * Element types understood by this codec: every byte-sized dtype of the
 * reference implementation. (The sub-byte packed types are not supported.)
 */
export type Dtype =
  | "BOOL"
  | "U8"
  | "I8"
  | "F8_E5M2"
  | "F8_E4M3"
  | "I16"
  | "U16"
  | "F16"
  | "BF16"
  | "I32"
  | "U32"
  | "F32"
  | "F64"
  | "I64"
  | "U64";

/**
 * All supported dtypes, in the reference implementation's order of increasing
 * alignment (the order its writer sorts by, descending).
 */
export const DTYPES: readonly Dtype[] = Object.freeze(
  [
    "BOOL",
    "U8",
    "I8",
    "F8_E5M2",
    "F8_E4M3",
    "I16",
    "U16",
    "F16",
    "BF16",
    "I32",
    "U32",
    "F32",
    "F64",
    "I64",
    "U64",
  ] as const,
);

/** Size in bytes of one element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
});

/** Default bound on the JSON header length, as in the reference (100 MB). */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

/** Position of each dtype in {@linkcode DTYPES} (the writer sorts by it, descending). */
export const DTYPE_RANK: ReadonlyMap<string, number> = new Map(
  DTYPES.map((d, i) => [d, i]),
);

/** The reserved header key of the string-to-string metadata map. */
export const METADATA_KEY = "__metadata__";

/** A decoded tensor: its dtype, shape and raw little-endian bytes. */
export interface TensorEntry {
  /** Element type. */
  dtype: Dtype;
  /** Dimensions, row-major; `[]` is a scalar, a `0` makes an empty tensor. */
  shape: number[];
  /**
   * Raw little-endian element bytes. When produced by
   * {@linkcode decodeSafetensors} this is a view into the decoded input (no
   * copy), so it may start at any byte offset.
   */
  data: Uint8Array;
}

/**
 * A tensor to encode. `data` is either raw little-endian bytes
 * (`Uint8Array`, `Uint8ClampedArray` or `DataView`, any dtype) or a typed
 * array whose element type matches `dtype` (e.g. `Float32Array` for `F32`,
 * `Int32Array` for `I32`, `BigInt64Array` for `I64`, `Uint16Array` holding
 * the bit patterns of `F16`/`BF16`/`U16`).
 */
export interface TensorInput {
  /** Element type. */
  dtype: Dtype;
  /** Dimensions, row-major. */
  shape: readonly number[];
  /** Element data, `product(shape)` elements. */
  data: ArrayBufferView;
}

/** The decoded contents of a safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name. */
  tensors: Record<string, TensorEntry>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** Options for {@linkcode decodeSafetensors}. */
export interface DecodeOptions {
  /**
   * Largest accepted JSON header, in bytes. Defaults to
   * {@linkcode DEFAULT_MAX_HEADER_BYTES}.
   */
  maxHeaderBytes?: number;
}

/**
 * Thrown for any malformed safetensors file or invalid tensor. The message
 * starts with `safetensors:` and names the offending tensor where there is
 * one.
 */
export class SafetensorsError extends Error {
  /**
   * @param message What is wrong, without the `safetensors:` prefix.
   * @param options Standard error options (e.g. `cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(`safetensors: ${message}`, options);
    this.name = "SafetensorsError";
  }
}

/**
 * Reports whether `value` is a dtype name this codec supports.
 *
 * @param value Anything, e.g. a `dtype` field read from a header.
 * @returns `true` when `value` is a {@linkcode Dtype}.
 */
export function isDtype(value: unknown): value is Dtype {
  return typeof value === "string" && DTYPE_RANK.has(value);
}

/** Whether this platform's typed arrays are little-endian (as the file format is). */
export const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Longest untrusted text (in UTF-16 code units) shown in an error message. */
export const MAX_SHOWN_CHARS = 200;

/** JSON-quotes an untrusted string for an error message, truncated. */
export function quote(text: string): string {
  const shown = text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
  return JSON.stringify(shown);
}

/** Renders an untrusted JSON value for an error message, truncated. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}

/** Describes the JSON type of a value for error messages. */
export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const t = typeof value;
  return t === "object" ? "an object" : `a ${t}`;
}

/** Whether a value is a non-null object that is not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates a shape and returns its element count. Throws when a dimension
 * is not a non-negative safe integer or the count overflows.
 */
export function checkedNumel(name: string, shape: unknown): number {
  if (!Array.isArray(shape)) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has invalid shape ${show(shape)}: ` +
        `expected an array of non-negative integers`,
    );
  }
  let numel = 1;
  for (let i = 0; i < shape.length; i++) {
    const dim = shape[i];
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      throw new SafetensorsError(
        `tensor ${quote(name)} has invalid shape ${show(shape)}: ` +
          `dimension ${i} is ${show(dim)}, expected a non-negative integer`,
      );
    }
    numel *= dim;
    if (!Number.isSafeInteger(numel)) {
      throw new SafetensorsError(
        `tensor ${quote(name)} has shape ${show(shape)} whose element ` +
          `count overflows`,
      );
    }
  }
  return numel;
}

/** Returns the byte length `shape` needs for `dtype`, or throws. */
export function checkedByteLength(name: string, dtype: Dtype, shape: unknown): number {
  const bytes = checkedNumel(name, shape) * DTYPE_SIZE[dtype];
  if (!Number.isSafeInteger(bytes)) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has shape ${show(shape)} whose byte size ` +
        `overflows`,
    );
  }
  return bytes;
}

/** Returns `dtype` as a {@linkcode Dtype}, or throws naming the tensor and the supported dtypes. */
export function checkDtype(name: string, dtype: unknown): Dtype {
  if (!isDtype(dtype)) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has unknown dtype ${show(dtype)} ` +
        `(supported: ${DTYPES.join(", ")})`,
    );
  }
  return dtype;
}
