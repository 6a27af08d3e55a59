import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { coursePreset } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import { BpeTokenizer } from "../lib/tokenizers/bpe.ts";
import { Rng } from "../lib/random.ts";
import { encodeCheckpoint, lossByPosition } from "../lib/train/mod.ts";
import {
  baseTokenizer,
  type ClassificationExample,
  defaultFineTuneConfig,
  extendContext,
  extendEmbeddings,
  fineTuneObjective,
  FineTuner,
  formatClassification,
  formatEntailment,
  FormatError,
  formatExample,
  formatMultipleChoice,
  formatSimilarity,
  gatherExtract,
  linearWarmupDecay,
  objectiveAndGrads,
  padBatch,
  runFineTuneJob,
  runFineTuneJobs,
  TaskHead,
  TaskTokenizer,
} from "../lib/finetune/mod.ts";

await initBackend();

const base = CharTokenizer.fromText("abcdefgh .");
const tok = new TaskTokenizer(base);
const [S, D, E] = [tok.start, tok.delim, tok.extract];
const enc = (s: string) => [...base.encode(s)];

function microModel(seed = 0, contextLength = 24): GPT {
  return GPT.create(coursePreset("micro", { vocabSize: tok.vocabSize, contextLength }), seed);
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;

function close(a: number, b: number, tol = 1e-5, msg = ""): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${msg} ${a} vs ${b}`);
}

Deno.test("TaskTokenizer appends Start, Delim, Extract after the base vocabulary", () => {
  assert.equal(base.vocabSize, 10);
  assert.deepEqual([S, D, E], [10, 11, 12]);
  assert.equal(tok.vocabSize, 13);
  assert.equal(tok.baseVocabSize, 10);
  assert.deepEqual([...tok.encode("bad cafe")], enc("bad cafe"));
  assert.equal(tok.special("Delim"), D);
  assert.ok(tok.isSpecial(E) && !tok.isSpecial(9) && !tok.isSpecial(13));
  assert.equal(tok.decode([S, ...enc("ab"), D, ...enc("c"), E]), "[Start]ab[Delim]c[Extract]");
});

Deno.test("extendEmbeddings copies every parameter and keeps old-vocabulary logits exact", () => {
  const old = GPT.create(coursePreset("micro", { vocabSize: 10, contextLength: 16 }), 3);
  const grown = extendEmbeddings(old, 3, 7);
  assert.equal(grown.config.vocabSize, 13);
  assert.equal(old.config.vocabSize, 10);
  for (const [name, p] of old.params) {
    const q = grown.params.get(name)!;
    assert.notEqual(q, p);
    const a = p.dataSync(), b = q.dataSync();
    if (name === "wte.weight") {
      assert.deepEqual(q.shape, [13, 16]);
      assert.deepEqual(b.slice(0, a.length), a, "old rows");
      const extra = [...b.slice(a.length)];
      assert.equal(extra.length, 3 * 16);
      const std = Math.sqrt(extra.reduce((s, x) => s + x * x, 0) / extra.length);
      assert.ok(std > 0.01 && std < 0.035, `new rows std ${std}`);
    } else assert.deepEqual(b, a, name);
  }
  // Deterministic from the seed.
  const again = extendEmbeddings(old, 3, 7);
  assert.deepEqual(
    again.params.get("wte.weight")!.dataSync(),
    grown.params.get("wte.weight")!.dataSync(),
  );
  const idx = tf.tensor2d([[1, 2, 3, 4, 5], [9, 0, 0, 7, 8]], [2, 5], "int32");
  const r0 = old.forward(idx), r1 = grown.forward(idx);
  assert.deepEqual(r1.hidden.dataSync(), r0.hidden.dataSync());
  const oldCols = tf.slice(r1.logits, [0, 0, 0], [2, 5, 10]);
  const l0 = r0.logits.dataSync(), l1 = oldCols.dataSync();
  assert.deepEqual(l1, l0);
  assert.deepEqual(r1.logits.shape, [2, 5, 13]);
  // The source model still works after the copy is disposed.
  tf.dispose([idx, r0.logits, r0.hidden, r1.logits, r1.hidden, oldCols]);
  [grown, again].forEach((m) => m.dispose());
  assert.equal(old.params.get("wte.weight")!.dataSync().length, 160);
  old.dispose();
});

Deno.test("formats: exact token sequences of the four task types", () => {
  const o = { contextLength: 32 };
  const c = formatClassification(tok, "bad", o);
  assert.deepEqual([...c.ids], [S, ...enc("bad"), E]);
  assert.equal(c.extract, 4);
  assert.equal(c.truncated, 0);

  const e = formatEntailment(tok, "a cab", "fed", o);
  assert.deepEqual([...e.ids], [S, ...enc("a cab"), D, ...enc("fed"), E]);
  assert.equal(e.extract, e.ids.length - 1);

  const [ab, ba] = formatSimilarity(tok, "ab", "ced", o);
  assert.deepEqual([...ab.ids], [S, ...enc("ab"), D, ...enc("ced"), E]);
  assert.deepEqual([...ba.ids], [S, ...enc("ced"), D, ...enc("ab"), E]);

  const mc = formatMultipleChoice(tok, "hag.", ["a", "bee", "gh"], o);
  assert.equal(mc.length, 3);
  assert.deepEqual([...mc[1].ids], [S, ...enc("hag."), D, ...enc("bee"), E]);
  assert.deepEqual(mc.map((s) => s.extract), [7, 9, 8]);

  const ex = formatExample(
    tok,
    "multipleChoice",
    { context: "a", options: ["b", "c"], label: 1 },
    2,
    o,
  );
  assert.equal(ex.sequences.length, 2);
  assert.throws(
    () => formatExample(tok, "classification", { text: "a", label: 2 }, 2, o),
    /label 2 is not an integer in \[0, 2\)/,
  );
  assert.throws(
    () => formatExample(tok, "multipleChoice", { context: "a", options: ["b"], label: 0 }, 2, o),
    /1 options, the task has 2/,
  );
});

Deno.test("formats: truncation keeps the second segment whole and errors when nothing fits", () => {
  // Classification keeps the start by default, the end on request.
  const c = formatClassification(tok, "abcdefgh", { contextLength: 6 });
  assert.deepEqual([...c.ids], [S, ...enc("abcd"), E]);
  assert.equal(c.truncated, 4);
  const ce = formatClassification(tok, "abcdefgh", { contextLength: 6, keep: "end" });
  assert.deepEqual([...ce.ids], [S, ...enc("efgh"), E]);
  // Entailment keeps the end of the premise and the whole hypothesis.
  const e = formatEntailment(tok, "abcdefgh", "hh", { contextLength: 8 });
  assert.deepEqual([...e.ids], [S, ...enc("fgh"), D, ...enc("hh"), E]);
  assert.equal(e.ids.length, 8);
  assert.throws(
    () => formatEntailment(tok, "abc", "abcde", { contextLength: 8 }),
    (err: Error) =>
      err instanceof FormatError &&
      /hypothesis of 5 tokens \+ 1 premise token \+ 3 special tokens = 9 tokens exceed the context length of 8/
        .test(err.message),
  );
  assert.throws(() => formatClassification(tok, "a", { contextLength: 2 }), FormatError);
  // Multiple choice: the same context for every option, sized by the longest answer.
  const mc = formatMultipleChoice(tok, "abcdefgh", ["a", "bcd"], { contextLength: 9 });
  assert.deepEqual([...mc[0].ids], [S, ...enc("fgh"), D, ...enc("a"), E]);
  assert.deepEqual([...mc[1].ids], [S, ...enc("fgh"), D, ...enc("bcd"), E]);
  assert.throws(
    () => formatMultipleChoice(tok, "ab", ["a", "bcdefg"], { contextLength: 9 }),
    /answer of 6 tokens \+ 1 context token/,
  );
  // Similarity: the shorter sentence fits in half the budget and keeps everything.
  const [x, y] = formatSimilarity(tok, "abcdefgh", "ab", { contextLength: 9 });
  assert.deepEqual([...x.ids], [S, ...enc("abcd"), D, ...enc("ab"), E]);
  assert.deepEqual([...y.ids], [S, ...enc("ab"), D, ...enc("abcd"), E]);
  const [z] = formatSimilarity(tok, "abcdefgh", "hgfedcba", { contextLength: 9 });
  assert.deepEqual([...z.ids], [S, ...enc("abc"), D, ...enc("hgf"), E]);
  assert.throws(() => formatSimilarity(tok, "a", "b", { contextLength: 4 }), FormatError);
});

Deno.test("padBatch: right padding, mask, Extract positions and language-model targets", () => {
  const o = { contextLength: 16 };
  const a = formatExample(tok, "entailment", { premise: "ab", hypothesis: "c", label: 2 }, 3, o);
  const b = formatExample(tok, "entailment", { premise: "a", hypothesis: "", label: 0 }, 3, o);
  const batch = padBatch([a, b], tok, { padId: 9 });
  assert.equal(batch.seqLen, 6);
  assert.deepEqual([...batch.ids], [
    S,
    ...enc("ab"),
    D,
    ...enc("c"),
    E,
    S,
    ...enc("a"),
    D,
    E,
    9,
    9,
  ]);
  assert.deepEqual([...batch.mask], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  assert.deepEqual([...batch.extract], [5, 3]);
  assert.deepEqual([...batch.labels], [2, 0]);
  const [ia, ib, ic] = enc("abc");
  // Start→a, a→b counted; b→Delim ignored; Delim→c counted; c→Extract, Extract→· ignored.
  assert.deepEqual([...batch.lmTargets], [ia, ib, -1, ic, -1, -1, ia, -1, -1, -1, -1, -1]);
  assert.equal(padBatch([a], tok, { length: 16 }).seqLen, 16);
  assert.throws(() => padBatch([a], tok, { length: 3 }), /shorter/);
  // Multiple choice: by default only the correct option's sequence feeds the LM loss.
  const m = formatExample(
    tok,
    "multipleChoice",
    { context: "a", options: ["b", "c"], label: 1 },
    2,
    o,
  );
  const mb = padBatch([m], tok);
  assert.deepEqual([...mb.lmTargets.slice(0, 5)], [-1, -1, -1, -1, -1]);
  assert.deepEqual([...mb.lmTargets.slice(5)], [ia, -1, ic, -1, -1]);
  const all = padBatch([m], tok, { lmSequences: "all" });
  assert.deepEqual([...all.lmTargets.slice(0, 5)], [ia, -1, ib, -1, -1]);
  assert.throws(() => padBatch([a, m], tok), /mixed examples/);
});

Deno.test("head reads the Extract state; padding after Extract changes nothing", () => {
  const model = microModel(1);
  const head = TaskHead.forTask("classification", 2, 16, 2);
  const one = padBatch([
    formatExample(tok, "classification", { text: "abc", label: 1 }, 2, { contextLength: 24 }),
  ], tok);
  const padded = padBatch(
    [formatExample(tok, "classification", { text: "abc", label: 1 }, 2, { contextLength: 24 })],
    tok,
    { length: 12, padId: 3 },
  );
  const o1 = fineTuneObjective(model, head, one, { lambda: 0.5 });
  const o2 = fineTuneObjective(model, head, padded, { lambda: 0.5 });
  const a = o1.logits.dataSync(), b = o2.logits.dataSync();
  for (let i = 0; i < a.length; i++) close(a[i], b[i], 1e-5, "logit");
  close(o1.l1.dataSync()[0], o2.l1.dataSync()[0], 1e-5, "l1");
  // gatherExtract picks rows n·T + extract[n].
  const h = tf.tensor3d([...Array(12).keys()], [2, 3, 2]);
  const g = gatherExtract(h, [2, 0]);
  assert.deepEqual([...g.dataSync()], [4, 5, 6, 7]);
  assert.throws(() => gatherExtract(h, [3, 0]), /outside/);
  tf.dispose([o1.total, o1.l1, o1.l2, o1.logits, o2.total, o2.l1, o2.l2, o2.logits, h, g]);
  model.dispose();
  head.dispose();
});

Deno.test("similarity: both orderings are summed, so swapping a and b gives the same prediction", () => {
  const model = microModel(2);
  const head = TaskHead.forTask("similarity", 2, 16, 5);
  const o = { contextLength: 24 };
  const ab = formatExample(tok, "similarity", { a: "bad cab", b: "a fed hag", label: 1 }, 2, o);
  const ba = formatExample(tok, "similarity", { a: "a fed hag", b: "bad cab", label: 1 }, 2, o);
  const r1 = fineTuneObjective(model, head, padBatch([ab], tok), { lambda: 0 });
  const r2 = fineTuneObjective(model, head, padBatch([ba], tok), { lambda: 0 });
  assert.deepEqual(r1.logits.dataSync(), r2.logits.dataSync());
  // ... and they are not the logits of either ordering alone.
  const single = formatExample(tok, "classification", { text: "bad cab", label: 0 }, 2, o);
  const r3 = fineTuneObjective(model, head, padBatch([single], tok), { lambda: 0 });
  assert.notDeepEqual(r3.logits.dataSync(), r1.logits.dataSync());
  tf.dispose([r1, r2, r3].flatMap((r) => [r.total, r.l1, r.l2, r.logits]));
  model.dispose();
  head.dispose();
});

Deno.test("multiple choice: one score per option, softmax across the options", () => {
  const model = microModel(3);
  const head = TaskHead.forTask("multipleChoice", 3, 16, 1);
  assert.equal(head.outputSize, 1);
  const o = { contextLength: 24 };
  const examples = [
    formatExample(
      tok,
      "multipleChoice",
      { context: "a cab", options: ["bed", "fed", "h"], label: 2 },
      3,
      o,
    ),
    formatExample(
      tok,
      "multipleChoice",
      { context: "had", options: ["ab", "c", "dead"], label: 0 },
      3,
      o,
    ),
  ];
  const batch = padBatch(examples, tok);
  assert.equal(batch.numSeqs, 6);
  const r = fineTuneObjective(model, head, batch, { lambda: 0 });
  assert.deepEqual(r.logits.shape, [2, 3]);
  // Each logit is the head's score of that option's Extract state.
  const scores = tf.tidy(() => {
    const { logits, hidden } = model.forward(tf.tensor2d(batch.ids, [6, batch.seqLen], "int32"));
    logits.dispose();
    return head.apply(gatherExtract(hidden, batch.extract));
  });
  const s = scores.dataSync(), z = r.logits.dataSync();
  for (let i = 0; i < 6; i++) close(z[i], s[i], 1e-6, "score");
  let expected = 0;
  for (const [row, y] of [[0, 2], [1, 0]]) {
    const zs = [0, 1, 2].map((k) => z[row * 3 + k]);
    const lse = Math.log(zs.reduce((a, x) => a + Math.exp(x), 0));
    expected += (lse - zs[y]) / 2;
  }
  close(r.l2.dataSync()[0], expected, 1e-5, "L2");
  tf.dispose([r.total, r.l1, r.l2, r.logits, scores]);
  model.dispose();
  head.dispose();
});

Deno.test("L3 = L2 + λ·L1: λ = 0 is exactly L2; gradients reach the head and the body", () => {
  const model = microModel(4);
  const head = TaskHead.forTask("entailment", 3, 16, 4);
  const o = { contextLength: 24 };
  const batch = padBatch([
    formatExample(tok, "entailment", { premise: "a bad cab", hypothesis: "cab", label: 0 }, 3, o),
    formatExample(tok, "entailment", { premise: "fed hag", hypothesis: "a deed.", label: 1 }, 3, o),
  ], tok);
  const r0 = fineTuneObjective(model, head, batch, { lambda: 0 });
  assert.equal(r0.total, r0.l2);
  const r1 = fineTuneObjective(model, head, batch, { lambda: 0.7 });
  const [l2, l1] = [r1.l2.dataSync()[0], r1.l1.dataSync()[0]];
  assert.equal(l2, r0.l2.dataSync()[0]);
  close(r1.total.dataSync()[0], l2 + 0.7 * l1, 1e-6, "L3");
  // L1 is the model's own LM loss on the same ids and targets.
  const lm = model.loss(
    tf.tensor2d(batch.ids, [2, batch.seqLen], "int32"),
    tf.tensor2d(batch.lmTargets, [2, batch.seqLen], "int32"),
  );
  close(l1, lm.dataSync()[0], 1e-6, "L1");
  // λ = 0: the gradient is exactly the gradient of L2 alone.
  const g0 = objectiveAndGrads(model, head, batch, { lambda: 0 });
  const params = [...model.params.values(), ...head.params.values()];
  const pure = tf.variableGrads(
    () => fineTuneObjective(model, head, batch, { lambda: 0.3 }).l2,
    params,
  );
  assert.equal(g0.loss.total, g0.loss.l2);
  for (const [name, g] of g0.grads) {
    const p = name.startsWith("head.") ? head.params.get(name)! : model.params.get(name)!;
    assert.deepEqual(g.dataSync(), pure.grads[p.name].dataSync(), name);
  }
  // Non-zero gradients in the head and the body, including the special tokens' embeddings.
  const g = objectiveAndGrads(model, head, batch, { lambda: 0.5 });
  const norm = (t: tf.Tensor) => Math.hypot(...t.dataSync());
  for (
    const name of ["head.weight", "head.bias", "wte.weight", "h.0.attn.c_attn.weight", "wpe.weight"]
  ) {
    assert.ok(norm(g.grads.get(name)!) > 0, `zero gradient for ${name}`);
  }
  const wteGrad = g.grads.get("wte.weight")!.dataSync();
  for (const id of [S, D, E]) {
    assert.ok(wteGrad.slice(id * 16, id * 16 + 16).some((x) => x !== 0), `special row ${id}`);
  }
  close(g.loss.total, g.loss.l2 + 0.5 * g.loss.l1, 1e-6, "values");
  assert.throws(() => fineTuneObjective(model, head, batch, { lambda: -1 }), /lambda/);
  tf.dispose([r0.l1, r0.l2, r0.logits, r1.total, r1.l1, r1.l2, r1.logits, lm, pure.value]);
  tf.dispose([...g0.grads.values(), ...g.grads.values(), ...Object.values(pure.grads)]);
  model.dispose();
  head.dispose();
});

Deno.test("GPT-1 schedule: linear warmup, then linear decay to zero", () => {
  const lr = linearWarmupDecay(1, 2, 12);
  assert.equal(lr(0), 0.5);
  assert.equal(lr(1), 1);
  assert.equal(lr(2), 1);
  close(lr(7), 0.5, 1e-12);
  close(lr(11), 0.1, 1e-12);
  assert.equal(lr(12), 0);
  const c = defaultFineTuneConfig({ steps: 1000 });
  assert.equal(c.warmupFraction, 0.002);
  assert.equal(c.lambda, 0.5);
  assert.throws(() => defaultFineTuneConfig({ steps: 0 }), /steps/);
});

/** Trivially learnable: class 0 texts mostly use "abcd", class 1 texts mostly "efgh". */
function synthetic(n: number, seed: number): ClassificationExample[] {
  const rng = new Rng(seed), letters = "abcdefgh";
  return Array.from({ length: n }, (_, i) => {
    const label = i % 2, len = 3 + rng.int(5);
    let text = "";
    for (let j = 0; j < len; j++) {
      text += rng.next() < 0.75 ? letters[label * 4 + rng.int(4)] : letters[rng.int(8)];
    }
    return { text, label };
  });
}

Deno.test("fine-tuning: above chance on a synthetic task, flat numTensors, deterministic", async () => {
  const data = {
    kind: "classification" as const,
    numClasses: 2,
    train: synthetic(256, 1),
    val: synthetic(64, 2),
  };
  const config = defaultFineTuneConfig({
    steps: 40,
    batchSize: 16,
    lr: 3e-3,
    warmupFraction: 0.05,
    evalInterval: 20,
    seed: 9,
  });
  const run = async (record: boolean) => {
    const model = extendEmbeddings(
      GPT.create(coursePreset("micro", { vocabSize: 10, contextLength: 16 }), 0),
      3,
      1,
    );
    const head = TaskHead.forTask("classification", 2, 16, 3);
    const tuner = new FineTuner(model, head, tok, data, config);
    const before = tuner.evaluate();
    await tuner.trainStep();
    const start = tf.memory().numTensors;
    const counts: number[] = [];
    const evals: number[] = [];
    await tuner.run({
      onStep: (s) => {
        if (record) counts.push(tf.memory().numTensors);
        assert.ok(Number.isFinite(s.l1) && Number.isFinite(s.l2));
        close(s.loss, s.l2 + 0.5 * s.l1, 1e-5, "L3");
      },
      onEval: (e) => void evals.push(e.accuracy),
    });
    const after = tuner.evaluate();
    const test = tuner.evaluate(synthetic(64, 3));
    model.dispose();
    head.dispose();
    return { before, after, test, counts, start, evals, loss: tuner.history.loss };
  };
  const r = await run(true);
  assert.ok(
    r.counts.every((c) => c === r.start),
    `numTensors drifted: ${r.start} -> ${[...new Set(r.counts)]}`,
  );
  assert.equal(r.evals.length, 2);
  assert.ok(r.after.accuracy >= 0.85, `val accuracy ${r.before.accuracy} -> ${r.after.accuracy}`);
  assert.ok(r.test.accuracy >= 0.85, `test accuracy ${r.test.accuracy}`);
  assert.equal(r.after.n, 64);
  assert.equal(r.after.confusion.flat().reduce((a, b) => a + b, 0), 64);
  assert.equal(
    r.after.confusion[0][0] + r.after.confusion[1][1],
    Math.round(r.after.accuracy * 64),
  );
  const again = await run(false);
  assert.deepEqual(again.loss, r.loss);
});

Deno.test("FineTuner rejects a model without room for the special tokens", () => {
  const small = GPT.create(coursePreset("micro", { vocabSize: 10, contextLength: 16 }), 0);
  const head = TaskHead.create(16, 2);
  assert.throws(
    () =>
      new FineTuner(small, head, tok, {
        kind: "classification",
        numClasses: 2,
        train: [{ text: "a", label: 0 }],
        val: [],
      }, defaultFineTuneConfig({ steps: 1 })),
    /extendEmbeddings/,
  );
  small.dispose();
  head.dispose();
});

Deno.test("FineTuner runs similarity and multiple-choice tasks", async () => {
  const rng = new Rng(4), word = () => "abcdefgh".slice(rng.int(4), 5 + rng.int(3));
  const sim = Array.from({ length: 12 }, (_, i) => ({ a: word(), b: word(), label: i % 2 }));
  const mc = Array.from({ length: 12 }, (_, i) => ({
    context: word(),
    options: [word(), word(), word()],
    label: i % 3,
  }));
  for (
    const data of [
      { kind: "similarity" as const, numClasses: 2, train: sim, val: sim.slice(0, 5) },
      { kind: "multipleChoice" as const, numClasses: 3, train: mc, val: mc.slice(0, 5) },
    ]
  ) {
    const model = microModel(0, 24);
    const head = TaskHead.forTask(data.kind, data.numClasses, 16, 0);
    const tuner = new FineTuner(
      model,
      head,
      tok,
      data,
      defaultFineTuneConfig({ steps: 4, batchSize: 4, evalInterval: 2, evalBatchSize: 2 }),
    );
    const history = await tuner.run();
    assert.equal(history.evals.length, 2);
    assert.ok(history.loss.every(Number.isFinite));
    const e = tuner.evaluate();
    assert.equal(e.n, 5);
    assert.equal(e.confusion.length, data.numClasses);
    assert.equal(e.confusion.flat().reduce((a, b) => a + b, 0), 5);
    model.dispose();
    head.dispose();
  }
});

Deno.test("TaskTokenizer.segments splits ids into text runs and special tokens", () => {
  assert.deepEqual(tok.segments([S, ...enc("ab"), D, ...enc("c"), E]), [
    { text: "Start", special: true },
    { text: "ab", special: false },
    { text: "Delim", special: true },
    { text: "c", special: false },
    { text: "Extract", special: true },
  ]);
  assert.deepEqual(tok.segments([]), []);
});

Deno.test("extendContext keeps the learned positions and the outputs of short inputs", () => {
  const old = GPT.create(coursePreset("micro", { vocabSize: 10, contextLength: 8 }), 4);
  const longer = extendContext(old, 20, 2);
  assert.equal(longer.config.contextLength, 20);
  const a = old.params.get("wpe.weight")!.dataSync(),
    b = longer.params.get("wpe.weight")!.dataSync();
  assert.deepEqual(b.slice(0, a.length), a);
  assert.equal(b.length, 20 * 16);
  const idx = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]], [1, 8], "int32");
  const r0 = old.forward(idx), r1 = longer.forward(idx);
  assert.deepEqual(r1.logits.dataSync(), r0.logits.dataSync());
  const long = tf.tensor2d([Array.from({ length: 20 }, (_, i) => i % 10)], [1, 20], "int32");
  const r2 = longer.forward(long);
  assert.deepEqual(r2.logits.shape, [1, 20, 10]);
  assert.throws(() => old.forward(long), /context|longer|20/);
  assert.throws(() => extendContext(old, 4), /contextLength must be an integer >= the current 8/);
  tf.dispose([idx, long, r0.logits, r0.hidden, r1.logits, r1.hidden, r2.logits, r2.hidden]);
  [old, longer].forEach((m) => m.dispose());
});

Deno.test("fine-tuning jobs: workers give the same numbers as the calling thread", async () => {
  const pretrained = GPT.create(coursePreset("micro", { vocabSize: 10, contextLength: 16 }), 5);
  const base = {
    checkpoint: await encodeCheckpoint(pretrained),
    tokenizer: CharTokenizer.fromText("abcdefgh .").toJSON(),
  };
  pretrained.dispose();
  const data = {
    kind: "classification" as const,
    numClasses: 2,
    train: synthetic(128, 1),
    val: synthetic(32, 2),
    test: synthetic(32, 3),
  };
  const job = (lambda: number, init: "pretrained" | "scratch") => ({
    name: `λ=${lambda} ${init}`,
    data,
    init,
    config: defaultFineTuneConfig({ steps: 12, batchSize: 8, lr: 3e-3, lambda, seed: 4 }),
  });
  const jobs = [job(0, "pretrained"), job(0.5, "pretrained"), job(0.5, "scratch")];
  const seen: number[] = [], evals: number[] = [];
  const tensorsBefore = tf.memory().numTensors;
  const inWorkers = await runFineTuneJobs(base, jobs, {
    workers: 2,
    onResult: (_, i) => void seen.push(i),
    onEval: (e, i) => void evals.push(i * 100 + e.step),
  });
  assert.deepEqual(seen.toSorted(), [0, 1, 2]);
  // evalInterval defaults to steps / 10 = 1: an evaluation after every step of every job.
  assert.equal(evals.length, 36);
  assert.deepEqual(
    inWorkers[2].history.evals.map((e) => e.step),
    evals.filter((v) => v >= 200).map((v) => v - 200),
  );
  assert.deepEqual(inWorkers.map((r) => r.name), jobs.map((j) => j.name));
  const here = await runFineTuneJob(base, jobs[1]);
  assert.equal(tf.memory().numTensors, tensorsBefore);
  assert.deepEqual(inWorkers[1].history.loss, here.history.loss);
  assert.deepEqual(inWorkers[1].test, here.test);
  assert.equal(here.test!.n, 32);
  assert.equal(here.history.loss.length, 12);
  // λ changes the objective; scratch changes the starting point.
  assert.notDeepEqual(inWorkers[0].history.loss, inWorkers[1].history.loss);
  assert.notDeepEqual(inWorkers[2].history.loss, inWorkers[1].history.loss);
  await assert.rejects(
    runFineTuneJobs(base, [{ ...jobs[0], name: "empty", data: { ...data, train: [] } }], {
      workers: 1,
    }),
    /fine-tune job "empty" failed: .*no training examples/,
  );
});

Deno.test("fine-tuning jobs: languageModelEval measures the tuned model's loss on held-out text", async () => {
  const pretrained = GPT.create(coursePreset("micro", { vocabSize: 10, contextLength: 16 }), 5);
  const text = Int32Array.from({ length: 400 }, (_, i) => (i * 7 + (i >> 3)) % 10);
  const windows = { tokens: text, batches: 2, batchSize: 4, seed: 3 };
  const grown = extendEmbeddings(pretrained, 3, 4);
  const before = mean(await lossByPosition(grown, text, windows));
  grown.dispose();
  const base = {
    checkpoint: await encodeCheckpoint(pretrained),
    tokenizer: CharTokenizer.fromText("abcdefgh .").toJSON(),
  };
  pretrained.dispose();
  const data = {
    kind: "classification" as const,
    numClasses: 2,
    train: synthetic(64, 1),
    val: synthetic(16, 2),
  };
  const job = (lambda: number, steps: number) => ({
    name: `λ=${lambda}`,
    data,
    init: "pretrained" as const,
    languageModelEval: windows,
    config: defaultFineTuneConfig({ steps, batchSize: 8, lr: 1e-2, lambda, seed: 4 }),
  });
  const tensors = tf.memory().numTensors;
  const [a, b] = await runFineTuneJobs(base, [job(0, 6), job(1, 6)], { workers: 2 });
  const here = await runFineTuneJob(base, job(0, 6));
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(a.languageModelLoss, here.languageModelLoss);
  assert.ok(Number.isFinite(a.languageModelLoss!) && a.languageModelLoss! > 0);
  // Fine-tuning moved the body, so the language model's loss moved; λ changes how.
  assert.notEqual(a.languageModelLoss, before);
  assert.notEqual(a.languageModelLoss, b.languageModelLoss);
  // Without the option, nothing is measured.
  const plain = await runFineTuneJob(base, { ...job(0, 2), languageModelEval: undefined });
  assert.equal(plain.languageModelLoss, undefined);
});

Deno.test("fine-tuning jobs start from a BPE model too; unknown tokenizers are refused", async () => {
  const bpe = BpeTokenizer.train("the cat sat on the mat. the hat is on the cat. ".repeat(20), 270);
  assert.ok(baseTokenizer(bpe.toJSON()) instanceof BpeTokenizer);
  assert.ok(baseTokenizer(base.toJSON()) instanceof CharTokenizer);
  assert.throws(() => baseTokenizer({ type: "word" }), /unknown tokenizer type "word"/);
  assert.throws(() => baseTokenizer(null), /unknown tokenizer type undefined/);
  const pretrained = GPT.create(
    coursePreset("micro", { vocabSize: bpe.vocabSize, contextLength: 16 }),
    3,
  );
  const tuned = {
    checkpoint: await encodeCheckpoint(pretrained),
    tokenizer: bpe.toJSON(),
  };
  pretrained.dispose();
  const words = ["the cat sat", "on the mat", "the hat", "is on the cat"];
  const examples = (n: number, seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: n }, () => {
      const label = rng.int(2);
      return { text: words[rng.int(4)] + (label ? " the mat" : " the hat"), label };
    });
  };
  const data = {
    kind: "classification" as const,
    numClasses: 2,
    train: examples(64, 1),
    val: examples(16, 2),
    test: examples(16, 3),
  };
  const before = tf.memory().numTensors;
  const r = await runFineTuneJob(tuned, {
    name: "bpe",
    data,
    init: "pretrained",
    config: defaultFineTuneConfig({ steps: 4, batchSize: 8, lr: 3e-3, seed: 1 }),
  });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(r.history.loss.length, 4);
  assert.ok(r.history.loss.every(Number.isFinite));
  assert.equal(r.test!.n, 16);
  // A job may bring its own base: a character-level and a BPE job share one pool of workers
  // and each gives what it gives alone.
  const charTok = CharTokenizer.fromText(words.join(" "));
  const charModel = GPT.create(
    coursePreset("micro", { vocabSize: charTok.vocabSize, contextLength: 40 }),
    4,
  );
  const charBase = { checkpoint: await encodeCheckpoint(charModel), tokenizer: charTok.toJSON() };
  charModel.dispose();
  const charJob = {
    name: "char",
    data,
    init: "scratch" as const,
    base: charBase,
    config: defaultFineTuneConfig({ steps: 4, batchSize: 8, lr: 3e-3, seed: 1 }),
  };
  const bpeJob = { ...charJob, name: "bpe", init: "pretrained" as const, base: undefined };
  const mixed = await runFineTuneJobs(tuned, [charJob, bpeJob], { workers: 2 });
  assert.deepEqual(mixed[1].history.loss, r.history.loss);
  const alone = await runFineTuneJob(charBase, { ...charJob, base: undefined });
  assert.deepEqual(mixed[0].history.loss, alone.history.loss);
  assert.notDeepEqual(mixed[0].history.loss, mixed[1].history.loss);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("λ = 0 with an untied output matrix: lm_head takes no part and stays unchanged", async () => {
  const model = GPT.create(
    coursePreset("micro", { vocabSize: 13, contextLength: 16, tiedEmbeddings: false }),
    2,
  );
  const head = TaskHead.forTask("classification", 2, 16, 1);
  const data = { kind: "classification" as const, numClasses: 2, train: synthetic(32, 1), val: [] };
  const lmHead = model.params.get("lm_head.weight")!.dataSync().slice();
  const wte = model.params.get("wte.weight")!.dataSync().slice();
  const tuner = new FineTuner(
    model,
    head,
    tok,
    data,
    defaultFineTuneConfig({ steps: 2, batchSize: 4, lambda: 0, weightDecay: 0.1 }),
  );
  await tuner.run();
  assert.deepEqual(model.params.get("lm_head.weight")!.dataSync(), lmHead);
  assert.notDeepEqual(model.params.get("wte.weight")!.dataSync(), wte);
  // With λ > 0 it trains like every other weight.
  const tuner2 = new FineTuner(
    model,
    head,
    tok,
    data,
    defaultFineTuneConfig({ steps: 1, batchSize: 4, lambda: 0.5 }),
  );
  await tuner2.run();
  assert.notDeepEqual(model.params.get("lm_head.weight")!.dataSync(), lmHead);
  model.dispose();
  head.dispose();
});

Deno.test("FineTuner: every epoch is a fresh permutation of the examples; weight decay reaches AdamW", () => {
  // Eight distinct one-letter examples, batches of 4: epoch e is batches 2e and 2e + 1.
  const letters = "abcdefgh";
  const train = [...letters].map((c, i) => ({ text: c, label: i % 2 }));
  const data = { kind: "classification" as const, numClasses: 2, train, val: train };
  const config = defaultFineTuneConfig({
    steps: 10,
    batchSize: 4,
    lr: 1e-3,
    seed: 4,
    weightDecay: 0.37,
  });
  const model = extendEmbeddings(
    GPT.create(coursePreset("micro", { vocabSize: 10, contextLength: 16 }), 0),
    3,
    1,
  );
  const head = TaskHead.forTask("classification", 2, 16, 3);
  const tuner = new FineTuner(model, head, tok, data, config);
  assert.equal(tuner.optimizer.options.weightDecay, 0.37);
  // The one real token after [Start] identifies the example.
  const firstTokens = (b: ReturnType<typeof tuner.nextBatch>) =>
    Array.from({ length: b.numSeqs }, (_, r) => b.ids[r * b.seqLen + 1]);
  const epochs = Array.from({ length: 3 }, () => [
    ...firstTokens(tuner.nextBatch()),
    ...firstTokens(tuner.nextBatch()),
  ]);
  for (const e of epochs) assert.equal(new Set(e).size, 8, `not a permutation: ${e}`);
  assert.ok(
    epochs[0].join() !== epochs[1].join() || epochs[1].join() !== epochs[2].join(),
    "the order never changes between epochs",
  );
  model.dispose();
  head.dispose();
});
