import { maxAbsDiff } from "./support.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { coursePreset, type NormPlacement } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { generate } from "../lib/model/generate.ts";
import { KVCache } from "../lib/model/kv_cache.ts";
import { sampleToken, type SamplingOptions, topPIndices } from "../lib/model/sample.ts";
import { Rng } from "../lib/random.ts";

await initBackend();

const VOCAB = 23, CONTEXT = 12;

/**
 * A micro model with weights large enough (std 0.3) that logits differ clearly between tokens
 * and positions: with GPT-2's 0.02 init every logit is ~0 and comparisons would prove little.
 */
function micro(norm: NormPlacement, tiedEmbeddings: boolean, seed = 1): GPT {
  const model = GPT.create(
    coursePreset("micro", { vocabSize: VOCAB, contextLength: CONTEXT, norm, tiedEmbeddings }),
    seed,
  );
  const rng = new Rng(seed + 100);
  for (const [name, v] of model.params) {
    const noise = rng.normalArray(v.size, 0.3);
    const base = /ln_\w+\.weight$/.test(name) ? 1 : 0;
    const t = tf.tensor(noise.map((x) => x + base), v.shape);
    v.assign(t);
    t.dispose();
  }
  return model;
}

/** The full forward's logits [T][vocab] for one sequence. */
function fullLogits(model: GPT, ids: number[]): Float32Array[] {
  const logits = tf.tidy(() => model.forward(tf.tensor2d(ids, [1, ids.length], "int32")).logits);
  const flat = logits.dataSync() as Float32Array;
  logits.dispose();
  return ids.map((_, t) => flat.slice(t * VOCAB, (t + 1) * VOCAB));
}

const maxDiff = maxAbsDiff;

const SEQ = [5, 0, 22, 7, 7, 13, 1, 19, 4, 11, 2, 16]; // a full context

for (const norm of ["pre", "post"] as const) {
  for (const tied of [true, false]) {
    Deno.test(`kv cache: logits at every step equal the full forward (${norm}-norm, ${tied ? "tied" : "untied"} head)`, () => {
      const model = micro(norm, tied);
      const full = fullLogits(model, SEQ);
      const spread = Math.max(...full[3]) - Math.min(...full[3]);
      assert.ok(spread > 1, `logits should differ between tokens (spread ${spread})`);
      // One token at a time: step t sees the prefix SEQ[0..t].
      const cache = new KVCache(model);
      for (let t = 0; t < SEQ.length; t++) {
        const step = cache.append([SEQ[t]]);
        assert.equal(cache.length, t + 1);
        const d = maxDiff(step, full[t]);
        assert.ok(d < 1e-4, `position ${t}: max |Δ| = ${d}`);
      }
      // A batched prompt, then single tokens; and every position's logits at once.
      cache.reset();
      assert.ok(maxDiff(cache.append(SEQ.slice(0, 5)), full[4]) < 1e-4);
      assert.ok(maxDiff(cache.append([SEQ[5]]), full[5]) < 1e-4);
      const rest = cache.append(SEQ.slice(6), { allLogits: true });
      assert.equal(rest.length, 6 * VOCAB);
      for (let t = 6; t < SEQ.length; t++) {
        const row = rest.subarray((t - 6) * VOCAB, (t - 5) * VOCAB);
        assert.ok(maxDiff(row, full[t]) < 1e-4, `batched position ${t}`);
      }
      assert.throws(() => cache.append([1]), /13 positions, past the context of 12/);
      cache.dispose();
      model.dispose();
    });
  }
}

/** generate() written out with full forward passes over the whole sequence (within the context). */
function generateByFullForward(
  model: GPT,
  prompt: number[],
  n: number,
  options: SamplingOptions & { seed?: number },
): number[] {
  const rng = new Rng(options.seed ?? 0);
  const tokens = [...prompt];
  for (let i = 0; i < n; i++) {
    tokens.push(sampleToken(fullLogits(model, tokens).at(-1)!, options, rng));
  }
  return tokens;
}

Deno.test("generate (through the cache) draws what full forward passes draw", () => {
  for (const norm of ["pre", "post"] as const) {
    const model = micro(norm, true, 3); // seed 3: greedy paths that do not just repeat a token
    const prompt = [3, 14, 1];
    const n = CONTEXT - prompt.length; // fills the context exactly
    const greedy = generateByFullForward(model, prompt, n, { greedy: true });
    assert.ok(new Set(greedy.slice(3)).size > 2, `a greedy path that varies: ${greedy}`);
    assert.deepEqual(generate(model, prompt, { maxNewTokens: n, greedy: true }), greedy);
    assert.deepEqual(
      generate(model, prompt, { maxNewTokens: n, temperature: 0, overflow: "error" }),
      greedy,
    );
    // Sampling draws the same tokens for the same seed.
    const options = { temperature: 0.8, topK: 10, seed: 5 };
    assert.deepEqual(
      generate(model, prompt, { maxNewTokens: n, ...options }),
      generateByFullForward(model, prompt, n, options),
    );
    model.dispose();
  }
});

