/**
 * Reading safetensors files: {@linkcode decodeSafetensors} parses and validates a file's header
 * and byte buffer, treating the input as untrusted.
 *
 * @module
 */
import {
  checkDtype,
  checkedByteLength,
  type DecodeOptions,
  DEFAULT_MAX_HEADER_BYTES,
  type Dtype,
  isPlainObject,
  MAX_SHOWN_CHARS,
  METADATA_KEY,
  quote,
  SafetensorsError,
  type SafetensorsFile,
  show,
  type TensorEntry,
  typeName,
} from "./safetensors_format.ts";

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
 * import { decodeSafetensors } from "./mod.ts";
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
