/**
 * Fused causal attention for the WebGPU backend: softmax(q·kᵀ/√D + causal mask)·v in the
 * course's own WGSL compute shaders, forward and backward, run through tfjs-backend-webgpu's
 * `runWebGPUProgram` so that tensors never leave the GPU.
 *
 * Four shaders (see lib/gpu/README.md for the design):
 *
 * - forward: one workgroup per (batch·head, block of {@link ROWS} query rows), one invocation per
 *   row, flash-attention style: keys and values are staged through workgroup memory a tile at a
 *   time, with a running max and sum (online softmax); tiles of keys after the block's last row
 *   are never loaded, keys j > i never scored. Writes [B·H, T, D + 1]: the output row and, in
 *   the extra column, the row's logsumexp, which is all the backward needs.
 * - delta: Δ_i = Σ_c dO_ic·O_ic, one invocation per row.
 * - dQ: like the forward, per query row: recomputes P_ij = exp(q_i·k_j/√D − lse_i), and
 *   dQ_i = Σ_j P_ij (dO_i·v_j − Δ_i) k_j / √D.
 * - dK/dV: one invocation per key row j, looping over query tiles i ≥ j:
 *   dV_j = Σ_i P_ij dO_i, dK_j = Σ_i P_ij (dO_i·v_j − Δ_i) q_i / √D. Writes [2, B·H, T, D].
 *
 * No atomics and no reads back to the CPU; every output element is written by exactly one
 * invocation.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "../kernels/custom_op.ts";

/** Query (or key) rows per workgroup: one invocation per row. */
export const ROWS = 32;

/** Largest tile of keys (forward, dQ) or queries (dK/dV) staged in workgroup memory. */
const MAX_TILE = 32;

/** The subset of tfjs-backend-webgpu's `WebGPUProgram` interface the course uses. */
interface WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number];
  size?: boolean;
  getUserCode(): string;
}

/** The subset of tfjs-backend-webgpu's `WebGPUBackend` the course uses. */
interface WebGPUBackendLike {
  device: { limits: { maxComputeWorkgroupStorageSize: number } };
  runWebGPUProgram(
    program: WebGPUProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
  ): tf.TensorInfo;
}

function webgpuBackend(): WebGPUBackendLike {
  const backend = tf.backend() as unknown as Partial<WebGPUBackendLike>;
  if (tf.getBackend() !== "webgpu" || typeof backend.runWebGPUProgram !== "function") {
    throw new Error(
      `gpuCausalAttention needs the webgpu backend; tfjs is on "${tf.getBackend()}"`,
    );
  }
  return backend as WebGPUBackendLike;
}

