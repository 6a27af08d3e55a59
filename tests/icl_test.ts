import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { coursePreset } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { Rng } from "../lib/random.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import { splitTokens } from "../lib/data.ts";
import { defaultTrainConfig, Trainer } from "../lib/train/mod.ts";
import {
  type BatchGenerator,
  buildPrompt,
  cachedGreedyGenerator,
  ContextOverflowError,
  corruptLabels,
  encodePrompt,
  evaluateIcl,
  extractAnswer,
  greedyGenerator,
  type IclExample,
  type IclTask,
  type LogitsModel,
  maxShots,
  rankCandidates,
  sampleDemonstrations,
  scoreContinuations,
  scoreExactMatch,
  shuffleLabels,
  summarize,
} from "../lib/eval/mod.ts";
import { mappingTask, pureIclEpisode, pureIclStream } from "../datasets/icl_tasks.ts";

await initBackend();

// ids: "\n" 0, " " 1, ":" 2, a 3, b 4, c 5, "⇒" 6
const TOK = new CharTokenizer(["\n", " ", ":", "a", "b", "c", "⇒"]);
const DEMOS: IclExample[] = [
  { input: "ab", target: "ba" },
  { input: "c", target: "cc" },
  { input: "bc", target: "a" },
];
const QUERY: IclExample = { input: "ca", target: "ac" };

Deno.test("icl prompt: exact strings and token ids for K = 0, 1, 3", () => {
  const p0 = buildPrompt(QUERY, []);
  assert.deepEqual(p0, { text: "ca ⇒", answerPrefix: " ", k: 0 });
  assert.deepEqual(encodePrompt(p0, TOK, ["ac"]), { prompt: [5, 3, 1, 6], answers: [[1, 3, 5]] });

  const p1 = buildPrompt(QUERY, DEMOS.slice(0, 1));
  assert.equal(p1.text, "ab ⇒ ba\nca ⇒");
  assert.deepEqual(encodePrompt(p1, TOK).prompt, [3, 4, 1, 6, 1, 4, 3, 0, 5, 3, 1, 6]);

  const p3 = buildPrompt(QUERY, DEMOS);
  assert.equal(p3.text, "ab ⇒ ba\nc ⇒ cc\nbc ⇒ a\nca ⇒");
  assert.equal(p3.k, 3);
  assert.deepEqual(
    encodePrompt(p3, TOK).prompt,
    [3, 4, 1, 6, 1, 4, 3, 0, 5, 1, 6, 1, 5, 5, 0, 4, 5, 1, 6, 1, 3, 0, 5, 3, 1, 6],
  );

  // Description line, custom arrow and separator; a query given as a bare string.
  const d = buildPrompt("ca", DEMOS.slice(0, 1), {
    description: "abc:",
    format: { arrow: ":", separator: " ", descriptionSeparator: "\n\n" },
  });
  assert.deepEqual(d, { text: "abc:\n\nab:ba ca:", answerPrefix: "", k: 1 });
  assert.deepEqual(encodePrompt(d, TOK, ["ac"]).answers, [[3, 5]]);
  assert.throws(
    () => buildPrompt(QUERY, [], { format: { separator: "" } }),
    /separator may not be empty/,
  );
});

Deno.test("icl prompt: maxShots and the context error name K, the prompt length and the context", () => {
  const pool = Array.from({ length: 5 }, () => ({ input: "ab", target: "ba" }));
  // Each demonstration is "ab ⇒ ba\n" = 8 tokens, the query "abc ⇒" 5, the answer " cba" 4:
  // K demonstrations need 8K + 9 tokens.
  const queries = [{ input: "abc", target: "cba" }];
  assert.equal(maxShots({ pool, queries, tokenizer: TOK, contextLength: 30 }), 2);
  assert.equal(maxShots({ pool, queries, tokenizer: TOK, contextLength: 33 }), 3);
  assert.equal(maxShots({ pool, queries, tokenizer: TOK, contextLength: 1000 }), 5); // all of it
  // The longest candidate counts, and so does a longer demonstration (worst case).
  assert.equal(
    maxShots({ pool, queries, candidates: ["cccccc"], tokenizer: TOK, contextLength: 33 }),
    2,
  );
  const mixed = [...pool.slice(0, 4), { input: "abcabc", target: "ba" }];
  assert.equal(maxShots({ pool: mixed, queries, tokenizer: TOK, contextLength: 33 }), 2);

  const p3 = buildPrompt(queries[0], pool.slice(0, 3));
  assert.equal(encodePrompt(p3, TOK, ["cba"], 33).prompt.length, 29);
  assert.throws(
    () => encodePrompt(p3, TOK, ["cba"], 30),
    (e: unknown) =>
      e instanceof ContextOverflowError &&
      /K = 3 demonstrations/.test(e.message) && /prompt of 29 tokens/.test(e.message) &&
      /context of 30 tokens/.test(e.message) && e.k === 3 && e.promptTokens === 29,
  );
  assert.throws(
    () => maxShots({ pool, queries, tokenizer: TOK, contextLength: 8 }),
    /K = 0 demonstrations make a prompt of 5 tokens.*context of 8/,
  );
});