Deno.test("kv cache: past the context, the window slides as documented (or it refuses)", () => {
  const model = micro("pre", true, 3);
  const prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]; // longer than the context
  const got = generate(model, prompt, { maxNewTokens: 20, greedy: true });
  // The documented rule, with full forward passes: the window ends at the newest token, starts
  // as the prompt's last CONTEXT tokens and restarts from the last CONTEXT / 2 when it overflows.
  const want = [...prompt];
  let start = Math.max(0, prompt.length - CONTEXT);
  for (let i = 0; i < 20; i++) {
    const window = want.slice(start);
    const logits = fullLogits(model, window)[window.length - 1];
    want.push(logits.indexOf(Math.max(...logits)));
    if (want.length - start > CONTEXT) start = want.length - CONTEXT / 2;
  }
  assert.deepEqual(got, want);
  assert.throws(
    () => generate(model, [1, 2, 3], { maxNewTokens: 10, overflow: "error" }),
    /prompt \(3\) \+ maxNewTokens \(10\) = 13 tokens exceed the context of 12/,
  );
  assert.throws(() => generate(model, [], { maxNewTokens: 1 }), /prompt is empty/);
  assert.throws(() => generate(model, [23], { maxNewTokens: 1 }), /outside \[0, 23\)/);
  assert.throws(() => generate(model, [1], { maxNewTokens: 1, topP: 0 }), /topP/);
  assert.deepEqual(generate(model, [4, 5], { maxNewTokens: 0 }), [4, 5]);
  model.dispose();
});

Deno.test("kv cache: numTensors stays flat across generation", () => {
  const model = micro("post", false, 4);
  const before = tf.memory().numTensors;
  generate(model, [1, 2], { maxNewTokens: 30, temperature: 1, topP: 0.9, seed: 1 });
  assert.equal(tf.memory().numTensors, before);
  const cache = new KVCache(model);
  cache.append([1, 2, 3]);
  const held = tf.memory().numTensors;
  assert.equal(held - before, 2 * model.config.nLayer + 1); // keys, values per layer; the head
  for (let i = 0; i < 8; i++) {
    cache.append([i]);
    assert.equal(tf.memory().numTensors, held);
  }
  cache.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("top-p keeps the smallest most-likely set reaching p, on a hand-made distribution", () => {
  const probs = [0.05, 0.4, 0.1, 0.25, 0.2]; // sorted: 1 (.4), 3 (.25), 4 (.2), 2 (.1), 0 (.05)
  assert.deepEqual(topPIndices(probs, 0.3), [1]);
  assert.deepEqual(topPIndices(probs, 0.4), [1]); // reached exactly: no more needed
  assert.deepEqual(topPIndices(probs, 0.41), [1, 3]);
  assert.deepEqual(topPIndices(probs, 0.65), [1, 3]); // 0.4 + 0.25, despite float rounding
  assert.deepEqual(topPIndices(probs, 0.8), [1, 3, 4]);
  assert.deepEqual(topPIndices(probs, 0.96), [1, 3, 4, 2, 0]);
  assert.deepEqual(topPIndices(probs, 1), [1, 3, 4, 2, 0]);
  assert.deepEqual(topPIndices([0, 1, 0], 1), [1]); // never a zero-probability token
  assert.deepEqual(topPIndices([0.5, 0.5], 0.5), [0]); // ties: lower index first
  assert.throws(() => topPIndices(probs, 0), /topP must be in \(0, 1\]/);
  assert.throws(() => topPIndices(probs, 1.5), /topP/);

  // Sampling with top-p = 0.8 draws only tokens 1, 3, 4, in proportion .4 : .25 : .2.
  const logits = Float32Array.from(probs.map(Math.log));
  const rng = new Rng(2);
  const counts = [0, 0, 0, 0, 0];
  const n = 6000;
  for (let i = 0; i < n; i++) counts[sampleToken(logits, { topP: 0.8 }, rng)]++;
  assert.equal(counts[0] + counts[2], 0, `${counts}`);
  for (const [i, p] of [[1, 0.4 / 0.85], [3, 0.25 / 0.85], [4, 0.2 / 0.85]]) {
    assert.ok(Math.abs(counts[i] / n - p) < 0.025, `token ${i}: ${counts[i] / n} vs ${p}`);
  }
  // With top-k 2 first, the nucleus is taken within the two survivors.
  for (let i = 0; i < 200; i++) {
    assert.ok([1, 3].includes(sampleToken(logits, { topK: 2, topP: 0.99 }, rng)));
  }
  assert.equal(sampleToken(logits, { greedy: true, topP: 0.5 }, rng), 1);
  assert.equal(sampleToken(logits, { temperature: 0 }, rng), 1);
});
