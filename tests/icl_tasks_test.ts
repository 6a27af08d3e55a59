import assert from "node:assert/strict";
import {
  AlphabetError,
  anagramKeeping,
  arithmeticPairs,
  arithmeticTask,
  buildMixture,
  COMPACT_ARITHMETIC_FORMAT,
  cycleLetters,
  DEFAULT_LABELS,
  INSERTION_CHARS,
  mappingTask,
  mixtureTokens,
  mobyDickAlphabet,
  mobyDickText,
  mobyDickWords,
  permutationTask,
  pureIclEpisode,
  pureIclSequences,
  pureIclSource,
  pureIclStream,
  reverseWord,
  rotateLeft,
  sampleRule,
  SCRAMBLE_DESCRIPTIONS,
  SCRAMBLE_KINDS,
  scrambleTask,
  type TaskSource,
  validateAlphabet,
  validateFormat,
} from "../datasets/icl_tasks.ts";
import {
  buildPrompt,
  CHAR_FORMAT,
  DEFAULT_FORMAT,
  type IclExample,
} from "../lib/eval/icl_prompts.ts";
import { loadMobyDick } from "../datasets/moby_dick.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import { Rng } from "../lib/random.ts";

const WORDS = mobyDickWords();
const sorted = (w: string) => [...w].sort().join("");

