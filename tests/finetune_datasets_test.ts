import assert from "node:assert/strict";
import { namesDataset } from "../datasets/names.ts";
import {
  decodeHeader,
  DEFAULT_ALPHABET,
  emailBody,
  emailToText,
  loadSpamAssassin,
  normaliseText,
  parseEmail,
  PRINTABLE_ASCII,
  spamDataset,
  spamPretrainingTexts,
  stripHtml,
} from "../datasets/spam.ts";
import {
  chapterSplit,
  mobyDickSentences,
  splitSentences,
  storyClozeDataset,
} from "../datasets/story_cloze.ts";
import {
  entailmentDataset,
  paraphrase,
  similarityDataset,
  toggleNegation,
} from "../datasets/pairs.ts";
import { loadMobyDick } from "../datasets/moby_dick.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import { formatAll, TaskTokenizer } from "../lib/finetune/mod.ts";

const mobyTokenizer = new TaskTokenizer(CharTokenizer.fromText(loadMobyDick()));

function counts(xs: readonly { label: number }[], k: number): number[] {
  const c = new Array(k).fill(0);
  for (const x of xs) c[x.label]++;
  return c;
}

Deno.test("spam: header, MIME, HTML and character handling", () => {
  const plain = "Buy now & save 50% \u2014 na\u00efve offer!!!!!";
  const base64 = btoa(String.fromCharCode(...new TextEncoder().encode(plain)));
  const raw = [
    "From someone@example.com  Thu Aug 22 12:36:23 2002",
    "Received: from x",
    "\tby y",
    "Subject: =?iso-8859-1?Q?Caf=E9_=93deals=94?= for\n  you",
    'Content-Type: multipart/alternative; boundary="XX"',
    "",
    "preamble",
    "--XX",
    "Content-Type: text/html",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "<html><head><title>t</title></head><body><p>Buy <b>now</b> &amp; save=",
    " 50% at www.x.com/deal!</p></body></html>",
    "--XX",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    base64,
    "--XX--",
    "epilogue",
  ].join("\n");
  const { headers, body } = parseEmail(raw);
  assert.equal(headers.get("received"), "from x by y");
  assert.equal(decodeHeader(headers.get("subject")!), "Café \u201cdeals\u201d for you");
  assert.equal(emailBody(headers, body).trim(), plain); // multipart/alternative: plain preferred
  const htmlOnly = raw.replace(
    "Content-Type: text/plain; charset=utf-8",
    "Content-Type: image/png",
  );
  const h = parseEmail(htmlOnly);
  assert.equal(normaliseText(emailBody(h.headers, h.body)), "Buy now & save 50 at www.x.com deal!");
  assert.equal(
    emailToText(raw),
    'Subject: Cafe "deals" for you\nBuy now & save 50 - naive offer!!!',
  );
  assert.equal(emailToText(raw, { maxChars: 20 }), 'Subject: Cafe "deals');
  assert.equal(
    normaliseText(
      stripHtml("<style>p{}</style><!-- x --><p>Hi&nbsp;there &#39;you&#x27;</p><br>ok"),
    ),
    "Hi there 'you' ok",
  );
  assert.equal(normaliseText("a@b.com  ____ ----- <x> ~"), "a b.com --- x");
  for (const ch of DEFAULT_ALPHABET) {
    assert.ok(loadMobyDick().includes(ch), `"${ch}" not in Moby-Dick`);
  }
});

Deno.test("spam: balanced, deduplicated, deterministic splits of real e-mails", () => {
  assert.equal(loadSpamAssassin().length, 6046);
  const d = spamDataset();
  assert.equal(d.kind, "classification");
  assert.deepEqual(d.labelNames, ["ham", "spam"]);
  assert.deepEqual([d.train.length, d.val.length, d.test.length], [2780, 348, 348]);
  assert.deepEqual(d.stats, {
    raw: 6046,
    empty: 2,
    duplicates: 221,
    conflicting: 0,
    distinctHam: 4085,
    distinctSpam: 1738,
  });
  for (const split of [d.train, d.val, d.test]) {
    const [ham, spam] = counts(split, 2);
    assert.equal(ham, spam);
  }
  const keys = [d.train, d.val, d.test].map((s) => new Set(s.map((e) => e.text.toLowerCase())));
  assert.equal(
    keys[0].size + keys[1].size + keys[2].size,
    d.train.length + d.val.length + d.test.length,
  );
  for (const k of keys[2]) assert.ok(!keys[0].has(k) && !keys[1].has(k), "test text in train/val");
  for (const k of keys[1]) assert.ok(!keys[0].has(k), "val text in train");
  for (const e of [...d.train, ...d.val, ...d.test]) {
    assert.ok(e.text.length <= 256 && e.text.startsWith("Subject: "));
    assert.equal(e.label, e.group.startsWith("spam") ? 1 : 0);
  }
  // Every text encodes with a tokenizer built from Moby-Dick and fits 256 + 2 special tokens.
  const all = [...d.train, ...d.val, ...d.test];
  const formatted = formatAll(mobyTokenizer, "classification", 2, all, 258);
  assert.equal(formatted.filter((f) => f.sequences[0].truncated > 0).length, 0);
  const again = spamDataset();
  assert.deepEqual(again.test.map((e) => e.id + e.group), d.test.map((e) => e.id + e.group));
  const other = spamDataset({ seed: 1 });
  assert.notDeepEqual(other.test.map((e) => e.id + e.group), d.test.map((e) => e.id + e.group));
  assert.equal(other.train.length, d.train.length);
});

