/**
 * The WGSL attention kernels (lib/attention/gpu_dense.ts) against a float64 reference, on whatever
 * WebGPU adapter exists, software ones included (llvmpipe on CI: correct but slow, and each new
 * shader takes ~0.1–15 s to compile the first time; Mesa caches them on disk after that).
 * Without any adapter every test here is ignored, and says so in its name.
 *
 * Tolerance: 1e-4 absolute on values and gradients of O(1) inputs (float32 accumulation over up
 * to 130 keys; llvmpipe lands near 5e-7).
 */
import * as tf from "@tensorflow/tfjs";
import { assertClose as assertCloseTo } from "./support.ts";
import { gpuTest as sharedGpuTest, noAdapter } from "./gpu_support.ts";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { gpuCausalAttention, gpuCausalSelfAttention } from "../lib/attention/mod.ts";
import { coursePreset } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { Rng } from "../lib/random.ts";

const TOL = 1e-4;

const skip = await noAdapter();
if (skip) {
  console.warn(`gpu_test: ignoring every test: ${skip}`);
} else {
  await initBackend({ backend: "webgpu", allowFallbackAdapter: true });
}

/** A test that needs the webgpu backend (see tests/gpu_support.ts). */
const gpuTest = (name: string, fn: () => Promise<void>) => sharedGpuTest(skip, name, fn);

/** softmax(q·kᵀ/√D + causal mask)·v and its gradients for dO, per head, in float64. */
function reference(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dO: Float32Array,
  bh: number,
  t: number,
  d: number,
): { out: Float64Array; dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const scale = 1 / Math.sqrt(d);
  const out = new Float64Array(q.length), dq = new Float64Array(q.length);
  const dk = new Float64Array(q.length), dv = new Float64Array(q.length);
  const p = new Float64Array(t), dp = new Float64Array(t);
  const dotRows = (a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += a[i * d + c] * b[j * d + c];
    return s;
  };
  for (let h = 0; h < bh; h++) {
    for (let i = h * t; i < (h + 1) * t; i++) {
      const keys = i - h * t + 1; // rows h·t .. i
      let max = -Infinity, sum = 0, rowDot = 0;
      for (let n = 0; n < keys; n++) {
        p[n] = dotRows(q, i, k, h * t + n) * scale;
        max = Math.max(max, p[n]);
      }
      for (let n = 0; n < keys; n++) sum += p[n] = Math.exp(p[n] - max);
      for (let n = 0; n < keys; n++) {
        const j = h * t + n;
        p[n] /= sum;
        dp[n] = dotRows(dO, i, v, j);
        rowDot += p[n] * dp[n];
        for (let c = 0; c < d; c++) {
          out[i * d + c] += p[n] * v[j * d + c];
          dv[j * d + c] += p[n] * dO[i * d + c];
        }
      }
      for (let n = 0; n < keys; n++) {
        const j = h * t + n, ds = p[n] * (dp[n] - rowDot) * scale;
        for (let c = 0; c < d; c++) {
          dq[i * d + c] += ds * k[j * d + c];
          dk[j * d + c] += ds * q[i * d + c];
        }
      }
    }
  }
  return { out, dq, dk, dv };
}

const assertClose = (what: string, got: ArrayLike<number>, want: ArrayLike<number>) =>
  assertCloseTo(what, got, want, TOL);

const read = async (x: tf.Tensor) => await x.data() as Float32Array;

/** Value and gradients (for the upstream gradient w, via Σ out·w) of a 4-D attention op. */
async function run4d(
  op: (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) => tf.Tensor4D,
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  w: tf.Tensor4D,
): Promise<Float32Array[]> {
  const out = op(q, k, v);
  const grads = tf.grads((a, b, c) =>
    tf.sum(tf.mul(op(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D), w))
  )([q, k, v]);
  const values = await Promise.all([out, ...grads].map(read));
  tf.dispose([out, ...grads]);
  return values;
}

const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 4], // T = 1
  [2, 3, 7, 5], // D not a multiple of 4 (scalar loads)
  [1, 2, 33, 16], // T just past a power of two
  [2, 2, 64, 32], // a whole workgroup of rows
  [1, 2, 130, 128], // T past two workgroups, the largest head size
];

gpuTest("gpuCausalAttention matches a float64 reference: values and dq, dk, dv", async () => {
  const before = tf.memory().numTensors;
  for (const [b, h, t, d] of SHAPES) {
    const rng = new Rng(b * 1000 + t * 10 + d);
    const arrays = [0, 1, 2, 3].map(() => rng.normalArray(b * h * t * d, 1));
    const [q, k, v, w] = arrays.map((a) => tf.tensor4d(a, [b, h, t, d]));
    const [out, dq, dk, dv] = await run4d(gpuCausalAttention, q, k, v, w);
    const want = reference(arrays[0], arrays[1], arrays[2], arrays[3], b * h, t, d);
    const shape = `[${b},${h},${t},${d}]`;
    assertClose(`out ${shape}`, out, want.out);
    assertClose(`dq ${shape}`, dq, want.dq);
    assertClose(`dk ${shape}`, dk, want.dk);
    assertClose(`dv ${shape}`, dv, want.dv);
    tf.dispose([q, k, v, w]);
  }
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

gpuTest("gpuCausalAttention matches the tfjs composition on the same backend", async () => {
  const [b, h, t, d] = [2, 3, 7, 5];
  const rng = new Rng(7);
  const [q, k, v, w] = [0, 1, 2, 3].map(() =>
    tf.tensor4d(rng.normalArray(b * h * t * d, 1), [b, h, t, d])
  );
  const composition = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) => {
    const mask = tf.tensor2d(
      Array.from({ length: t * t }, (_, n) => (n % t > Math.floor(n / t) ? -1e9 : 0)),
      [t, t],
    );
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)), mask);
    return tf.matMul(tf.softmax(scores), v) as tf.Tensor4D;
  };
  const ours = await run4d(gpuCausalAttention, q, k, v, w);
  const theirs = await run4d(composition, q, k, v, w);
  ["out", "dq", "dk", "dv"].forEach((what, n) => assertClose(what, ours[n], theirs[n]));
  tf.dispose([q, k, v, w]);
});