Deno.test("icl tasks: Moby-Dick words, train and held-out lists without overlap", () => {
  assert.deepEqual(mobyDickWords(), WORDS, "deterministic");
  const train = new Set(WORDS.train);
  assert.ok(
    WORDS.train.length > 3000 && WORDS.eval.length > 700,
    `${WORDS.train.length}/${WORDS.eval.length}`,
  );
  assert.ok(WORDS.eval.every((w) => !train.has(w)), "no held-out word in training");
  assert.ok([...WORDS.train, ...WORDS.eval].every((w) => /^[a-z]{4,10}$/.test(w)));
  assert.deepEqual(WORDS.train, [...WORDS.train].sort());
  // Every word occurs at least 3 times, lower-case, in the training chapters.
  const counts = new Map<string, number>();
  for (const w of mobyDickText("train").match(/[A-Za-z]+/g)!) {
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  assert.ok([...WORDS.train, ...WORDS.eval].every((w) => counts.get(w)! >= 3));
  assert.ok(train.has("whale") || WORDS.eval.includes("whale"));
  const other = mobyDickWords({ seed: 1 });
  assert.notDeepEqual(other.eval, WORDS.eval);
  assert.deepEqual([...other.train, ...other.eval].sort(), [...WORDS.train, ...WORDS.eval].sort());

  const byChapter = mobyDickWords({ heldOut: "chapters" });
  const all = new Set([...WORDS.train, ...WORDS.eval]);
  assert.ok(byChapter.eval.length > 50);
  assert.ok(byChapter.eval.every((w) => !all.has(w) && !byChapter.train.includes(w)));
  assert.ok(byChapter.eval.every((w) => (counts.get(w) ?? 0) < 3));
});

Deno.test("icl tasks: every scrambling transform is correct and can be undone", () => {
  assert.equal(rotateLeft("inevitably", 8), "lyinevitab");
  assert.equal(reverseWord("objects"), "stcejbo");
  assert.equal(cycleLetters("aaaa", new Rng(0)), undefined);
  assert.equal(anagramKeeping("book", 1, new Rng(0)), undefined); // middle "oo" cannot change
  assert.equal(anagramKeeping("whale", 2, new Rng(0)), undefined); // middle "a" alone
  assert.deepEqual(scrambleTask(["level", "objects"], "reversed"), [
    { input: "stcejbo", target: "objects" },
  ]);
  const words = WORDS.train;
  const items = (kind: (typeof SCRAMBLE_KINDS)[number]) => {
    const out = scrambleTask(words, kind, { seed: 1 });
    assert.ok(out.length > words.length * 0.5, `${kind}: ${out.length} items`);
    for (const { input, target } of out) assert.notEqual(input, target, `${kind}: ${target}`);
    return out;
  };
  for (const { input, target } of items("cycle")) {
    const n = target.length;
    assert.equal(input.length, n);
    assert.ok([...Array(n).keys()].some((s) => rotateLeft(input, n - s) === target && s > 0));
  }
  for (const { input, target } of items("anagram1")) {
    assert.equal(input[0], target[0]);
    assert.equal(input.at(-1), target.at(-1));
    assert.equal(sorted(input), sorted(target));
  }
  for (const { input, target } of items("anagram2")) {
    assert.equal(input.slice(0, 2), target.slice(0, 2));
    assert.equal(input.slice(-2), target.slice(-2));
    assert.equal(sorted(input), sorted(target));
    assert.ok(target.length >= 6);
  }
  for (const { input, target } of items("insertion")) {
    assert.equal(input.length, 2 * target.length - 1);
    assert.equal([...input].filter((c) => !INSERTION_CHARS.includes(c)).join(""), target);
    assert.ok([...input].every((c, i) => i % 2 === 0 || INSERTION_CHARS.includes(c)));
  }
  for (const { input, target } of items("reversed")) assert.equal(reverseWord(input), target);
  // Deterministic per seed, different across seeds.
  for (const kind of SCRAMBLE_KINDS) {
    assert.deepEqual(
      scrambleTask(words.slice(0, 50), kind, { seed: 3 }),
      scrambleTask(words.slice(0, 50), kind, { seed: 3 }),
    );
    if (kind !== "reversed") {
      assert.notDeepEqual(
        scrambleTask(words.slice(0, 50), kind, { seed: 3 }),
        scrambleTask(words.slice(0, 50), kind, { seed: 4 }),
      );
    }
  }
  // Held-out items only ever ask for held-out words.
  const train = new Set(words);
  for (const kind of SCRAMBLE_KINDS) {
    assert.ok(scrambleTask(WORDS.eval, kind).every((e) => !train.has(e.target)));
  }
  assert.throws(() => scrambleTask(words, "shuffle" as never), /unknown kind "shuffle"/);
});

Deno.test("icl tasks: two-digit arithmetic with held-out pairs", () => {
  const pairs = arithmeticPairs();
  assert.deepEqual(arithmeticPairs(), pairs);
  assert.deepEqual([pairs.train.length, pairs.eval.length], [7290, 810]);
  const key = ([a, b]: number[]) => `${a},${b}`;
  const train = new Set(pairs.train.map(key));
  assert.ok(pairs.eval.every((p) => !train.has(key(p))));
  assert.equal(new Set([...pairs.train, ...pairs.eval].map(key)).size, 8100);
  assert.ok([...pairs.train, ...pairs.eval].flat().every((x) => x >= 10 && x <= 99));
  assert.notDeepEqual(arithmeticPairs({ seed: 1 }).eval, pairs.eval);

  assert.deepEqual(arithmeticTask([[48, 76]], "plus"), [{
    input: "What is 48 plus 76?",
    target: "124",
  }]);
  assert.deepEqual(arithmeticTask([[48, 76]], "minus"), [{
    input: "What is 48 minus 76?",
    target: "-28",
  }]);
  assert.deepEqual(arithmeticTask([[48, 76]], "plus", { style: "compact" }), [{
    input: "48+76=",
    target: "124",
  }]);
  assert.deepEqual(arithmeticTask([[90, 12]], "minus", { style: "compact" }), [{
    input: "90-12=",
    target: "78",
  }]);
  const p = buildPrompt({ input: "48+76=", target: "124" }, [{ input: "10+11=", target: "21" }], {
    format: COMPACT_ARITHMETIC_FORMAT,
  });
  assert.deepEqual(p, { text: "10+11=21\n48+76=", answerPrefix: "", k: 1 });
  for (const op of ["plus", "minus"] as const) {
    for (const e of arithmeticTask(pairs.eval, op)) {
      const [a, b] = e.input.match(/\d+/g)!.map(Number);
      assert.equal(Number(e.target), op === "plus" ? a + b : a - b);
      assert.ok(!train.has(`${a},${b}`));
    }
  }
});

/** Parses "x -- y" lines of a pure-ICL sequence. */
function parse(sequence: string): IclExample[] {
  return sequence.split("\n").map((line) => {
    const [input, target] = line.split(" -- ");
    return { input, target };
  });
}

Deno.test("icl tasks: pure-ICL mappings are fresh per sequence and balanced", () => {
  const task = mappingTask({ inputs: [..."abcdefgh"] });
  const rng = new Rng(0);
  const signatures = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const rule = sampleRule(task, rng);
    assert.equal(new Set(rule.inputs).size, 6);
    assert.equal(new Set(rule.labels).size, 3);
    assert.ok(rule.labels.every((l) => DEFAULT_LABELS.includes(l)));
    const perLabel = rule.labels.map((l) => rule.inputs.filter((x) => rule.apply(x) === l).length);
    assert.deepEqual(perLabel, [2, 2, 2], "2 inputs per label");
    signatures.add(rule.inputs.map((x) => x + rule.apply(x)).sort().join());
  }
  assert.ok(signatures.size > 490, `fresh rules: ${signatures.size} distinct of 500`);
  assert.throws(() => mappingTask({ numInputs: 5 }), /multiple of numLabels/);
  assert.throws(() => mappingTask({ numLabels: 9 }), /numLabels/);

  // Nonsense words: consonant-vowel-consonant.
  const nonsense = sampleRule(mappingTask(), new Rng(1));
  assert.ok(nonsense.inputs.every((w) => /^[^aeiou][aeiou][^aeiou]$/.test(w)));

  // Training sequences: the CHAR_FORMAT layout, consistent within a sequence.
  const seqs = pureIclSequences(task, { count: 200, demos: 20, seed: 5 });
  assert.deepEqual(pureIclSequences(task, { count: 200, demos: 20, seed: 5 }), seqs);
  assert.notDeepEqual(pureIclSequences(task, { count: 200, demos: 20, seed: 6 }), seqs);
  for (const s of seqs) {
    const demos = parse(s);
    assert.equal(demos.length, 20);
    const table = new Map<string, string>();
    for (const d of demos) {
      assert.equal(table.get(d.input) ?? d.target, d.target, "one rule per sequence");
      table.set(d.input, d.target);
    }
  }
  const stream = pureIclStream(task, { count: 10, demos: 5, seed: 2 });
  assert.equal(stream.split("\n\n").filter(Boolean).length, 10);
  assert.ok(stream.startsWith(pureIclSequences(task, { count: 1, demos: 5, seed: 2 })[0] + "\n"));
});