// ---------------------------------------------------------------------------------------------
// A fake model with known logits: logits[b, t] = W[idx[b, t]] + P[t] (a bigram table plus a
// per-position bias, so a wrong position would give a wrong answer).
// ---------------------------------------------------------------------------------------------

const V = 7, CTX = 12;

class FakeModel implements LogitsModel {
  readonly config = { vocabSize: V, contextLength: CTX };
  calls = 0;
  readonly W: number[][];
  readonly P: number[][];
  constructor(seed: number) {
    const rng = new Rng(seed);
    const rows = (n: number) => Array.from({ length: n }, () => Array.from(rng.normalArray(V, 2)));
    this.W = rows(V);
    this.P = rows(CTX);
  }
  forward(idx: tf.Tensor2D): { logits: tf.Tensor3D } {
    this.calls++;
    const t = idx.shape[1];
    return {
      logits: tf.tidy(() =>
        tf.add(tf.gather(tf.tensor2d(this.W), idx), tf.tensor2d(this.P.slice(0, t)))
      ) as tf.Tensor3D,
    };
  }
  /** log P(next | token at position t), computed in float64. */
  logProb(token: number, t: number, next: number): number {
    const z = this.W[token].map((w, j) => w + this.P[t][j]);
    const m = Math.max(...z);
    return z[next] - m - Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
  }
  handScore(prompt: number[], cont: number[]): number[] {
    const s = [...prompt, ...cont];
    return cont.map((_, j) => {
      const pos = prompt.length + j;
      return this.logProb(s[pos - 1], pos - 1, s[pos]);
    });
  }
  /** Greedy continuation by hand. */
  handGreedy(prompt: number[], n: number): number[] {
    const s = [...prompt];
    for (let i = 0; i < n; i++) {
      const t = s.length - 1;
      const z = this.W[s[t]].map((w, j) => w + this.P[t][j]);
      s.push(z.indexOf(Math.max(...z)));
    }
    return s.slice(prompt.length);
  }
}

const REQUESTS = [
  { prompt: [3], continuation: [4] },
  { prompt: [3, 4, 1, 6, 1], continuation: [4, 3, 0] },
  { prompt: [5, 5, 5, 5, 5, 5, 5, 5], continuation: [2, 1, 0, 6] }, // 11 tokens fed
  { prompt: [0, 1], continuation: [2, 3, 4, 5, 6] },
];

Deno.test("icl likelihood: log-probs of a fake model match hand-computed values (1e-5)", () => {
  const model = new FakeModel(1);
  const before = tf.memory().numTensors;
  const scores = scoreContinuations(model, REQUESTS);
  assert.equal(model.calls, 1, "one batched forward pass for all requests");
  assert.equal(tf.memory().numTensors, before);
  REQUESTS.forEach((r, i) => {
    const hand = model.handScore(r.prompt, r.continuation);
    assert.equal(scores[i].logProbs.length, hand.length);
    hand.forEach((h, j) => assert.ok(Math.abs(scores[i].logProbs[j] - h) < 1e-5, `${i}.${j}`));
    const sum = hand.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(scores[i].sum - sum) < 1e-5);
    assert.ok(Math.abs(scores[i].mean - sum / hand.length) < 1e-5);
  });
  // Chunked into passes of 2: same numbers.
  const chunked = scoreContinuations(model, REQUESTS, { batchSize: 2, padId: 6 });
  assert.equal(model.calls, 3);
  chunked.forEach((s, i) => assert.ok(Math.abs(s.sum - scores[i].sum) < 1e-6));
  assert.throws(
    () => scoreContinuations(model, [{ prompt: [], continuation: [1] }]),
    /empty prompt/,
  );
  assert.throws(
    () => scoreContinuations(model, [{ prompt: new Array(12).fill(1), continuation: [1, 2] }]),
    /13 must be fed, past the context of 12/,
  );
  assert.throws(() => scoreContinuations(model, [{ prompt: [7], continuation: [1] }]), /outside/);
});

