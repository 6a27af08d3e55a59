import assert from "node:assert/strict";
import {
  copyBlock,
  DIGITS,
  HELD_OUT_EVERY,
  INDUCTION_ALPHABET,
  inductionStream,
  LETTERS,
  mappingBlock,
  mappingEpisode,
  mappingReference,
  pairBlock,
  ruleKey,
  ruleSplit,
  sampleLetterRule,
} from "../datasets/induction.ts";
import { Rng } from "../lib/random.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import {
  readResults,
  type ResultEntry,
  ResultsFormatError,
  resultsPath,
  validateResults,
  writeResults,
} from "../lib/eval/results.ts";

Deno.test("sampleLetterRule: 6 distinct letters, 3 digits with 2 letters each, split by hash", () => {
  const rng = new Rng(3);
  for (const split of ["train", "heldOut"] as const) {
    for (let i = 0; i < 200; i++) {
      const rule = sampleLetterRule(rng, split);
      assert.equal(new Set(rule.inputs).size, 6);
      assert.equal(new Set(rule.labels).size, 3);
      const counts = new Map<string, number>();
      for (const x of rule.inputs) {
        const y = rule.table.get(x)!;
        assert.ok(rule.labels.includes(y));
        counts.set(y, (counts.get(y) ?? 0) + 1);
      }
      assert.deepEqual([...counts.values()], [2, 2, 2]);
      assert.equal(ruleSplit(rule), split);
    }
  }
  // About 1 in HELD_OUT_EVERY random rules is held out.
  const r = new Rng(9);
  let held = 0;
  const n = 4000;
  for (let i = 0; i < n; i++) {
    const inputs = r.shuffle([..."abcdefghijklmnopqrstuvwxyz"]).slice(0, 6);
    const table = new Map(inputs.map((x, j) => [x, String(j % 3)]));
    if (ruleSplit({ inputs, labels: ["0", "1", "2"], table }) === "heldOut") held++;
  }
  assert.ok(Math.abs(held / n - 1 / HELD_OUT_EVERY) < 0.02, `held out ${held} of ${n}`);
});

Deno.test("ruleKey: the same rule in another input order has the same key", () => {
  const a = { inputs: ["b", "a"], labels: ["1", "2"], table: new Map([["b", "1"], ["a", "2"]]) };
  const b = { inputs: ["a", "b"], labels: ["2", "1"], table: new Map([["a", "2"], ["b", "1"]]) };
  assert.equal(ruleKey(a), "a2 b1");
  assert.equal(ruleKey(a), ruleKey(b));
});

Deno.test("inductionStream: seeded, only training rules, blocks as described", () => {
  const s = inductionStream({ chars: 60_000, seed: 4 });
  assert.equal(s.text, inductionStream({ chars: 60_000, seed: 4 }).text);
  assert.notEqual(s.text, inductionStream({ chars: 60_000, seed: 5 }).text);
  assert.ok(s.text.length >= 60_000);
  // Every character is in the alphabet the tokenizer is built from.
  new CharTokenizer(INDUCTION_ALPHABET).encode(s.text);
  const blocks = s.text.split("\n").slice(0, -1);
  assert.equal(blocks.length, s.blocks.copy + s.blocks.mapping);
  assert.equal(s.blocks.pairs, 0);
  const share = s.blocks.mapping / blocks.length;
  assert.ok(Math.abs(share - 0.5) < 0.05, `mapping share ${share}`);
  let heldOutSeen = 0;
  for (const b of blocks) {
    if (/^[a-z][0-9]( [a-z][0-9])*$/.test(b)) {
      // A mapping block: one rule, every letter always with the same digit, a training rule.
      const table = new Map<string, string>();
      for (const d of b.split(" ")) {
        assert.equal(table.get(d[0]) ?? d[1], d[1], `letter ${d[0]} with two digits in "${b}"`);
        table.set(d[0], d[1]);
      }
      assert.ok(table.size <= 6);
      assert.ok(s.ruleKeys.size > 0);
    } else {
      // A copy block: a run of distinct letters, repeated 2 or 3 times.
      assert.match(b, /^[a-zA-Z]+$/);
      const period = [...b].findIndex((c, i) => i > 0 && c === b[0]);
      assert.ok(period >= 4 && period <= 24, `period ${period} in "${b}"`);
      const run = b.slice(0, period);
      assert.equal(new Set(run).size, period);
      assert.ok(b === run.repeat(2) || b === run.repeat(3), b);
    }
  }
  for (const key of s.ruleKeys) {
    const table = new Map(key.split(" ").map((p) => [p[0], p[1]]));
    if (ruleSplit({ inputs: [...table.keys()], labels: [], table }) === "heldOut") heldOutSeen++;
  }
  assert.equal(heldOutSeen, 0, "a held-out rule appeared in the training stream");
});

