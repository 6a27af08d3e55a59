/**
 * A Story-Cloze-style multiple-choice task from *Moby-Dick* (GPT-1 evaluated on the Story Cloze
 * Test: pick the right ending of a short story). Here the "story" is `contextSentences`
 * consecutive sentences of the novel, the right ending is the sentence that really follows, and
 * the wrong endings are sentences from other chapters of the same split. Chance accuracy is
 * 1 / `numOptions` (25% with the defaults).
 *
 * **Sentences** ({@link mobyDickSentences}): the numbered chapters 1–135 and the Epilogue (the
 * front matter, "Etymology" and "Extracts", is a collage of quotations and is left out), with
 * every run of whitespace collapsed to one space, split after `.`, `!` or `?` (plus any closing
 * quotes or brackets) when a space and an upper-case letter or an opening quote follow, except
 * after the abbreviations Mr., Mrs., Dr., St. and Capt.
 *
 * **Splits** ({@link chapterSplit}): chapters whose number ends in 0 (10, 20, … 130) are test,
 * those ending in 5 are validation, all others (and the Epilogue) are training. An item's
 * context, ending and distractors all come from its own split, so no test sentence appears in
 * any training item.
 *
 * **Items**: every sentence whose length is within [minAnswerChars, maxAnswerChars] and that has
 * `contextSentences` sentences before it in its chapter becomes one item; the distractors are
 * drawn (seeded) from the other eligible endings of the split that lie in a different chapter.
 * The correct position cycles through 0 … numOptions − 1 over the shuffled items, so labels are
 * balanced.
 *
 * Sizes with the defaults (2 context sentences, endings of 20–100 characters, 4 options,
 * seed 0): train 2,633, val 331, test 304 (from 8,451 sentences).
 *
 * @module
 */
import { mobyDickChapters } from "./moby_dick.ts";
import { Rng } from "../lib/random.ts";
import type { MultipleChoiceExample, TaskDataset } from "../lib/finetune/formats.ts";

/** Which split a chapter belongs to. */
export type SplitName = "train" | "val" | "test";

/** One sentence of the novel, with where it came from. */
export interface Sentence {
  /** The chapter's label: "1" … "135" or "Epilogue". */
  chapter: string;
  /** Position of the sentence in its chapter. */
  index: number;
  /** The sentence. */
  text: string;
  /** The split of its chapter. */
  split: SplitName;
}

/** The split of a chapter: number ending in 0 → test, ending in 5 → val, otherwise train. */
export function chapterSplit(chapter: string): SplitName {
  const n = Number(chapter);
  if (!Number.isInteger(n)) return "train";
  return n % 10 === 0 ? "test" : n % 10 === 5 ? "val" : "train";
}

const ABBREVIATION = /(?:^|\s)(?:Mr|Mrs|Dr|St|Capt)\.$/;

/** Splits prose into sentences by the rule in the module description. */
export function splitSentences(text: string): string[] {
  const flat = text.replace(/\s+/g, " ").trim();
  const out: string[] = [];
  const boundary = /[.!?]["')\]]*(?= ["'(]?[A-Z])/g;
  let start = 0;
  for (let m; (m = boundary.exec(flat));) {
    const end = m.index + m[0].length;
    if (ABBREVIATION.test(flat.slice(Math.max(0, end - 6), end))) continue;
    const s = flat.slice(start, end).trim();
    if (s) out.push(s);
    start = end + 1;
  }
  const last = flat.slice(start).trim();
  if (last) out.push(last);
  return out;
}

let sentenceCache: Sentence[] | undefined;

/** Every sentence of chapters 1–135 and the Epilogue, in book order. */
export function mobyDickSentences(): Sentence[] {
  if (!sentenceCache) {
    sentenceCache = [];
    for (const c of mobyDickChapters()) {
      if (!/^\d+$/.test(c.chapter) && c.chapter !== "Epilogue") continue;
      const split = chapterSplit(c.chapter);
      splitSentences(c.text).forEach((text, index) =>
        sentenceCache!.push({ chapter: c.chapter, index, text, split })
      );
    }
  }
  return sentenceCache;
}

/** Options of {@link storyClozeDataset}. */
export interface StoryClozeOptions {
  /** Sentences of context before the ending (default 2). */
  contextSentences?: number;
  /** Options per item: the true ending plus numOptions − 1 distractors (default 4). */
  numOptions?: number;
  /** Shortest ending, in characters (default 20). */
  minAnswerChars?: number;
  /** Longest ending, in characters (default 100); answers are never truncated by the format. */
  maxAnswerChars?: number;
  /** Seed of the distractors, the option order and the item order (default 0). */
  seed?: number;
}

/** A story-cloze item, with where its context came from. */
export interface StoryClozeExample extends MultipleChoiceExample {
  /** The chapter of the context and the true ending. */
  chapter: string;
  /** Index of the true ending in its chapter. */
  index: number;
}

/** The multiple-choice task: train / val / test from disjoint chapters. */
export interface StoryClozeDataset extends TaskDataset<"multipleChoice"> {
  /** Items from training chapters. */
  train: StoryClozeExample[];
  /** Items from validation chapters. */
  val: StoryClozeExample[];
  /** Items from test chapters. */
  test: StoryClozeExample[];
}

/** Builds the story-cloze task (see the module description). */
export function storyClozeDataset(options: StoryClozeOptions = {}): StoryClozeDataset {
  const k = options.contextSentences ?? 2;
  const numOptions = options.numOptions ?? 4;
  const minChars = options.minAnswerChars ?? 20, maxChars = options.maxAnswerChars ?? 100;
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`storyClozeDataset: contextSentences must be >= 1, got ${k}`);
  }
  if (!Number.isInteger(numOptions) || numOptions < 2) {
    throw new Error(`storyClozeDataset: numOptions must be >= 2, got ${numOptions}`);
  }
  const rng = new Rng(options.seed ?? 0);
  const byChapter = new Map<string, Sentence[]>();
  for (const s of mobyDickSentences()) {
    if (!byChapter.has(s.chapter)) byChapter.set(s.chapter, []);
    byChapter.get(s.chapter)!.push(s);
  }
  const eligible = (s: Sentence) => s.text.length >= minChars && s.text.length <= maxChars;
  const build = (split: SplitName): StoryClozeExample[] => {
    const endings = mobyDickSentences().filter((s) => s.split === split && eligible(s));
    const items = endings.filter((s) => s.index >= k);
    const texts = new Set(items.map((s) => s.text));
    if (texts.size < numOptions) return [];
    rng.shuffle(items);
    return items.map((s, j) => {
      const distractors = new Set<string>();
      while (distractors.size < numOptions - 1) {
        const d = endings[rng.int(endings.length)];
        if (d.chapter !== s.chapter && d.text !== s.text) distractors.add(d.text);
      }
      const label = j % numOptions;
      const opts = rng.shuffle([...distractors]);
      opts.splice(label, 0, s.text);
      const chapter = byChapter.get(s.chapter)!;
      const context = chapter.slice(s.index - k, s.index).map((c) => c.text).join(" ");
      return { context, options: opts, label, chapter: s.chapter, index: s.index };
    });
  };
  return {
    kind: "multipleChoice",
    numClasses: numOptions,
    labelNames: Array.from({ length: numOptions }, (_, i) => `option ${i + 1}`),
    train: build("train"),
    val: build("val"),
    test: build("test"),
  };
}
