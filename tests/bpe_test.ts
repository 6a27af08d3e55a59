import assert from "node:assert/strict";
import { BpeTokenizer, GPT2_PATTERN, type MergeEvent } from "../lib/tokenizers/bpe.ts";
import { GPT2_EOT_ID, GPT2_VOCAB_SIZE, Gpt2Tokenizer } from "../lib/tokenizers/gpt2.ts";
import { loadMobyDick } from "../datasets/moby_dick.ts";

const HARD_UNICODE = [
  "",
  "Call me Ishmael.",
  "  leading and trailing spaces  \n\n\ttabs\r\n",
  "数字 12345 and 3.14159, don't we'll they're",
  "中文文本没有空格所以整段是一个词", // one long pre-tokenised piece
  "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵", // surrogate pairs, ZWJ sequences, modifiers
  "combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0362\u0353", // base letter + combining marks
  "Ελληνικά, русский, العربية, עברית, हिन्दी, 한국어, ไทย",
  "\u0000\u0001\u007f\u0080\u00ff\ufeff\uffff", // control, BOM and noncharacters
  "\u{10ffff}\u{1d400} math 𝐀",
];

/** The text of Moby-Dick's first chapters: enough to learn a few hundred merges. */
const moby = loadMobyDick();
const sample = moby.slice(0, 60_000);
const trained = BpeTokenizer.train(sample, 600);

Deno.test("bpe: round trips hard Unicode, including text never seen in training", () => {
  for (const text of [...HARD_UNICODE, sample.slice(1000, 3000)]) {
    const ids = trained.encode(text);
    assert.equal(trained.decode(ids), text, JSON.stringify(text));
    for (const id of ids) assert.ok(id >= 0 && id < trained.vocabSize);
  }
  // An untrained tokenizer (bytes only) is lossless too: one token per UTF-8 byte.
  const bytesOnly = new BpeTokenizer([]);
  const text = HARD_UNICODE.join(" ");
  assert.deepEqual(
    Array.from(bytesOnly.encode(text)),
    Array.from(new TextEncoder().encode(text)),
  );
  assert.equal(bytesOnly.decode(bytesOnly.encode(text)), text);
});

Deno.test("bpe: lone surrogates encode as U+FFFD; split characters decode without throwing", () => {
  for (const text of ["\ud800", "a\udc00b", "x\ud83d", "\ude00😀\ud83d"]) {
    const ids = trained.encode(text);
    assert.equal(trained.decode(ids), text.toWellFormed());
    assert.ok(trained.decode(ids).includes("\ufffd"));
  }
  // Any id sequence decodes, even the bytes of one character cut apart or reordered.
  const bytesOnly = new BpeTokenizer([]);
  const euro = Array.from(bytesOnly.encode("€")); // E2 82 AC
  assert.equal(euro.length, 3);
  assert.equal(bytesOnly.decode(euro.slice(0, 2)), "\ufffd");
  assert.equal(bytesOnly.decode([euro[2], euro[0]]), "\ufffd\ufffd");
  assert.deepEqual(Array.from(bytesOnly.decodeBytes(euro.slice(0, 2))), [0xe2, 0x82]);
  for (let id = 0; id < trained.vocabSize; id++) trained.decode([id]); // none throws
  assert.equal(trained.decode(trained.encode("€").subarray(0, 0)), "");
  assert.throws(() => trained.decode([trained.vocabSize]), /id 600 is outside \[0, 600\)/);
  assert.throws(() => trained.decode([-1]), /outside/);
  assert.throws(() => trained.decode([1.5]), /outside/);
});

Deno.test("bpe: the pre-tokenisation pattern covers every character", () => {
  for (const text of HARD_UNICODE) {
    const pieces = [...text.matchAll(GPT2_PATTERN)].map((m) => m[0]);
    assert.equal(pieces.join(""), text);
  }
  const pieces = [..."Hello world, it's 2019!  ok".matchAll(GPT2_PATTERN)].map((m) => m[0]);
  assert.deepEqual(pieces, ["Hello", " world", ",", " it", "'s", " 2019", "!", " ", " ok"]);
});

