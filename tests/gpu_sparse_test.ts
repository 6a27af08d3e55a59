/**
 * The WGSL block-sparse attention (lib/attention/gpu_block_sparse.ts) against the CPU block-sparse
 * kernel (lib/attention/cpu_block_sparse.ts, itself tested against masked dense attention in
 * tests/sparse_test.ts), on whatever WebGPU adapter exists, software ones included (llvmpipe:
 * correct but slow; each of the four shaders compiles once per head size). Without any adapter
 * every test here is ignored, and says so in its name.
 *
 * Tolerance: 1e-4 absolute on values and gradients of O(1) inputs, as in tests/gpu_test.ts.
 */
import * as tf from "@tensorflow/tfjs";
import { assertClose as assertCloseTo } from "./support.ts";
import { gpuTest as sharedGpuTest, noAdapter } from "./gpu_support.ts";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { gpuBlockSparseSelfAttention, tileList } from "../lib/attention/gpu_block_sparse.ts";
import {
  blockLayout,
  blockSparseBackward,
  blockSparseForward,
  blockSparsePlan,
  patternName,
  type SparsePattern,
} from "../lib/attention/mod.ts";
import { Rng } from "../lib/random.ts";

const TOL = 1e-4;

const skip = await noAdapter();
if (skip) {
  console.warn(`gpu_sparse_test: ignoring the GPU tests: ${skip}`);
} else {
  await initBackend({ backend: "webgpu", allowFallbackAdapter: true });
}

/** A test that needs the webgpu backend (see tests/gpu_support.ts). */
const gpuTest = (name: string, fn: () => Promise<void>) => sharedGpuTest(skip, name, fn);

const assertClose = (what: string, got: ArrayLike<number>, want: ArrayLike<number>) =>
  assertCloseTo(what, got, want, TOL);

const PATTERNS: SparsePattern[] = [
  { kind: "dense" },
  { kind: "band", window: 5 },
  { kind: "strided", stride: 6 },
  { kind: "fixed", block: 8, summary: 2 },
  { kind: "logsparse" },
];

Deno.test("tileList holds the tiles by query block and, transposed, by key block", () => {
  const p: SparsePattern = { kind: "strided", stride: 5 };
  const t = 45, bs = 8;
  const layout = blockLayout(p, t, bs), list = tileList(p, t, bs);
  const nb = layout.nBlocks, tiles = layout.tiles;
  assert.equal(list.length, 2 * (nb + 1) + 2 * tiles);
  assert.deepEqual([...list.subarray(0, nb + 1)], [...layout.rowPtr]);
  assert.deepEqual([...list.subarray(nb + 1, nb + 1 + tiles)], [...layout.cols]);
  const colPtr = list.subarray(nb + 1 + tiles, 2 * (nb + 1) + tiles);
  const rows = list.subarray(2 * (nb + 1) + tiles);
  const byKey = new Set<string>();
  for (let kb = 0; kb < nb; kb++) {
    for (let e = colPtr[kb]; e < colPtr[kb + 1]; e++) {
      if (e > colPtr[kb]) assert.ok(rows[e] > rows[e - 1], "query blocks ascending");
      byKey.add(`${rows[e]},${kb}`);
    }
  }
  const byQuery = new Set<string>();
  for (let qb = 0; qb < nb; qb++) {
    for (let e = layout.rowPtr[qb]; e < layout.rowPtr[qb + 1]; e++) {
      byQuery.add(`${qb},${layout.cols[e]}`);
    }
  }
  assert.deepEqual(byKey, byQuery);
});

gpuTest(
  "WGSL block-sparse attention matches the CPU block-sparse kernel: y and dq, dk, dv",
  async () => {
    const before = tf.memory().numTensors;
    // [B, T, H, D, block]: D not a multiple of 4 and T not a multiple of the block; vec4 loads,
    // a block smaller than a workgroup and T past two workgroups; a block larger than a workgroup.
    for (
      const [b, t, h, d, blockSize] of [[2, 37, 3, 5, 16], [1, 130, 2, 8, 32], [1, 130, 1, 8, 128]]
    ) {
      const c = h * d;
      for (const pattern of PATTERNS) {
        const rng = new Rng(t * 7 + d);
        const qkvValues = rng.normalArray(b * t * 3 * c, 1),
          wValues = rng.normalArray(b * t * c, 1);
        const qkv = tf.tensor2d(qkvValues, [b * t, 3 * c]), w = tf.tensor2d(wValues, [b * t, c]);
        const op = (x: tf.Tensor) =>
          gpuBlockSparseSelfAttention(x as tf.Tensor2D, b, t, h, pattern, { blockSize });
        const y = op(qkv);
        const dqkv = tf.grad((x) => tf.sum(tf.mul(op(x), w)))(qkv);
        const [yGot, gradGot] = await Promise.all([y.data(), dqkv.data()]);
        const plan = blockSparsePlan(pattern, t, blockSize);
        const want = blockSparseForward(qkvValues, plan, b, h, d);
        const wantGrad = blockSparseBackward(qkvValues, want.y, wValues, want.lse, plan, b, h, d);
        const what = `${patternName(pattern)} B=${b} T=${t} H=${h} D=${d} block=${blockSize}`;
        assertClose(`y ${what}`, yGot, want.y);
        // dq, dk, dv: the three column groups of each row of dqkv.
        ["dq", "dk", "dv"].forEach((name, part) => {
          const pick = (g: ArrayLike<number>) =>
            Array.from(
              { length: b * t * c },
              (_, n) => g[Math.floor(n / c) * 3 * c + part * c + (n % c)],
            );
          assertClose(`${name} ${what}`, pick(gradGot), pick(wantGrad));
        });
        tf.dispose([qkv, w, y, dqkv]);
      }
    }
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
  },
);

gpuTest("one compiled shader set serves every pattern (the pattern is a uniform)", async () => {
  const [b, t, h, d] = [1, 20, 2, 4];
  const qkv = tf.tensor2d(new Rng(3).normalArray(b * t * 3 * h * d, 1), [b * t, 3 * h * d]);
  for (const pattern of PATTERNS) {
    const y = gpuBlockSparseSelfAttention(qkv, b, t, h, pattern, { blockSize: 8 });
    await y.data();
    y.dispose();
  }
  const pipelines = Object.keys(
    (tf.backend() as unknown as { pipelineCache: object }).pipelineCache,
  ).filter((key) => key.startsWith(`gptcourse_sparse_attention_fwd_${d}_${h}_`));
  assert.equal(pipelines.length, 1, `forward pipelines: ${pipelines.join(", ")}`);
  assert.throws(
    () => gpuBlockSparseSelfAttention(qkv, b, t, h, { kind: "band", window: 0 }),
    /window must be an integer ≥ 1/,
  );
  qkv.dispose();
});