Deno.test("spam: unlabelled pre-training text never contains a validation or test e-mail", () => {
  const d = spamDataset({ maxChars: 320, alphabet: PRINTABLE_ASCII });
  assert.equal(d.maxChars, 320);
  assert.equal(PRINTABLE_ASCII.length, 95);
  const texts = spamPretrainingTexts(d, 1000);
  const lower = texts.map((t) => t.toLowerCase());
  for (const e of [...d.val, ...d.test]) {
    const key = e.text.toLowerCase();
    assert.ok(!lower.some((t) => t.startsWith(key)), `held-out e-mail ${e.group}/${e.id} leaked`);
  }
  // Every training e-mail is there, longer than its labelled (320-character) form.
  const set = new Set(lower.map((t) => t.slice(0, 64)));
  for (const e of d.train) assert.ok(set.has(e.text.toLowerCase().slice(0, 64)));
  // The ham left out by balancing is read too: more texts than the training split has.
  const heldOut = d.val.length + d.test.length;
  assert.ok(texts.length > d.train.length + 2000, `${texts.length} texts`);
  assert.ok(texts.length <= d.stats.raw - d.stats.empty - heldOut);
  assert.ok(texts.every((t) => t.length <= 1000 && t.startsWith("Subject: ")));
  assert.ok(texts.some((t) => t.includes("@") || t.includes("/")), "printable ASCII kept");
  assert.ok(texts.some((t) => t.length > 900));
  assert.deepEqual(spamPretrainingTexts(d, 1000), texts);
  assert.throws(() => spamPretrainingTexts(d, 3), /maxChars must be an integer >= 16/);
});

Deno.test("story cloze: next sentence vs distractors, disjoint chapters, balanced labels", () => {
  assert.deepEqual(
    splitSentences('Call me Mr. Ishmael. "Ahoy!" cried he. Is it? Yes!\nNo.'),
    ["Call me Mr. Ishmael.", '"Ahoy!" cried he.', "Is it?", "Yes!", "No."],
  );
  assert.deepEqual(["10", "15", "1", "Epilogue"].map(chapterSplit), [
    "test",
    "val",
    "train",
    "train",
  ]);
  const d = storyClozeDataset();
  assert.deepEqual([d.train.length, d.val.length, d.test.length], [2633, 331, 304]);
  assert.equal(d.numClasses, 4);
  const sentences = mobyDickSentences();
  const at = new Map(sentences.map((s) => [`${s.chapter}/${s.index}`, s]));
  for (const [name, split] of [["train", d.train], ["val", d.val], ["test", d.test]] as const) {
    const c = counts(split, 4);
    assert.ok(Math.max(...c) - Math.min(...c) <= 1, `${name} labels ${c}`);
    for (const e of split) {
      assert.equal(chapterSplit(e.chapter), name);
      assert.equal(e.options.length, 4);
      assert.equal(new Set(e.options).size, 4);
      const truth = at.get(`${e.chapter}/${e.index}`)!;
      assert.equal(e.options[e.label], truth.text);
      const before = [
        at.get(`${e.chapter}/${e.index - 2}`)!,
        at.get(`${e.chapter}/${e.index - 1}`)!,
      ];
      assert.equal(e.context, before.map((s) => s.text).join(" "));
    }
  }
  // No sentence of a test item (context or options) occurs in any training item.
  const trainText = new Set(d.train.flatMap((e) => [e.context, ...e.options]));
  const testSentences = new Set(sentences.filter((s) => s.split === "test").map((s) => s.text));
  for (const t of trainText) assert.ok(!testSentences.has(t), `test sentence in training: ${t}`);
  for (const e of d.test) {
    for (const o of e.options) assert.ok(testSentences.has(o));
  }
  assert.deepEqual(storyClozeDataset().test, d.test);
  assert.notDeepEqual(storyClozeDataset({ seed: 3 }).test, d.test);
  // Every item fits a 256-token context with the Moby-Dick tokenizer (contexts get truncated).
  formatAll(mobyTokenizer, "multipleChoice", 4, d.test, 256);
});