/** Runs a program and wraps its output as a tensor tracked by the current tidy scope. */
function run(backend: WebGPUBackendLike, program: WebGPUProgram, inputs: tf.Tensor[]): tf.Tensor {
  const info = backend.runWebGPUProgram(program, inputs, "float32");
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Keys (or queries) per shared tile: two [tile, D] f32 tiles must fit in workgroup memory. */
function tileFor(backend: WebGPUBackendLike, d: number): number {
  const limit = backend.device.limits.maxComputeWorkgroupStorageSize ?? 16384;
  // Two tiles of tile·D floats, plus a few words for the tile count.
  const fit = Math.floor((limit - 64) / (2 * 4 * d));
  if (fit < 1) {
    throw new Error(`gpuCausalAttention: head size ${d} is too large for workgroup memory`);
  }
  return Math.min(MAX_TILE, fit);
}

/** WGSL shared by the attention shaders: constants baked per head size. */
function header(d: number, tile: number): string {
  return `
    const D = ${d};
    const ROWS = ${ROWS};
    const TILE = ${tile};
    const SCALE : f32 = ${1 / Math.sqrt(d)};
  `;
}

/**
 * A 2-D dispatch: x = blocks of {@link ROWS} rows, y = batch·head. The layout has y set, so tfjs
 * calls `main()` without a flat index and leaves the dispatch as is.
 */
function rowBlocks(bh: number, t: number): Pick<WebGPUProgram, "dispatch" | "dispatchLayout"> {
  if (bh > 65535) throw new Error(`gpuCausalAttention: B·H = ${bh} exceeds 65535`);
  return { dispatch: [Math.ceil(t / ROWS), bh, 1], dispatchLayout: { x: [1], y: [0] } };
}

function forwardProgram(bh: number, t: number, d: number, tile: number): WebGPUProgram {
  return {
    outputShape: [bh, t, d + 1],
    shaderKey: `gptcourse_attention_fwd_${d}_${tile}`,
    ...rowBlocks(bh, t),
    variableNames: ["Q", "K", "V"],
    workgroupSize: [ROWS, 1, 1],
    getUserCode: () => `
    ${header(d, tile)}
    var<workgroup> kTile : array<f32, ${tile * d}>;
    var<workgroup> vTile : array<f32, ${tile * d}>;
    var<workgroup> tileCount : i32;

    fn main() {
      let T = uniforms.qShape.y;
      let bh = i32(workgroupId.y);
      let row0 = i32(workgroupId.x) * ROWS;
      let lid = i32(localId.x);
      let i = row0 + lid;
      let valid = i < T;
      let base = bh * T * D;
      // Keys 0 ..= the block's last row, in tiles; loaded by the whole workgroup.
      if (lid == 0) {
        tileCount = (min(row0 + ROWS, T) + TILE - 1) / TILE;
      }
      let nTiles = workgroupUniformLoad(&tileCount);

      var qi : array<f32, D>;
      var acc : array<f32, D>;
      var s : array<f32, TILE>;
      var m : f32 = -3.0e38;
      var l : f32 = 0.0;
      if (valid) {
        for (var c = 0; c < D; c++) {
          qi[c] = Q[base + i * D + c] * SCALE;
        }
      }
      for (var tileIndex = 0; tileIndex < nTiles; tileIndex++) {
        let j0 = tileIndex * TILE;
        let tileEnd = min(TILE, T - j0) * D;
        for (var e = lid; e < tileEnd; e += ROWS) {
          kTile[e] = K[base + j0 * D + e];
          vTile[e] = V[base + j0 * D + e];
        }
        workgroupBarrier();
        // Keys j0 .. j0 + n − 1 are at or before row i.
        let n = min(TILE, i - j0 + 1);
        if (valid && n > 0) {
          var mNew = m;
          for (var jj = 0; jj < n; jj++) {
            var score : f32 = 0.0;
            for (var c = 0; c < D; c++) {
              score += qi[c] * kTile[jj * D + c];
            }
            s[jj] = score;
            mNew = max(mNew, score);
          }
          let alpha = exp(m - mNew);
          l *= alpha;
          for (var c = 0; c < D; c++) {
            acc[c] *= alpha;
          }
          for (var jj = 0; jj < n; jj++) {
            let p = exp(s[jj] - mNew);
            l += p;
            for (var c = 0; c < D; c++) {
              acc[c] += p * vTile[jj * D + c];
            }
          }
          m = mNew;
        }
        workgroupBarrier();
      }
      if (valid) {
        let inv = 1.0 / l;
        let o = (bh * T + i) * (D + 1);
        for (var c = 0; c < D; c++) {
          result[o + c] = acc[c] * inv;
        }
        result[o + D] = m + log(l);
      }
    }
  `,
  };
}

function deltaProgram(bh: number, t: number, d: number): WebGPUProgram {
  const workgroup = 64;
  return {
    outputShape: [bh, t],
    shaderKey: `gptcourse_attention_delta_${d}`,
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil((bh * t) / workgroup), 1, 1],
    variableNames: ["dO", "OL"],
    workgroupSize: [workgroup, 1, 1],
    size: true,
    getUserCode: () => `
    const D = ${d};
    fn main(index : i32) {
      if (index < uniforms.size) {
        var sum : f32 = 0.0;
        for (var c = 0; c < D; c++) {
          sum += dO[index * D + c] * OL[index * (D + 1) + c];
        }
        result[index] = sum;
      }
    }
  `,
  };
}