gpuTest("gpuCausalSelfAttention reads qkv in place and writes merged heads", async () => {
  for (const [b, h, t, d] of [[2, 3, 7, 5], [2, 2, 33, 8]]) {
    const c = h * d;
    const rng = new Rng(t);
    const qkvValues = rng.normalArray(b * t * 3 * c, 1), wValues = rng.normalArray(b * t * c, 1);
    const qkv = tf.tensor2d(qkvValues, [b * t, 3 * c]), w = tf.tensor2d(wValues, [b * t, c]);
    const y = gpuCausalSelfAttention(qkv, b, t, h);
    const dqkv = tf.grad((x) =>
      tf.sum(tf.mul(gpuCausalSelfAttention(x as tf.Tensor2D, b, t, h), w))
    )(
      qkv,
    );
    const [yGot, gradGot] = await Promise.all([read(y), read(dqkv)]);
    // The same numbers in heads layout [B·H, T, D], through the float64 reference.
    const heads = (src: Float32Array, width: number, offset: number) => {
      const dst = new Float32Array(b * h * t * d);
      for (let bi = 0; bi < b; bi++) {
        for (let hi = 0; hi < h; hi++) {
          for (let i = 0; i < t; i++) {
            for (let x = 0; x < d; x++) {
              dst[((bi * h + hi) * t + i) * d + x] =
                src[(bi * t + i) * width + offset + hi * d + x];
            }
          }
        }
      }
      return dst;
    };
    const want = reference(
      heads(qkvValues, 3 * c, 0),
      heads(qkvValues, 3 * c, c),
      heads(qkvValues, 3 * c, 2 * c),
      heads(wValues, c, 0),
      b * h,
      t,
      d,
    );
    const shape = `B=${b} H=${h} T=${t} D=${d}`;
    assertClose(`y ${shape}`, heads(yGot, c, 0), want.out);
    assertClose(`dq ${shape}`, heads(gradGot, 3 * c, 0), want.dq);
    assertClose(`dk ${shape}`, heads(gradGot, 3 * c, c), want.dk);
    assertClose(`dv ${shape}`, heads(gradGot, 3 * c, 2 * c), want.dv);
    tf.dispose([qkv, w, y, dqkv]);
  }
});

gpuTest("a micro GPT gives the same loss and gradients on webgpu as on cpu", async () => {
  const config = coursePreset("micro", { vocabSize: 11, contextLength: 16 });
  const ids = (seed: number) =>
    tf.tensor2d(Array.from({ length: 32 }, (_, i) => (i * 7 + seed * 3) % 11), [2, 16], "int32");
  const lossAndGrads = async () => {
    const model = GPT.create(config, 3);
    const x = ids(1), y = ids(2);
    const { value, grads } = model.valueAndGrads(() => model.loss(x, y));
    const loss = (await read(value))[0];
    const g = new Map<string, Float32Array>();
    for (const [name, grad] of grads) g.set(name, await read(grad));
    tf.dispose([value, x, y, ...grads.values()]);
    model.dispose();
    return { loss, grads: g };
  };
  const gpu = await lossAndGrads();
  // The model really ran the WGSL kernels: tfjs compiled them.
  const pipelines = Object.keys(
    (tf.backend() as unknown as { pipelineCache: object }).pipelineCache,
  );
  for (const kernel of ["fwd", "delta", "dq", "dkv"]) {
    assert.ok(
      pipelines.some((key) => key.startsWith(`gptcourse_attention_${kernel}_8_2_`)),
      `no ${kernel} pipeline for the model's heads`,
    );
  }
  await initBackend({ backend: "cpu" });
  try {
    const cpu = await lossAndGrads();
    assert.ok(
      Math.abs(gpu.loss - cpu.loss) < TOL,
      `loss ${gpu.loss} (webgpu) vs ${cpu.loss} (cpu)`,
    );
    assert.equal(gpu.grads.size, cpu.grads.size);
    for (const [name, g] of gpu.grads) assertClose(`∂loss/∂${name}`, g, cpu.grads.get(name)!);
  } finally {
    await initBackend({ backend: "webgpu", allowFallbackAdapter: true });
  }
});

gpuTest("a micro GPT trains on webgpu with the course's Trainer (no CPU-only reads)", async () => {
  const { GPT } = await import("../lib/model/gpt.ts");
  const { coursePreset } = await import("../lib/model/config.ts");
  const { defaultTrainConfig, Trainer } = await import("../lib/train/mod.ts");
  const tokens = Int32Array.from({ length: 600 }, (_, i) => (i * 3) % 7);
  const split = { train: tokens.subarray(0, 500), val: tokens.subarray(500) };
  const model = GPT.create(coursePreset("micro", { vocabSize: 7, contextLength: 8 }), 0);
  const trainer = new Trainer(
    model,
    split,
    defaultTrainConfig({ steps: 12, batchSize: 4, lr: 1e-2, evalInterval: 12, evalBatches: 1 }),
  );
  const before = await trainer.evaluate("val");
  const history = await trainer.run();
  assert.equal(tf.getBackend(), "webgpu");
  assert.ok(
    history.evals[0].valLoss < before - 0.2,
    `val ${before} -> ${history.evals[0].valLoss}`,
  );
  model.dispose();
});
