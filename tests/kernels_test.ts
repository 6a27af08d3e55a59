import { maxAbsDiff, randn } from "./support.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { fusedCausalSelfAttention } from "../lib/attention/cpu_dense.ts";
import { SOURCE_SHA256 } from "../lib/kernels/wasm/kernels_wasm.ts";
import { sha256Hex } from "../lib/kernels/wasm/encoding.ts";
import { attendReference } from "../lib/attention/mod.ts";
import { linear } from "../lib/kernels/linear.ts";
import { fusedGelu } from "../lib/kernels/gelu_cpu.ts";
import { fusedLayerNorm } from "../lib/kernels/layernorm_cpu.ts";
import { geluReference, layerNormReference } from "../lib/model/layers.ts";
import { Rng } from "../lib/random.ts";

await initBackend();

Deno.test("fused causal attention matches the tfjs composition: values and gradients, several shapes", () => {
  // [B, T, H, D]: a single token, odd sizes, head sizes that are not multiples of 4, the course's shape.
  for (
    const [b, t, h, d, seed] of [[1, 1, 1, 4, 1], [2, 7, 3, 5, 2], [3, 33, 4, 16, 3], [
      12,
      64,
      4,
      32,
      4,
    ], [1, 130, 1, 6, 5]]
  ) {
    const qkv = tf.mul(randn([b * t, 3 * h * d], seed), 2) as tf.Tensor2D;
    const up = randn([b * t, h * d], seed + 30); // a random upstream gradient via sum(out·up)
    const o = { batch: b, time: t, nHead: h };
    const fused = fusedCausalSelfAttention(qkv, b, t, h), ref = attendReference(qkv, o);
    const shape = `[B=${b},T=${t},H=${h},D=${d}]`;
    assert.ok(maxAbsDiff(fused, ref) < 1e-5, `values ${shape}: ${maxAbsDiff(fused, ref)}`);
    const gf = tf.grad((x) =>
      tf.sum(tf.mul(fusedCausalSelfAttention(x as tf.Tensor2D, b, t, h), up))
    )(qkv);
    const gr = tf.grad((x) => tf.sum(tf.mul(attendReference(x as tf.Tensor2D, o), up)))(qkv);
    assert.ok(maxAbsDiff(gf, gr) < 1e-4, `dqkv ${shape}: ${maxAbsDiff(gf, gr)}`);
    tf.dispose([qkv, up, fused, ref, gf, gr]);
  }
});

Deno.test("the embedded wasm module was built from the committed kernels.c", async () => {
  const source = await Deno.readFile(new URL("../lib/kernels/wasm/kernels.c", import.meta.url));
  assert.equal(
    await sha256Hex(source),
    SOURCE_SHA256,
    "kernels.c changed: run `deno task build:wasm`",
  );
});

Deno.test("linear (explicit-transpose gradient) matches tfjs' own matMul gradient", () => {
  const x = randn([13, 7], 1) as tf.Tensor2D,
    w = randn([7, 5], 2) as tf.Tensor2D,
    bias = randn([5], 3) as tf.Tensor1D;
  const up = randn([13, 5], 4);
  const ours = tf.grads((a, b, c) =>
    tf.sum(
      tf.mul(linear(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor1D), up),
    )
  )([x, w, bias]);
  const plain = tf.grads((a, b, c) =>
    tf.sum(tf.mul(tf.add(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), c), up))
  )([x, w, bias]);
  ours.forEach((g, i) => assert.ok(maxAbsDiff(g, plain[i]) < 1e-5));
  tf.dispose([x, w, bias, up, ...ours, ...plain]);
});

Deno.test("embedding gradients (UnsortedSegmentSum) on wasm match the cpu backend", async () => {
  const table = new Rng(5).normalArray(6 * 3, 1);
  const idx = [0, 2, 2, 5, 0, 0, 4];
  const up = new Rng(6).normalArray(idx.length * 3, 1);
  const gradOn = async (backend: string) => {
    await tf.setBackend(backend);
    assert.equal(tf.getBackend(), backend);
    const g = tf.grad((tbl) =>
      tf.sum(
        tf.mul(
          tf.gather(tbl, tf.tensor1d(idx, "int32")),
          tf.tensor2d(up, [idx.length, 3]),
        ),
      )
    )(tf.tensor2d(table, [6, 3]));
    return Array.from(g.dataSync());
  };
  const { initBackend: init } = await import("../lib/backend.ts");
  await init({ backend: "cpu" });
  const cpu = await gradOn("cpu");
  await init({ backend: "wasm" });
  const wasm = await gradOn("wasm");
  // By hand: row r of the gradient is the sum of the upstream rows whose index is r.
  const expected = new Array(18).fill(0);
  idx.forEach((r, i) => {
    for (let c = 0; c < 3; c++) expected[r * 3 + c] += up[i * 3 + c];
  });
  for (let i = 0; i < 18; i++) {
    assert.ok(
      Math.abs(cpu[i] - expected[i]) < 1e-5 &&
        Math.abs(wasm[i] - expected[i]) < 1e-5,
      `entry ${i}`,
    );
  }
});

Deno.test("fused LayerNorm and GELU match the tfjs compositions: values and gradients", () => {
  for (const [n, c, seed] of [[1, 1, 1], [5, 7, 2], [64, 128, 3]]) {
    const x = tf.add(tf.mul(randn([n, c], seed), 3), 1) as tf.Tensor2D;
    const g = randn([c], seed + 1) as tf.Tensor1D, b = randn([c], seed + 2) as tf.Tensor1D;
    const up = randn([n, c], seed + 3);
    const lnF = (a: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) =>
      tf.sum(tf.mul(fusedLayerNorm(a as tf.Tensor2D, bb as tf.Tensor1D, cc as tf.Tensor1D), up));
    const lnR = (a: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) =>
      tf.sum(
        tf.mul(layerNormReference(a as tf.Tensor2D, bb as tf.Tensor1D, cc as tf.Tensor1D), up),
      );
    assert.ok(maxAbsDiff(fusedLayerNorm(x, g, b), layerNormReference(x, g, b)) < 1e-5);
    const gf = tf.grads(lnF)([x, g, b]), gr = tf.grads(lnR)([x, g, b]);
    gf.forEach((t, i) =>
      assert.ok(
        maxAbsDiff(t, gr[i]) < 1e-4,
        `LayerNorm grad ${i} [${n},${c}]: ${maxAbsDiff(t, gr[i])}`,
      )
    );
    assert.ok(maxAbsDiff(fusedGelu(x), geluReference(x)) < 1e-5);
    const dgf = tf.grad((a) => tf.sum(tf.mul(fusedGelu(a), up)))(x);
    const dgr = tf.grad((a) => tf.sum(tf.mul(geluReference(a), up)))(x);
    assert.ok(maxAbsDiff(dgf, dgr) < 1e-4, `GELU grad [${n},${c}]: ${maxAbsDiff(dgf, dgr)}`);
    tf.dispose([x, g, b, up, ...gf, ...gr, dgf, dgr]);
  }
});