function dqProgram(bh: number, t: number, d: number, tile: number): WebGPUProgram {
  return {
    outputShape: [bh, t, d],
    shaderKey: `gptcourse_attention_dq_${d}_${tile}`,
    ...rowBlocks(bh, t),
    variableNames: ["Q", "K", "V", "dO", "OL", "Delta"],
    workgroupSize: [ROWS, 1, 1],
    getUserCode: () => `
    ${header(d, tile)}
    var<workgroup> kTile : array<f32, ${tile * d}>;
    var<workgroup> vTile : array<f32, ${tile * d}>;
    var<workgroup> tileCount : i32;

    fn main() {
      let T = uniforms.qShape.y;
      let bh = i32(workgroupId.y);
      let row0 = i32(workgroupId.x) * ROWS;
      let lid = i32(localId.x);
      let i = row0 + lid;
      let valid = i < T;
      let base = bh * T * D;
      if (lid == 0) {
        tileCount = (min(row0 + ROWS, T) + TILE - 1) / TILE;
      }
      let nTiles = workgroupUniformLoad(&tileCount);

      var qi : array<f32, D>;
      var doi : array<f32, D>;
      var dq : array<f32, D>;
      var lse : f32 = 0.0;
      var delta : f32 = 0.0;
      if (valid) {
        for (var c = 0; c < D; c++) {
          qi[c] = Q[base + i * D + c] * SCALE;
          doi[c] = dO[base + i * D + c];
        }
        lse = OL[(bh * T + i) * (D + 1) + D];
        delta = Delta[bh * T + i];
      }
      for (var tileIndex = 0; tileIndex < nTiles; tileIndex++) {
        let j0 = tileIndex * TILE;
        let tileEnd = min(TILE, T - j0) * D;
        for (var e = lid; e < tileEnd; e += ROWS) {
          kTile[e] = K[base + j0 * D + e];
          vTile[e] = V[base + j0 * D + e];
        }
        workgroupBarrier();
        let n = min(TILE, i - j0 + 1);
        if (valid) {
          for (var jj = 0; jj < n; jj++) {
            var score : f32 = 0.0;
            var dp : f32 = 0.0;
            for (var c = 0; c < D; c++) {
              score += qi[c] * kTile[jj * D + c];
              dp += doi[c] * vTile[jj * D + c];
            }
            let ds = exp(score - lse) * (dp - delta);
            for (var c = 0; c < D; c++) {
              dq[c] += ds * kTile[jj * D + c];
            }
          }
        }
        workgroupBarrier();
      }
      if (valid) {
        for (var c = 0; c < D; c++) {
          result[base + i * D + c] = dq[c] * SCALE;
        }
      }
    }
  `,
  };
}

function dkvProgram(bh: number, t: number, d: number, tile: number): WebGPUProgram {
  return {
    outputShape: [2, bh, t, d],
    shaderKey: `gptcourse_attention_dkv_${d}_${tile}`,
    ...rowBlocks(bh, t),
    variableNames: ["Q", "K", "V", "dO", "OL", "Delta"],
    workgroupSize: [ROWS, 1, 1],
    getUserCode: () => `
    ${header(d, tile)}
    var<workgroup> qTile : array<f32, ${tile * d}>;
    var<workgroup> doTile : array<f32, ${tile * d}>;
    var<workgroup> tileCount : i32;

    fn main() {
      let BH = uniforms.qShape.x;
      let T = uniforms.qShape.y;
      let bh = i32(workgroupId.y);
      let key0 = i32(workgroupId.x) * ROWS;
      let lid = i32(localId.x);
      let j = key0 + lid;
      let valid = j < T;
      let base = bh * T * D;
      // Queries key0 .. T − 1 (the only ones that see this block's keys), in tiles.
      if (lid == 0) {
        tileCount = (T - key0 + TILE - 1) / TILE;
      }
      let nTiles = workgroupUniformLoad(&tileCount);

      var kj : array<f32, D>;
      var vj : array<f32, D>;
      var dk : array<f32, D>;
      var dv : array<f32, D>;
      if (valid) {
        for (var c = 0; c < D; c++) {
          kj[c] = K[base + j * D + c] * SCALE;
          vj[c] = V[base + j * D + c];
        }
      }
      for (var tileIndex = 0; tileIndex < nTiles; tileIndex++) {
        let i0 = key0 + tileIndex * TILE;
        let tileEnd = min(TILE, T - i0) * D;
        for (var e = lid; e < tileEnd; e += ROWS) {
          qTile[e] = Q[base + i0 * D + e];
          doTile[e] = dO[base + i0 * D + e];
        }
        workgroupBarrier();
        if (valid) {
          // Rows i = i0 + ii with j <= i < T.
          let first = max(0, j - i0);
          let n = min(TILE, T - i0);
          for (var ii = first; ii < n; ii++) {
            let row = bh * T + i0 + ii;
            var score : f32 = 0.0;
            var dp : f32 = 0.0;
            for (var c = 0; c < D; c++) {
              score += qTile[ii * D + c] * kj[c];
              dp += doTile[ii * D + c] * vj[c];
            }
            let p = exp(score - OL[row * (D + 1) + D]);
            let ds = p * (dp - Delta[row]);
            for (var c = 0; c < D; c++) {
              dv[c] += p * doTile[ii * D + c];
              dk[c] += ds * qTile[ii * D + c];
            }
          }
        }
        workgroupBarrier();
      }
      if (valid) {
        let dvBase = (BH + bh) * T * D;
        for (var c = 0; c < D; c++) {
          result[base + j * D + c] = dk[c] * SCALE;
          result[dvBase + j * D + c] = dv[c];
        }
      }
    }
  `,
  };
}