Deno.test("bpe: known tiny example (Wikipedia's aaabdaaabac)", () => {
  const events: MergeEvent[] = [];
  const tok = BpeTokenizer.train("aaabdaaabac", 259, { onMerge: (e) => events.push(e) });
  // aa (4×) first; then ab and (aa)a tie at 2 and the smaller left id wins: ab; then (aa)(ab).
  assert.deepEqual(tok.merges, [[97, 97], [97, 98], [256, 257]]);
  assert.deepEqual(events.map((e) => [e.index, e.id, e.pair, e.count, e.label]), [
    [0, 256, [97, 97], 4, "aa"],
    [1, 257, [97, 98], 2, "ab"],
    [2, 258, [256, 257], 2, "aaab"],
  ]);
  assert.deepEqual(Array.from(tok.encode("aaabdaaabac")), [258, 100, 258, 97, 99]);
  // Overlapping occurrences merge left to right: "aaa" is (aa)a.
  assert.deepEqual(Array.from(tok.encode("aaa")), [256, 97]);
  // Merges never cross pre-tokenisation boundaries (no "a␣" pair from "aa aa"); " a" and "aa"
  // tie at 3 and the smaller left id (space, 32) wins.
  const words = BpeTokenizer.train(" aa aa aa", 300);
  assert.deepEqual(words.merges, [[32, 97], [256, 97]]);
  assert.deepEqual(Array.from(words.encode(" aa aa")), [257, 257]);
  assert.equal(words.tokenLabel(257), "␣aa");
});

Deno.test("bpe: merges are deterministic and match a naive reference trainer", () => {
  const text = moby.slice(200_000, 230_000);
  const a = BpeTokenizer.train(text, 400);
  const b = BpeTokenizer.train(text, 400);
  assert.deepEqual(a.merges, b.merges);
  assert.deepEqual(a.merges, naiveTrain(text, 400));
  // Encoding applies the merges exactly as training did.
  for (const t of [text.slice(0, 5000), ...HARD_UNICODE]) {
    assert.deepEqual(Array.from(a.encode(t)), naiveEncode(a.merges, t));
  }
});

Deno.test("bpe: vocabulary size is respected, and stops early when nothing is left to merge", () => {
  assert.equal(trained.vocabSize, 600);
  assert.equal(trained.merges.length, 344);
  assert.equal(BpeTokenizer.train(sample, 256).vocabSize, 256);
  const small = BpeTokenizer.train("ab ab", 1000); // pieces "ab", " ab": 2 merges possible
  assert.deepEqual(small.merges, [[97, 98], [32, 256]]);
  assert.deepEqual(Array.from(small.encode("ab ab")), [256, 257]);
  assert.equal(BpeTokenizer.train("", 300).vocabSize, 256);
});

Deno.test("bpe: clear errors for bad vocabulary sizes and bad JSON", () => {
  assert.throws(() => BpeTokenizer.train("abc", 255), /vocabSize must be an integer in \[256/);
  assert.throws(() => BpeTokenizer.train("abc", 300.5), /vocabSize/);
  assert.throws(() => BpeTokenizer.fromJSON("{not json"), /not valid JSON/);
  assert.throws(() => BpeTokenizer.fromJSON(null), /expected \{type: "bpe"/);
  assert.throws(() => BpeTokenizer.fromJSON({ type: "char", symbols: [] }), /expected/);
  assert.throws(
    () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "gpt4", merges: [] }),
    /unknown pattern "gpt4"/,
  );
  assert.throws(
    () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "gpt2", merges: {} }),
    /merges must be an array/,
  );
  assert.throws(
    () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "gpt2", merges: [[97, 256]] }),
    /merge 0 is \[97,256\]; expected \[left, right\] with integer ids in \[0, 256\)/,
  );
  assert.throws(
    () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "gpt2", merges: [[97, 98], [97, 98]] }),
    /merge 1 repeats the pair \[97,98\] of merge 0/,
  );
  assert.throws(
    () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "gpt2", merges: [[97]] }),
    /merge 0/,
  );
});

Deno.test("bpe: toJSON / fromJSON round trip", () => {
  const json = JSON.stringify(trained);
  const back = BpeTokenizer.fromJSON(JSON.parse(json));
  assert.deepEqual(back.merges, trained.merges);
  assert.deepEqual(BpeTokenizer.fromJSON(json).merges, trained.merges);
  const text = sample.slice(5000, 7000);
  assert.deepEqual(back.encode(text), trained.encode(text));
});

