/**
 * Block-sparse causal attention for the WebGPU backend: the WGSL counterpart of
 * cpu_block_sparse.ts, with the same qkv [B·T, 3C] → y [B·T, C] interface, run through
 * tfjs-backend-webgpu's `runWebGPUProgram` like gpu_dense.ts (whose design it follows:
 * one invocation per row, online softmax, no atomics, no workgroup barriers).
 *
 * The pattern reaches the GPU in two forms:
 *
 * - the tile list, as one int32 storage tensor: the tiles of each query block (CSR of
 *   `blockLayout`) and the same tiles by key block (its transpose, for dK/dV);
 * - the element mask, as a WGSL function `allowed(i, j)` of the pattern's kind and parameters,
 *   passed as uniforms, so one compiled shader serves every pattern (llvmpipe compiles slowly).
 *
 * Four shaders, generated per head size D and head count H:
 *
 * - forward: one invocation per (batch·head, query row i); loops over the tiles of i's query
 *   block, and within a tile over keys j ≤ i with allowed(i, j), with an online softmax; writes
 *   the output row and its logsumexp (as extra columns: one output per program).
 * - delta: Δ_i = dO_i · O_i.
 * - dQ: per query row, the same loop as the forward, recomputing P_ij = exp(q_i·k_j/√D − lse_i).
 * - dK/dV: per key row j, over the tiles of j's key block (transposed list) and the queries
 *   i ≥ j of each with allowed(i, j).
 *
 * A partial last block needs nothing special: every loop is clipped at T.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "../kernels/custom_op.ts";
import { HeadRowCode, rowKernel, webgpuBackend, type WebGPUProgram } from "./wgsl.ts";
import { LruCache } from "../cache.ts";
import {
  blockLayout,
  DEFAULT_BLOCK_SIZE,
  patternName,
  type SparsePattern,
  validatePattern,
} from "./patterns.ts";

/** The uniform struct's extra fields; their values come from {@link patternUniforms}. */
const UNIFORMS = "T : i32, BS : i32, kind : i32, p0 : i32, p1 : i32,";

/** Pattern kind codes, as the WGSL `allowed` switch reads them. */
const KIND_CODES: Record<SparsePattern["kind"], number> = {
  dense: 0,
  band: 1,
  strided: 2,
  fixed: 3,
  logsparse: 4,
};

function patternUniforms(p: SparsePattern, t: number, bs: number) {
  const [p0, p1] = p.kind === "band"
    ? [p.window, 0]
    : p.kind === "strided"
    ? [p.stride, 0]
    : p.kind === "fixed"
    ? [p.block, p.summary]
    : [0, 0];
  return [t, bs, KIND_CODES[p.kind], p0, p1].map((v) => ({ type: "int32" as const, data: [v] }));
}

/**
 * The WGSL twin of `allowed(p, i, j)` in patterns.ts, for 0 ≤ j ≤ i (the loops
 * never visit j > i). Tested against the CPU kernel, which uses the TypeScript definition.
 */
const ALLOWED_WGSL = `
    fn allowed(i : i32, j : i32) -> bool {
      let back = i - j;
      var ok = true; // dense (kind 0)
      switch uniforms.kind {
        case 1: { ok = back < uniforms.p0; } // band
        case 2: { ok = back < uniforms.p0 || back % uniforms.p0 == 0; } // strided
        case 3: { // fixed
          ok = i / uniforms.p0 == j / uniforms.p0 || j % uniforms.p0 >= uniforms.p0 - uniforms.p1;
        }
        case 4: { ok = (back & (back - 1)) == 0; } // logsparse: 0 or a power of two
        default: {}
      }
      return ok;
    }`;

/**
 * WGSL code generation for head size D and H heads in the fused layout: qkv rows of 3C floats
 * (q, k, v of head h at h·D, C + h·D, 2C + h·D), forward output rows of C + H floats (merged
 * heads, then H logsumexps), gradient rows of 3C. A head's row lives in ⌈D/4⌉ vec4 registers
 * and every loop over D is unrolled here, as in gpu_dense.ts.
 */