function checkShapes(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D): void {
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(q.shape, k.shape) || !same(q.shape, v.shape)) {
    throw new Error(
      `gpuCausalAttention: q, k, v must have one shape [B, H, T, D]; got [${q.shape}], [${k.shape}], [${v.shape}]`,
    );
  }
  for (const x of [q, k, v]) {
    if (x.dtype !== "float32") {
      throw new Error(`gpuCausalAttention: expected float32 tensors, got ${x.dtype}`);
    }
  }
}

/**
 * Whether causal self-attention should use {@link gpuCausalAttention}: on the webgpu backend,
 * unless `GPT_COURSE_ATTENTION=reference` forces the plain tfjs composition.
 */
export function useGpuKernel(): boolean {
  if (tf.getBackend() !== "webgpu") return false;
  try {
    return Deno.env.get("GPT_COURSE_ATTENTION") !== "reference";
  } catch {
    return true;
  }
}

/**
 * Causal attention of q, k, v [B, H, T, D] → [B, H, T, D] (softmax(q·kᵀ/√D + causal mask)·v) as
 * one differentiable tfjs op whose forward and backward run the course's WGSL shaders. Needs the
 * webgpu backend; the tensors stay on the GPU.
 */
export function gpuCausalAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
): tf.Tensor4D {
  checkShapes(q, k, v);
  const [b, h, t, d] = q.shape;
  const bh = b * h;
  if (bh * t * d === 0) return tf.zeros([b, h, t, d]);
  const op = customOp(([qt, kt, vt], save) => {
    const backend = webgpuBackend();
    const tile = tileFor(backend, d);
    const flat = (x: tf.Tensor) => tf.reshape(x, [bh, t, d]);
    const [q3, k3, v3] = [qt, kt, vt].map(flat);
    const ol = run(backend, forwardProgram(bh, t, d, tile), [q3, k3, v3]); // [BH, T, D + 1]
    save([q3, k3, v3, ol]);
    return {
      value: tf.reshape(tf.slice(ol, [0, 0, 0], [bh, t, d]), [b, h, t, d]),
      gradFunc: (dy, saved) => {
        const [qs, ks, vs, ols] = saved;
        const backend = webgpuBackend();
        const dO = flat(dy);
        const delta = run(backend, deltaProgram(bh, t, d), [dO, ols]); // [BH, T]
        const inputs = [qs, ks, vs, dO, ols, delta];
        const dq = run(backend, dqProgram(bh, t, d, tile), inputs);
        const dkv = run(backend, dkvProgram(bh, t, d, tile), inputs); // [2, BH, T, D]
        const shape = [b, h, t, d];
        return [
          tf.reshape(dq, shape),
          tf.reshape(tf.slice(dkv, [0, 0, 0, 0], [1, bh, t, d]), shape),
          tf.reshape(tf.slice(dkv, [1, 0, 0, 0], [1, bh, t, d]), shape),
        ];
      },
    };
  });
  return op(q, k, v) as tf.Tensor4D;
}
