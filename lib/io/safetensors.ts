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
 * import { decodeSafetensors, encodeSafetensors, toFloat32 } from "./safetensors.ts";
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
 * @module
 */

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

const DTYPE_RANK: ReadonlyMap<string, number> = new Map(
  DTYPES.map((d, i) => [d, i]),
);

const METADATA_KEY = "__metadata__";

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

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const MAX_SHOWN_CHARS = 200;

/** JSON-quotes an untrusted string for an error message, truncated. */
function quote(text: string): string {
  const shown = text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
  return JSON.stringify(shown);
}

/** Renders an untrusted JSON value for an error message, truncated. */
function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}

/** Describes the JSON type of a value for error messages. */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const t = typeof value;
  return t === "object" ? "an object" : `a ${t}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates a shape and returns its element count. Throws when a dimension
 * is not a non-negative safe integer or the count overflows.
 */
function checkedNumel(name: string, shape: unknown): number {
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
function checkedByteLength(name: string, dtype: Dtype, shape: unknown): number {
  const bytes = checkedNumel(name, shape) * DTYPE_SIZE[dtype];
  if (!Number.isSafeInteger(bytes)) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has shape ${show(shape)} whose byte size ` +
        `overflows`,
    );
  }
  return bytes;
}

function checkDtype(name: string, dtype: unknown): Dtype {
  if (!isDtype(dtype)) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has unknown dtype ${show(dtype)} ` +
        `(supported: ${DTYPES.join(", ")})`,
    );
  }
  return dtype;
}

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
 * import { encodeSafetensors } from "./safetensors.ts";
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

/**
 * Finds the first key repeated within one JSON object of already-valid JSON
 * text, which `JSON.parse` would otherwise resolve silently (last one wins).
 */
function findDuplicateKey(json: string): string | undefined {
  const stack: { keys: Set<string> | null; expectKey: boolean }[] = [];
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = json.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) {
          break;
        } else {
          j++;
        }
      }
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = escaped ? JSON.parse(json.slice(i, j + 1)) as string : json.slice(i + 1, j);
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push({ keys: new Set(), expectKey: true });
    } else if (c === 0x5b /* [ */) {
      stack.push({ keys: null, expectKey: false });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return undefined;
}

/** Reads and validates the `__metadata__` entry of a parsed header. */
function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) {
    throw new SafetensorsError(
      `${quote(METADATA_KEY)} is ${typeName(value)}, expected an object ` +
        `of strings`,
    );
  }
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") {
      throw new SafetensorsError(
        `metadata value for key ${quote(key)} is ${typeName(item)}, ` +
          `expected a string`,
      );
    }
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

interface ParsedInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Validates one tensor's header entry against itself and the buffer. */
function parseTensorInfo(
  name: string,
  info: unknown,
  bufferLength: number,
): ParsedInfo {
  if (!isPlainObject(info)) {
    throw new SafetensorsError(
      `tensor ${quote(name)} header entry is ${typeName(info)}, expected ` +
        `an object with dtype, shape and data_offsets`,
    );
  }
  for (const field of ["dtype", "shape", "data_offsets"]) {
    if (!Object.hasOwn(info, field)) {
      throw new SafetensorsError(`tensor ${quote(name)} has no "${field}"`);
    }
  }
  const dtype = checkDtype(name, info.dtype);
  const needed = checkedByteLength(name, dtype, info.shape);
  const shape = info.shape as number[];
  const offsets = info.data_offsets;
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has invalid data_offsets ${show(offsets)}: ` +
        `expected [begin, end] with 0 <= begin <= end`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end - begin !== needed) {
    throw new SafetensorsError(
      `tensor ${quote(name)} has ${end - begin} bytes but shape ` +
        `${show(shape)} of ${dtype} needs ${needed}`,
    );
  }
  if (end > bufferLength) {
    throw new SafetensorsError(
      `tensor ${quote(name)} data_offsets [${begin},${end}] are out of ` +
        `range: the byte buffer has ${bufferLength} bytes`,
    );
  }
  return { name, dtype, shape: [...shape], begin, end };
}

