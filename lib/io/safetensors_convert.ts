/**
 * Float conversions for safetensors tensors: {@linkcode toFloat32} widens or rounds any supported
 * dtype to float32, {@linkcode fromFloat32} rounds float32 values to F16, BF16, F32 or F64 bytes.
 *
 * @module
 */
import {
  checkDtype,
  checkedByteLength,
  DTYPE_SIZE,
  IS_LITTLE_ENDIAN,
  SafetensorsError,
  show,
  type TensorEntry,
} from "./safetensors_format.ts";

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
 * import { toFloat32 } from "./mod.ts";
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
 * import { fromFloat32 } from "./mod.ts";
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
