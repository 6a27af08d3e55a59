/**
 * Fused causal attention for the WebGPU backend: softmax(q·kᵀ/√D + causal mask)·v in the
 * course's own WGSL compute shaders, forward and backward, run through tfjs-backend-webgpu's
 * `runWebGPUProgram`, so tensors never leave the GPU.
 *
 * Four shaders, generated per head size (see README.md in this folder for the design):
 *
 * - forward: one invocation per (batch·head, query row i), in workgroups of 64 (`WORKGROUP_ROWS`) rows.
 *   It streams keys j = 0 ..= i (never j > i) through an online softmax (running max m and sum
 *   l, flash-attention style) and writes the output row and, next to it, the row's logsumexp
 *   m + log l, which is all the backward needs besides q, k, v.
 * - delta: Δ_i = Σ_c dO_ic·O_ic, one invocation per row.
 * - dQ: one invocation per query row: recomputes P_ij = exp(q_i·k_j/√D − lse_i) for j ≤ i and
 *   sums dQ_i = Σ_j P_ij (dO_i·v_j − Δ_i) k_j / √D.
 * - dK/dV: one invocation per key row j, over queries i ≥ j: dV_j = Σ_i P_ij dO_i and
 *   dK_j = Σ_i P_ij (dO_i·v_j − Δ_i) q_i / √D.
 *
 * dQ and dK/dV write disjoint columns of one gradient tensor. No atomics, no workgroup barriers,
 * no reads back to the CPU; every output element is written by exactly one invocation.
 *
 * The shaders read q, k, v in either of two layouts: separate [B·H, T, D] tensors
 * ({@link gpuCausalAttention}) or the fused projection qkv [B·T, 3C] in place, heads interleaved
 * in each row ({@link gpuCausalSelfAttention}, which also writes merged heads [B·T, C] and the
 * gradient [B·T, 3C] directly, so no head transposes are needed).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { customOp } from "../kernels/custom_op.ts";
import { HeadRowCode, rowKernel, webgpuBackend, type WebGPUProgram } from "./wgsl.ts";

/**
 * Where the rows of one head live. Row i of head h of batch b starts at float
 * `(b·T + i)·stride + h·D + offset` of its tensor, with b = bh / heads and h = bh mod heads.
 */
interface Layout {
  /** Heads interleaved within a row: 1 for [B·H, T, ·] tensors, H for [B·T, ·] ones. */
  heads: number;
  /** Row stride of q, k, v and their offsets within a row (after the head's own offset). */
  inStride: number;
  inOffsets: [number, number, number];
  /** Row stride of the output y and its gradient dO. */
  outStride: number;
  /** Row stride of the gradient of q, k, v and their offsets within a row. */
  gradStride: number;
  gradOffsets: [number, number, number];
}

/** Separate q, k, v [B·H, T, D]; outputs [B·H, T, ·]. */
function headsLayout(d: number): Layout {
  return {
    heads: 1,
    inStride: d,
    inOffsets: [0, 0, 0],
    outStride: d,
    gradStride: 3 * d,
    gradOffsets: [0, d, 2 * d],
  };
}

/** The fused projection qkv [B·T, 3C]; outputs y [B·T, C] and dqkv [B·T, 3C]. */
function qkvLayout(h: number, d: number): Layout {
  const c = h * d;
  const inOffsets: [number, number, number] = [0, c, 2 * c];
  return {
    heads: h,
    inStride: 3 * c,
    inOffsets,
    outStride: c,
    gradStride: 3 * c,
    gradOffsets: inOffsets,
  };
}

