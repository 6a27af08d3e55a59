/**
 * Writing safetensors files: {@linkcode encodeSafetensors} serializes tensors and metadata to
 * bytes identical to the reference Rust implementation's.
 *
 * @module
 */
import {
  checkDtype,
  checkedByteLength,
  type Dtype,
  DTYPE_RANK,
  DTYPE_SIZE,
  IS_LITTLE_ENDIAN,
  isPlainObject,
  METADATA_KEY,
  quote,
  SafetensorsError,
  show,
  type TensorInput,
  typeName,
} from "./safetensors_format.ts";

/**
 * Orders strings by Unicode code point, i.e. by their UTF-8 bytes, as the
 * reference implementation's Rust `String` ordering does.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixupCodeUnit(x) - fixupCodeUnit(y);
  }
  return a.length - b.length;
}

/** Maps UTF-16 code units so that their order matches code point order. */
function fixupCodeUnit(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

/** Typed-array kinds that may carry each dtype's elements directly. */
const VIEW_DTYPES: Readonly<Record<string, readonly Dtype[]>> = {
  Int8Array: ["I8"],
  Int16Array: ["I16"],
  Uint16Array: ["U16", "F16", "BF16"],
  Int32Array: ["I32"],
  Uint32Array: ["U32"],
  Float16Array: ["F16"],
  Float32Array: ["F32"],
  Float64Array: ["F64"],
  BigInt64Array: ["I64"],
  BigUint64Array: ["U64"],
};

/** Returns the little-endian bytes of a tensor input, validating it. */
function inputBytes(name: string, tensor: TensorInput): Uint8Array {
  if (!isPlainObject(tensor)) {
    throw new SafetensorsError(`tensor ${quote(name)} is not an object`);
  }
  const dtype = checkDtype(name, tensor.dtype);
  const needed = checkedByteLength(name, dtype, tensor.shape);
  const view = tensor.data;
  if (!ArrayBuffer.isView(view)) {
    throw new SafetensorsError(
      `tensor ${quote(name)} data must be a typed array or DataView`,
    );
  }
  const kind = (view as unknown as { [Symbol.toStringTag]?: string })[
    Symbol.toStringTag
  ] ?? "DataView";
  const allowed = VIEW_DTYPES[kind];
  if (allowed !== undefined && !allowed.includes(dtype)) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has dtype ${dtype} but its data is a ${kind} ` +
        `(pass a Uint8Array of raw little-endian bytes to store other types)`,
    );
  }
  if (view.byteLength !== needed) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has ${view.byteLength} bytes but shape ` +
        `${show(tensor.shape)} of ${dtype} needs ${needed}`,
    );
  }
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  // Typed arrays use the platform byte order; the file is little-endian.
  if (!IS_LITTLE_ENDIAN && allowed !== undefined) {
    return swapBytes(bytes, DTYPE_SIZE[dtype]);
  }
  return bytes;
}

/** Returns a copy of `bytes` with each `size`-byte element reversed. */
function swapBytes(bytes: Uint8Array, size: number): Uint8Array {
  if (size === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) {
    for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j];
  }
  return out;
}

/**
 * Serializes tensors and optional metadata to the bytes of a safetensors
 * file.
 *
 * The output is deterministic and matches the reference implementation:
 * tensors are laid out by descending dtype alignment (8-byte types first)
 * and then by name in code point order, so each tensor's data is aligned to
 * its element size; the header lists `__metadata__` first (its keys sorted)
 * and is padded with spaces to a multiple of 8 bytes.
 *
 * @param tensors Tensors by name. The name `__metadata__` is reserved.
 * @param metadata Optional free-form string-to-string map.
 * @returns The complete file contents.
 * @throws {SafetensorsError} If a dtype is unknown, a shape is invalid, a
 * tensor's data length does not match its shape, its typed-array kind does
 * not match its dtype, or a metadata value is not a string.
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "./mod.ts";
 *
 * const bytes = encodeSafetensors({
 *   bias: { dtype: "F32", shape: [3], data: new Float32Array([0, 1, 2]) },
 * });
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  if (!isPlainObject(tensors)) {
    throw new SafetensorsError("tensors must be an object keyed by name");
  }
  const entries = Object.entries(tensors).map(([name, tensor]) => {
    if (name === METADATA_KEY) {
      throw new SafetensorsError(
        `${quote(METADATA_KEY)} is reserved and cannot name a tensor`,
      );
    }
    return { name, tensor, bytes: inputBytes(name, tensor) };
  });
  entries.sort((a, b) =>
    (DTYPE_RANK.get(b.tensor.dtype)! - DTYPE_RANK.get(a.tensor.dtype)!) ||
    compareCodePoints(a.name, b.name)
  );

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) {
      throw new SafetensorsError("metadata must be an object of strings");
    }
    const keys = Object.keys(metadata).sort(compareCodePoints);
    const fields = keys.map((key) => {
      const value = metadata[key];
      if (typeof value !== "string") {
        throw new SafetensorsError(
          `metadata value for key ${quote(key)} is ${typeName(value)}, ` +
            `expected a string`,
        );
      }
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${fields.join(",")}}`);
  }
  let offset = 0;
  for (const { name, tensor, bytes } of entries) {
    const begin = offset;
    offset += bytes.length;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(tensor.dtype)},` +
        `"shape":[${tensor.shape.join(",")}],` +
        `"data_offsets":[${begin},${offset}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength % 0x1_0000_0000, true);
  view.setUint32(4, Math.floor(headerLength / 0x1_0000_0000), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const { bytes } of entries) {
    out.set(bytes, position);
    position += bytes.length;
  }
  return out;
}
