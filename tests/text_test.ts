import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { CharTokenizer, UnknownSymbolError } from "../lib/tokenizers/char.ts";
import { loadMobyDick, mobyDickChapters } from "../datasets/moby_dick.ts";
import { coursePreset } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { generate } from "../lib/model/generate.ts";
import { sampleToken } from "../lib/model/sample.ts";
import { Rng } from "../lib/random.ts";

await initBackend();

Deno.test("char tokenizer round-trips and names unknown symbols", () => {
  const tok = CharTokenizer.fromText("hello, world");
  assert.equal(tok.vocabSize, 9);
  assert.equal(tok.decode(tok.encode("low, hello")), "low, hello");
  assert.throws(() => tok.encode("hello€"), (err: Error) => {
    assert.ok(err instanceof UnknownSymbolError);
    assert.match(err.message, /unknown symbol "€" \(U\+20AC\) at position 5/);
    return true;
  });
  assert.throws(() => tok.decode([99]), /outside \[0, 9\)/);
  assert.deepEqual(
    CharTokenizer.fromJSON(JSON.parse(JSON.stringify(tok))).symbols,
    tok.symbols,
  );
  const emoji = CharTokenizer.fromText("a😀b");
  assert.equal(emoji.vocabSize, 3);
  assert.equal(emoji.decode(emoji.encode("😀ab")), "😀ab");
});

Deno.test("Moby-Dick loads from the npm package", () => {
  const chapters = mobyDickChapters();
  assert.ok(chapters.length > 130);
  const text = loadMobyDick();
  assert.ok(
    text.length > 1_100_000 && text.length < 1_300_000,
    `${text.length} characters`,
  );
  assert.ok(text.includes("Call me Ishmael."));
  assert.ok(!text.startsWith("CONTENTS"));
});

Deno.test("sampling: greedy, top-k, temperature", () => {
  const logits = Float32Array.from([0, 3, 1, 2]);
  assert.equal(sampleToken(logits, { temperature: 0, topK: 0 }, new Rng(0)), 1);
  const rng = new Rng(1);
  for (let i = 0; i < 50; i++) {
    assert.ok([1, 3].includes(sampleToken(logits, { temperature: 1, topK: 2 }, rng)));
  }
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 2000; i++) counts[sampleToken(logits, { temperature: 1, topK: 0 }, rng)]++;
  // softmax([0,3,1,2]) ≈ [0.032, 0.644, 0.087, 0.237]
  assert.ok(Math.abs(counts[1] / 2000 - 0.644) < 0.04, `${counts}`);
  assert.throws(() => sampleToken(logits, { temperature: -1, topK: 0 }, rng), /temperature/);
});

Deno.test("generate crops long prompts, is seeded, and keeps numTensors flat", () => {
  const model = GPT.create(
    coursePreset("micro", { vocabSize: 5, contextLength: 4 }),
    0,
  );
  const before = tf.memory().numTensors;
  const long = [1, 2, 3, 4, 0, 1, 2, 3, 4];
  const a = generate(model, long, { maxNewTokens: 6, seed: 3 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(a.length, long.length + 6);
  assert.deepEqual(a.slice(0, long.length), long);
  assert.deepEqual(generate(model, long, { maxNewTokens: 6, seed: 3 }), a);
  assert.throws(
    () => generate(model, [], { maxNewTokens: 1 }),
    /prompt is empty/,
  );
  assert.throws(
    () => generate(model, [7], { maxNewTokens: 1 }),
    /outside \[0, 5\)/,
  );
  model.dispose();
});

Deno.test("sampleToken: frequencies follow softmax(logits / T) at several temperatures", () => {
  // 20,000 draws per temperature: each frequency is within 4 standard errors of its
  // probability, sqrt(p (1 − p) / n) ≤ 0.0036, so a wrong temperature (T vs 1/T, or T ignored)
  // fails by far more than the tolerance of 0.015.
  const logits = Float32Array.from([1.0, 0.0, 2.0, -1.0]);
  const n = 20_000;
  for (const t of [0.25, 0.5, 2, 4]) {
    const rng = new Rng(17);
    const counts = new Array(4).fill(0);
    for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: t, topK: 0 }, rng)]++;
    const e = Array.from(logits, (l) => Math.exp(l / t));
    const z = e.reduce((a, b) => a + b, 0);
    counts.forEach((c, i) => {
      const p = e[i] / z;
      assert.ok(Math.abs(c / n - p) < 0.015, `T = ${t}, token ${i}: ${c / n} vs ${p.toFixed(4)}`);
    });
  }
  // Top-k renormalises over the k most likely only.
  const rng = new Rng(3);
  const counts = new Array(4).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 0.5, topK: 2 }, rng)]++;
  const p2 = Math.exp(4) / (Math.exp(4) + Math.exp(2));
  assert.equal(counts[1] + counts[3], 0);
  assert.ok(Math.abs(counts[2] / n - p2) < 0.015);
});

Deno.test("generate: temperature and topK reach the sampler", () => {
  const model = GPT.create(coursePreset("micro", { vocabSize: 9, contextLength: 8 }), 3);
  const prompt = [1, 2, 3];
  const greedy = generate(model, prompt, { maxNewTokens: 12, temperature: 0 });
  // topK = 1 leaves only the most likely token, whatever the temperature.
  assert.deepEqual(generate(model, prompt, { maxNewTokens: 12, temperature: 50, topK: 1 }), greedy);
  // A tiny temperature is greedy in practice; a huge one is not (an untrained model's logits
  // are close, so T = 50 is nearly uniform over 9 tokens).
  assert.deepEqual(generate(model, prompt, { maxNewTokens: 12, temperature: 1e-4 }), greedy);
  const hot = [1, 2, 3, 4].map((seed) =>
    generate(model, prompt, { maxNewTokens: 12, temperature: 50, seed }).slice(3).join()
  );
  assert.ok(
    hot.some((h) => h !== greedy.slice(3).join()),
    "temperature 50 sampled the argmax only",
  );
  assert.equal(new Set(hot).size, 4, "different seeds, same samples");
  model.dispose();
});