/** WGSL code generation for one head size D and layout (see {@link HeadRowCode}). */
class Gen extends HeadRowCode {
  readonly layout: Layout;
  constructor(d: number, layout: Layout) {
    super(d);
    this.layout = layout;
  }
  /** A key that identifies the generated code (tfjs caches compiled pipelines by it). */
  key(name: string): string {
    const lay = this.layout;
    return `gptcourse_attention_${name}_${this.d}_${lay.heads}_${lay.inStride}_${lay.inOffsets}_` +
      `${lay.outStride}_${lay.gradStride}_${lay.gradOffsets}`;
  }
  /** Constants and the row-offset helper shared by the shaders. */
  header(): string {
    const lay = this.layout;
    return `
    const D = ${this.d};
    const D4 = ${this.d4};
    const HEADS = ${lay.heads};
    const SCALE : f32 = ${1 / Math.sqrt(this.d)};
    const OL_STRIDE = ${lay.outStride + lay.heads};
    // First float of row i of head bh in a tensor with rows of 'stride' floats.
    fn rowStart(bh : i32, i : i32, stride : i32) -> i32 {
      return ((bh / HEADS) * uniforms.T + i) * stride + (bh % HEADS) * D;
    }
    // Where the row's logsumexp sits in the forward output (rows of HEADS·D outputs + HEADS).
    fn lseAt(bh : i32, i : i32) -> i32 {
      return rowStart(bh, i, OL_STRIDE) - (bh % HEADS) * D + HEADS * D + bh % HEADS;
    }`;
  }
}

/** Common fields of the row kernels. */
function rows(bh: number, t: number) {
  return rowKernel(bh, t, "T : i32,", "gpu attention");
}