Deno.test("pairBlock and pairShare: keys keep their value, shares as asked", () => {
  const rng = new Rng(8);
  const b = pairBlock(5, 30, rng);
  const pairs = b.split(" ");
  assert.equal(pairs.length, 30);
  const table = new Map<string, string>();
  for (const p of pairs) {
    assert.match(p, /^[a-z][a-zA-Z0-9]$/);
    assert.equal(table.get(p[0]) ?? p[1], p[1], `key ${p[0]} with two values`);
    table.set(p[0], p[1]);
  }
  assert.ok(table.size <= 5);
  assert.throws(() => pairBlock(0, 3, rng), /pairs must be an integer in \[1, 26\]/);
  const s = inductionStream({ chars: 40_000, mappingShare: 0.25, pairShare: 0.5, seed: 1 });
  const total = s.blocks.copy + s.blocks.mapping + s.blocks.pairs;
  assert.ok(Math.abs(s.blocks.pairs / total - 0.5) < 0.05, `pairs ${s.blocks.pairs}/${total}`);
  assert.ok(Math.abs(s.blocks.mapping / total - 0.25) < 0.05);
  assert.throws(
    () => inductionStream({ chars: 10, mappingShare: 0.6, pairShare: 0.5 }),
    /mappingShare \+ pairShare ≤ 1/,
  );
});

Deno.test("mappingEpisode: held-out rule, queries cover every input, ten digit candidates", () => {
  const ep = mappingEpisode({ seed: 12, poolSize: 40, queries: 24 });
  assert.equal(ruleSplit(ep.rule), "heldOut");
  assert.deepEqual(ep.candidates, [...DIGITS]);
  assert.equal(ep.pool.length, 40);
  assert.equal(ep.queries.length, 24);
  for (const e of [...ep.pool, ...ep.queries]) assert.equal(e.target, ep.rule.table.get(e.input));
  for (const x of ep.rule.inputs) {
    assert.equal(ep.queries.filter((q) => q.input === x).length, 4);
  }
  assert.deepEqual(mappingEpisode({ seed: 12, poolSize: 40 }), ep);
  assert.equal(ruleSplit(mappingEpisode({ seed: 12, split: "train" }).rule), "train");
});

Deno.test("copyBlock and mappingBlock: shapes and errors", () => {
  const rng = new Rng(1);
  const b = copyBlock(10, 3, rng);
  assert.equal(b.length, 30);
  assert.equal(b.slice(0, 10).repeat(3), b);
  assert.equal(new Set(b.slice(0, 10)).size, 10);
  assert.throws(
    () => copyBlock(LETTERS.length + 1, 2, rng),
    /period must be an integer in \[1, 52\]/,
  );
  assert.throws(() => copyBlock(5, 0, rng), /repeats must be a positive integer/);
  const rule = sampleLetterRule(rng, "train");
  assert.match(mappingBlock(rule, 5, rng), /^[a-z][0-9]( [a-z][0-9]){4}$/);
  assert.throws(() => inductionStream({ chars: 10, period: [0, 3] }), /period must be integers/);
  assert.throws(() => inductionStream({ chars: 10, mappingShare: 2 }), /mappingShare/);
});

Deno.test("mappingReference: label space 1/3 and the ideal learner's accuracy", () => {
  assert.deepEqual(mappingReference(0), { labelSpace: 0.1, ideal: 0.1 });
  assert.equal(mappingReference(1).labelSpace, 1 / 3);
  const unseen16 = (5 / 6) ** 16;
  assert.ok(Math.abs(mappingReference(16).ideal - (1 - unseen16 + unseen16 / 3)) < 1e-12);
  assert.ok(Math.abs(mappingReference(16).ideal - 0.964) < 1e-3);
});

const entry = (over: Partial<ResultEntry> = {}): ResultEntry => ({
  id: "icl.mapping_acc_k16",
  claim: "a rule in the context is learned",
  value: 0.84,
  unit: "accuracy",
  spread: 0.05,
  seeds: 3,
  baseline: { label: "label space only", value: 0.33 },
  paper: { source: "GPT-3, Figure 1.2", value: null },
  verdict: "reproduced",
  ...over,
});

