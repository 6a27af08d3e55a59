import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import {
  ConfigError,
  countParams,
  coursePreset,
  makeConfig,
  PUBLISHED,
} from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { crossEntropy } from "../lib/model/layers.ts";
import { setReferenceKernels } from "../lib/kernels/dispatch.ts";

await initBackend();

/**
 * Registers a model test twice: on the fused kernels (the default path) and on the plain tfjs
 * reference compositions, so a bug in either path's masking or arithmetic fails a test.
 */
function bothPaths(name: string, fn: () => void | Promise<void>): void {
  for (const reference of [false, true]) {
    Deno.test(`${name} [${reference ? "reference" : "fused"} path]`, async () => {
      setReferenceKernels(reference);
      try {
        await fn();
      } finally {
        setReferenceKernels(false);
      }
    });
  }
}

const micro = (overrides = {}) =>
  coursePreset("micro", { vocabSize: 11, contextLength: 8, ...overrides });

function ids(b: number, t: number, vocab: number, seed: number): tf.Tensor2D {
  const values = new Int32Array(b * t);
  let s = seed;
  for (let i = 0; i < values.length; i++) {
    values[i] = (s = (s * 1103515245 + 12345) >>> 0) % vocab;
  }
  return tf.tensor2d(values, [b, t], "int32");
}

Deno.test("published parameter counts: GPT-2 small and GPT-1", () => {
  assert.equal(countParams(PUBLISHED["gpt2-small"]).total, 124_439_808);
  assert.equal(countParams(PUBLISHED["gpt1"]).total, 116_534_784);
  assert.equal(countParams(PUBLISHED["gpt2-xl"]).total, 1_557_611_200);
  // GPT-3 175B: the paper's "175.0B".
  const g3 = countParams(PUBLISHED["gpt3-175b"]).total;
  assert.ok(Math.abs(g3 - 175e9) / 175e9 < 0.005, `gpt3-175b has ${g3}`);
});

Deno.test("countParams matches the parameters a model actually allocates", () => {
  for (const norm of ["pre", "post"] as const) {
    for (const tiedEmbeddings of [true, false]) {
      const model = GPT.create(micro({ norm, tiedEmbeddings }), 0);
      let n = 0;
      for (const p of model.params.values()) n += p.size;
      assert.equal(n, model.numParams());
      model.dispose();
    }
  }
});

Deno.test("bad configs give errors that name the problem", () => {
  assert.throws(
    () =>
      makeConfig({
        vocabSize: 10,
        contextLength: 8,
        nLayer: 2,
        nHead: 3,
        nEmbd: 16,
      }),
    /divisible by nHead/,
  );
  assert.throws(
    () =>
      makeConfig({
        vocabSize: 10,
        contextLength: 8,
        nLayer: 0,
        nHead: 2,
        nEmbd: 16,
      }),
    /nLayer must be a positive integer/,
  );
  assert.throws(
    () =>
      makeConfig({
        vocabSize: 10,
        contextLength: 8,
        nLayer: 2,
        nHead: 2,
        nEmbd: 16,
        dropout: 1,
      }),
    /dropout/,
  );
  assert.throws(
    () =>
      makeConfig({
        vocabSize: 10,
        contextLength: 8,
        nLayer: 2,
        nHead: 2,
        nEmbd: 16,
        norm: "mid" as "pre",
      }),
    /norm/,
  );
  assert.throws(
    () =>
      makeConfig(
        {
          vocabSize: 10,
          contextLength: 8,
          nLayer: 2,
          nHead: 2,
          nEmbd: 16,
          nLayers: 3,
        } as never,
      ),
    /unknown field "nLayers"/,
  );
  assert.throws(
    () => coursePreset("huge" as "tiny", { vocabSize: 2, contextLength: 2 }),
    ConfigError,
  );
});

bothPaths("forward shapes, and too-long input is refused", () => {
  const model = GPT.create(micro(), 1);
  const x = ids(3, 5, 11, 1);
  const { logits, hidden } = model.forward(x);
  assert.deepEqual(logits.shape, [3, 5, 11]);
  assert.deepEqual(hidden.shape, [3, 5, 16]);
  assert.throws(
    () => model.forward(ids(1, 9, 11, 2)),
    /exceeds the context of 8/,
  );
  tf.dispose([x, logits, hidden]);
  model.dispose();
});

bothPaths("causality: changing a future token never changes earlier logits", () => {
  for (const norm of ["pre", "post"] as const) {
    const model = GPT.create(micro({ norm }), 2);
    const a = ids(2, 8, 11, 3);
    const base = a.arraySync();
    for (const pos of [0, 3, 7]) {
      const changed = base.map((row) => row.slice());
      for (const row of changed) row[pos] = (row[pos] + 5) % 11;
      const b = tf.tensor2d(changed, [2, 8], "int32");
      const la = model.forward(a).logits.arraySync(),
        lb = model.forward(b).logits.arraySync();
      for (let r = 0; r < 2; r++) {
        for (let t = 0; t < 8; t++) {
          const same = la[r][t].every((v, i) => Math.abs(v - lb[r][t][i]) < 1e-5);
          assert.equal(
            same,
            t < pos,
            `${norm}: row ${r} position ${t} after changing ${pos}`,
          );
        }
      }
      b.dispose();
    }
    a.dispose();
    model.dispose();
  }
});