/** Forward: inputs Q, K, V; output the attention rows and each row's logsumexp. */
function forwardProgram(g: Gen, bh: number, t: number, outShape: number[]): WebGPUProgram {
  const lay = g.layout;
  return {
    outputShape: outShape,
    shaderKey: g.key("fwd"),
    ...rows(bh, t),
    variableNames: ["Q", "K", "V"],
    variableComponents: g.components(3, 0),
    getUserCode: () => `
    ${g.header()}
    ${g.reader("Q")}
    ${g.reader("K")}
    ${g.reader("V")}

    fn main() {
      let i = i32(globalId.x);
      if (i >= uniforms.T) {
        return;
      }
      let bh = i32(globalId.y);
      ${g.declare("q")}
      ${g.declare("acc")}
      ${g.load("q", "Q", `rowStart(bh, i, ${lay.inStride}) + ${lay.inOffsets[0]}`, " * SCALE")}
      var m : f32 = -3.0e38; // running max of the scores
      var l : f32 = 0.0; // running sum of exp(score - m)
      for (var j = 0; j <= i; j++) {
        let kv = rowStart(bh, j, ${lay.inStride});
        ${g.fetch("k", "K", `kv + ${lay.inOffsets[1]}`)}
        let score = ${g.dot("q", "k")};
        if (score > m) {
          // A new running max: rescale what has been summed so far.
          let alpha = exp(m - score);
          l *= alpha;
          ${g.scale("acc", "alpha")}
          m = score;
        }
        let p = exp(score - m);
        l += p;
        ${g.fetch("v", "V", `kv + ${lay.inOffsets[2]}`)}
        ${g.axpy("acc", "p", "v")}
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
  const lay = g.layout;
  const workgroup = 64;
  return {
    outputShape: [bh, t],
    shaderKey: g.key("delta"),
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil((bh * t) / workgroup), 1, 1],
    variableNames: ["dO", "OL"],
    variableComponents: g.components(1, 1),
    workgroupSize: [workgroup, 1, 1],
    uniforms: "T : i32,",
    size: true,
    getUserCode: () => `
    ${g.header()}
    ${g.reader("dO")}
    ${g.reader("OL", false)}

    fn main(index : i32) {
      if (index < uniforms.size) {
        let bh = index / uniforms.T;
        let i = index - bh * uniforms.T;
        ${g.fetch("a", "dO", `rowStart(bh, i, ${lay.outStride})`)}
        ${g.fetch("b", "OL", `rowStart(bh, i, OL_STRIDE)`)}
        result[index] = ${g.dot("a", "b")};
      }
    }
  `,
  };
}

const GRAD_INPUTS = ["Q", "K", "V", "dO", "OL", "Delta"];

/** dQ, written into its columns of the gradient tensor. */
function dqProgram(g: Gen, bh: number, t: number, gradShape: number[]): WebGPUProgram {
  const lay = g.layout;
  return {
    outputShape: gradShape,
    shaderKey: g.key("dq"),
    ...rows(bh, t),
    variableNames: GRAD_INPUTS,
    variableComponents: g.components(4, 2),
    getUserCode: () => `
    ${g.header()}
    ${g.reader("Q")}
    ${g.reader("K")}
    ${g.reader("V")}
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
      ${g.load("q", "Q", `rowStart(bh, i, ${lay.inStride}) + ${lay.inOffsets[0]}`, " * SCALE")}
      ${g.load("dout", "dO", `rowStart(bh, i, ${lay.outStride})`)}
      let lse = OL[lseAt(bh, i)];
      let delta = Delta[bh * uniforms.T + i];
      for (var j = 0; j <= i; j++) {
        let kv = rowStart(bh, j, ${lay.inStride});
        ${g.fetch("k", "K", `kv + ${lay.inOffsets[1]}`)}
        ${g.fetch("v", "V", `kv + ${lay.inOffsets[2]}`)}
        let p = exp(${g.dot("q", "k")} - lse);
        let ds = p * (${g.dot("dout", "v")} - delta);
        ${g.axpy("dq", "ds", "k")}
      }
      let o = rowStart(bh, i, ${lay.gradStride}) + ${lay.gradOffsets[0]};
      ${g.store("o", "dq", " * SCALE")}
    }
  `,
  };
}

/** dK and dV, written into their columns of the gradient tensor. */
function dkvProgram(g: Gen, bh: number, t: number, gradShape: number[]): WebGPUProgram {
  const lay = g.layout;
  return {
    outputShape: gradShape,
    shaderKey: g.key("dkv"),
    ...rows(bh, t),
    variableNames: GRAD_INPUTS,
    variableComponents: g.components(4, 2),
    getUserCode: () => `
    ${g.header()}
    ${g.reader("Q")}
    ${g.reader("K")}
    ${g.reader("V")}
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
      let kv = rowStart(bh, j, ${lay.inStride});
      ${g.load("k", "K", `kv + ${lay.inOffsets[1]}`, " * SCALE")}
      ${g.load("v", "V", `kv + ${lay.inOffsets[2]}`)}
      // Only queries i >= j see key j.
      for (var i = j; i < uniforms.T; i++) {
        ${g.fetch("q", "Q", `rowStart(bh, i, ${lay.inStride}) + ${lay.inOffsets[0]}`)}
        ${g.fetch("dout", "dO", `rowStart(bh, i, ${lay.outStride})`)}
        let p = exp(${g.dot("q", "k")} - OL[lseAt(bh, i)]);
        let ds = p * (${g.dot("dout", "v")} - Delta[bh * uniforms.T + i]);
        ${g.axpy("dv", "p", "dout")}
        ${g.axpy("dk", "ds", "q")}
      }
      let o = rowStart(bh, j, ${lay.gradStride});
      ${g.store(`o + ${lay.gradOffsets[1]}`, "dk", " * SCALE")}
      ${g.store(`o + ${lay.gradOffsets[2]}`, "dv")}
    }
  `,
  };
}

/** The raw kernels: forward and backward on tensors already in a {@link Layout}. */
interface Kernels {
  /** q, k, v → the forward output OL (attention rows and logsumexps). */
  forward(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor;
  /** → the gradient of q, k, v in the gradient layout. */
  backward(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, ol: tf.Tensor, dO: tf.Tensor): tf.Tensor;
}

function kernels(
  layout: Layout,
  bh: number,
  t: number,
  d: number,
  olShape: number[],
  gradShape: number[],
): Kernels {
  const g = new Gen(d, layout);
  const uniforms = [{ type: "int32" as const, data: [t] }];
  const wrap = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);
  return {
    forward(q, k, v) {
      const backend = webgpuBackend("gpu attention");
      const program = forwardProgram(g, bh, t, olShape);
      return wrap(backend.runWebGPUProgram(program, [q, k, v], "float32", uniforms));
    },
    backward(q, k, v, ol, dO) {
      const backend = webgpuBackend("gpu attention");
      const delta = wrap(
        backend.runWebGPUProgram(deltaProgram(g, bh, t), [dO, ol], "float32", uniforms),
      );
      const inputs = [q, k, v, dO, ol, delta];
      // dQ and dK/dV fill disjoint columns of one tensor: the second run is handed the first's
      // output instead of allocating its own.
      const grad = backend.runWebGPUProgram(
        dqProgram(g, bh, t, gradShape),
        inputs,
        "float32",
        uniforms,
      );
      backend.runWebGPUProgram(dkvProgram(g, bh, t, gradShape), inputs, "float32", uniforms, grad);
      delta.dispose();
      return wrap(grad);
    },
  };
}

function checkFloat32(name: string, x: tf.Tensor): void {
  if (x.dtype !== "float32") throw new Error(`${name}: expected float32, got ${x.dtype}`);
}

/**
 * Causal attention of q, k, v [B, H, T, D] → [B, H, T, D] (softmax(q·kᵀ/√D + causal mask)·v) as
 * one differentiable op whose forward and backward run the course's WGSL shaders. Needs the
 * webgpu backend; the tensors stay on the GPU.
 */
export function gpuCausalAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
): tf.Tensor4D {
  const [b, h, t, d] = q.shape;
  if (k.shape.join() !== q.shape.join() || v.shape.join() !== q.shape.join()) {
    throw new Error(
      `gpuCausalAttention: q, k, v must share one shape [B, H, T, D]; ` +
        `got [${q.shape}], [${k.shape}], [${v.shape}]`,
    );
  }
  [q, k, v].forEach((x) => checkFloat32("gpuCausalAttention", x));
  const bh = b * h;
  if (bh * t * d === 0) return tf.zeros([b, h, t, d]);
  const run = kernels(headsLayout(d), bh, t, d, [bh, t, d + 1], [bh, t, 3 * d]);
  const op = customOp(([qt, kt, vt], save) => {
    const [q3, k3, v3] = [qt, kt, vt].map((x) => tf.reshape(x, [bh, t, d]));
    const ol = run.forward(q3, k3, v3); // [B·H, T, D + 1]: rows, then the logsumexp
    save([q3, k3, v3, ol]);
    return {
      value: tf.reshape(tf.slice(ol, [0, 0, 0], [bh, t, d]), [b, h, t, d]),
      gradFunc: (dy, saved) => {
        const [qs, ks, vs, ols] = saved;
        const grad = run.backward(qs, ks, vs, ols, tf.reshape(dy, [bh, t, d])); // [B·H, T, 3D]
        return [0, 1, 2].map((part) =>
          tf.reshape(tf.slice(grad, [0, 0, part * d], [bh, t, d]), [b, h, t, d])
        );
      },
    };
  });
  return op(q, k, v) as tf.Tensor4D;
}

/**
 * Causal multi-head self-attention straight from the fused projection qkv [B·T, 3C] (q, k, v
 * side by side, heads interleaved in each) to the merged heads y [B·T, C], as one differentiable
 * op on the WGSL shaders; the gradient is dqkv [B·T, 3C]. Same signature as the CPU kernel
 * `fusedCausalSelfAttention`; no head transposes on either pass.
 */
export function gpuCausalSelfAttention(
  qkv: tf.Tensor2D,
  batch: number,
  time: number,
  nHead: number,
): tf.Tensor2D {
  const c = qkv.shape[1] / 3, d = c / nHead;
  if (!Number.isInteger(d) || d < 1 || qkv.shape[0] !== batch * time) {
    throw new Error(
      `gpuCausalSelfAttention: qkv [${qkv.shape}] does not fit B=${batch} T=${time} H=${nHead}`,
    );
  }
  checkFloat32("gpuCausalSelfAttention", qkv);
  const rows = batch * time;
  if (rows === 0) return tf.zeros([0, c]);
  const layout = qkvLayout(nHead, d);
  const run = kernels(layout, batch * nHead, time, d, [rows, c + nHead], [rows, 3 * c]);
  const op = customOp(([x], save) => {
    const ol = run.forward(x, x, x); // [B·T, C + H]: merged heads, then H logsumexps
    save([x, ol]);
    return {
      value: tf.slice(ol, [0, 0], [rows, c]),
      gradFunc: (dy, saved) => {
        const [xs, ols] = saved;
        return [run.backward(xs, xs, xs, ols, dy)];
      },
    };
  });
  return op(qkv) as tf.Tensor2D;
}