/**
 * Parses the bytes of a safetensors file, treating them as untrusted.
 *
 * Checks, in order: the 8-byte length prefix is present; the header length
 * is within `maxHeaderBytes` and within the file; the header is UTF-8 JSON
 * starting with `{`, without duplicate keys; `__metadata__` (if any) maps
 * strings to strings; every tensor has a known dtype, a shape of
 * non-negative safe integers, and `data_offsets` whose length equals
 * `product(shape) * size(dtype)` and lie inside the byte buffer; and, sorted
 * by offset, the tensors are contiguous, without overlaps or gaps, and cover
 * the byte buffer exactly. Nothing is allocated in proportion to what the
 * header claims: tensor data are views into `bytes`.
 *
 * @param bytes The complete file contents.
 * @param opts Decoding limits.
 * @returns The tensors (their `data` are views into `bytes`, so mutating one
 * mutates the other) and the metadata map.
 * @throws {SafetensorsError} For any violation, naming it and the tensor.
 *
 * @example
 * ```ts ignore
 * import { decodeSafetensors } from "./safetensors.ts";
 *
 * const bytes = await Deno.readFile("model.safetensors");
 * const { tensors } = decodeSafetensors(bytes);
 * console.log(Object.keys(tensors));
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  opts: DecodeOptions = {},
): SafetensorsFile {
  const maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 0) {
    throw new RangeError(
      `maxHeaderBytes must be a non-negative integer, got ${maxHeaderBytes}`,
    );
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new SafetensorsError("input must be a Uint8Array");
  }
  if (bytes.length < 8) {
    throw new SafetensorsError(
      `file truncated: need 8 bytes for the header length but the file ` +
        `has only ${bytes.length}`,
    );
  }
  const prefix = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const headerLength = prefix.getBigUint64(0, true);
  if (headerLength > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError(
      `header length ${headerLength} exceeds the limit of ` +
        `${maxHeaderBytes} bytes (corrupt file, or raise maxHeaderBytes)`,
    );
  }
  const n = Number(headerLength);
  const remaining = bytes.length - 8;
  if (n > remaining) {
    throw new SafetensorsError(
      `file truncated: header says ${n} bytes but only ${remaining} remain`,
    );
  }
  const headerBytes = bytes.subarray(8, 8 + n);
  if (headerBytes[0] !== 0x7b /* { */) {
    throw new SafetensorsError(
      n === 0
        ? "header is empty (expected a JSON object)"
        : `header must start with "{" but starts with byte ` +
          `0x${headerBytes[0].toString(16).padStart(2, "0")}`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
      .decode(headerBytes);
  } catch (cause) {
    throw new SafetensorsError("header is not valid UTF-8", { cause });
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (cause) {
    let detail = cause instanceof Error ? cause.message : String(cause);
    if (detail.length > MAX_SHOWN_CHARS) {
      detail = `${detail.slice(0, MAX_SHOWN_CHARS)}…`;
    }
    throw new SafetensorsError(`header is not valid JSON: ${detail}`, {
      cause,
    });
  }
  if (!isPlainObject(header)) {
    throw new SafetensorsError(
      `header is ${typeName(header)}, expected a JSON object`,
    );
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) {
    throw new SafetensorsError(`header has duplicate key ${quote(duplicate)}`);
  }

  const metadata = parseMetadata(header[METADATA_KEY]);
  const bufferStart = 8 + n;
  const bufferLength = bytes.length - bufferStart;
  const infos: ParsedInfo[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    infos.push(parseTensorInfo(name, info, bufferLength));
  }
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: ParsedInfo | undefined;
  for (const info of infos) {
    if (info.begin < covered) {
      throw new SafetensorsError(
        `tensors ${quote(previous!.name)} [${previous!.begin},` +
          `${previous!.end}] and ${quote(info.name)} [${info.begin},` +
          `${info.end}] overlap`,
      );
    }
    if (info.begin > covered) {
      throw new SafetensorsError(
        previous === undefined
          ? `gap in the byte buffer: bytes [0,${info.begin}) before ` +
            `tensor ${quote(info.name)} belong to no tensor`
          : `gap in the byte buffer: bytes [${covered},${info.begin}) ` +
            `between tensors ${quote(previous.name)} and ` +
            `${quote(info.name)} belong to no tensor`,
      );
    }
    covered = info.end;
    previous = info;
  }
  if (covered !== bufferLength) {
    throw new SafetensorsError(
      `byte buffer has ${bufferLength} bytes but the tensors cover only ` +
        `${covered} (trailing data, or a wrong header length)`,
    );
  }

  const tensors = Object.fromEntries(
    infos.map((info) => [info.name, {
      dtype: info.dtype,
      shape: info.shape,
      data: bytes.subarray(bufferStart + info.begin, bufferStart + info.end),
    }]),
  ) as Record<string, TensorEntry>;
  return { tensors, metadata };
}

/** Checks an entry's shape against its data and returns the element count. */
function entryNumel(entry: TensorEntry): number {
  const name = "(entry)";
  const dtype = checkDtype(name, entry.dtype);
  const needed = checkedByteLength(name, dtype, entry.shape);
  if (entry.data.byteLength !== needed) {
    throw new SafetensorsError(
      `tensor has ${entry.data.byteLength} bytes but shape ` +
        `${show(entry.shape)} of ${dtype} needs ${needed}`,
    );
  }
  return needed / DTYPE_SIZE[dtype];
}

let HALF_TABLE: Uint32Array | undefined;

/**
 * Returns the float32 bit pattern of every binary16 bit pattern (exact;
 * NaN payloads and signs kept), built once on first use (256 KiB).
 */
function halfTable(): Uint32Array {
  if (HALF_TABLE !== undefined) return HALF_TABLE;
  const table = new Uint32Array(0x10000);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let h = 0; h < 0x10000; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) {
      table[h] = (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
    } else if (exponent === 0) {
      // Zero or subnormal: mantissa * 2^-24 is exact in float32.
      scratch[0] = mantissa * 2 ** -24;
      table[h] = (scratchBits[0] | sign) >>> 0;
    } else {
      table[h] = (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
    }
  }
  HALF_TABLE = table;
  return table;
}

/**
 * Converts a tensor's elements to a new `Float32Array`.
 *
 * `F32` data are copied bit for bit (NaN payloads, `-0` and denormals
 * preserved) whatever the byte offset of `entry.data`; `F16` and `BF16` are
 * widened exactly (F16 NaNs keep their payload); `F64` and the integer
 * dtypes are rounded to the nearest float32; `BOOL` gives 0 or 1.
 *
 * @param entry A tensor, typically from {@linkcode decodeSafetensors}.
 * @returns A fresh array of `product(entry.shape)` elements.
 * @throws {SafetensorsError} If the data length does not match the shape,
 * or the dtype is an 8-bit float format.
 *
 * @example
 * ```ts
 * import { toFloat32 } from "./safetensors.ts";
 *
 * toFloat32({ dtype: "F16", shape: [1], data: new Uint8Array([0x00, 0x3c]) });
 * // Float32Array [1]
 * ```
 */
export function toFloat32(entry: TensorEntry): Float32Array {
  const numel = entryNumel(entry);
  const { data } = entry;
  const out = new Float32Array(numel);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (entry.dtype) {
    case "F32": {
      if (IS_LITTLE_ENDIAN) {
        new Uint8Array(out.buffer).set(data);
      } else {
        const bits = new Uint32Array(out.buffer);
        for (let i = 0; i < numel; i++) bits[i] = view.getUint32(i * 4, true);
      }
      break;
    }
    case "F16": {
      const table = halfTable();
      const bits = new Uint32Array(out.buffer);
      if (IS_LITTLE_ENDIAN && data.byteOffset % 2 === 0) {
        const halves = new Uint16Array(data.buffer, data.byteOffset, numel);
        for (let i = 0; i < numel; i++) bits[i] = table[halves[i]];
      } else {
        for (let i = 0; i < numel; i++) {
          bits[i] = table[view.getUint16(i * 2, true)];
        }
      }
      break;
    }
    case "BF16": {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < numel; i++) {
        bits[i] = view.getUint16(i * 2, true) << 16;
      }
      break;
    }
    case "F64":
      for (let i = 0; i < numel; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case "BOOL":
      for (let i = 0; i < numel; i++) out[i] = data[i] === 0 ? 0 : 1;
      break;
    case "U8":
      for (let i = 0; i < numel; i++) out[i] = data[i];
      break;
    case "I8":
      for (let i = 0; i < numel; i++) out[i] = view.getInt8(i);
      break;
    case "I16":
      for (let i = 0; i < numel; i++) out[i] = view.getInt16(i * 2, true);
      break;
    case "U16":
      for (let i = 0; i < numel; i++) out[i] = view.getUint16(i * 2, true);
      break;
    case "I32":
      for (let i = 0; i < numel; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case "U32":
      for (let i = 0; i < numel; i++) out[i] = view.getUint32(i * 4, true);
      break;
    case "I64":
      for (let i = 0; i < numel; i++) {
        out[i] = Number(view.getBigInt64(i * 8, true));
      }
      break;
    case "U64":
      for (let i = 0; i < numel; i++) {
        out[i] = Number(view.getBigUint64(i * 8, true));
      }
      break;
    default:
      throw new SafetensorsError(
        `cannot convert dtype ${entry.dtype} to float32`,
      );
  }
  return out;
}

/** Rounds float32 bits to binary16 bits, to nearest even. */
function float32BitsToHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) {
    // Inf stays Inf; NaN stays a (quiet) NaN with the payload's top bits.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    let half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** Rounds float32 bits to bfloat16 bits, to nearest even. */
function float32BitsToBfloat16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    return (x >>> 16) | 0x40; // NaN: keep it a (quiet) NaN.
  }
  return Math.floor((x + 0x7fff + ((x >>> 16) & 1)) / 0x10000) & 0xffff;
}

