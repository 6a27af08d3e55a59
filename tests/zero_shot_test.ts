import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { coursePreset } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import { buildPrompt } from "../lib/eval/icl_prompts.ts";
import { scoreContinuations } from "../lib/eval/icl_scoring.ts";
import { rankFirstDifference } from "../lib/eval/choice.ts";
import { mobyDickAlphabet } from "../datasets/icl_tasks.ts";
import {
  evaluateZeroShot,
  firstLetterTask,
  iclTask,
  nameGenderTask,
  naturalLine,
  zeroShotCorpus,
  type ZeroShotTask,
} from "../datasets/zero_shot.ts";

await initBackend();

const tasks: ZeroShotTask[] = [nameGenderTask(), firstLetterTask()];
const alphabet = new Set(mobyDickAlphabet());
const SMALL = 200_000;

Deno.test("zero-shot tasks: training and held-out items are disjoint and labelled", () => {
  for (const task of tasks) {
    assert.ok(task.train.length > 1000 && task.test.length > 500, task.name);
    const train = new Set(task.train.map((it) => it.subject));
    assert.equal(task.test.filter((it) => train.has(it.subject)).length, 0, task.name);
    for (const it of [...task.train, ...task.test]) {
      assert.ok(task.labels.includes(it.label), `${task.name}: ${it.label}`);
    }
  }
  const names = tasks[0];
  const women = names.test.filter((it) => it.label === "woman").length;
  assert.equal(women, names.test.length / 2, "held-out names are balanced");
  assert.equal(naturalLine(names, { subject: "Mary", label: "woman" }), "Mary is a woman's name.");
  assert.equal(
    naturalLine(tasks[1], { subject: "whale", label: "w" }),
    "The word whale begins with w.",
  );
  for (const it of tasks[1].test) assert.equal(it.label, it.subject[0]);
});

Deno.test("zero-shot tasks: every rendering uses only Moby-Dick's characters", () => {
  for (const task of tasks) {
    for (const rendering of ["natural", "unnatural"] as const) {
      const t = iclTask(task, { rendering });
      const text = [...t.pool, ...t.queries].map((e) => e.input + t.format.arrow + e.target)
        .join(t.format.separator) + t.candidates!.join("");
      for (const c of text) assert.ok(alphabet.has(c), `${task.name} ${rendering}: ${c}`);
    }
  }
});

Deno.test("zero-shot corpus: deterministic, at the rate, only training items, ';;' absent", () => {
  const a = zeroShotCorpus({ tasks, rate: 0.03, totalChars: SMALL, seed: 1, alphabet });
  const b = zeroShotCorpus({ tasks, rate: 0.03, totalChars: SMALL, seed: 1, alphabet });
  const c = zeroShotCorpus({ tasks, rate: 0.03, totalChars: SMALL, seed: 2, alphabet });
  assert.equal(a.text, b.text);
  assert.notEqual(a.text, c.text);
  assert.equal(a.text.length, SMALL);
  assert.ok(Math.abs(a.taskChars / SMALL - 0.03) < 0.005, `task share ${a.taskChars / SMALL}`);
  for (const task of tasks) assert.ok(a.sentences[task.name] > 50, task.name);
  for (const ch of a.text) assert.ok(alphabet.has(ch));
  assert.ok(!a.text.includes(";;"), "the unnatural arrow never occurs");
  const full = zeroShotCorpus({ tasks, rate: 0.03, seed: 0 });
  for (const task of tasks) {
    const leaks = task.test.filter((it) => full.text.includes("\n" + naturalLine(task, it)));
    assert.deepEqual(leaks, [], `${task.name}: held-out items written into the corpus`);
    const seen = task.train.filter((it) => full.text.includes("\n" + naturalLine(task, it)));
    assert.ok(seen.length > 100, `${task.name}: training items do appear`);
  }
  const none = zeroShotCorpus({ tasks, rate: 0, totalChars: SMALL });
  assert.equal(none.taskChars, 0);
  assert.ok(!none.text.includes("begins with w."));
});

Deno.test("rankFirstDifference reads the same log-probabilities as scoreContinuations", () => {
  const tok = new CharTokenizer(mobyDickAlphabet());
  const model = GPT.create(
    coursePreset("micro", { vocabSize: tok.vocabSize, contextLength: 96 }),
    3,
  );
  const before = tf.memory().numTensors;
  for (const task of tasks) {
    for (const rendering of ["natural", "unnatural"] as const) {
      const t = iclTask(task, { rendering, queries: 3 });
      const items = t.queries.map((q, i) => {
        const p = buildPrompt(q, t.pool.slice(i, i + i), { format: t.format });
        return {
          text: p.text,
          answerPrefix: p.answerPrefix,
          candidates: t.candidates!,
          target: t.candidates!.indexOf(q.target),
        };
      });
      const r = rankFirstDifference(model, tok, items, { batchSize: 2 });
      items.forEach((it, i) => {
        const full = scoreContinuations(
          model,
          it.candidates.map((c) => ({
            prompt: tok.encode(it.text),
            continuation: tok.encode(it.answerPrefix + c),
          })),
        );
        // A character model's candidates share the leading space: the deciding token is the next.
        full.forEach((s, c) => assert.ok(Math.abs(s.logProbs[1] - r.logProbs[i][c]) < 1e-4));
        const best = r.logProbs[i].indexOf(Math.max(...r.logProbs[i]));
        assert.equal(r.choices[i], best);
      });
    }
  }
  assert.throws(
    () =>
      rankFirstDifference(model, tok, [{
        text: "Is it",
        answerPrefix: " ",
        candidates: ["wo", "woman"], // one is the start of the other: nothing decides
        target: 0,
      }]),
    /do not differ in one token/,
  );
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("evaluateZeroShot: one run at K = 0, one per seed above, chance from the labels", () => {
  const tok = new CharTokenizer(mobyDickAlphabet());
  const model = GPT.create(
    coursePreset("micro", { vocabSize: tok.vocabSize, contextLength: 96 }),
    4,
  );
  const before = tf.memory().numTensors;
  const r = evaluateZeroShot({
    model,
    tokenizer: tok,
    task: tasks[0],
    rendering: "unnatural",
    shots: [0, 2],
    seeds: [1, 2, 3],
    queries: 10,
  });
  assert.equal(r.chance, 0.5);
  assert.deepEqual(r.shots.map((s) => s.accuracies.length), [1, 3]);
  assert.equal(Object.values(r.zeroShotAnswers!).reduce((a, b) => a + b, 0), 10);
  assert.ok(r.zeroShotLabelMass! > 0 && r.zeroShotLabelMass! < 1);
  for (const s of r.shots) for (const a of s.accuracies) assert.ok(a >= 0 && a <= 1);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(
    () =>
      evaluateZeroShot({
        model,
        tokenizer: tok,
        task: tasks[1],
        rendering: "natural",
        shots: [8],
        seeds: [1],
        queries: 2,
        poolSize: 4,
      }),
    /pool holds 4/,
  );
  model.dispose();
});