Deno.test("pairs: paraphrase and negation edits", () => {
  assert.equal(paraphrase("The great Ship and the sea."), "The vast Vessel and the ocean.");
  assert.equal(
    toggleNegation("He was tired, and it is late."),
    "He was not tired, and it is late.",
  );
  assert.equal(toggleNegation("I could not see it."), "I could see it.");
  assert.equal(toggleNegation("No verbs here."), null);
});

Deno.test("pairs: similarity and entailment sizes, balance, determinism, no leak", () => {
  const sim = similarityDataset();
  assert.deepEqual([sim.train.length, sim.val.length, sim.test.length], [1206, 147, 113]);
  const ent = entailmentDataset();
  assert.deepEqual([ent.train.length, ent.val.length, ent.test.length], [980, 120, 93]);
  for (const split of [sim.train, sim.val, sim.test]) {
    const [neg, pos] = counts(split, 2);
    assert.ok(Math.abs(neg - pos) <= 1, `similarity labels ${neg}/${pos}`);
  }
  for (const split of [ent.train, ent.val, ent.test]) {
    const c = counts(split, 3);
    assert.ok(Math.max(...c) - Math.min(...c) <= 1, `entailment labels ${c}`);
  }
  const testSentences = new Set(
    mobyDickSentences().filter((s) => s.split === "test").map((s) => s.text),
  );
  for (const e of sim.train) {
    assert.equal(chapterSplit(e.chapter), "train");
    assert.ok(!testSentences.has(e.a) && !testSentences.has(e.b));
  }
  for (const e of ent.train) {
    assert.equal(chapterSplit(e.chapter), "train");
    assert.ok(!testSentences.has(e.premise));
  }
  // Entailment and contradiction hypotheses are the premise's clause with equal or opposite
  // polarity; the premise contains the entailed hypothesis (without its final period).
  for (const e of ent.train) {
    const h = e.hypothesis.slice(0, -1);
    const inPremise = e.premise.toLowerCase().includes(h.toLowerCase());
    if (e.label === 0) assert.ok(inPremise, `${e.premise} => ${e.hypothesis}`);
    if (e.label === 2) {
      const flipped = toggleNegation(h)!;
      assert.ok(
        e.premise.toLowerCase().includes(flipped.toLowerCase()),
        `${e.premise} => ${e.hypothesis}`,
      );
    }
  }
  // Negation is no shortcut: each class has hypotheses with and without "not".
  for (let label = 0; label < 3; label++) {
    const withNot = ent.train.filter((e) =>
      e.label === label && /\bnot\b/.test(e.hypothesis)
    ).length;
    const n = ent.train.filter((e) => e.label === label).length;
    assert.ok(withNot > 0.3 * n && withNot < 0.7 * n, `label ${label}: ${withNot}/${n} with "not"`);
  }
  assert.deepEqual(similarityDataset().test, sim.test);
  assert.deepEqual(entailmentDataset().val, ent.val);
  assert.notDeepEqual(entailmentDataset({ seed: 5 }).val, ent.val);
  formatAll(mobyTokenizer, "similarity", 2, sim.test, 256);
  formatAll(mobyTokenizer, "entailment", 3, ent.test, 256);
});

Deno.test("names: balanced, disjoint, deterministic, ambiguous names dropped", () => {
  const d = namesDataset();
  assert.deepEqual([d.train.length, d.val.length, d.test.length], [5564, 696, 696]);
  assert.equal(d.dropped, 419);
  for (const part of [d.train, d.val, d.test]) {
    const female = part.filter((e) => e.label === 1).length;
    assert.equal(female * 2, part.length);
  }
  const seen = new Set(d.train.map((e) => e.text));
  assert.ok(d.val.concat(d.test).every((e) => !seen.has(e.text)), "a name in two splits");
  assert.ok(!seen.has("Abbey"), "ambiguous names are dropped");
  assert.equal(new Set(d.test.map((e) => e.text)).size, 696);
  assert.deepEqual(namesDataset().train.slice(0, 20), d.train.slice(0, 20));
  assert.notDeepEqual(namesDataset({ seed: 1 }).train.slice(0, 20), d.train.slice(0, 20));
  // Every name is written in characters the Moby-Dick tokenizer knows.
  for (const e of [...d.train, ...d.val, ...d.test]) mobyTokenizer.encode(e.text);
  assert.throws(() => namesDataset({ valFraction: 0.6, testFraction: 0.5 }), /bad fractions/);
});