Deno.test("icl likelihood: rankCandidates picks the hand-computed best by sum and by mean", () => {
  const model = new FakeModel(6); // a table where the sum and the mean disagree
  const tok = new CharTokenizer(["\n", " ", ":", "a", "b", "c", "⇒"]);
  const candidates = ["a", "bb", "cab", "ccc"];
  const items = [
    { prompt: buildPrompt(QUERY, []), candidates, target: "bb" },
    { prompt: buildPrompt({ input: "b", target: "a" }, []), candidates, target: "a" },
    { prompt: buildPrompt({ input: "abc", target: "ccc" }, []), candidates, target: "ccc" },
  ];
  const picks: number[][] = [];
  for (const rankBy of ["sum", "mean"] as const) {
    const r = rankCandidates(model, tok, items, { rankBy });
    picks.push(r.choices);
    items.forEach((item, i) => {
      const enc = encodePrompt(item.prompt, tok, item.candidates);
      const hand = enc.answers.map((a) => {
        const lp = model.handScore(enc.prompt, a);
        const s = lp.reduce((x, y) => x + y, 0);
        return rankBy === "sum" ? s : s / lp.length;
      });
      const best = hand.indexOf(Math.max(...hand));
      assert.equal(r.choices[i], best, `${rankBy} item ${i}`);
      assert.equal(r.answers[i], candidates[best]);
      assert.equal(r.correct[i], candidates[best] === item.target);
      r.scores[i].forEach((s, c) => assert.ok(Math.abs(s[rankBy] - hand[c]) < 1e-5));
    });
    assert.equal(r.accuracy, r.correct.filter(Boolean).length / 3);
  }
  assert.notDeepEqual(picks[0], picks[1], "sum and mean rank differently here");
  assert.throws(
    () => rankCandidates(model, tok, [{ prompt: items[0].prompt, candidates, target: "zz" }]),
    /not among its candidates/,
  );
  const long = buildPrompt(QUERY, DEMOS); // 26 tokens > context 12
  assert.throws(
    () => rankCandidates(model, tok, [{ prompt: long, candidates }]),
    ContextOverflowError,
  );
});

/** The micro GPT of the kv-cache tests: weights large enough that logits differ clearly. */
function microGpt(vocabSize: number, contextLength: number, seed = 1): GPT {
  const model = GPT.create(coursePreset("micro", { vocabSize, contextLength }), seed);
  const rng = new Rng(seed + 100);
  for (const [name, v] of model.params) {
    const base = /ln_\w+\.weight$/.test(name) ? 1 : 0;
    const t = tf.tensor(rng.normalArray(v.size, 0.3).map((x) => x + base), v.shape);
    v.assign(t);
    t.dispose();
  }
  return model;
}