class Gen extends HeadRowCode {
  readonly h: number;
  readonly c: number;
  constructor(d: number, h: number) {
    super(d);
    this.h = h;
    this.c = h * d;
  }
  key(name: string): string {
    return `gptcourse_sparse_attention_${name}_${this.d}_${this.h}`;
  }
  header(): string {
    return `
    const D = ${this.d};
    const HEADS = ${this.h};
    const C = ${this.c};
    const SCALE : f32 = ${1 / Math.sqrt(this.d)};
    const OL_STRIDE = ${this.c + this.h};
    // First float of row i of head bh in a tensor with rows of 'stride' floats.
    fn rowStart(bh : i32, i : i32, stride : i32) -> i32 {
      return ((bh / HEADS) * uniforms.T + i) * stride + (bh % HEADS) * D;
    }
    // Where the row's logsumexp sits in the forward output.
    fn lseAt(bh : i32, i : i32) -> i32 {
      return ((bh / HEADS) * uniforms.T + i) * OL_STRIDE + C + bh % HEADS;
    }`;
  }
  /**
   * Readers of the tile list and the element mask. Only for shaders that bind Blocks: WebGPU's
   * automatic layout drops bindings a shader never uses, and tfjs binds every input.
   */
  tiles(): string {
    return `
    fn nBlocks() -> i32 {
      return (uniforms.T + uniforms.BS - 1) / uniforms.BS;
    }
    // The tile list: [rowPtr (nb + 1) | cols (tiles) | colPtr (nb + 1) | rows (tiles)].
    fn tilesOfQueryBlock(qb : i32) -> vec2<i32> {
      return vec2<i32>(Blocks[qb], Blocks[qb + 1]);
    }
    fn keyBlockOf(e : i32) -> i32 {
      return Blocks[nBlocks() + 1 + e];
    }
    fn tilesOfKeyBlock(kb : i32) -> vec2<i32> {
      let base = nBlocks() + 1 + Blocks[nBlocks()];
      return vec2<i32>(Blocks[base + kb], Blocks[base + kb + 1]);
    }
    fn queryBlockOf(e : i32) -> i32 {
      return Blocks[2 * (nBlocks() + 1) + Blocks[nBlocks()] + e];
    }
    ${ALLOWED_WGSL}`;
  }
}

/** Common fields of the row kernels. */
function rows(bh: number, t: number) {
  return rowKernel(bh, t, UNIFORMS, "gpu block-sparse attention");
}

/** Forward: inputs QKV and the tile list; output [B·T, C + H] (rows, then logsumexps). */
function forwardProgram(g: Gen, bh: number, t: number, olShape: number[]): WebGPUProgram {
  return {
    outputShape: olShape,
    shaderKey: g.key("fwd"),
    ...rows(bh, t),
    variableNames: ["QKV", "Blocks"],
    variableComponents: g.components(1, 1),
    getUserCode: () => `
    ${g.header()}
    ${g.tiles()}
    ${g.reader("QKV")}

    fn main() {
      let i = i32(globalId.x);
      if (i >= uniforms.T) {
        return;
      }
      let bh = i32(globalId.y);
      ${g.declare("q")}
      ${g.declare("acc")}
      ${g.load("q", "QKV", `rowStart(bh, i, 3 * C)`, " * SCALE")}
      var m : f32 = -3.0e38; // running max of the scores
      var l : f32 = 0.0; // running sum of exp(score - m)
      let tiles = tilesOfQueryBlock(i / uniforms.BS);
      for (var e = tiles.x; e < tiles.y; e++) {
        let j0 = keyBlockOf(e) * uniforms.BS;
        let j1 = min(j0 + uniforms.BS, i + 1);
        for (var j = j0; j < j1; j++) {
          if (!allowed(i, j)) {
            continue;
          }
          let kv = rowStart(bh, j, 3 * C);
          ${g.fetch("k", "QKV", "kv + C")}
          let score = ${g.dot("q", "k")};
          if (score > m) {
            let alpha = exp(m - score);
            l *= alpha;
            ${g.scale("acc", "alpha")}
            m = score;
          }
          let p = exp(score - m);
          l += p;
          ${g.fetch("v", "QKV", "kv + 2 * C")}
          ${g.axpy("acc", "p", "v")}
        }
      }
      let o = rowStart(bh, i, OL_STRIDE);
      let inv = 1.0 / l;
      ${g.store("o", "acc", " * inv")}
      result[lseAt(bh, i)] = m + log(l);
    }
  `,
  };
}

/** Δ [B·H, T] from dO and the forward output OL. */
function deltaProgram(g: Gen, bh: number, t: number): WebGPUProgram {
  const workgroup = 64;
  return {
    outputShape: [bh, t],
    shaderKey: g.key("delta"),
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil((bh * t) / workgroup), 1, 1],
    variableNames: ["dO", "OL"],
    variableComponents: g.components(1, 1),
    workgroupSize: [workgroup, 1, 1],
    uniforms: UNIFORMS,
    size: true,
    getUserCode: () => `
    ${g.header()}
    ${g.reader("dO")}
    ${g.reader("OL", false)}

    fn main(index : i32) {
      if (index < uniforms.size) {
        let bh = index / uniforms.T;
        let i = index - bh * uniforms.T;
        ${g.fetch("a", "dO", "rowStart(bh, i, C)")}
        ${g.fetch("b", "OL", "rowStart(bh, i, OL_STRIDE)")}
        result[index] = ${g.dot("a", "b")};
      }
    }
  `,
  };
}

