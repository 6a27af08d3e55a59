/**
 * Shared plumbing of the course's WGSL kernels (gpu_dense.ts, gpu_block_sparse.ts): the
 * parts of tfjs-backend-webgpu's program interface they use, and a code generator for rows of
 * one attention head held in vec4 registers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The subset of tfjs-backend-webgpu's `WebGPUProgram` interface the course uses. */
export interface WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  /** Per input: 4 binds it as an array of vec4 (row width a multiple of 4), 1 as f32. */
  variableComponents?: number[];
  workgroupSize: [number, number, number];
  /** Extra fields of the uniform struct, e.g. "T : i32,". */
  uniforms?: string;
  size?: boolean;
  getUserCode(): string;
}

/** The subset of tfjs-backend-webgpu's `WebGPUBackend` the course uses. */
export interface WebGPUBackendLike {
  runWebGPUProgram(
    program: WebGPUProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: { type: "int32" | "float32"; data: number[] }[],
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
}

/** The active webgpu backend; `what` names the caller in the error when tfjs is elsewhere. */
export function webgpuBackend(what: string): WebGPUBackendLike {
  const backend = tf.backend() as unknown as Partial<WebGPUBackendLike>;
  if (tf.getBackend() !== "webgpu" || typeof backend.runWebGPUProgram !== "function") {
    throw new Error(`${what} needs the webgpu backend; tfjs is on "${tf.getBackend()}"`);
  }
  return backend as WebGPUBackendLike;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const COMPONENTS = ["x", "y", "z", "w"];

/** Query (or key) rows per workgroup, one invocation per row, in every attention shader. */
export const WORKGROUP_ROWS = 64;

/**
 * The dispatch of a row kernel: x = blocks of {@link WORKGROUP_ROWS} rows (one invocation per row), y =
 * batch·head.
 */
export function rowKernel(
  bh: number,
  t: number,
  uniforms: string,
  what: string,
): Pick<WebGPUProgram, "dispatch" | "dispatchLayout" | "workgroupSize" | "uniforms"> {
  const rows = WORKGROUP_ROWS;
  if (bh > 65535) throw new Error(`${what}: B·H = ${bh} exceeds 65535`);
  // With a y in the layout, tfjs calls main() without a flat index and keeps the dispatch.
  return {
    dispatch: [Math.ceil(t / rows), bh, 1],
    dispatchLayout: { x: [1], y: [0] },
    workgroupSize: [rows, 1, 1],
    uniforms,
  };
}

/**
 * WGSL code generation for one head size D. A row of a head lives in registers as
 * D4 = ⌈D/4⌉ separate vec4 variables (`q0, q1, …`, zero past column D), and every loop over the
 * head's columns is unrolled here, in TypeScript, so the shaders are straight-line vec4 code.
 */
export class HeadRowCode {
  /** Head size. */
  readonly d: number;
  /** vec4 registers per row. */
  readonly d4: number;
  /** Whether rows can be read as whole vec4s: D, and so every stride and offset, divisible by 4. */
  readonly packed: boolean;
  /** Code for head size `d`. */
  constructor(d: number) {
    this.d = d;
    this.d4 = Math.ceil(d / 4);
    this.packed = d % 4 === 0;
  }
  /** tfjs' `variableComponents`: `rows` row-wise inputs, then `scalars` plain inputs. */
  components(rows: number, scalars: number): number[] {
    return [...range(rows).map(() => (this.packed ? 4 : 1)), ...range(scalars).map(() => 1)];
  }
  /**
   * `fn <buf>Vec(start, c4) -> vec4<f32>`: floats start + 4·c4 .. + 3 of `buf`, zero past column
   * D. `packed` buffers are bound as vec4 arrays.
   */
  reader(buf: string, packed = this.packed): string {
    if (packed) {
      return `
    fn ${buf}Vec(start : i32, c4 : i32) -> vec4<f32> {
      return ${buf}[start / 4 + c4];
    }`;
    }
    const read = (k: number) => `${buf}[g + ${k}]`;
    const rest = range(3).map((k) =>
      `if (c + ${k + 1} < D) { v.${COMPONENTS[k + 1]} = ${read(k + 1)}; }`
    );
    return `
    fn ${buf}Vec(start : i32, c4 : i32) -> vec4<f32> {
      let c = 4 * c4;
      let g = start + c;
      var v = vec4<f32>(${read(0)}, 0.0, 0.0, 0.0);
      ${rest.join("\n      ")}
      return v;
    }`;
  }
  /** `var x0 = vec4<f32>(0.0); …` */
  declare(name: string): string {
    return range(this.d4).map((c) => `var ${name}${c} = vec4<f32>(0.0);`).join("\n      ");
  }
  /** `x0 = <buf>Vec(start, 0) * scale; …` */
  load(name: string, buf: string, start: string, scale = ""): string {
    return range(this.d4).map((c) => `${name}${c} = ${buf}Vec(${start}, ${c})${scale};`)
      .join("\n      ");
  }
  /** `let x0 = <buf>Vec(start, 0); …` (a read-only copy of one row). */
  fetch(name: string, buf: string, start: string): string {
    return range(this.d4).map((c) => `let ${name}${c} = ${buf}Vec(${start}, ${c});`)
      .join("\n        ");
  }
  /** Stores the first D components of x0, x1, … at result[start ..]. */
  store(start: string, name: string, scale = ""): string {
    return range(this.d).map((c) =>
      `result[${start} + ${c}] = ${name}${c >> 2}.${COMPONENTS[c & 3]}${scale};`
    ).join("\n      ");
  }
  /** Σ_c a_c · b_c as one expression. */
  dot(a: string, b: string): string {
    return range(this.d4).map((c) => `dot(${a}${c}, ${b}${c})`).join(" + ");
  }
  /** x_c += coef · y_c for every c. */
  axpy(x: string, coef: string, y: string): string {
    return range(this.d4).map((c) => `${x}${c} += ${coef} * ${y}${c};`).join("\n        ");
  }
  /** x_c *= factor for every c. */
  scale(x: string, factor: string): string {
    return range(this.d4).map((c) => `${x}${c} *= ${factor};`).join("\n          ");
  }
}
