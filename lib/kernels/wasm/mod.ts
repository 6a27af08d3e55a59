/**
 * Loads the course's WebAssembly SIMD kernels (built from kernels.c) and wraps them as functions
 * on plain Float32Arrays. The module's linear memory is a scratch area: inputs are copied in,
 * the kernel runs, outputs are copied out.
 *
 * @module
 */
import { WASM_BASE64 } from "./kernels_wasm.ts";
import { decodeBase64 } from "./encoding.ts";

interface Exports {
  memory: WebAssembly.Memory;
  attention_forward(
    qkv: number,
    y: number,
    lse: number,
    scores: number,
    b: number,
    t: number,
    h: number,
    d: number,
    scale: number,
  ): void;
  attention_backward(
    qkv: number,
    y: number,
    dy: number,
    lse: number,
    dqkv: number,
    b: number,
    t: number,
    h: number,
    d: number,
    scale: number,
  ): void;
  gelu_forward(x: number, y: number, th: number, n: number): void;
  gelu_backward(x: number, th: number, dy: number, dx: number, n: number): void;
}

let instance: Exports | undefined;

function kernels(): Exports {
  if (!instance) {
    const module = new WebAssembly.Module(decodeBase64(WASM_BASE64));
    instance = new WebAssembly.Instance(module, {}).exports as unknown as Exports;
  }
  return instance;
}

/** Scratch memory above the module's stack and data (1 MiB), laid out as consecutive arrays. */
function layout(sizes: number[]): { ex: Exports; ptrs: number[]; heap: Float32Array } {
  const ex = kernels();
  const base = 1 << 20;
  const ptrs: number[] = [];
  let offset = base;
  for (const n of sizes) {
    ptrs.push(offset);
    offset += Math.ceil((n * 4) / 16) * 16;
  }
  const needed = offset - ex.memory.buffer.byteLength;
  if (needed > 0) ex.memory.grow(Math.ceil(needed / 65536));
  return { ex, ptrs, heap: new Float32Array(ex.memory.buffer) };
}

/** Causal attention forward on qkv [B, T, 3C]; returns y [B, T, C] and lse [B, H, T]. */
export function attentionForward(
  qkv: Float32Array,
  b: number,
  t: number,
  h: number,
  d: number,
): { y: Float32Array; lse: Float32Array } {
  const c = h * d;
  if (qkv.length !== b * t * 3 * c) {
    throw new Error(`attentionForward: qkv has ${qkv.length} values, expected ${b * t * 3 * c}`);
  }
  const { ex, ptrs, heap } = layout([qkv.length, b * t * c, b * h * t, t]);
  heap.set(qkv, ptrs[0] / 4);
  ex.attention_forward(ptrs[0], ptrs[1], ptrs[2], ptrs[3], b, t, h, d, 1 / Math.sqrt(d));
  return {
    y: heap.slice(ptrs[1] / 4, ptrs[1] / 4 + b * t * c),
    lse: heap.slice(ptrs[2] / 4, ptrs[2] / 4 + b * h * t),
  };
}

/** Causal attention backward: dqkv [B, T, 3C] from dy [B, T, C] and the forward's y and lse. */
export function attentionBackward(
  qkv: Float32Array,
  y: Float32Array,
  dy: Float32Array,
  lse: Float32Array,
  b: number,
  t: number,
  h: number,
  d: number,
): Float32Array {
  const { ex, ptrs, heap } = layout([qkv.length, y.length, dy.length, lse.length, qkv.length]);
  heap.set(qkv, ptrs[0] / 4);
  heap.set(y, ptrs[1] / 4);
  heap.set(dy, ptrs[2] / 4);
  heap.set(lse, ptrs[3] / 4);
  ex.attention_backward(ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], b, t, h, d, 1 / Math.sqrt(d));
  return heap.slice(ptrs[4] / 4, ptrs[4] / 4 + qkv.length);
}

/** GELU (tanh approximation) forward: y and the tanh values the backward needs. */
export function geluForward(x: Float32Array): { y: Float32Array; th: Float32Array } {
  const n = x.length;
  const { ex, ptrs, heap } = layout([n, n, n]);
  heap.set(x, ptrs[0] / 4);
  ex.gelu_forward(ptrs[0], ptrs[1], ptrs[2], n);
  return {
    y: heap.slice(ptrs[1] / 4, ptrs[1] / 4 + n),
    th: heap.slice(ptrs[2] / 4, ptrs[2] / 4 + n),
  };
}

/** GELU backward: dx from x, the forward's tanh values and dy. */
export function geluBackward(x: Float32Array, th: Float32Array, dy: Float32Array): Float32Array {
  const n = x.length;
  const { ex, ptrs, heap } = layout([n, n, n, n]);
  heap.set(x, ptrs[0] / 4);
  heap.set(th, ptrs[1] / 4);
  heap.set(dy, ptrs[2] / 4);
  ex.gelu_backward(ptrs[0], ptrs[1], ptrs[2], ptrs[3], n);
  return heap.slice(ptrs[3] / 4, ptrs[3] / 4 + n);
}