const GRAD_INPUTS = ["QKV", "dO", "OL", "Delta", "Blocks"];

/** dQ, into its columns of the gradient [B·T, 3C]. */
function dqProgram(g: Gen, bh: number, t: number, gradShape: number[]): WebGPUProgram {
  return {
    outputShape: gradShape,
    shaderKey: g.key("dq"),
    ...rows(bh, t),
    variableNames: GRAD_INPUTS,
    variableComponents: g.components(2, 3),
    getUserCode: () => `
    ${g.header()}
    ${g.tiles()}
    ${g.reader("QKV")}
    ${g.reader("dO")}

    fn main() {
      let i = i32(globalId.x);
      if (i >= uniforms.T) {
        return;
      }
      let bh = i32(globalId.y);
      ${g.declare("q")}
      ${g.declare("dout")}
      ${g.declare("dq")}
      ${g.load("q", "QKV", "rowStart(bh, i, 3 * C)", " * SCALE")}
      ${g.load("dout", "dO", "rowStart(bh, i, C)")}
      let lse = OL[lseAt(bh, i)];
      let delta = Delta[bh * uniforms.T + i];
      let tiles = tilesOfQueryBlock(i / uniforms.BS);
      for (var e = tiles.x; e < tiles.y; e++) {
        let j0 = keyBlockOf(e) * uniforms.BS;
        let j1 = min(j0 + uniforms.BS, i + 1);
        for (var j = j0; j < j1; j++) {
          if (!allowed(i, j)) {
            continue;
          }
          let kv = rowStart(bh, j, 3 * C);
          ${g.fetch("k", "QKV", "kv + C")}
          ${g.fetch("v", "QKV", "kv + 2 * C")}
          let p = exp(${g.dot("q", "k")} - lse);
          let ds = p * (${g.dot("dout", "v")} - delta);
          ${g.axpy("dq", "ds", "k")}
        }
      }
      let o = rowStart(bh, i, 3 * C);
      ${g.store("o", "dq", " * SCALE")}
    }
  `,
  };
}

/** dK and dV, into their columns of the gradient [B·T, 3C]. */
function dkvProgram(g: Gen, bh: number, t: number, gradShape: number[]): WebGPUProgram {
  return {
    outputShape: gradShape,
    shaderKey: g.key("dkv"),
    ...rows(bh, t),
    variableNames: GRAD_INPUTS,
    variableComponents: g.components(2, 3),
    getUserCode: () => `
    ${g.header()}
    ${g.tiles()}
    ${g.reader("QKV")}
    ${g.reader("dO")}

    fn main() {
      let j = i32(globalId.x); // this invocation's key row
      if (j >= uniforms.T) {
        return;
      }
      let bh = i32(globalId.y);
      ${g.declare("k")}
      ${g.declare("v")}
      ${g.declare("dk")}
      ${g.declare("dv")}
      let kv = rowStart(bh, j, 3 * C);
      ${g.load("k", "QKV", "kv + C", " * SCALE")}
      ${g.load("v", "QKV", "kv + 2 * C")}
      let tiles = tilesOfKeyBlock(j / uniforms.BS);
      for (var e = tiles.x; e < tiles.y; e++) {
        let q0 = queryBlockOf(e) * uniforms.BS;
        let i1 = min(q0 + uniforms.BS, uniforms.T);
        // Only queries i ≥ j see key j.
        for (var i = max(q0, j); i < i1; i++) {
          if (!allowed(i, j)) {
            continue;
          }
          ${g.fetch("q", "QKV", "rowStart(bh, i, 3 * C)")}
          ${g.fetch("dout", "dO", "rowStart(bh, i, C)")}
          let p = exp(${g.dot("q", "k")} - OL[lseAt(bh, i)]);
          let ds = p * (${g.dot("dout", "v")} - Delta[bh * uniforms.T + i]);
          ${g.axpy("dv", "p", "dout")}
          ${g.axpy("dk", "ds", "q")}
        }
      }
      ${g.store("kv + C", "dk", " * SCALE")}
      ${g.store("kv + 2 * C", "dv")}
    }
  `,
  };
}