/**
 * Converts float32 values to the little-endian bytes of a floating-point
 * dtype, ready to pass as `data` to {@linkcode encodeSafetensors}.
 *
 * `F16` and `BF16` round to nearest, ties to even (overflow gives ±Inf, NaN
 * stays NaN); `F32` keeps the exact bits; `F64` widens exactly.
 *
 * @param values The values; a `number[]` is first rounded to float32.
 * @param dtype The target dtype.
 * @returns `values.length * DTYPE_SIZE[dtype]` bytes.
 *
 * @example
 * ```ts
 * import { fromFloat32 } from "./safetensors.ts";
 *
 * fromFloat32(new Float32Array([1]), "F16"); // Uint8Array [0x00, 0x3c]
 * ```
 */
export function fromFloat32(
  values: Float32Array | readonly number[],
  dtype: "F32" | "F16" | "BF16" | "F64",
): Uint8Array {
  const source = values instanceof Float32Array ? values : Float32Array.from(values);
  const n = source.length;
  const bits = new Uint32Array(n);
  new Float32Array(bits.buffer).set(source);
  const out = new Uint8Array(n * DTYPE_SIZE[dtype]);
  const view = new DataView(out.buffer);
  switch (dtype) {
    case "F32":
      for (let i = 0; i < n; i++) view.setUint32(i * 4, bits[i], true);
      break;
    case "F16":
      for (let i = 0; i < n; i++) {
        view.setUint16(i * 2, float32BitsToHalf(bits[i]), true);
      }
      break;
    case "BF16":
      for (let i = 0; i < n; i++) {
        view.setUint16(i * 2, float32BitsToBfloat16(bits[i]), true);
      }
      break;
    case "F64":
      for (let i = 0; i < n; i++) view.setFloat64(i * 8, source[i], true);
      break;
    default:
      throw new SafetensorsError(
        `cannot convert float32 to dtype ${show(dtype)}`,
      );
  }
  return out;
}
