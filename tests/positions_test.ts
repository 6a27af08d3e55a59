import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { makeConfig } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { initSinusoidalPositions, sinusoidalTable } from "../lib/model/positions.ts";

await initBackend();

Deno.test("sinusoidalTable: the original Transformer's values, by hand", () => {
  const t = sinusoidalTable(3, 4, 2);
  // Row 2, pair 0: angle 2; pair 1: angle 2 / 10000^(2/4) = 0.02.
  const want = [
    0,
    2,
    0,
    2,
    2 * Math.sin(1),
    2 * Math.cos(1),
    2 * Math.sin(0.01),
    2 * Math.cos(0.01),
  ]
    .concat([2 * Math.sin(2), 2 * Math.cos(2), 2 * Math.sin(0.02), 2 * Math.cos(0.02)]);
  assert.equal(t.length, 12);
  t.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `entry ${i}: ${v} vs ${want[i]}`));
  assert.throws(() => sinusoidalTable(4, 5), /d must be an even integer/);
  assert.throws(() => sinusoidalTable(0, 4), /positions must be an integer ≥ 1/);
  assert.throws(() => sinusoidalTable(4, 4, 0), /scale must be a finite number > 0/);
});

Deno.test("sinusoidalTable: one position back is the same rotation at every position", () => {
  const d = 16, n = 40, t = sinusoidalTable(n, d);
  for (let i = 0; i < d / 2; i++) {
    const w = 1 / Math.pow(10000, (2 * i) / d);
    const [c, s] = [Math.cos(w), Math.sin(w)];
    for (let p = 0; p + 1 < n; p++) {
      const [sp, cp] = [t[p * d + 2 * i], t[p * d + 2 * i + 1]];
      // sin(a + w) = sin a cos w + cos a sin w; cos(a + w) = cos a cos w − sin a sin w.
      assert.ok(Math.abs(t[(p + 1) * d + 2 * i] - (sp * c + cp * s)) < 1e-5);
      assert.ok(Math.abs(t[(p + 1) * d + 2 * i + 1] - (cp * c - sp * s)) < 1e-5);
    }
  }
});

Deno.test("initSinusoidalPositions: writes wpe in place, trainable, no tensor left behind", () => {
  const model = GPT.create(
    makeConfig({ vocabSize: 7, contextLength: 9, nLayer: 1, nHead: 2, nEmbd: 8 }),
    0,
  );
  const before = tf.memory().numTensors;
  const wpe = model.params.get("wpe.weight")!;
  initSinusoidalPositions(model, 0.5);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(model.params.get("wpe.weight"), wpe, "the same variable");
  assert.ok(wpe.trainable);
  const want = sinusoidalTable(9, 8, 0.5);
  wpe.dataSync().forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6));
  model.dispose();
});