/**
 * The tile list as one int32 array: [rowPtr | cols | colPtr | rows], the CSR of the pattern's
 * tiles by query block and its transpose by key block (query blocks ascending in each).
 */
export function tileList(pattern: SparsePattern, time: number, blockSize: number): Int32Array {
  const { nBlocks, rowPtr, cols, tiles } = blockLayout(pattern, time, blockSize);
  const colPtr = new Int32Array(nBlocks + 1);
  for (const kb of cols) colPtr[kb + 1]++;
  for (let kb = 0; kb < nBlocks; kb++) colPtr[kb + 1] += colPtr[kb];
  const rows = new Int32Array(tiles), next = colPtr.slice(0, nBlocks);
  for (let qb = 0; qb < nBlocks; qb++) {
    for (let e = rowPtr[qb]; e < rowPtr[qb + 1]; e++) rows[next[cols[e]]++] = qb;
  }
  const out = new Int32Array(2 * (nBlocks + 1) + 2 * tiles);
  out.set(rowPtr, 0);
  out.set(cols, nBlocks + 1);
  out.set(colPtr, nBlocks + 1 + tiles);
  out.set(rows, 2 * (nBlocks + 1) + tiles);
  return out;
}

const tileLists = new LruCache<string, Int32Array>(16);

function cachedTileList(pattern: SparsePattern, time: number, blockSize: number): Int32Array {
  const key = `${patternName(pattern)}|${time}|${blockSize}`;
  return tileLists.getOrCreate(key, () => tileList(pattern, time, blockSize));
}

/** Options for {@link gpuBlockSparseSelfAttention}. */
export interface GpuBlockSparseOptions {
  /** Tile side (default {@link DEFAULT_BLOCK_SIZE}); any T works, the last block is shorter. */
  blockSize?: number;
}

/**
 * Block-sparse causal multi-head attention of qkv [B·T, 3C] → [B·T, C] under `pattern`, as one
 * differentiable op on the WGSL shaders (gradient dqkv [B·T, 3C]); the GPU twin of
 * `blockSparseCausalSelfAttention` in cpu_block_sparse.ts. Needs the webgpu backend.
 */
export function gpuBlockSparseSelfAttention(
  qkv: tf.Tensor2D,
  batch: number,
  time: number,
  nHead: number,
  pattern: SparsePattern,
  options: GpuBlockSparseOptions = {},
): tf.Tensor2D {
  const c = qkv.shape[1] / 3, d = c / nHead;
  if (!Number.isInteger(d) || d < 1 || qkv.shape[0] !== batch * time) {
    throw new Error(
      `gpuBlockSparseSelfAttention: qkv [${qkv.shape}] does not fit ` +
        `B=${batch} T=${time} H=${nHead}`,
    );
  }
  if (qkv.dtype !== "float32") {
    throw new Error(`gpuBlockSparseSelfAttention: expected float32, got ${qkv.dtype}`);
  }
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  validatePattern(pattern, time);
  const list = cachedTileList(pattern, time, blockSize); // also checks blockSize
  const rows = batch * time;
  if (rows === 0) return tf.zeros([0, c]);
  const g = new Gen(d, nHead), bh = batch * nHead;
  const uniforms = patternUniforms(pattern, time, blockSize);
  const wrap = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);
  const gradShape = [rows, 3 * c];
  const op = customOp(([x], save) => {
    const backend = webgpuBackend("gpu block-sparse attention");
    const blocks = tf.tensor1d(list, "int32");
    const ol = wrap(
      backend.runWebGPUProgram(
        forwardProgram(g, bh, time, [rows, c + nHead]),
        [x, blocks],
        "float32",
        uniforms,
      ),
    );
    save([x, ol, blocks]);
    return {
      value: tf.slice(ol, [0, 0], [rows, c]),
      gradFunc: (dy, saved) => {
        const [xs, ols, bl] = saved;
        const be = webgpuBackend("gpu block-sparse attention");
        const delta = wrap(
          be.runWebGPUProgram(deltaProgram(g, bh, time), [dy, ols], "float32", uniforms),
        );
        const inputs = [xs, dy, ols, delta, bl];
        // dQ and dK/dV fill disjoint columns: the second run writes into the first's output.
        const grad = be.runWebGPUProgram(
          dqProgram(g, bh, time, gradShape),
          inputs,
          "float32",
          uniforms,
        );
        be.runWebGPUProgram(dkvProgram(g, bh, time, gradShape), inputs, "float32", uniforms, grad);
        delta.dispose();
        return [wrap(grad)];
      },
    };
  });
  return op(qkv) as tf.Tensor2D;
}
