import assert from "node:assert/strict";
import { join } from "node:path";
import { concatBytes } from "../lib/tokenizers/bpe.ts";
import {
  AtomicWriteError,
  CheckpointNotFoundError,
  decodeSafetensors,
  DTYPE_SIZE,
  encodeSafetensors,
  fromFloat32,
  readFileChecked,
  SafetensorsError,
  type TensorEntry,
  toFloat32,
  writeFileAtomic,
} from "../lib/io/mod.ts";

// ---------------------------------------------------------------- helpers

const utf8 = (text: string) => new TextEncoder().encode(text);

/** 8-byte little-endian unsigned length prefix, written byte by byte. */
function u64le(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

/** A file from raw header text and a byte buffer of `data` bytes. */
function rawFile(header: string, data: number | Uint8Array): Uint8Array {
  const json = utf8(header);
  const buffer = typeof data === "number" ? new Uint8Array(data) : data;
  return concat(u64le(BigInt(json.length)), json, buffer);
}

/** A file whose header is `JSON.stringify(header)`. */
function jsonFile(header: unknown, data: number | Uint8Array): Uint8Array {
  return rawFile(JSON.stringify(header), data);
}

function assertSafetensorsError(fn: () => unknown, expected: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected a SafetensorsError ~ ${expected}`);
  assert.ok(
    caught instanceof SafetensorsError,
    `expected a SafetensorsError, got ${caught}`,
  );
  assert.ok(caught instanceof Error);
  assert.equal(caught.name, "SafetensorsError");
  assert.match(caught.message, /^safetensors: /);
  assert.match(caught.message, expected);
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function f32Bits(values: Float32Array): number[] {
  return [...new Uint32Array(values.slice().buffer)];
}

function f16Entry(bits: number[]): TensorEntry {
  return {
    dtype: "F16",
    shape: [bits.length],
    data: bytesOf(new Uint16Array(bits)),
  };
}

function bf16Entry(bits: number[]): TensorEntry {
  return {
    dtype: "BF16",
    shape: [bits.length],
    data: bytesOf(new Uint16Array(bits)),
  };
}

function u16Bits(bytes: Uint8Array): number[] {
  return [...new Uint16Array(bytes.slice().buffer)];
}

// ------------------------------------------------------------- round trip

Deno.test("round trip: several dtypes, empty and scalar tensors, metadata", () => {
  const inputs = {
    "h.0.attn.c_attn.weight": {
      dtype: "F32" as const,
      shape: [2, 3],
      data: new Float32Array([1, -2, 3.5, 0.1, 1e-30, -1e30]),
    },
    "f64": {
      dtype: "F64" as const,
      shape: [3],
      data: new Float64Array([Math.PI, -0, 1e300]),
    },
    "ids": {
      dtype: "I32" as const,
      shape: [4],
      data: new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)]),
    },
    "steps": {
      dtype: "I64" as const,
      shape: [2],
      data: new BigInt64Array([-5n, 2n ** 62n]),
    },
    "bytes": {
      dtype: "U8" as const,
      shape: [5],
      data: new Uint8Array([0, 1, 127, 128, 255]),
    },
    "mask": {
      dtype: "BOOL" as const,
      shape: [3],
      data: new Uint8Array([1, 0, 1]),
    },
    "i8": {
      dtype: "I8" as const,
      shape: [2],
      data: new Int8Array([-128, 127]),
    },
    "half": {
      dtype: "F16" as const,
      shape: [2],
      data: new Uint16Array([0x3c00, 0xc000]),
    },
    "brain": {
      dtype: "BF16" as const,
      shape: [1, 2],
      data: new Uint8Array([0x80, 0x3f, 0x00, 0xc0]),
    },
    "empty": {
      dtype: "F32" as const,
      shape: [2, 0, 3],
      data: new Float32Array(0),
    },
    "scalar": {
      dtype: "F32" as const,
      shape: [],
      data: new Float32Array([42]),
    },
  };
  const metadata = { format: "pt", step: "1000", "ünïcödé": '✓ "quoted"' };
  const file = encodeSafetensors(inputs, metadata);
  const { tensors, metadata: meta } = decodeSafetensors(file);

  assert.deepEqual(meta, metadata);
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(inputs).sort());
  for (const [name, input] of Object.entries(inputs)) {
    const entry = tensors[name];
    assert.equal(entry.dtype, input.dtype, name);
    assert.deepEqual(entry.shape, input.shape, name);
    assert.deepEqual(entry.data, bytesOf(input.data), name);
    // Decoded data are views into the file, and naturally aligned.
    assert.equal(entry.data.buffer, file.buffer, name);
    assert.equal(entry.data.byteOffset % DTYPE_SIZE[entry.dtype], 0, name);
  }
  assert.deepEqual(
    [...toFloat32(tensors["h.0.attn.c_attn.weight"])],
    [...inputs["h.0.attn.c_attn.weight"].data],
  );
  assert.deepEqual([...toFloat32(tensors.scalar)], [42]);
  assert.deepEqual([...toFloat32(tensors.empty)], []);
  assert.deepEqual([...toFloat32(tensors.ids)], [0, -1, 2 ** 31, -(2 ** 31)]);
  assert.deepEqual([...toFloat32(tensors.steps)], [-5, 2 ** 62]);
  assert.deepEqual([...toFloat32(tensors.mask)], [1, 0, 1]);
  assert.deepEqual([...toFloat32(tensors.i8)], [-128, 127]);
  assert.deepEqual([...toFloat32(tensors.half)], [1, -2]);
  assert.deepEqual([...toFloat32(tensors.brain)], [1, -2]);
  assert.deepEqual(
    [...toFloat32(tensors.f64)],
    [...Float32Array.from([Math.PI, -0, Infinity])],
  );
});

Deno.test("encode: header padded to 8, layout follows the reference order", () => {
  const file = encodeSafetensors({
    b8: { dtype: "U8", shape: [3], data: new Uint8Array(3) },
    a8: { dtype: "U8", shape: [1], data: new Uint8Array(1) },
    h: { dtype: "F16", shape: [1], data: new Uint16Array(1) },
    w: { dtype: "F32", shape: [1], data: new Float32Array(1) },
    d: { dtype: "F64", shape: [1], data: new Float64Array(1) },
    l: { dtype: "I64", shape: [1], data: new BigInt64Array(1) },
  });
  const n = Number(new DataView(file.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const header = new TextDecoder().decode(file.subarray(8, 8 + n));
  assert.match(header, /^\{.*\} *$/);
  assert.ok(!header.trimEnd().includes(" "), "compact JSON");
  // Descending dtype alignment (reference enum order), then name.
  const parsed = JSON.parse(header) as Record<
    string,
    { data_offsets: [number, number] }
  >;
  const byOffset = Object.entries(parsed)
    .sort((x, y) => x[1].data_offsets[0] - y[1].data_offsets[0])
    .map(([name]) => name);
  assert.deepEqual(byOffset, ["l", "d", "w", "h", "a8", "b8"]);
  // The JSON lists tensors in file order too.
  assert.deepEqual(Object.keys(parsed), byOffset);
});

Deno.test("encode: deterministic regardless of insertion order", () => {
  const a = { dtype: "F32" as const, shape: [1], data: new Float32Array([1]) };
  const b = { dtype: "I32" as const, shape: [1], data: new Int32Array([2]) };
  const one = encodeSafetensors({ a, b }, { y: "1", x: "2" });
  const two = encodeSafetensors({ b, a }, { x: "2", y: "1" });
  assert.deepEqual(one, two);
  const header = new TextDecoder().decode(one.subarray(8, 8 + 112));
  assert.ok(header.startsWith('{"__metadata__":{"x":"2","y":"1"},"a":'));
});

Deno.test("encode: output equals a file written by hand from the spec", () => {
  const data = new Float32Array([0, 1, 2, 3, 4, 5]);
  const file = encodeSafetensors({
    "attn.0": { dtype: "F32", shape: [1, 2, 3], data },
  });
  // 64 bytes of JSON: already a multiple of 8, so no padding.
  const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.equal(json.length, 64);
  const expected = concat(
    new Uint8Array([64, 0, 0, 0, 0, 0, 0, 0]),
    utf8(json),
    new Uint8Array([
      ...[0x00, 0x00, 0x00, 0x00], // 0.0
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0
      ...[0x00, 0x00, 0x00, 0x40], // 2.0
      ...[0x00, 0x00, 0x40, 0x40], // 3.0
      ...[0x00, 0x00, 0x80, 0x40], // 4.0
      ...[0x00, 0x00, 0xa0, 0x40], // 5.0
    ]),
  );
  assert.deepEqual(file, expected);

  // A shorter name forces 7 spaces of padding.
  const padded = encodeSafetensors({
    attn0: { dtype: "F32", shape: [1, 1, 2, 3], data },
  });
  const json2 = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  assert.equal(json2.length, 65);
  assert.deepEqual(padded.subarray(0, 8), u64le(72n));
  assert.deepEqual(padded.subarray(8, 80), utf8(json2 + " ".repeat(7)));
  assert.deepEqual(padded.subarray(80), bytesOf(data));

  // No tensors at all.
  assert.deepEqual(encodeSafetensors({}), concat(u64le(8n), utf8("{}      ")));
});

Deno.test("decode: a file constructed byte by byte", () => {
  // Unpadded header, so the data are not aligned: toFloat32 must cope.
  const header = '{"__metadata__":{"format":"pt"},' +
    '"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]},' +
    '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"e":{"dtype":"F16","shape":[0,4],"data_offsets":[12,12]}}';
  const n = header.length;
  assert.notEqual((8 + n) % 4, 0);
  const file = new Uint8Array(8 + n + 12);
  file[0] = n & 0xff;
  file[1] = n >> 8;
  for (let i = 0; i < n; i++) file[8 + i] = header.charCodeAt(i);
  file.set([0x00, 0x00, 0x80, 0x3f], 8 + n); // a[0] = 1.0
  file.set([0x00, 0x00, 0x20, 0xc0], 8 + n + 4); // a[1] = -2.5
  file.set([0xf9, 0xff, 0xff, 0xff], 8 + n + 8); // b = -7

  const { tensors, metadata } = decodeSafetensors(file);
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual(Object.keys(tensors).sort(), ["a", "b", "e"]);
  assert.equal(tensors.a.dtype, "F32");
  assert.deepEqual(tensors.a.shape, [2]);
  assert.deepEqual([...toFloat32(tensors.a)], [1, -2.5]);
  assert.equal(tensors.b.dtype, "I32");
  assert.deepEqual(tensors.b.shape, []);
  assert.deepEqual([...toFloat32(tensors.b)], [-7]);
  assert.deepEqual(tensors.e.shape, [0, 4]);
  assert.equal(tensors.e.data.length, 0);

  // Trailing space padding is allowed, and so is a subarray input.
  const padded = rawFile(
    '{"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}   ',
    new Uint8Array([7, 9]),
  );
  const shifted = concat(new Uint8Array(3), padded).subarray(3);
  assert.deepEqual(
    decodeSafetensors(shifted).tensors.x.data,
    Uint8Array.of(7, 9),
  );
});

Deno.test("decode: a tensor named __proto__ is an ordinary own key", () => {
  const file = rawFile(
    '{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
    Uint8Array.of(5),
  );
  const { tensors } = decodeSafetensors(file);
  assert.ok(Object.hasOwn(tensors, "__proto__"));
  assert.deepEqual(tensors["__proto__"].data, Uint8Array.of(5));
  assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
});

// ------------------------------------------------------------------ floats

Deno.test("F32 round trip is bit exact: NaN payloads, -0, denormals, inf", () => {
  const bits = new Uint32Array([
    0x7fc00000, // canonical quiet NaN
    0x7fc00001, // quiet NaN with payload
    0xffc12345, // negative NaN with payload
    0x7f800001, // signalling NaN
    0x80000000, // -0
    0x00000001, // smallest denormal
    0x807fffff, // largest negative denormal
    0x7f7fffff, // max finite
    0x7f800000, // +inf
    0xff800000, // -inf
    0x3f800000, // 1
  ]);
  const values = new Float32Array(bits.buffer);
  const file = encodeSafetensors({
    x: { dtype: "F32", shape: [bits.length], data: values },
  });
  const { tensors } = decodeSafetensors(file);
  assert.deepEqual(tensors.x.data, bytesOf(bits));
  assert.deepEqual(f32Bits(toFloat32(tensors.x)), [...bits]);
  // fromFloat32("F32") keeps the bits too.
  assert.deepEqual(fromFloat32(values, "F32"), bytesOf(bits));
  // Unaligned source data are copied exactly as well.
  const shifted = concat(new Uint8Array(1), bytesOf(bits)).subarray(1);
  assert.deepEqual(
    f32Bits(toFloat32({ dtype: "F32", shape: [bits.length], data: shifted })),
    [...bits],
  );
});

Deno.test("F16 to float32: known values", () => {
  const out = toFloat32(
    f16Entry([
      0x3c00, // 1
      0xc000, // -2
      0x7bff, // 65504, largest finite
      0x0001, // 2^-24, smallest subnormal
      0x03ff, // largest subnormal
      0x0400, // 2^-14, smallest normal
      0x8000, // -0
      0x7c00, // inf
      0xfc00, // -inf
      0x3555, // 0.333251953125
    ]),
  );
  assert.deepEqual([...out], [
    1,
    -2,
    65504,
    2 ** -24,
    1023 * 2 ** -24,
    2 ** -14,
    -0,
    Infinity,
    -Infinity,
    0.333251953125,
  ]);
  assert.ok(Object.is(out[6], -0));
  const nan = toFloat32(f16Entry([0x7e00, 0x7c01, 0xfe00]));
  assert.ok(nan.every(Number.isNaN));
  // NaN payload and sign survive the widening.
  assert.deepEqual(f32Bits(nan), [0x7fc00000, 0x7f802000, 0xffc00000]);
  // Data at an odd byte offset (e.g. after an unpadded header) decode alike.
  const aligned = f16Entry([0x3c00, 0x0001, 0xfe00, 0x7bff]);
  const odd = concat(new Uint8Array(1), aligned.data).subarray(1);
  assert.deepEqual(
    f32Bits(toFloat32({ ...aligned, data: odd })),
    f32Bits(toFloat32(aligned)),
  );
});

Deno.test("BF16 to float32: known values", () => {
  const out = toFloat32(
    bf16Entry([
      0x3f80, // 1
      0xc000, // -2
      0x4780, // 65536 (65504 is not representable)
      0x0001, // smallest subnormal, 2^-133
      0x7f7f, // max finite
      0x8000, // -0
      0x7f80, // inf
      0xff80, // -inf
      0x7fc0, // NaN
    ]),
  );
  assert.deepEqual([...out].slice(0, 8), [
    1,
    -2,
    65536,
    2 ** -133,
    3.3895313892515355e38,
    -0,
    Infinity,
    -Infinity,
  ]);
  assert.ok(Number.isNaN(out[8]));
  assert.ok(Object.is(out[5], -0));
});

Deno.test("fromFloat32: F16 and BF16 round to nearest even", () => {
  const values = [
    1,
    -2,
    65504,
    2 ** -24,
    2 ** -14,
    -0,
    Infinity,
    -Infinity,
    65519, // rounds down to 65504
    65520, // halfway to 65536: overflows to inf
    1 + 2 ** -11, // tie: to even (1)
    1 + 3 * 2 ** -11, // tie: to even (1 + 2^-9)
    2 ** -25, // tie between 0 and 2^-24: to even (0)
    2 ** -25 * 1.5, // above the tie: 2^-24
    3 * 2 ** -25, // tie between 2^-24 and 2^-23: to even (2^-23)
    1e-10, // underflows to 0
  ];
  assert.deepEqual(u16Bits(fromFloat32(values, "F16")), [
    0x3c00,
    0xc000,
    0x7bff,
    0x0001,
    0x0400,
    0x8000,
    0x7c00,
    0xfc00,
    0x7bff,
    0x7c00,
    0x3c00,
    0x3c02,
    0x0000,
    0x0001,
    0x0002,
    0x0000,
  ]);
  const nan = u16Bits(fromFloat32([NaN], "F16"))[0];
  assert.equal(nan & 0x7c00, 0x7c00);
  assert.notEqual(nan & 0x3ff, 0);

  assert.deepEqual(
    u16Bits(fromFloat32([1, -2, 65504, 2 ** -133, -0, Infinity], "BF16")),
    [0x3f80, 0xc000, 0x4780, 0x0001, 0x8000, 0x7f80],
  );
  // Ties to even: 1 + 2^-8 -> 1, 1 + 3 * 2^-8 -> 1 + 2^-6.
  assert.deepEqual(
    u16Bits(fromFloat32([1 + 2 ** -8, 1 + 3 * 2 ** -8], "BF16")),
    [0x3f80, 0x3f82],
  );
  assert.ok(
    Number.isNaN(toFloat32(bf16Entry(u16Bits(fromFloat32([NaN], "BF16"))))[0]),
  );

  // Every finite F16 value survives F16 -> F32 -> F16.
  const all = Array.from({ length: 0x10000 }, (_, i) => i)
    .filter((h) => (h & 0x7c00) !== 0x7c00);
  const widened = toFloat32(f16Entry(all));
  assert.deepEqual(u16Bits(fromFloat32(widened, "F16")), all);

  assert.deepEqual(
    new Float64Array(fromFloat32([0.1, -0], "F64").buffer),
    Float64Array.of(Math.fround(0.1), -0),
  );
});

// --------------------------------------------------------- untrusted input

const ONE_U8 = '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';

Deno.test("untrusted: truncated files", () => {
  assertSafetensorsError(
    () => decodeSafetensors(new Uint8Array(0)),
    /file truncated: need 8 bytes .* has only 0/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(new Uint8Array(5)),
    /file truncated: need 8 bytes .* has only 5/,
  );
  const good = rawFile(ONE_U8, 1);
  // Header cut short.
  assertSafetensorsError(
    () => decodeSafetensors(good.subarray(0, 20)),
    /file truncated: header says 53 bytes but only 12 remain/,
  );
  // Data cut short: the tensor no longer fits in the byte buffer.
  assertSafetensorsError(
    () => decodeSafetensors(good.subarray(0, good.length - 1)),
    /tensor "t" data_offsets \[0,1\] are out of range: the byte buffer has 0 bytes/,
  );
});

Deno.test("untrusted: header length larger than the file or the limit", () => {
  const lying = concat(u64le(812n), utf8("{}"), new Uint8Array(290));
  assertSafetensorsError(
    () => decodeSafetensors(lying),
    /file truncated: header says 812 bytes but only 292 remain/,
  );
  // 2^64 - 1: rejected by the size limit before anything is allocated.
  assertSafetensorsError(
    () => decodeSafetensors(concat(u64le(2n ** 64n - 1n), utf8("{}"))),
    /header length 18446744073709551615 exceeds the limit of 100000000 bytes/,
  );
  const file = rawFile(ONE_U8, 1);
  assertSafetensorsError(
    () => decodeSafetensors(file, { maxHeaderBytes: 16 }),
    /header length 53 exceeds the limit of 16 bytes/,
  );
  assert.ok(decodeSafetensors(file, { maxHeaderBytes: 53 }).tensors.t);
});

Deno.test("untrusted: malformed header text", () => {
  assertSafetensorsError(
    () => decodeSafetensors(rawFile('{"t": {', 0)),
    /header is not valid JSON: /,
  );
  assertSafetensorsError(
    () => decodeSafetensors(rawFile("{}x", 0)),
    /header is not valid JSON/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(rawFile(' {"a":1}', 0)),
    /header must start with "\{" but starts with byte 0x20/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(rawFile("[]", 0)),
    /header must start with "\{"/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(concat(u64le(0n))),
    /header is empty/,
  );
  const badUtf8 = concat(u64le(4n), Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d));
  assertSafetensorsError(
    () => decodeSafetensors(badUtf8),
    /header is not valid UTF-8/,
  );
  assertSafetensorsError(
    () =>
      decodeSafetensors(rawFile(
        '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' +
          '"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
        1,
      )),
    /duplicate key "t"/,
  );
  assertSafetensorsError(
    () =>
      decodeSafetensors(rawFile(
        '{"t":{"dtype":"F32","dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
        1,
      )),
    /duplicate key "dtype"/,
  );
  // Escaped spellings of the same key are still duplicates.
  assertSafetensorsError(
    () =>
      decodeSafetensors(rawFile(
        '{"__metadata__":{"a":"1","\\u0061":"2"}}',
        0,
      )),
    /duplicate key "a"/,
  );
  // Keys that only look alike inside string values are fine.
  assert.deepEqual(
    decodeSafetensors(rawFile(
      '{"__metadata__":{"a":"{\\"a\\":1,\\"a\\":2}","b":"a"}}',
      0,
    )).metadata,
    { a: '{"a":1,"a":2}', b: "a" },
  );
});

Deno.test("untrusted: unknown dtype", () => {
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        w: { dtype: "F128", shape: [1], data_offsets: [0, 16] },
      }, 16)),
    /tensor "w" has unknown dtype "F128"/,
  );
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        w: { dtype: 4, shape: [1], data_offsets: [0, 4] },
      }, 4)),
    /tensor "w" has unknown dtype 4/,
  );
});

Deno.test("untrusted: byte length does not match shape and dtype", () => {
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        "h.0.attn.c_attn.weight": {
          dtype: "F32",
          shape: [3, 4],
          data_offsets: [0, 1024],
        },
      }, 1024)),
    /tensor "h\.0\.attn\.c_attn\.weight" has 1024 bytes but shape \[3,4\] of F32 needs 48/,
  );
  // A lying shape cannot make us allocate: overflow is reported instead.
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        big: {
          dtype: "F32",
          shape: [2 ** 30, 2 ** 30, 2 ** 30],
          data_offsets: [0, 4],
        },
      }, 4)),
    /tensor "big" has shape \[1073741824,1073741824,1073741824\] whose element count overflows/,
  );
});

Deno.test("untrusted: offsets out of range or malformed", () => {
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        w: { dtype: "F32", shape: [100], data_offsets: [0, 400] },
      }, 48)),
    /tensor "w" data_offsets \[0,400\] are out of range: the byte buffer has 48 bytes/,
  );
  for (
    const offsets of [[4, 0], [0], [0, 4, 8], [-4, 0], [0.5, 4.5], "0,4", [
      0,
      2 ** 53,
    ]]
  ) {
    assertSafetensorsError(
      () =>
        decodeSafetensors(jsonFile({
          w: { dtype: "F32", shape: [1], data_offsets: offsets },
        }, 4)),
      /tensor "w" has invalid data_offsets/,
    );
  }
  assertSafetensorsError(
    () => decodeSafetensors(jsonFile({ w: { dtype: "F32", shape: [1] } }, 4)),
    /tensor "w" has no "data_offsets"/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(jsonFile({ w: [1, 2] }, 0)),
    /tensor "w" header entry is an array/,
  );
});

Deno.test("untrusted: overlapping tensors, gaps and trailing bytes", () => {
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      }, 12)),
    /tensors "a" \[0,8\] and "b" \[4,12\] overlap/,
  );
  // Two names for the same bytes overlap too.
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        a: { dtype: "U8", shape: [4], data_offsets: [0, 4] },
        b: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
      }, 4)),
    /tensors "a" \[0,4\] and "b" \[0,4\] overlap/,
  );
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
        b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
      }, 12)),
    /gap in the byte buffer: bytes \[4,8\) between tensors "a" and "b"/,
  );
  assertSafetensorsError(
    () =>
      decodeSafetensors(jsonFile({
        a: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }, 8)),
    /gap in the byte buffer: bytes \[0,4\) before tensor "a"/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(rawFile(ONE_U8, 5)),
    /byte buffer has 5 bytes but the tensors cover only 1/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(rawFile("{}", 3)),
    /byte buffer has 3 bytes but the tensors cover only 0/,
  );
});

Deno.test("untrusted: negative, fractional and non-numeric shapes", () => {
  const cases: [unknown, RegExp][] = [
    [[-1], /dimension 0 is -1, expected a non-negative integer/],
    [[2, 1.5], /dimension 1 is 1\.5, expected a non-negative integer/],
    [[2, "3"], /dimension 1 is "3"/],
    [[null], /dimension 0 is null/],
    [[2 ** 53], /dimension 0 is 9007199254740992/],
    ["[2]", /expected an array of non-negative integers/],
  ];
  for (const [shape, message] of cases) {
    assertSafetensorsError(
      () =>
        decodeSafetensors(jsonFile({
          "x.w": { dtype: "F32", shape, data_offsets: [0, 4] },
        }, 4)),
      new RegExp(`tensor "x\\.w" has invalid shape .*${message.source}`),
    );
  }
});

Deno.test("untrusted: metadata must map strings to strings", () => {
  assertSafetensorsError(
    () => decodeSafetensors(jsonFile({ __metadata__: { step: 100 } }, 0)),
    /metadata value for key "step" is a number, expected a string/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(jsonFile({ __metadata__: { nested: {} } }, 0)),
    /metadata value for key "nested" is an object/,
  );
  assertSafetensorsError(
    () => decodeSafetensors(jsonFile({ __metadata__: ["a"] }, 0)),
    /"__metadata__" is an array, expected an object of strings/,
  );
  assert.deepEqual(
    decodeSafetensors(jsonFile({ __metadata__: {} }, 0)).metadata,
    {},
  );
});

Deno.test("untrusted: long names are truncated in messages", () => {
  const name = "n".repeat(10_000);
  let message = "";
  try {
    decodeSafetensors(jsonFile({
      [name]: { dtype: "X", shape: [1], data_offsets: [0, 1] },
    }, 1));
  } catch (error) {
    message = (error as Error).message;
  }
  assert.match(message, /unknown dtype "X"/);
  assert.ok(message.length < 500, `message has ${message.length} chars`);
});

Deno.test("encode: invalid inputs give SafetensorsError", () => {
  assertSafetensorsError(
    () =>
      encodeSafetensors({
        w: { dtype: "F32", shape: [3, 4], data: new Float32Array(5) },
      }),
    /tensor "w" has 20 bytes but shape \[3,4\] of F32 needs 48/,
  );
  assertSafetensorsError(
    () =>
      encodeSafetensors({
        w: { dtype: "F16", shape: [2], data: new Float32Array(1) },
      }),
    /tensor "w" has dtype F16 but its data is a Float32Array/,
  );
  assertSafetensorsError(
    () =>
      encodeSafetensors({
        // deno-lint-ignore no-explicit-any
        w: { dtype: "Q4" as any, shape: [1], data: new Uint8Array(1) },
      }),
    /tensor "w" has unknown dtype "Q4"/,
  );
  assertSafetensorsError(
    () =>
      encodeSafetensors({
        w: { dtype: "U8", shape: [-1], data: new Uint8Array(0) },
      }),
    /tensor "w" has invalid shape \[-1\]/,
  );
  assertSafetensorsError(
    () =>
      encodeSafetensors({
        __metadata__: { dtype: "U8", shape: [0], data: new Uint8Array(0) },
      }),
    /"__metadata__" is reserved/,
  );
  assertSafetensorsError(
    // deno-lint-ignore no-explicit-any
    () => encodeSafetensors({}, { step: 3 as any }),
    /metadata value for key "step" is a number, expected a string/,
  );
  // Raw bytes may carry any dtype.
  const raw = encodeSafetensors({
    w: { dtype: "F32", shape: [1], data: Uint8Array.of(0, 0, 0x80, 0x3f) },
  });
  assert.deepEqual([...toFloat32(decodeSafetensors(raw).tensors.w)], [1]);
});

Deno.test("toFloat32: rejects data that do not match the shape", () => {
  assertSafetensorsError(
    () => toFloat32({ dtype: "F32", shape: [2], data: new Uint8Array(4) }),
    /has 4 bytes but shape \[2\] of F32 needs 8/,
  );
  assertSafetensorsError(
    () => toFloat32({ dtype: "F8_E4M3", shape: [1], data: new Uint8Array(1) }),
    /cannot convert dtype F8_E4M3 to float32/,
  );
});

// ------------------------------------------------------------ atomic write

async function tempFilesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".tmp")) names.push(entry.name);
  }
  return names;
}

Deno.test("writeFileAtomic: creates and replaces the target", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = join(dir, "model.safetensors");
    await writeFileAtomic(target, Uint8Array.of(1, 2, 3));
    assert.deepEqual(await Deno.readFile(target), Uint8Array.of(1, 2, 3));
    const big = new Uint8Array(3 << 20).map((_, i) => i & 0xff);
    await writeFileAtomic(target, big);
    assert.deepEqual(await readFileChecked(target), big);
    await writeFileAtomic(target, new Uint8Array(0));
    assert.equal((await Deno.stat(target)).size, 0);
    assert.deepEqual(await tempFilesIn(dir), []);

    // A whole checkpoint round trip through the file system.
    const file = encodeSafetensors({
      w: { dtype: "F32", shape: [2], data: Float32Array.of(0.5, -1) },
    }, { step: "7" });
    await writeFileAtomic(target, file);
    const decoded = decodeSafetensors(await readFileChecked(target));
    assert.deepEqual([...toFloat32(decoded.tensors.w)], [0.5, -1]);
    assert.deepEqual(decoded.metadata, { step: "7" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic: concurrent writers never interleave", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = join(dir, "ckpt.bin");
    const payloads = Array.from(
      { length: 8 },
      (_, k) => new Uint8Array(1 << 16).fill(k),
    );
    await Promise.all(payloads.map((p) => writeFileAtomic(target, p)));
    const result = await Deno.readFile(target);
    assert.ok(payloads.some((p) => p.every((b, i) => result[i] === b)));
    assert.equal(result.length, 1 << 16);
    assert.deepEqual(await tempFilesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic: failures leave the original and no temp files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = join(dir, "model.safetensors");
    const original = Uint8Array.of(9, 9, 9);
    await Deno.writeFile(target, original);

    // The parent "directory" is a regular file.
    await assert.rejects(
      writeFileAtomic(join(target, "child.bin"), Uint8Array.of(1)),
      (error: unknown) => {
        assert.ok(error instanceof AtomicWriteError);
        assert.match(error.message, /cannot write ".*child\.bin"/);
        assert.ok(error.cause instanceof Error);
        return true;
      },
    );
    // The directory does not exist.
    await assert.rejects(
      writeFileAtomic(join(dir, "missing", "x.bin"), Uint8Array.of(1)),
      AtomicWriteError,
    );
    // The rename fails after the temp file was written: the target is a
    // non-empty directory. The temp file must be cleaned up.
    const blocker = join(dir, "blocker");
    await Deno.mkdir(blocker);
    await Deno.writeFile(join(blocker, "keep"), Uint8Array.of(5));
    await assert.rejects(
      writeFileAtomic(blocker, Uint8Array.of(1, 2)),
      AtomicWriteError,
    );
    assert.ok((await Deno.stat(blocker)).isDirectory);
    assert.deepEqual(
      await Deno.readFile(join(blocker, "keep")),
      Uint8Array.of(5),
    );

    assert.deepEqual(await Deno.readFile(target), original);
    assert.deepEqual(await tempFilesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "writeFileAtomic: read-only directory leaves the original intact",
  // root ignores directory permissions; the cases above cover failures then.
  ignore: Deno.build.os === "windows" || Deno.uid() === 0,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const target = join(dir, "model.safetensors");
    try {
      await Deno.writeFile(target, Uint8Array.of(7));
      await Deno.chmod(dir, 0o555);
      await assert.rejects(
        writeFileAtomic(target, Uint8Array.of(1, 2, 3)),
        AtomicWriteError,
      );
      assert.deepEqual(await Deno.readFile(target), Uint8Array.of(7));
      assert.deepEqual(await tempFilesIn(dir), []);
    } finally {
      await Deno.chmod(dir, 0o755);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("readFileChecked: clear error for a missing checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "nope.safetensors");
    await assert.rejects(readFileChecked(path), (error: unknown) => {
      assert.ok(error instanceof CheckpointNotFoundError);
      assert.equal(error.message, `checkpoint not found: ${path}`);
      assert.equal(error.path, path);
      assert.ok(error.cause instanceof Deno.errors.NotFound);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