Deno.test("icl tasks: zero-shot accuracy of pure-ICL mappings is at chance by construction", () => {
  // The best a model can do without demonstrations: for each input, the label most often seen
  // with it in training. On fresh episodes it is right 1/3 of the time, no more.
  const task = mappingTask({ inputs: [..."abcdefgh"] });
  const counts = new Map<string, Map<string, number>>();
  for (const s of pureIclSequences(task, { count: 3000, demos: 12, seed: 7 })) {
    const seen = new Map(parse(s).map((d) => [d.input, d.target]));
    for (const [x, y] of seen) {
      const m = counts.get(x) ?? new Map<string, number>();
      m.set(y, (m.get(y) ?? 0) + 1);
      counts.set(x, m);
    }
  }
  for (const [x, m] of counts) {
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    for (const l of DEFAULT_LABELS) {
      const share = (m.get(l) ?? 0) / total;
      assert.ok(Math.abs(share - 1 / 6) < 0.04, `${x} → ${l}: ${share}`);
    }
  }
  let right = 0, total = 0;
  for (let seed = 100; seed < 400; seed++) {
    const ep = pureIclEpisode(task, { seed });
    for (const q of ep.queries) {
      const m = counts.get(q.input)!;
      const guess = ep.candidates!.reduce((a, b) => (m.get(b) ?? 0) > (m.get(a) ?? 0) ? b : a);
      right += guess === q.target ? 1 : 0;
      total++;
    }
  }
  assert.ok(Math.abs(right / total - 1 / 3) < 0.05, `zero-shot oracle: ${right / total}`);
});