bothPaths("an untrained model's loss is close to ln(vocab)", () => {
  const model = GPT.create(
    coursePreset("tiny", { vocabSize: 89, contextLength: 32 }),
    0,
  );
  const x = ids(4, 32, 89, 5), y = ids(4, 32, 89, 6);
  const loss = model.loss(x, y).dataSync()[0];
  assert.ok(
    Math.abs(loss - Math.log(89)) < 0.1,
    `loss ${loss} vs ln(89) = ${Math.log(89)}`,
  );
  tf.dispose([x, y]);
  model.dispose();
});

Deno.test("crossEntropy ignores targets of -1 and matches a hand computation", () => {
  const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0], [5, 1, 1]]);
  const targets = tf.tensor1d([2, -1, 0], "int32");
  const lse = (r: number[]) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0));
  const expected = ((lse([1, 2, 3]) - 3) + (lse([5, 1, 1]) - 5)) / 2;
  assert.ok(
    Math.abs(crossEntropy(logits, targets).dataSync()[0] - expected) < 1e-6,
  );
  const grad = tf.grad((z: tf.Tensor) => crossEntropy(z as tf.Tensor2D, targets))(logits)
    .arraySync() as number[][];
  assert.deepEqual(grad[1], [0, 0, 0]); // the ignored row gets no gradient
  tf.dispose([logits, targets]);
});

bothPaths("gradients match finite differences", () => {
  for (const norm of ["pre", "post"] as const) {
    const model = GPT.create(
      micro({ norm, vocabSize: 7, contextLength: 6 }),
      7,
    );
    const x = ids(2, 6, 7, 8), y = ids(2, 6, 7, 9);
    const { grads, value } = model.valueAndGrads(() => model.loss(x, y));
    value.dispose();
    const names = [
      "wte.weight",
      "wpe.weight",
      "h.0.attn.c_attn.weight",
      "h.1.mlp.c_proj.weight",
      "h.0.ln_1.weight",
      "h.1.attn.c_proj.bias",
    ];
    if (norm === "pre") names.push("ln_f.bias");
    for (const name of names) {
      const p = model.params.get(name)!;
      const analytic = grads.get(name)!.dataSync();
      const base = p.dataSync() as Float32Array;
      // the largest-gradient entry, where float32 differences are most reliable
      let k = 0;
      for (let i = 0; i < analytic.length; i++) {
        if (Math.abs(analytic[i]) > Math.abs(analytic[k])) k = i;
      }
      const eps = 1e-2;
      const at = (delta: number) => {
        const w = base.slice();
        w[k] += delta;
        p.assign(tf.tensor(w, p.shape));
        return tf.tidy(() => model.loss(x, y).dataSync()[0]);
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      p.assign(tf.tensor(base, p.shape));
      const rel = Math.abs(numeric - analytic[k]) /
        Math.max(1e-4, Math.abs(numeric) + Math.abs(analytic[k]));
      assert.ok(
        rel < 0.02,
        `${norm} ${name}[${k}]: analytic ${analytic[k]} numeric ${numeric}`,
      );
    }
    tf.dispose([...grads.values()]);
    tf.dispose([x, y]);
    model.dispose();
  }
});

bothPaths("same seed, same weights and logits", () => {
  const a = GPT.create(micro(), 42),
    b = GPT.create(micro(), 42),
    c = GPT.create(micro(), 43);
  const x = ids(1, 8, 11, 1);
  const la = a.forward(x).logits.dataSync(),
    lb = b.forward(x).logits.dataSync();
  const lc = c.forward(x).logits.dataSync();
  assert.deepEqual(la, lb);
  assert.notDeepEqual(la, lc);
  [a, b, c].forEach((m) => m.dispose());
  x.dispose();
});

Deno.test("residual projections are initialised with std 0.02/sqrt(2·nLayer)", () => {
  const model = GPT.create(
    coursePreset("small", { vocabSize: 50, contextLength: 16 }),
    0,
  );
  const std = (name: string) => {
    const v = model.params.get(name)!.dataSync();
    let s = 0;
    for (const x of v) s += x * x;
    return Math.sqrt(s / v.length);
  };
  assert.ok(Math.abs(std("h.0.mlp.c_fc.weight") - 0.02) < 0.001);
  assert.ok(
    Math.abs(std("h.0.mlp.c_proj.weight") - 0.02 / Math.sqrt(12)) < 0.0005,
  );
  model.dispose();
});