Deno.test("icl likelihood: right-padded batch of a real GPT equals each sequence alone", () => {
  const model = microGpt(V, CTX);
  const before = tf.memory().numTensors;
  const scores = scoreContinuations(model, REQUESTS);
  REQUESTS.forEach((r, i) => {
    const s = [...r.prompt, ...r.continuation];
    const fed = s.slice(0, -1);
    const logits = tf.tidy(() => model.forward(tf.tensor2d(fed, [1, fed.length], "int32")).logits);
    const z = logits.dataSync();
    logits.dispose();
    r.continuation.forEach((_, j) => {
      const t = r.prompt.length + j - 1;
      const row = Array.from(z.subarray(t * V, (t + 1) * V));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      const hand = row[s[t + 1]] - lse;
      assert.ok(
        Math.abs(scores[i].logProbs[j] - hand) < 1e-5,
        `${i}.${j}: ${scores[i].logProbs[j]} vs ${hand}`,
      );
    });
  });
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("icl exact match: answers cut at the separator, a fake generator, batched greedy decoding", () => {
  assert.equal(extractAnswer(" inevitably\nxyz ⇒ q", " "), "inevitably");
  assert.equal(extractAnswer("inevitably ", " "), "inevitably");
  assert.equal(extractAnswer(" 124 end", " ", { separator: " " }), "124"); // prefix dropped first
  assert.equal(extractAnswer("", " "), "");

  const items = [
    { prompt: buildPrompt(QUERY, DEMOS), target: "ac" },
    { prompt: buildPrompt({ input: "b", target: "ba" }, []), target: "ba" },
    { prompt: buildPrompt({ input: "a", target: "c" }, DEMOS.slice(0, 1)), target: "c" },
  ];
  const canned = [" ac\nab", " b", "c "];
  let seenMax = -1;
  const fake: BatchGenerator = (prompts, maxNew, isDone) => {
    seenMax = maxNew;
    assert.equal(prompts.length, 3);
    assert.deepEqual(prompts[1], [4, 1, 6]); // "b ⇒"
    assert.equal(isDone?.(0, Array.from(TOK.encode(" ac"))), false);
    assert.equal(isDone?.(0, Array.from(TOK.encode(" ac\n"))), true);
    return canned.map((c) => Array.from(TOK.encode(c)));
  };
  const r = scoreExactMatch(fake, TOK, items);
  assert.equal(seenMax, 4); // " ac\n" / " ba\n": the longest answer plus prefix and separator
  assert.deepEqual(r.continuations, canned);
  assert.deepEqual(r.answers, ["ac", "b", "c"]);
  assert.deepEqual(r.correct, [true, false, true]);
  assert.equal(r.accuracy, 2 / 3);
  assert.throws(
    () => scoreExactMatch(fake, TOK, items, { contextLength: 20 }),
    ContextOverflowError,
  );

  // greedyGenerator against a hand-run greedy decode of the fake model, rows of different lengths.
  const model = new FakeModel(3);
  const prompts = [[1], [3, 4, 1, 6], [5, 5, 5, 5, 5, 5, 5]];
  const before = tf.memory().numTensors;
  const out = greedyGenerator(model)(prompts, 5);
  assert.deepEqual(out, prompts.map((p) => model.handGreedy(p, 5)));
  assert.equal(model.calls, 5, "one pass per step for the whole batch");
  // Rows stop once done: row 0 after 2 tokens.
  const early = greedyGenerator(model)(prompts, 5, (row, ids) => row === 0 && ids.length >= 2);
  assert.deepEqual(early[0], model.handGreedy(prompts[0], 2));
  assert.deepEqual(early[2], out[2]);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => greedyGenerator(model)([[1, 2, 3, 4, 5, 6, 7, 8, 9]], 5), /do not fit/);
});

Deno.test("icl exact match: batched greedy and cached (generate) greedy agree on a real GPT", () => {
  const model = microGpt(V, 16, 4);
  const prompts = [[1, 2], [3, 4, 5, 6, 0], [6]];
  const before = tf.memory().numTensors;
  const a = greedyGenerator(model, { batchSize: 2 })(prompts, 6);
  const b = cachedGreedyGenerator(model)(prompts, 6);
  assert.deepEqual(a, b);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

// ---------------------------------------------------------------------------------------------
// The experiment runner, with a perfect in-context learner written in JavaScript: it answers the
// query with the label of the last demonstration that has the same input (else "?").
// ---------------------------------------------------------------------------------------------

const LETTERS = new CharTokenizer([..."\n ?abcdefxyz⇒"]);

const copier: BatchGenerator = (prompts) =>
  prompts.map((p) => {
    const lines = LETTERS.decode(p).split("\n");
    const query = lines.pop()!.replace(/ ⇒$/, "");
    const table = new Map(lines.map((l) => l.split(" ⇒ ") as [string, string]));
    return Array.from(LETTERS.encode(" " + (table.get(query) ?? "?") + "\n"));
  });

/** Inputs a–f mapped to labels x/y/z; the pool has each input twice. */
const MAPPING: IclTask = {
  pool: [..."abcdefabcdef"].map((c, i) => ({ input: c, target: "xyz"[i % 3] })),
  queries: [..."abcdef"].map((c, i) => ({ input: c, target: "xyz"[i % 3] })),
  sharedInputs: true,
};
const dummy: LogitsModel = {
  config: { contextLength: 200, vocabSize: LETTERS.vocabSize },
  forward: () => {
    throw new Error("not used");
  },
};

Deno.test("icl runner: accuracy per K over seeds, nested demonstrations, wrong labels", () => {
  const run = (extra: Partial<Parameters<typeof evaluateIcl>[0]> = {}) =>
    evaluateIcl({
      model: dummy,
      tokenizer: LETTERS,
      task: MAPPING,
      shots: [0, 2, 12],
      seeds: [0, 1, 2, 3],
      method: "exact",
      generator: copier,
      ...extra,
    });
  const r = run();
  assert.deepEqual(r.shots.map((s) => s.k), [0, 2, 12]);
  assert.deepEqual(r.shots[0].accuracies, [0, 0, 0, 0]); // nothing to copy
  assert.deepEqual(r.shots[2].accuracies, [1, 1, 1, 1]); // the whole pool: always there
  const k2 = r.shots[1];
  assert.ok(k2.mean > 0 && k2.mean < 1, `K = 2 should be partial, got ${k2.mean}`);
  assert.ok(new Set(k2.accuracies).size > 1, "different seeds draw different demonstrations");
  assert.deepEqual(k2, { k: 2, accuracies: k2.accuracies, ...summarize(k2.accuracies) });
  assert.equal(r.runs.length, 12);
  assert.deepEqual(run(), r, "deterministic per seed");
  // Every demonstration mislabelled: a perfect copier is always wrong.
  assert.deepEqual(run({ wrongLabelFraction: 1 }).shots[2].accuracies, [0, 0, 0, 0]);
  const half = run({ wrongLabelFraction: 0.5 }).shots[2].mean;
  assert.ok(half > 0 && half < 1, `half the labels wrong: ${half}`);

  // Pool and queries must be disjoint unless the task says otherwise; K must fit the pool.
  assert.throws(() => run({ task: { ...MAPPING, sharedInputs: false } }), /disjoint/);
  assert.throws(() => run({ shots: [13] }), /pool holds only 12/);
});

Deno.test("icl runner: helpers (summaries, sampling, corrupted labels)", () => {
  const s = summarize([0.5, 0.7, 0.9]);
  assert.ok(Math.abs(s.mean - 0.7) < 1e-12 && Math.abs(s.std - 0.2) < 1e-12);
  assert.deepEqual([s.min, s.max], [0.5, 0.9]);
  assert.equal(summarize([0.4]).std, 0);

  const orders = sampleDemonstrations(10, 50, 4, new Rng(0));
  for (const o of orders) {
    assert.equal(new Set(o).size, 4);
    assert.ok(o.every((i) => i >= 0 && i < 10));
  }
  assert.throws(() => sampleDemonstrations(3, 1, 4, new Rng(0)), /K = 4/);

  const demos = Array.from({ length: 10 }, (_, i) => ({ input: `q${i}`, target: "xyz"[i % 3] }));
  const bad = corruptLabels(demos, 0.3, ["x", "y", "z"], new Rng(5));
  const changed = bad.filter((d, i) => d.target !== demos[i].target);
  assert.equal(changed.length, 3);
  assert.ok(bad.every((d) => "xyz".includes(d.target)));
  assert.equal(demos[0].target, "x", "the originals are untouched");
  assert.throws(() => corruptLabels(demos, 1, ["x"], new Rng(0)), /no wrong label/);
});

Deno.test("icl runner: likelihood on a real GPT keeps numTensors flat; chance is 1 / candidates", () => {
  const model = microGpt(LETTERS.vocabSize, 64, 6);
  const before = tf.memory().numTensors;
  const r = evaluateIcl({
    model,
    tokenizer: LETTERS,
    task: MAPPING,
    shots: [0, 3],
    seeds: [0, 1],
    method: "likelihood",
  });
  assert.equal(r.chance, 1 / 3);
  for (const s of r.shots) assert.ok(s.mean >= 0 && s.mean <= 1);
  const e = evaluateIcl({
    model,
    tokenizer: LETTERS,
    task: MAPPING,
    shots: [2],
    seeds: [0],
    method: "exact",
  });
  assert.equal(e.chance, undefined);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

// ---------------------------------------------------------------------------------------------
// End to end: a micro GPT pre-trained on pure-ICL sequences learns from its context.
// ---------------------------------------------------------------------------------------------

Deno.test("icl end to end: a micro GPT trained on pure-ICL sequences beats chance only with K > 0", async () => {
  // Four symbols, each sequence mapping them to 2 labels drawn from 10 digits. The harness
  // ranks all 10 digits, so chance is 1/10 by construction at K = 0; a model that has learned
  // to read its context knows at least which two labels are in play.
  const labels = [..."0123456789"];
  const task = mappingTask({ inputs: [..."abcd"], numInputs: 4, labels, numLabels: 2 });
  const format = { arrow: "", separator: " " }; // "a7 b2 c7 d2 …", query "a"
  const stream = pureIclStream(task, {
    count: 3000,
    demos: 60,
    format,
    seed: 1,
    sequenceSeparator: "\n",
  });
  const tok = CharTokenizer.fromText(stream);
  const model = GPT.create(
    coursePreset("micro", { vocabSize: tok.vocabSize, contextLength: 64 }),
    0,
  );
  const config = defaultTrainConfig({
    steps: 800,
    lr: 1e-2,
    batchSize: 8,
    warmupSteps: 20,
    weightDecay: 0,
    evalInterval: 0,
    evalBatches: 1,
  });
  const t0 = performance.now();
  await new Trainer(model, splitTokens(tok.encode(stream), 0.1), config).run();
  const trainSec = (performance.now() - t0) / 1000;
  const r = evaluateIcl({
    model,
    tokenizer: tok,
    task: (seed) => ({
      ...pureIclEpisode(task, { seed: 1000 + seed, poolSize: 16, queries: 8 }),
      candidates: labels,
    }),
    shots: [0, 8],
    seeds: Array.from({ length: 100 }, (_, i) => i),
    batchSize: 400,
    method: "likelihood",
    format,
  });
  const [k0, k8] = r.shots;
  const fmt = (x: { mean: number; std: number }) => `${x.mean.toFixed(3)} ± ${x.std.toFixed(3)}`;
  console.log(`  trained ${trainSec.toFixed(1)} s; accuracy K=0 ${fmt(k0)}, K=8 ${fmt(k8)}`);
  assert.ok(Math.abs(r.chance! - 0.1) < 1e-12);
  assert.ok(Math.abs(k0.mean - 0.1) < 0.08, `K = 0 should be at chance, got ${k0.mean}`);
  assert.ok(k8.mean > 0.25, `K = 8 should beat chance (0.1) clearly, got ${k8.mean}`);
  model.dispose();
});

Deno.test("shuffleLabels: same inputs, same labels in the same numbers, permuted; seeded", () => {
  const demos = Array.from({ length: 30 }, (_, i) => ({ input: `x${i}`, target: String(i % 3) }));
  const a = shuffleLabels(demos, new Rng(4));
  assert.deepEqual(a.map((d) => d.input), demos.map((d) => d.input));
  assert.deepEqual(a.map((d) => d.target).sort(), demos.map((d) => d.target).sort());
  assert.ok(a.some((d, i) => d.target !== demos[i].target), "nothing moved");
  assert.deepEqual(shuffleLabels(demos, new Rng(4)), a);
  assert.equal(demos[0].target, "0", "the input is not modified");
});

Deno.test("evaluateIcl: likelihood ranks by mean log-probability unless asked for the sum", () => {
  // A fake model with the same next-token distribution everywhere: a .3, b .45, c .2, space .05.
  // "a" has sum = mean = ln .3 = −1.20; "bb" has sum 2 ln .45 = −1.60 but mean −0.80. So the mean
  // picks "bb" (the target) and the sum picks "a".
  const tokenizer = new CharTokenizer(["a", "b", "c", " "]);
  const logp = [0.3, 0.45, 0.2, 0.05].map(Math.log);
  const model = {
    config: { contextLength: 16, vocabSize: 4 },
    forward: (idx: tf.Tensor2D) => {
      const [b, t] = idx.shape;
      return { logits: tf.tensor3d(Array(b * t).fill(logp).flat(), [b, t, 4]) };
    },
  };
  const task = {
    pool: [{ input: "c", target: "a" }],
    queries: [{ input: "c", target: "bb" }],
    candidates: ["a", "bb"],
    sharedInputs: true,
  };
  const run = (rankBy?: "sum" | "mean") =>
    evaluateIcl({
      model,
      tokenizer,
      task,
      shots: [0],
      seeds: [0],
      method: "likelihood",
      format: { arrow: "", separator: " " },
      rankBy,
    }).runs[0].answers[0];
  assert.equal(run(), "bb");
  assert.equal(run("mean"), "bb");
  assert.equal(run("sum"), "a");
});