Deno.test("icl tasks: pure-ICL episodes and letter permutations", () => {
  const task = mappingTask();
  const ep = pureIclEpisode(task, { seed: 3, poolSize: 20, queries: 24 });
  assert.deepEqual(
    pureIclEpisode(task, { seed: 3, poolSize: 20, queries: 24 }).queries,
    ep.queries,
  );
  assert.notDeepEqual(
    pureIclEpisode(task, { seed: 4, poolSize: 20, queries: 24 }).queries,
    ep.queries,
  );
  assert.equal(ep.pool.length, 20);
  assert.equal(ep.sharedInputs, true);
  assert.deepEqual(ep.candidates, ep.rule.labels);
  for (const e of [...ep.pool, ...ep.queries]) assert.equal(ep.rule.apply(e.input), e.target);
  const perInput = ep.rule.inputs.map((x) => ep.queries.filter((q) => q.input === x).length);
  assert.deepEqual(perInput, [4, 4, 4, 4, 4, 4], "queries balanced over inputs");
  const perLabel = ep.rule.labels.map((l) => ep.queries.filter((q) => q.target === l).length);
  assert.deepEqual(perLabel, [8, 8, 8], "and so over labels");

  const perm = permutationTask();
  const seqs = pureIclSequences(perm, { count: 100, demos: 16, seed: 1 });
  const maps = new Set<string>();
  for (const s of seqs) {
    const table = new Map<string, string>();
    for (const { input, target } of parse(s)) {
      assert.ok(input.length >= 2 && input.length <= 4 && target.length === input.length);
      [...input].forEach((c, i) => {
        assert.equal(table.get(c) ?? target[i], target[i], "one permutation per sequence");
        table.set(c, target[i]);
      });
    }
    assert.equal(new Set(table.values()).size, table.size, "a permutation is one-to-one");
    maps.add([...table].sort().join());
  }
  assert.ok(maps.size > 95, "fresh permutations");
  const pe = pureIclEpisode(perm, { seed: 2, poolSize: 16, queries: 10 });
  const inPool = new Set(pe.pool.map((e) => e.input));
  assert.ok(pe.queries.every((q) => !inPool.has(q.input)));
  assert.equal(pe.candidates, undefined);
  assert.throws(() => permutationTask({ alphabet: "aa" }), /distinct letters/);
});

const ALPHABET = mobyDickAlphabet();
const TRAIN_TEXT = mobyDickText("train");
const SOURCES: TaskSource[] = [
  {
    name: "cycle letters",
    examples: scrambleTask(WORDS.train, "cycle"),
    description: SCRAMBLE_DESCRIPTIONS.cycle,
  },
  { name: "reversed words", examples: scrambleTask(WORDS.train, "reversed") },
  { name: "addition", examples: arithmeticTask(arithmeticPairs().train, "plus") },
  pureIclSource(mappingTask()),
];

Deno.test("icl tasks: mixtures respect the rate and stay in Moby-Dick's alphabet", () => {
  const tokenizer = CharTokenizer.fromText(loadMobyDick());
  assert.deepEqual([...tokenizer.symbols], ALPHABET);
  for (const rate of [0, 0.05, 0.25, 0.5, 1]) {
    const m = mixtureTokens(tokenizer, {
      natural: TRAIN_TEXT,
      sources: SOURCES,
      rate,
      totalChars: 100_000,
      seed: 1,
    });
    assert.equal(m.text.length, 100_000);
    assert.equal(m.tokens.length, 100_000);
    assert.equal(tokenizer.decode(m.tokens), m.text);
    assert.equal(m.taskChars + m.naturalChars, 100_000);
    assert.ok(
      Math.abs(m.taskChars / 100_000 - rate) < 0.01,
      `rate ${rate}: ${m.taskChars / 100_000}`,
    );
    // Segments tile the text and their kinds add up.
    let at = 0, task = 0;
    for (const s of m.segments) {
      assert.equal(s.start, at);
      at = s.end;
      if (s.kind === "task") task += s.end - s.start;
    }
    assert.equal(at, 100_000);
    assert.equal(task, m.taskChars);
    if (rate > 0 && rate < 1) {
      const kinds = new Set(m.segments.filter((s) => s.kind === "task").map((s) => s.source));
      assert.equal(kinds.size, SOURCES.length, "every source is used");
    }
  }
  const a = buildMixture({
    natural: TRAIN_TEXT,
    sources: SOURCES,
    rate: 0.3,
    totalChars: 20_000,
    seed: 2,
  });
  assert.deepEqual(
    buildMixture({ natural: TRAIN_TEXT, sources: SOURCES, rate: 0.3, totalChars: 20_000, seed: 2 }),
    a,
  );
  assert.notEqual(
    buildMixture({ natural: TRAIN_TEXT, sources: SOURCES, rate: 0.3, totalChars: 20_000, seed: 3 })
      .text,
    a.text,
  );
  // Natural chunks follow each other through the book.
  let from = 0;
  for (const s of a.segments.filter((s) => s.kind === "natural").slice(0, -1)) {
    const chunk = a.text.slice(s.start, s.end).trim();
    const at = TRAIN_TEXT.indexOf(chunk, from);
    assert.ok(at >= from, "in order");
    from = at + chunk.length;
  }
  // A task block looks like the harness's demonstrations.
  const block = a.segments.find((s) => s.source === "cycle letters")!;
  const lines = a.text.slice(block.start, block.end).trim().split("\n");
  assert.equal(lines[0], SCRAMBLE_DESCRIPTIONS.cycle);
  assert.ok(lines.slice(1).every((l) => /^[a-z]+ -- [a-z]+$/.test(l)), lines.join("|"));
  assert.throws(
    () => buildMixture({ natural: TRAIN_TEXT, sources: [], rate: 0.1, totalChars: 10 }),
    /no task sources/,
  );
});

