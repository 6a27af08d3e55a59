/**
 * Sentence-pair tasks built from real *Moby-Dick* sentences by fixed, documented rules: a
 * similarity task (in the spirit of MRPC / QQP) and a three-way entailment task (in the spirit
 * of SNLI / MultiNLI). Sentences and the train / val / test chapter split are those of
 * `story_cloze.ts` (chapters ending in 0 → test, in 5 → val), and every pair is made from
 * sentences of one split, so nothing from a test item appears in training.
 *
 * Two edits do the work:
 *
 * - a **paraphrase** replaces every word found in {@link PARAPHRASES} (a small hand-made table
 *   of near-synonyms: great → vast, ship → vessel, said → answered, …), keeping capitalisation;
 * - a **negation toggle** finds the first auxiliary verb (was, is, had, could, would, …) and
 *   inserts "not" after it, or removes the "not" already there ("was" ↔ "was not").
 *
 * **Similarity** (labels: 0 = different, 1 = same meaning; chance 50%). Sentence `a` is any
 * sentence of 30–`maxChars` characters with a word in the paraphrase table. The items cycle:
 * `b` = paraphrase(a) (label 1); `b` = paraphrase(a) with its negation toggled (label 0: almost
 * the same words, the opposite meaning; a sentence without an auxiliary uses the next rule
 * instead); `b` = paraphrase(a sentence 1–5 positions away in the same chapter) (label 0:
 * related topic, different statement); and paraphrase(a) again (label 1). So half the items
 * are positive, and every `b` is a paraphrase of something. `a` and `b` are swapped at random
 * (the task is symmetric).
 *
 * **Entailment** (labels as {@link ENTAILMENT_LABELS}: 0 entailment, 1 neutral,
 * 2 contradiction; chance 1/3). A premise is a sentence of 40–`maxChars` characters with a
 * clause (a stretch between `,` `;` `:` `—` or the sentence's ends) of at least 4 words that
 * contains an auxiliary verb and leaves at least 2 of the sentence's words out (so the
 * hypothesis is a proper part of the premise). The premise's polarity is flipped at random (its clause's
 * negation toggled), then the hypothesis is that clause, capitalised and ended with a period:
 * with the premise's polarity (entailment), with the opposite polarity (contradiction), or a
 * clause of another sentence 2–10 positions away in the same chapter, of random polarity
 * (neutral). Because polarity is random on both sides, "the hypothesis contains not" says
 * nothing about the label: the model must compare the two. (A clause of a sentence is only
 * approximately entailed by it, e.g. inside a conditional; these are templates, not
 * annotations.)
 *
 * Sizes with the defaults (maxChars 120, seed 0): similarity train 1,206, val 147, test 113;
 * entailment train 980, val 120, test 93. Labels are balanced within one item in every split
 * (the label cycle only advances when an item is made).
 *
 * @module
 */
import { Rng } from "../lib/random.ts";
import {
  ENTAILMENT_LABELS,
  type EntailmentExample,
  type SimilarityExample,
  type TaskDataset,
} from "../lib/finetune/formats.ts";
import { mobyDickSentences, type Sentence, type SplitName } from "./story_cloze.ts";

/** Near-synonyms used by {@link paraphrase} (lower case; applied one way). */
export const PARAPHRASES: Readonly<Record<string, string>> = {
  great: "vast",
  vast: "great",
  large: "big",
  big: "large",
  little: "small",
  small: "little",
  ship: "vessel",
  vessel: "ship",
  ships: "vessels",
  sea: "ocean",
  ocean: "sea",
  said: "answered",
  began: "started",
  almost: "nearly",
  nearly: "almost",
  perhaps: "maybe",
  seemed: "appeared",
  suddenly: "abruptly",
  whole: "entire",
  strange: "odd",
  man: "fellow",
  men: "fellows",
  quickly: "swiftly",
  among: "amongst",
  though: "although",
  upon: "on",
  often: "frequently",
  indeed: "truly",
  cried: "shouted",
  looked: "gazed",
  ere: "before",
  till: "until",
  boat: "craft",
  boats: "craft",
  captain: "skipper",
  whale: "leviathan",
  whales: "leviathans",
  thing: "matter",
  things: "matters",
  never: "not ever",
  very: "truly",
  deep: "profound",
  dark: "gloomy",
  quiet: "calm",
  mighty: "powerful",
  terrible: "dreadful",
  wild: "savage",
};