Deno.test("validateResults: the format of ../shared/RESULTS.md, errors naming entry and field", () => {
  const ok = { notebook: "x", mode: "full", results: [entry()] };
  assert.deepEqual(validateResults(ok), ok);
  const cases: [unknown, RegExp][] = [
    [null, /not an object/],
    [{ ...ok, mode: "fast" }, /mode must be "full" or "quick"/],
    [{ ...ok, results: [] }, /results must be a non-empty list/],
    [{ ...ok, results: [entry({ id: "Mapping" })] }, /results\[0\]\.id must be dotted lower case/],
    [{ ...ok, results: [entry(), entry()] }, /duplicate id "icl.mapping_acc_k16"/],
    [{ ...ok, results: [entry({ value: NaN })] }, /value must be a finite number or null/],
    [{ ...ok, results: [entry({ verdict: "yes" as never })] }, /verdict must be one of/],
    [{ ...ok, results: [entry({ spread: -1 })] }, /spread must be a number ≥ 0/],
    [{ ...ok, results: [entry({ seeds: 0 })] }, /seeds must be an integer ≥ 1/],
    [{ ...ok, results: [entry({ baseline: { value: 1 } as never })] }, /baseline must be/],
    [{ ...ok, results: [{ ...entry(), extra: 1 }] }, /unknown field "extra"/],
    [{ ...ok, results: [entry({ claim: " " })] }, /claim must be text/],
  ];
  for (const [data, message] of cases) {
    assert.throws(
      () => validateResults(data),
      (e: Error) => e instanceof ResultsFormatError && message.test(e.message),
      JSON.stringify(data),
    );
  }
});

Deno.test("writeResults: quick mode writes under out/quick/results, never the committed file", async () => {
  const name = `test_results_${Date.now()}`;
  const committed = resultsPath(name, false);
  const path = await writeResults(name, [entry()], { quick: true });
  try {
    assert.match(path, /out\/quick\/results\//);
    assert.equal((await readResults(path)).mode, "quick");
    await assert.rejects(Deno.stat(committed), Deno.errors.NotFound);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("committed results files follow the format, in full mode, each result shown in its notebook", async () => {
  const dir = new URL("../notebooks/results/", import.meta.url);
  const notebooks = new URL("../notebooks/", import.meta.url);
  let count = 0;
  for await (const f of Deno.readDir(dir)) {
    if (!f.name.endsWith(".json")) continue;
    const file = await readResults(new URL(f.name, dir));
    const stem = f.name.slice(0, -".json".length);
    assert.equal(file.notebook, stem);
    assert.equal(file.mode, "full", `${f.name} was written in quick mode`);
    // The notebook's committed outputs must carry the same numbers: every value in the file
    // appears in the notebook's saved outputs (the notebook prints its results table).
    const nb = JSON.parse(await Deno.readTextFile(new URL(`${stem}.ipynb`, notebooks)));
    const outputs = JSON.stringify(nb.cells.map((c: { outputs?: unknown }) => c.outputs ?? []));
    for (const r of file.results) {
      assert.ok(outputs.includes(r.id), `${stem}: result ${r.id} is not shown in the notebook`);
      // The value too, as the results table prints it: a results file older (or newer) than
      // the notebook's committed outputs fails here.
      if (r.value !== null) {
        assert.ok(
          outputs.includes(r.value.toFixed(3)),
          `${stem}: result ${r.id} = ${r.value.toFixed(3)} is not in the notebook's outputs: ` +
            "the results file and the committed outputs come from different runs",
        );
      }
    }
    count++;
  }
  assert.ok(count >= 1, "no results files committed");
});

Deno.test("every chapter records its results and has its committed results file", async () => {
  const notebooks = new URL("../notebooks/", import.meta.url);
  const silent: string[] = [], missing: string[] = [];
  for await (const f of Deno.readDir(notebooks)) {
    if (!f.name.endsWith(".ipynb")) continue;
    const stem = f.name.slice(0, -".ipynb".length);
    // The summary chapter reads the results files; every other chapter writes one.
    if (stem === "07_summary") continue;
    const nb = JSON.parse(await Deno.readTextFile(new URL(f.name, notebooks)));
    const source = nb.cells.map((c: { source: string | string[] }) => [c.source].flat().join(""))
      .join("\n");
    if (!new RegExp(`\\bwriteResults\\(\\s*"${stem}"`).test(source)) silent.push(stem);
    try {
      await Deno.stat(resultsPath(stem, false));
    } catch {
      missing.push(stem);
    }
  }
  assert.deepEqual(silent, [], "chapters that do not call writeResults with their own name");
  assert.deepEqual(missing, [], "chapters without a committed results file");
});