Deno.test("icl tasks: alphabet validation names the bad character", () => {
  validateFormat(CHAR_FORMAT, ALPHABET);
  validateFormat(COMPACT_ARITHMETIC_FORMAT, ALPHABET);
  for (
    const text of [...INSERTION_CHARS, ...Object.values(SCRAMBLE_DESCRIPTIONS), ...DEFAULT_LABELS]
  ) {
    validateAlphabet(text, ALPHABET, "built-in text");
  }
  assert.throws(
    () => validateFormat({ arrow: " => " }, ALPHABET),
    (e: unknown) =>
      e instanceof AlphabetError && e.symbol === "=" &&
      /format\.arrow " => " contains "=" \(U\+003D\), which is not in the alphabet of 89/.test(
        e.message,
      ),
  );
  assert.throws(
    () => validateFormat(DEFAULT_FORMAT, ALPHABET),
    /format\.arrow " ⇒ " contains "⇒" \(U\+21D2\)/,
  );
  assert.throws(() => validateFormat({ arrow: " -> " }, ALPHABET), /">"/);
  assert.throws(() => validateAlphabet("a/b", "ab", "x"), /x contains "\/"/);
  assert.throws(() => validateAlphabet("ab", new CharTokenizer(["a"]), "y"), /y contains "b"/);
  const compact: TaskSource = {
    name: "compact addition",
    examples: arithmeticTask([[48, 76]], "plus", { style: "compact" }),
  };
  assert.throws(
    () =>
      buildMixture({
        natural: TRAIN_TEXT,
        sources: [compact],
        rate: 0.5,
        totalChars: 1000,
        alphabet: ALPHABET,
      }),
    /a block of task "compact addition" contains "\+"/,
  );
  const tokenizer = new CharTokenizer(ALPHABET);
  assert.throws(
    () =>
      mixtureTokens(tokenizer, {
        natural: TRAIN_TEXT,
        sources: SOURCES,
        rate: 0.5,
        totalChars: 1000,
        format: { arrow: " => " },
      }),
    AlphabetError,
  );
  // With other symbols that are in the alphabet, the compact form is fine.
  const words: TaskSource = {
    name: "compact, book symbols",
    examples: arithmeticTask([[48, 76]], "plus", {
      style: "compact",
      symbols: { plus: " and ", equals: ":" },
    }),
  };
  const m = buildMixture({
    natural: TRAIN_TEXT,
    sources: [words],
    rate: 0.5,
    totalChars: 1000,
    alphabet: ALPHABET,
  });
  assert.ok(m.text.includes("48 and 76: -- 124"));
});

Deno.test("mappingTask: more nonsense inputs than distinct words is an error, not an endless loop", () => {
  assert.throws(
    () => mappingTask({ numInputs: 1623, numLabels: 3 }),
    /numInputs \(1623\) exceeds the 1620 distinct consonant-vowel-consonant words/,
  );
  assert.equal(mappingTask({ numInputs: 1620, numLabels: 3 }).numInputs, 1620);
});