/** Auxiliary verbs the negation toggle acts on (lower case). */
export const AUXILIARIES: readonly string[] = [
  "is",
  "was",
  "were",
  "are",
  "had",
  "has",
  "have",
  "could",
  "would",
  "should",
  "will",
  "can",
  "must",
  "did",
  "does",
  "might",
  "may",
  "shall",
];

const WORD = /[A-Za-z]+(?:'[a-z]+)?/g;

function matchCase(replacement: string, original: string): string {
  if (original === original.toUpperCase() && original.length > 1) {
    return replacement.toUpperCase();
  }
  if (original[0] === original[0].toUpperCase()) {
    return replacement[0].toUpperCase() + replacement.slice(1);
  }
  return replacement;
}

/** Replaces every word of {@link PARAPHRASES} by its near-synonym, keeping capitalisation. */
export function paraphrase(text: string): string {
  return text.replace(WORD, (w) => {
    const r = PARAPHRASES[w.toLowerCase()];
    return r ? matchCase(r, w) : w;
  });
}

/** Whether the text has a word of the paraphrase table. */
export function canParaphrase(text: string): boolean {
  return paraphrase(text) !== text;
}

const AUX_SET = new Set(AUXILIARIES);

/** Character offset of the first auxiliary verb in `text`, or -1. */
export function findAuxiliary(text: string): number {
  for (const m of text.matchAll(WORD)) {
    if (AUX_SET.has(m[0].toLowerCase())) return m.index!;
  }
  return -1;
}

/**
 * Toggles negation at the first auxiliary verb: "was" → "was not", "was not" → "was".
 * Returns null when the text has no auxiliary verb.
 */
export function toggleNegation(text: string): string | null {
  const at = findAuxiliary(text);
  if (at < 0) return null;
  const end = at + /^[A-Za-z]+/.exec(text.slice(at))![0].length;
  const rest = text.slice(end);
  const not = /^ not\b/.exec(rest);
  return not ? text.slice(0, end) + rest.slice(not[0].length) : `${text.slice(0, end)} not${rest}`;
}

/** Options of the pair datasets. */
export interface PairOptions {
  /** Longest sentence used, in characters (default 120). */
  maxChars?: number;
  /** Seed of every random choice (default 0). */
  seed?: number;
}

/** A pair with the sentence it was built from. */
export interface PairProvenance {
  /** The chapter of the source sentence. */
  chapter: string;
  /** Index of the source sentence in its chapter. */
  index: number;
}

/** A similarity example with its source. */
export type SimilarityItem = SimilarityExample & PairProvenance;

/** An entailment example with its source. */
export type EntailmentItem = EntailmentExample & PairProvenance;

function bySplitAndChapter() {
  const chapters = new Map<string, Sentence[]>();
  for (const s of mobyDickSentences()) {
    if (!chapters.has(s.chapter)) chapters.set(s.chapter, []);
    chapters.get(s.chapter)!.push(s);
  }
  return chapters;
}

function nearby(
  rng: Rng,
  chapter: Sentence[],
  index: number,
  minGap: number,
  maxGap: number,
  accept: (s: Sentence) => boolean,
): Sentence | undefined {
  const candidates = chapter.filter((s) => {
    const gap = Math.abs(s.index - index);
    return gap >= minGap && gap <= maxGap && accept(s);
  });
  return candidates.length ? candidates[rng.int(candidates.length)] : undefined;
}

/** The similarity task (see the module description). */
export function similarityDataset(options: PairOptions = {}): TaskDataset<"similarity"> & {
  train: SimilarityItem[];
  val: SimilarityItem[];
  test: SimilarityItem[];
} {
  const maxChars = options.maxChars ?? 120;
  const rng = new Rng(options.seed ?? 0);
  const chapters = bySplitAndChapter();
  const fits = (s: Sentence) => s.text.length >= 30 && s.text.length <= maxChars;
  const build = (split: SplitName): SimilarityItem[] => {
    const pool = mobyDickSentences().filter((s) =>
      s.split === split && fits(s) && canParaphrase(s.text)
    );
    rng.shuffle(pool);
    const out: SimilarityItem[] = [];
    pool.forEach((s) => {
      const a = s.text;
      let b: string | null = null, label = 1;
      const kind = out.length % 4;
      if (kind === 1) b = toggleNegation(paraphrase(a)), label = 0;
      if (kind === 2 || (kind === 1 && b === null)) {
        const other = nearby(rng, chapters.get(s.chapter)!, s.index, 1, 5, fits);
        if (!other) return;
        b = paraphrase(other.text), label = 0;
      }
      if (b === null) b = paraphrase(a);
      const swap = rng.next() < 0.5;
      out.push({
        a: swap ? b : a,
        b: swap ? a : b,
        label,
        chapter: s.chapter,
        index: s.index,
      });
    });
    return out;
  };
  return {
    kind: "similarity",
    numClasses: 2,
    labelNames: ["different", "same"],
    train: build("train"),
    val: build("val"),
    test: build("test"),
  };
}

/** Clauses of a sentence: stretches between `,` `;` `:` `—` and the sentence's ends. */
function clauses(text: string): { start: number; text: string }[] {
  const out: { start: number; text: string }[] = [];
  const re = /[^,;:—]+/g;
  for (let m; (m = re.exec(text));) {
    const lead = m[0].length - m[0].trimStart().length;
    out.push({ start: m.index + lead, text: m[0].trim() });
  }
  return out;
}

/**
 * The first clause with at least 4 words and an auxiliary verb that (when `proper`) is not the
 * whole sentence: at least 2 of the sentence's words lie outside it. Undefined if none.
 */
function negatableClause(
  text: string,
  proper = true,
): { start: number; text: string } | undefined {
  const words = (text.match(WORD) ?? []).length;
  return clauses(text).find((c) => {
    const n = (c.text.match(WORD) ?? []).length;
    return n >= 4 && (!proper || n <= words - 2) && findAuxiliary(c.text) >= 0;
  });
}

function asSentence(clause: string): string {
  const t = clause.replace(/^["'(]+/, "").replace(/[.!?"')\]]+$/, "").trim();
  return t[0].toUpperCase() + t.slice(1) + ".";
}

/** The three-way entailment task (see the module description). */
export function entailmentDataset(options: PairOptions = {}): TaskDataset<"entailment"> & {
  train: EntailmentItem[];
  val: EntailmentItem[];
  test: EntailmentItem[];
} {
  const maxChars = options.maxChars ?? 120;
  const rng = new Rng(options.seed ?? 0);
  const chapters = bySplitAndChapter();
  const usable = (s: Sentence) =>
    s.text.length >= 40 && s.text.length <= maxChars && negatableClause(s.text) !== undefined;
  const build = (split: SplitName): EntailmentItem[] => {
    const pool = mobyDickSentences().filter((s) => s.split === split && usable(s));
    rng.shuffle(pool);
    const out: EntailmentItem[] = [];
    pool.forEach((s) => {
      const clause = negatableClause(s.text)!;
      const flipped = rng.next() < 0.5;
      const toggled = toggleNegation(clause.text)!;
      const premise = flipped
        ? s.text.slice(0, clause.start) + toggled + s.text.slice(clause.start + clause.text.length)
        : s.text;
      const label = out.length % 3;
      let hypothesis: string;
      if (label === 0) hypothesis = flipped ? toggled : clause.text;
      else if (label === 2) hypothesis = flipped ? clause.text : toggled;
      else {
        const other = nearby(
          rng,
          chapters.get(s.chapter)!,
          s.index,
          2,
          10,
          (o) => o.text.length <= maxChars && negatableClause(o.text, false) !== undefined,
        );
        if (!other) return;
        const c = negatableClause(other.text, false)!.text;
        hypothesis = rng.next() < 0.5 ? toggleNegation(c)! : c;
      }
      out.push({
        premise,
        hypothesis: asSentence(hypothesis),
        label,
        chapter: s.chapter,
        index: s.index,
      });
    });
    return out;
  };
  return {
    kind: "entailment",
    numClasses: 3,
    labelNames: [...ENTAILMENT_LABELS],
    train: build("train"),
    val: build("val"),
    test: build("test"),
  };
}