Deno.test("bpe: training on the whole of Moby-Dick to 1,000 tokens takes seconds", () => {
  const start = performance.now();
  const tok = BpeTokenizer.train(moby, 1000);
  const seconds = (performance.now() - start) / 1000;
  assert.equal(tok.vocabSize, 1000);
  // ~1 s on a laptop core; a naive rescan per merge takes minutes. Generous for busy machines.
  assert.ok(seconds < 20, `training took ${seconds.toFixed(1)} s`);
  const ids = tok.encode(moby);
  assert.ok(moby.length / ids.length > 2.5, `${(moby.length / ids.length).toFixed(2)} chars/token`);
  assert.equal(tok.decode(ids), moby);
});

Deno.test("gpt2 tokenizer: GPT-2's ids, round trips, end-of-text", () => {
  const tok = new Gpt2Tokenizer();
  assert.equal(tok.vocabSize, GPT2_VOCAB_SIZE);
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.eotId, GPT2_EOT_ID);
  assert.equal(tok.eotId, 50256);
  assert.deepEqual(Array.from(tok.encode("Hello world")), [15496, 995]);
  assert.equal(tok.decode([15496, 995]), "Hello world");
  assert.deepEqual(Array.from(tok.encode("hello the.\n,")), [31373, 262, 13, 198, 11]);
  for (const text of HARD_UNICODE) assert.equal(tok.decode(tok.encode(text)), text);
  assert.equal(tok.decode(tok.encode("a\ud800b")), "a\ufffdb");
  // <|endoftext|> is plain text unless allowed, and then it is found anywhere in the text.
  assert.equal(tok.encode("a<|endoftext|>b").length, 9);
  assert.deepEqual(Array.from(tok.encode("a<|endoftext|>b", { allowSpecial: true })), [
    64,
    50256,
    65,
  ]);
  assert.equal(tok.decode([64, 50256, 65]), "a<|endoftext|>b");
  // Decoding is stateless: half a character gives U+FFFD and leaks nothing into the next call.
  const chinese = Array.from(tok.encode("你"));
  assert.ok(chinese.length > 1);
  assert.equal(tok.decode(chinese.slice(0, 1)), "\ufffd");
  assert.equal(tok.decode([64]), "a");
  assert.throws(() => tok.decode([50257]), /id 50257 at position 0 is outside \[0, 50257\)/);
});

// ------------------------------------------------------------------ references

/** BPE training by brute force: recount every pair of every piece before each merge. */
function naiveTrain(text: string, vocabSize: number): [number, number][] {
  const counts = new Map<string, number>();
  for (const [p] of text.matchAll(GPT2_PATTERN)) counts.set(p, (counts.get(p) ?? 0) + 1);
  let words = [...counts].map(([p, c]) => ({ s: Array.from(new TextEncoder().encode(p)), c }));
  const merges: [number, number][] = [];
  while (256 + merges.length < vocabSize) {
    const pairs = new Map<string, number>();
    for (const { s, c } of words) {
      for (let i = 0; i + 1 < s.length; i++) {
        const k = `${s[i]},${s[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + c);
      }
    }
    let best: [number, number] | undefined, bestCount = 0;
    for (const [k, c] of pairs) {
      const [a, b] = k.split(",").map(Number);
      if (
        c > bestCount ||
        (c === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))
      ) {
        best = [a, b];
        bestCount = c;
      }
    }
    if (!best) break;
    const id = 256 + merges.length;
    words = words.map(({ s, c }) => ({ s: applyMerge(s, best!, id), c }));
    merges.push(best);
  }
  return merges;
}

/** Encoding by brute force: apply every merge, in order, to every piece. */
function naiveEncode(merges: readonly (readonly [number, number])[], text: string): number[] {
  const out: number[] = [];
  for (const [p] of text.matchAll(GPT2_PATTERN)) {
    let s = Array.from(new TextEncoder().encode(p));
    merges.forEach((m, i) => s = applyMerge(s, m, 256 + i));
    out.push(...s);
  }
  return out;
}

function applyMerge(s: number[], [a, b]: readonly [number, number], id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
      out.push(id);
      i++;
    } else {
      out.push(s[i]);
    }
  }
  return out;
}
