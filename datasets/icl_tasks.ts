/**
 * Seeded task generators for GPT-3's in-context-learning experiments (Brown et al. 2020,
 * §3.9), sized for the course's character-level models, and a mixture of natural text and
 * task-formatted text to pre-train on.
 *
 * **Word scrambling** ({@link scrambleTask}) on words of *Moby-Dick* ({@link mobyDickWords}):
 * cycle letters (`"lyinevitab"` → `"inevitably"`), anagrams keeping the first and last letter
 * (A1) or the first two and last two (A2), a random punctuation or space character inserted
 * between every two letters (`"s.u!c;c!e.s s i'o:n"` → `"succession"`), and reversed words
 * (`"stcejbo"` → `"objects"`). An item is `{input, target}`; words the transform cannot change
 * (a palindrome reversed, "book" as A1) are left out, so the input never already is the answer.
 *
 * **Arithmetic** ({@link arithmeticTask}): two-digit addition and subtraction, as
 * `"What is 48 plus 76?"` → `"124"` or compactly `"48+76="` → `"124"`, on a seeded split of all
 * 8,100 ordered pairs into training and held-out pairs ({@link arithmeticPairs}).
 *
 * **Pure in-context tasks** ({@link pureIclSequences}, {@link pureIclEpisode}): every sequence
 * draws a fresh random rule, so nothing about it can be memorised and only the demonstrations
 * tell the model the answer; without them the accuracy is at chance by construction. A
 * *mapping* sends 6 random inputs (nonsense words or symbols) to 3 labels drawn from a small
 * label set, 2 inputs per label; a *permutation* applies a random letter permutation to short
 * strings.
 *
 * **Mixtures** ({@link buildMixture}, {@link mixtureTokens}): natural text interleaved with
 * task blocks at a chosen share of characters, as one stream for pre-training. For a
 * character-level model every character must be in the tokenizer's vocabulary; "⇒", ">", "=",
 * "+" and "/" never occur in *Moby-Dick*, so {@link validateAlphabet} checks formats and blocks
 * and names the offending character.
 *
 * @module
 */
import { loadMobyDick, mobyDickChapters } from "./moby_dick.ts";
import { chapterSplit, type SplitName } from "./story_cloze.ts";
import { Rng } from "../lib/random.ts";
import {
  CHAR_FORMAT,
  formatDemonstration,
  type IclExample,
  type PromptFormat,
  resolveFormat,
} from "../lib/eval/icl_prompts.ts";
import type { IclTask } from "../lib/eval/icl_experiments.ts";

// ---------------------------------------------------------------------------------------------
// Moby-Dick text and words
// ---------------------------------------------------------------------------------------------

/**
 * The text of the numbered chapters (and the Epilogue) of one split (see
 * datasets/story_cloze.ts: chapter numbers ending in 0 are test, in 5 validation, the rest
 * training), joined by blank lines. "heldOut" is validation and test together.
 */
export function mobyDickText(split: SplitName | "heldOut"): string {
  return mobyDickChapters()
    .filter((c) => /^\d+$/.test(c.chapter) || c.chapter === "Epilogue")
    .filter((c) => {
      const s = chapterSplit(c.chapter);
      return split === "heldOut" ? s !== "train" : s === split;
    })
    .map((c) => c.text.trim())
    .join("\n\n\n");
}

let alphabetCache: string[] | undefined;

/** Every distinct character of the whole book: the vocabulary of its CharTokenizer. */
export function mobyDickAlphabet(): string[] {
  alphabetCache ??= [...new Set(loadMobyDick())].sort((a, b) =>
    a.codePointAt(0)! - b.codePointAt(0)!
  );
  return [...alphabetCache];
}

/** Options of {@link mobyDickWords}. */
export interface WordListOptions {
  /** Least number of occurrences (default 3). */
  minCount?: number;
  /** Shortest word (default 4 letters). */
  minLength?: number;
  /** Longest word (default 10 letters). */
  maxLength?: number;
  /**
   * Where evaluation words come from. "words" (default): the words that qualify in the training
   * chapters are split at random, `evalFraction` of them held out (the model has read every
   * word, but never a held-out one scrambled). "chapters": the words that qualify in the held-out
   * chapters (validation + test) but not in the training chapters (113).
   */
  heldOut?: "words" | "chapters";
  /** Share of words held out for evaluation with heldOut "words" (default 0.2). */
  evalFraction?: number;
  /** Seed of the split (default 0). */
  seed?: number;
}

/** Training and evaluation words; no word is in both. */
export interface WordLists {
  /** Words for training items, alphabetical. */
  train: string[];
  /** Held-out words for evaluation items, alphabetical. */
  eval: string[];
}

/** Counts lower-case alphabetic words of the given lengths in chapters of one side. */
function countWords(heldOut: boolean, minLength: number, maxLength: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of mobyDickChapters()) {
    if (!/^\d+$/.test(c.chapter) && c.chapter !== "Epilogue") continue;
    if ((chapterSplit(c.chapter) !== "train") !== heldOut) continue;
    // Capitalised forms are left out ("Ahab", sentence starts): the word must appear lower-case.
    for (const w of c.text.match(/[A-Za-z]+/g) ?? []) {
      if (w.length >= minLength && w.length <= maxLength && /^[a-z]+$/.test(w)) {
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
    }
  }
  return counts;
}

/**
 * The vocabulary of the scrambling tasks: lower-case alphabetic words of 4–10 letters occurring
 * at least 3 times in the training chapters of *Moby-Dick*, split into training and held-out
 * evaluation words (see {@link WordListOptions.heldOut}): 3,867 / 967 with the defaults (seed
 * 0); 4,834 / 113 with heldOut "chapters".
 */
export function mobyDickWords(options: WordListOptions = {}): WordLists {
  const minCount = options.minCount ?? 3, minLength = options.minLength ?? 4;
  const maxLength = options.maxLength ?? 10, evalFraction = options.evalFraction ?? 0.2;
  const heldOut = options.heldOut ?? "words";
  if (!(evalFraction > 0 && evalFraction < 1)) {
    throw new Error(`mobyDickWords: evalFraction must be in (0, 1), got ${evalFraction}`);
  }
  if (heldOut !== "words" && heldOut !== "chapters") {
    throw new Error(`mobyDickWords: heldOut must be "words" or "chapters", got ${heldOut}`);
  }
  const qualifying = (m: Map<string, number>) =>
    [...m].filter(([, n]) => n >= minCount).map(([w]) => w).sort();
  const trainSide = qualifying(countWords(false, minLength, maxLength));
  if (heldOut === "chapters") {
    const inTrain = new Set(trainSide);
    const evalWords = qualifying(countWords(true, minLength, maxLength)).filter((w) =>
      !inTrain.has(w)
    );
    return { train: trainSide, eval: evalWords };
  }
  const shuffled = new Rng(options.seed ?? 0).shuffle([...trainSide]);
  const cut = Math.round(shuffled.length * evalFraction);
  return { train: shuffled.slice(cut).sort(), eval: shuffled.slice(0, cut).sort() };
}

// ---------------------------------------------------------------------------------------------
// Word scrambling
// ---------------------------------------------------------------------------------------------

/** GPT-3's five word-scrambling tasks. */
export type ScrambleKind = "cycle" | "anagram1" | "anagram2" | "insertion" | "reversed";

/** All scrambling kinds, in GPT-3's order (CL, A1, A2, RI, RW). */
export const SCRAMBLE_KINDS: readonly ScrambleKind[] = [
  "cycle",
  "anagram1",
  "anagram2",
  "insertion",
  "reversed",
];

/** A task description per kind (GPT-3's wording for the first; all in Moby-Dick's alphabet). */
export const SCRAMBLE_DESCRIPTIONS: Readonly<Record<ScrambleKind, string>> = Object.freeze({
  cycle: "Please unscramble the letters into a word, and write that word:",
  anagram1: "Please unscramble the letters into a word, and write that word:",
  anagram2: "Please unscramble the letters into a word, and write that word:",
  insertion: "Please remove the symbols from the letters, and write the word:",
  reversed: "Please reverse the letters, and write the word:",
});

/**
 * Punctuation and space put between letters by the insertion task: GPT-3's idea, restricted
 * to characters of *Moby-Dick* ("/" is not one) and without "-", which {@link CHAR_FORMAT}'s
 * arrow uses.
 */
export const INSERTION_CHARS: readonly string[] = [" ", ".", ",", "!", "?", ";", ":", "'"];

/** `word` rotated left by `shift`: rotateLeft("inevitably", 8) = "lyinevitab". */
export function rotateLeft(word: string, shift: number): string {
  const n = word.length;
  const s = ((shift % n) + n) % n;
  return word.slice(s) + word.slice(0, s);
}

/**
 * Cycle letters: `word` rotated by a random amount that changes it; undefined when no rotation
 * does ("aaaa"). Rotating the result right by the same amount gives the word back.
 */
export function cycleLetters(word: string, rng: Rng): string | undefined {
  const shifts: number[] = [];
  for (let s = 1; s < word.length; s++) if (rotateLeft(word, s) !== word) shifts.push(s);
  return shifts.length ? rotateLeft(word, shifts[rng.int(shifts.length)]) : undefined;
}

/**
 * An anagram keeping the first and last `keep` letters in place (A1: keep 1, A2: keep 2) and
 * shuffling the rest so that the word changes; undefined when it cannot (fewer than two
 * different letters in the middle).
 */
export function anagramKeeping(word: string, keep: number, rng: Rng): string | undefined {
  const middle = [...word.slice(keep, word.length - keep)];
  if (word.length < 2 * keep + 2 || new Set(middle).size < 2) return undefined;
  const head = word.slice(0, keep), tail = word.slice(word.length - keep);
  // A shuffle returns the same order with probability ≤ 1/2 here, so a few tries suffice; the
  // fallback (a rotation by one, which only leaves a constant string unchanged) keeps it total.
  for (let tries = 0; tries < 32; tries++) {
    const out = head + rng.shuffle([...middle]).join("") + tail;
    if (out !== word) return out;
  }
  return head + rotateLeft(middle.join(""), 1) + tail;
}

/** Random insertion: one character of `chars`, drawn anew each time, between every two letters. */
export function randomInsertion(
  word: string,
  rng: Rng,
  chars: readonly string[] = INSERTION_CHARS,
): string {
  if (chars.length === 0) throw new Error("randomInsertion: no characters to insert");
  const letters = [...word];
  return letters.map((c, i) => i === 0 ? c : chars[rng.int(chars.length)] + c).join("");
}

/** The letters of `word` in reverse order. */
export function reverseWord(word: string): string {
  return [...word].reverse().join("");
}

/** Options of {@link scrambleTask}. */
export interface ScrambleOptions {
  /** Seed of the random transforms (default 0). */
  seed?: number;
  /** Characters the insertion task puts between letters (default {@link INSERTION_CHARS}). */
  insertionChars?: readonly string[];
}

/**
 * One item `{input: scrambled, target: word}` per word, in the order given, leaving out the
 * words the transform cannot change. The same words and seed give the same items.
 */
export function scrambleTask(
  words: readonly string[],
  kind: ScrambleKind,
  options: ScrambleOptions = {},
): IclExample[] {
  const rng = new Rng(options.seed ?? 0);
  const chars = options.insertionChars ?? INSERTION_CHARS;
  const transform: Record<ScrambleKind, (w: string) => string | undefined> = {
    cycle: (w) => cycleLetters(w, rng),
    anagram1: (w) => anagramKeeping(w, 1, rng),
    anagram2: (w) => anagramKeeping(w, 2, rng),
    insertion: (w) => randomInsertion(w, rng, chars),
    reversed: (w) => {
      const r = reverseWord(w);
      return r === w ? undefined : r;
    },
  };
  if (!transform[kind]) {
    throw new Error(`scrambleTask: unknown kind "${kind}"; known: ${SCRAMBLE_KINDS.join(", ")}`);
  }
  const out: IclExample[] = [];
  for (const w of words) {
    const input = transform[kind](w);
    if (input !== undefined) out.push({ input, target: w });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Two-digit arithmetic
// ---------------------------------------------------------------------------------------------

/** An ordered pair of operands. */
export type Operands = [number, number];

/** Training and held-out operand pairs; no pair is in both. */
export interface ArithmeticPairs {
  /** Pairs for training items. */
  train: Operands[];
  /** Held-out pairs for evaluation. */
  eval: Operands[];
}

/**
 * All 8,100 ordered pairs of two-digit numbers (10–99), shuffled with `seed` and split:
 * `evalFraction` (default 0.1) held out. The same split serves addition and subtraction.
 */
export function arithmeticPairs(
  options: { seed?: number; evalFraction?: number } = {},
): ArithmeticPairs {
  const evalFraction = options.evalFraction ?? 0.1;
  if (!(evalFraction > 0 && evalFraction < 1)) {
    throw new Error(`arithmeticPairs: evalFraction must be in (0, 1), got ${evalFraction}`);
  }
  const pairs: Operands[] = [];
  for (let a = 10; a <= 99; a++) for (let b = 10; b <= 99; b++) pairs.push([a, b]);
  new Rng(options.seed ?? 0).shuffle(pairs);
  const cut = Math.round(pairs.length * evalFraction);
  return { train: pairs.slice(cut), eval: pairs.slice(0, cut) };
}

/** Options of {@link arithmeticTask}. */
export interface ArithmeticOptions {
  /** "question": "What is 48 plus 76?"; "compact": "48+76=" (use an empty arrow). */
  style?: "question" | "compact";
  /** Compact symbols (default "+", "-", "="; "+" and "=" are not in Moby-Dick's alphabet). */
  symbols?: { plus?: string; minus?: string; equals?: string };
}

/** The layout for compact arithmetic: no arrow, so the prompt ends with "48+76=". */
export const COMPACT_ARITHMETIC_FORMAT: PromptFormat = Object.freeze({
  arrow: "",
  separator: "\n",
  descriptionSeparator: "\n",
});

/** One item per pair: a + b ("plus") or a − b ("minus", negative results written "-28"). */
export function arithmeticTask(
  pairs: readonly Operands[],
  op: "plus" | "minus",
  options: ArithmeticOptions = {},
): IclExample[] {
  const style = options.style ?? "question";
  if (op !== "plus" && op !== "minus") {
    throw new Error(`arithmeticTask: op must be "plus" or "minus", got ${op}`);
  }
  if (style !== "question" && style !== "compact") {
    throw new Error(`arithmeticTask: style must be "question" or "compact", got ${style}`);
  }
  const sym = { plus: "+", minus: "-", equals: "=", ...options.symbols };
  return pairs.map(([a, b]) => ({
    input: style === "question" ? `What is ${a} ${op} ${b}?` : `${a}${sym[op]}${b}${sym.equals}`,
    target: String(op === "plus" ? a + b : a - b),
  }));
}

// ---------------------------------------------------------------------------------------------
// Pure in-context tasks: a fresh random rule per sequence
// ---------------------------------------------------------------------------------------------

/** Random inputs → labels, fresh per sequence. */
export interface MappingTask {
  /** Discriminant. */
  kind: "mapping";
  /** Inputs are drawn from this list, or are random consonant-vowel-consonant "nonsense" words. */
  inputs: readonly string[] | "nonsense";
  /** Inputs per sequence (default 6). */
  numInputs: number;
  /** The label set (default {@link DEFAULT_LABELS}). */
  labels: readonly string[];
  /** Labels per sequence, drawn from the label set (default 3); must divide numInputs. */
  numLabels: number;
}

/** A random permutation of an alphabet applied to short strings, fresh per sequence. */
export interface PermutationTask {
  /** Discriminant. */
  kind: "permutation";
  /** The letters permuted (default "abcdefgh"). */
  alphabet: string;
  /** Shortest string (default 2). */
  minLength: number;
  /** Longest string (default 4). */
  maxLength: number;
}

/** A task whose rule exists only in the context. */
export type PureIclTask = MappingTask | PermutationTask;

/** Default label set of {@link mappingTask}: short words, all in Moby-Dick's alphabet. */
export const DEFAULT_LABELS: readonly string[] = ["red", "green", "blue", "black", "white", "gray"];

/** A mapping task with defaults filled in and checked. */
export function mappingTask(options: Partial<Omit<MappingTask, "kind">> = {}): MappingTask {
  const t: MappingTask = {
    kind: "mapping",
    inputs: "nonsense",
    numInputs: 6,
    labels: DEFAULT_LABELS,
    numLabels: 3,
    ...options,
  };
  if (!Number.isInteger(t.numLabels) || t.numLabels < 2 || t.numLabels > t.labels.length) {
    throw new Error(
      `mappingTask: numLabels must be an integer in [2, ${t.labels.length}] (the label set), ` +
        `got ${t.numLabels}`,
    );
  }
  if (new Set(t.labels).size !== t.labels.length) throw new Error("mappingTask: duplicate labels");
  if (!Number.isInteger(t.numInputs) || t.numInputs % t.numLabels !== 0) {
    throw new Error(
      `mappingTask: numInputs (${t.numInputs}) must be a multiple of numLabels (${t.numLabels}) ` +
        "so every label gets the same number of inputs",
    );
  }
  const nonsenseWords = CONSONANTS.length * VOWELS.length * CONSONANTS.length;
  if (t.inputs === "nonsense" && t.numInputs > nonsenseWords) {
    // sampleRule draws distinct words until it has numInputs: past this it would never stop.
    throw new Error(
      `mappingTask: numInputs (${t.numInputs}) exceeds the ${nonsenseWords} distinct ` +
        "consonant-vowel-consonant words; give an input list or fewer inputs",
    );
  }
  if (t.inputs !== "nonsense") {
    if (new Set(t.inputs).size !== t.inputs.length) {
      throw new Error("mappingTask: duplicate inputs");
    }
    if (t.inputs.length < t.numInputs) {
      throw new Error(
        `mappingTask: ${t.numInputs} inputs per sequence from a list of ${t.inputs.length}`,
      );
    }
  }
  return t;
}

/** A permutation task with defaults filled in and checked. */
export function permutationTask(
  options: Partial<Omit<PermutationTask, "kind">> = {},
): PermutationTask {
  const t: PermutationTask = {
    kind: "permutation",
    alphabet: "abcdefgh",
    minLength: 2,
    maxLength: 4,
    ...options,
  };
  const letters = [...t.alphabet];
  if (letters.length < 2 || new Set(letters).size !== letters.length) {
    throw new Error(
      `permutationTask: the alphabet needs ≥ 2 distinct letters, got "${t.alphabet}"`,
    );
  }
  if (!(Number.isInteger(t.minLength) && t.minLength >= 1 && t.maxLength >= t.minLength)) {
    throw new Error(
      `permutationTask: need 1 ≤ minLength ≤ maxLength, got ${t.minLength}, ${t.maxLength}`,
    );
  }
  return t;
}

const CONSONANTS = "bcdfghjklmnprstvwz", VOWELS = "aeiou";

/** One random rule of a pure-ICL task: which inputs exist and the answer to each. */
export interface Rule {
  /** The rule's inputs (mapping: all of them; permutation: none fixed, strings are random). */
  inputs: readonly string[];
  /** The labels in play (mapping); empty for a permutation. */
  labels: readonly string[];
  /** The answer to an input. */
  apply(input: string): string;
  /** A random input the rule applies to. */
  sampleInput(rng: Rng): string;
}

/**
 * A fresh rule. Mapping: `numInputs` distinct inputs, `numLabels` labels drawn from the label
 * set, each label given to exactly numInputs / numLabels inputs at random. Permutation: a
 * uniformly random permutation of the alphabet.
 */
export function sampleRule(task: PureIclTask, rng: Rng): Rule {
  if (task.kind === "mapping") {
    const inputs: string[] = [];
    if (task.inputs === "nonsense") {
      const seen = new Set<string>();
      while (inputs.length < task.numInputs) {
        const w = CONSONANTS[rng.int(CONSONANTS.length)] + VOWELS[rng.int(VOWELS.length)] +
          CONSONANTS[rng.int(CONSONANTS.length)];
        if (!seen.has(w)) seen.add(w), inputs.push(w);
      }
    } else {
      inputs.push(...rng.shuffle([...task.inputs]).slice(0, task.numInputs));
    }
    const labels = rng.shuffle([...task.labels]).slice(0, task.numLabels);
    const per = task.numInputs / task.numLabels;
    // Balanced: label j goes to `per` inputs; shuffling the assignment makes it uniform.
    const assigned = rng.shuffle(inputs.map((_, i) => labels[Math.floor(i / per)]));
    const table = new Map(inputs.map((x, i) => [x, assigned[i]]));
    return {
      inputs,
      labels,
      apply: (x) => {
        const y = table.get(x);
        if (y === undefined) throw new Error(`mapping rule: unknown input ${JSON.stringify(x)}`);
        return y;
      },
      sampleInput: (r) => inputs[r.int(inputs.length)],
    };
  }
  const letters = [...task.alphabet];
  const image = rng.shuffle([...letters]);
  const table = new Map(letters.map((c, i) => [c, image[i]]));
  return {
    inputs: [],
    labels: [],
    apply: (x) =>
      [...x].map((c) => {
        const y = table.get(c);
        if (y === undefined) {
          throw new Error(`permutation rule: ${JSON.stringify(c)} not in alphabet`);
        }
        return y;
      }).join(""),
    sampleInput: (r) => {
      const n = task.minLength + r.int(task.maxLength - task.minLength + 1);
      return Array.from({ length: n }, () => letters[r.int(letters.length)]).join("");
    },
  };
}

/**
 * `demos` demonstrations of one fresh rule (inputs drawn uniformly), joined by the separator:
 * the body of a pure-ICL training sequence.
 */
export function freshRuleBlock(
  task: PureIclTask,
  demos: number,
  rng: Rng,
  format: PromptFormat,
): string {
  const rule = sampleRule(task, rng);
  return Array.from({ length: demos }, () => {
    const input = rule.sampleInput(rng);
    return formatDemonstration({ input, target: rule.apply(input) }, format);
  }).join(format.separator);
}

/** Options of {@link pureIclSequences}. */
export interface SequenceOptions {
  /** Number of sequences. */
  count: number;
  /** Demonstrations per sequence (default 16). */
  demos?: number;
  /** Layout; the same one the harness will use (default {@link CHAR_FORMAT}). */
  format?: Partial<PromptFormat>;
  /** Seed (default 0). */
  seed?: number;
  /** A description line before each sequence's demonstrations (default none). */
  description?: string;
}

/**
 * Training sequences: each draws a fresh {@link Rule} and shows `demos` demonstrations of it
 * (inputs drawn uniformly), laid out exactly as the harness lays out demonstrations.
 */
export function pureIclSequences(task: PureIclTask, options: SequenceOptions): string[] {
  const f = resolveFormat({ ...CHAR_FORMAT, ...options.format });
  const demos = options.demos ?? 16;
  if (!Number.isInteger(options.count) || options.count < 0) {
    throw new Error(`pureIclSequences: count must be a non-negative integer, got ${options.count}`);
  }
  const rng = new Rng(options.seed ?? 0);
  return Array.from({ length: options.count }, () => {
    const body = freshRuleBlock(task, demos, rng, f);
    return options.description ? options.description + f.descriptionSeparator + body : body;
  });
}

/**
 * {@link pureIclSequences} joined into one stream for pre-training, sequences separated by
 * `sequenceSeparator` (default: the format's separator twice, a blank line).
 */
export function pureIclStream(
  task: PureIclTask,
  options: SequenceOptions & { sequenceSeparator?: string },
): string {
  const f = resolveFormat({ ...CHAR_FORMAT, ...options.format });
  const sep = options.sequenceSeparator ?? f.separator + f.separator;
  return pureIclSequences(task, options).join(sep) + sep;
}

/** An evaluation task for {@link evaluateIcl}-style harnesses, with its rule. */
export interface PureIclEpisode extends IclTask {
  /** The rule the pool and the queries share. */
  rule: Rule;
}

/** Options of {@link pureIclEpisode}. */
export interface EpisodeOptions {
  /** Seed of the rule and the items (default 0). */
  seed?: number;
  /** Demonstrations in the pool (default 32). */
  poolSize?: number;
  /** Queries (default 24). */
  queries?: number;
}

/**
 * One rule, a pool of demonstrations and queries that share it. Mapping: pool inputs drawn
 * uniformly, queries cycling through the inputs in shuffled rounds (so labels are balanced when
 * `queries` is a multiple of numInputs), candidates = the rule's labels (chance = 1 /
 * numLabels), `sharedInputs` set (a query must be one of the inputs the demonstrations define).
 * Permutation: random strings; query strings never occur in the pool; no candidates (score by
 * exact match).
 */
export function pureIclEpisode(task: PureIclTask, options: EpisodeOptions = {}): PureIclEpisode {
  const rng = new Rng(options.seed ?? 0);
  const poolSize = options.poolSize ?? 32, count = options.queries ?? 24;
  const rule = sampleRule(task, rng);
  const item = (input: string): IclExample => ({ input, target: rule.apply(input) });
  const pool = Array.from({ length: poolSize }, () => item(rule.sampleInput(rng)));
  if (task.kind === "mapping") {
    const queries: IclExample[] = [];
    while (queries.length < count) {
      for (const x of rng.shuffle([...rule.inputs])) {
        if (queries.length < count) queries.push(item(x));
      }
    }
    return { pool, queries, candidates: [...rule.labels], sharedInputs: true, rule };
  }
  const inPool = new Set(pool.map((e) => e.input));
  const queries: IclExample[] = [];
  for (let tries = 0; queries.length < count; tries++) {
    if (tries > 1000 * count) {
      throw new Error("pureIclEpisode: too few distinct strings outside the pool; lengthen them");
    }
    const x = rule.sampleInput(rng);
    if (!inPool.has(x)) queries.push(item(x));
  }
  return { pool, queries, rule };
}

// ---------------------------------------------------------------------------------------------
// Alphabet checks and mixtures
// ---------------------------------------------------------------------------------------------

/** Thrown when text holds a character outside the alphabet (the tokenizer's vocabulary). */
export class AlphabetError extends Error {
  /** Creates the error. */
  constructor(readonly symbol: string, readonly where: string, alphabetSize: number) {
    const code = symbol.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    super(
      `${where} contains ${JSON.stringify(symbol)} (U+${code}), which is not in the alphabet of ` +
        `${alphabetSize} characters; choose another one (Moby-Dick, for one, has no "⇒", ">", ` +
        `"=", "+" or "/")`,
    );
    this.name = "AlphabetError";
  }
}

/** An alphabet: characters, or a tokenizer with `symbols` (a CharTokenizer). */
export type Alphabet = Iterable<string> | { readonly symbols: readonly string[] };

function alphabetSet(alphabet: Alphabet): Set<string> {
  if (typeof alphabet === "string") return new Set(alphabet);
  return new Set("symbols" in alphabet ? alphabet.symbols : alphabet);
}

/**
 * Checks that every character of `text` is in `alphabet`; `where` names the text in the error
 * (e.g. `format.arrow " => "`).
 *
 * @throws {AlphabetError} Naming the first bad character.
 */
export function validateAlphabet(text: string, alphabet: Alphabet, where: string): void {
  const set = alphabet instanceof Set ? alphabet : alphabetSet(alphabet);
  for (const c of text) if (!set.has(c)) throw new AlphabetError(c, where, set.size);
}

/** Checks the arrow and the separators of a format against an alphabet. */
export function validateFormat(format: Partial<PromptFormat>, alphabet: Alphabet): void {
  const f = resolveFormat(format), set = alphabetSet(alphabet);
  for (const key of ["arrow", "separator", "descriptionSeparator"] as const) {
    validateAlphabet(f[key], set, `format.${key} ${JSON.stringify(f[key])}`);
  }
}

/**
 * One task of a mixture: examples to draw demonstrations from, or (for tasks with a fresh rule
 * per block, see {@link pureIclSource}) a function that writes a whole block.
 */
export interface TaskSource {
  /** A name for errors and segment labels, e.g. "cycle letters". */
  name: string;
  /** The examples demonstrations are drawn from (unused when `block` is given). */
  examples?: readonly IclExample[];
  /** A description line put first in every block (default none). */
  description?: string;
  /** Writes a block of `demos` demonstrations itself (instead of drawing from `examples`). */
  block?: (rng: Rng, demos: number, format: PromptFormat) => string;
}

/** A mixture source whose every block is one pure-ICL sequence with a fresh rule. */
export function pureIclSource(task: PureIclTask, name = `pure ICL (${task.kind})`): TaskSource {
  return {
    name,
    block: (rng, demos, format) => freshRuleBlock(task, demos, rng, format),
  };
}

/**
 * One task block: the source's description (if any) and `demos` random demonstrations (or the
 * source's own block), laid out as the harness does.
 */
export function taskBlock(
  source: TaskSource,
  demos: number,
  rng: Rng,
  format: Partial<PromptFormat> = CHAR_FORMAT,
): string {
  const f = resolveFormat(format);
  let body: string;
  if (source.block) {
    body = source.block(rng, demos, f);
  } else {
    const examples = source.examples ?? [];
    if (examples.length === 0) throw new Error(`taskBlock: task "${source.name}" has no examples`);
    body = Array.from(
      { length: demos },
      () => formatDemonstration(examples[rng.int(examples.length)], f),
    ).join(f.separator);
  }
  return source.description ? source.description + f.descriptionSeparator + body : body;
}

/** Options of {@link buildMixture}. */
export interface MixtureOptions {
  /** Natural text, read in order from the start (wrapping around); e.g. mobyDickText("train"). */
  natural: string;
  /** Tasks to cut blocks from (a source is picked uniformly per block). */
  sources: readonly TaskSource[];
  /** Target share of characters that belong to task blocks, in [0, 1]. */
  rate: number;
  /** Length of the mixture in characters. */
  totalChars: number;
  /** Seed (default 0). */
  seed?: number;
  /** Layout of the task blocks (default {@link CHAR_FORMAT}). */
  format?: Partial<PromptFormat>;
  /** Demonstrations per block, [min, max] (default [4, 16]). */
  demos?: [number, number];
  /** Characters per natural chunk, [min, max], extended to the next space (default [200, 1000]). */
  chunkChars?: [number, number];
  /** Between segments (default "\n\n"). */
  segmentSeparator?: string;
  /** When given, the format and every segment are checked against it ({@link AlphabetError}). */
  alphabet?: Alphabet;
}

/** A segment of a mixture. */
export interface Segment {
  /** Natural text or a task block. */
  kind: "natural" | "task";
  /** For task blocks, the source's name. */
  source?: string;
  /** First character (inclusive). */
  start: number;
  /** Last character (exclusive), including the separator after it. */
  end: number;
}

/** What {@link buildMixture} made. */
export interface Mixture {
  /** The mixed text, exactly totalChars long. */
  text: string;
  /** Characters in task blocks (with their separators). */
  taskChars: number;
  /** Characters of natural text (with their separators). */
  naturalChars: number;
  /** The segments, in order. */
  segments: Segment[];
}

/**
 * Natural text and task blocks interleaved so that task blocks make up `rate` of the
 * characters: the next segment is a task block while the task share so far is below the rate,
 * natural text otherwise, so the share stays within one segment of the target all along (and the
 * random lengths of both kinds of segments keep the pattern irregular). Natural chunks follow
 * each other through the text, so the model reads the book in order between blocks.
 */
export function buildMixture(options: MixtureOptions): Mixture {
  const { natural, sources, rate, totalChars } = options;
  const f = resolveFormat({ ...CHAR_FORMAT, ...options.format });
  const [minDemos, maxDemos] = options.demos ?? [4, 16];
  const [minChunk, maxChunk] = options.chunkChars ?? [200, 1000];
  const sep = options.segmentSeparator ?? "\n\n";
  if (!(rate >= 0 && rate <= 1)) {
    throw new Error(`buildMixture: rate must be in [0, 1], got ${rate}`);
  }
  if (!Number.isInteger(totalChars) || totalChars < 1) {
    throw new Error(`buildMixture: totalChars must be a positive integer, got ${totalChars}`);
  }
  if (rate > 0 && sources.length === 0) {
    throw new Error("buildMixture: rate > 0 but no task sources");
  }
  if (rate < 1 && natural.length === 0) {
    throw new Error("buildMixture: rate < 1 but no natural text");
  }
  if (!(1 <= minDemos && minDemos <= maxDemos) || !(1 <= minChunk && minChunk <= maxChunk)) {
    throw new Error("buildMixture: demos and chunkChars must be [min, max] with 1 ≤ min ≤ max");
  }
  const set = options.alphabet ? alphabetSet(options.alphabet) : undefined;
  if (set) {
    validateFormat(f, set);
    validateAlphabet(sep, set, `segmentSeparator ${JSON.stringify(sep)}`);
  }
  const rng = new Rng(options.seed ?? 0);
  const parts: string[] = [], segments: Segment[] = [];
  let total = 0, taskChars = 0, cursor = 0;
  while (total < totalChars) {
    const task = rate === 1 || (rate > 0 && taskChars < rate * total);
    let text: string, source: string | undefined;
    if (task) {
      const s = sources[rng.int(sources.length)];
      text = taskBlock(s, minDemos + rng.int(maxDemos - minDemos + 1), rng, f);
      source = s.name;
      if (set) validateAlphabet(text, set, `a block of task "${s.name}"`);
    } else {
      if (cursor >= natural.length) cursor = 0;
      const want = minChunk + rng.int(maxChunk - minChunk + 1);
      // End at whitespace so no word is cut in two (or at the end of the text).
      let end = Math.min(natural.length, cursor + want);
      while (end < natural.length && !/\s/.test(natural[end])) end++;
      text = natural.slice(cursor, end).trim();
      cursor = end;
      if (!text) continue;
      if (set) validateAlphabet(text, set, `natural text near character ${cursor}`);
    }
    const piece = text + sep;
    const end = Math.min(totalChars, total + piece.length);
    segments.push({ kind: task ? "task" : "natural", source, start: total, end });
    parts.push(piece.slice(0, end - total));
    if (task) taskChars += end - total;
    total = end;
  }
  return { text: parts.join(""), taskChars, naturalChars: total - taskChars, segments };
}

/**
 * {@link buildMixture} checked against a character tokenizer's vocabulary and encoded: one
 * token stream for pre-training (e.g. with lib/data.ts's splitTokens and the Trainer).
 */
export function mixtureTokens(
  tokenizer: { readonly symbols: readonly string[]; encode(text: string): Int32Array },
  options: Omit<MixtureOptions, "alphabet">,
): Mixture & { tokens: Int32Array } {
  const mixture = buildMixture({ ...options, alphabet: tokenizer });
  return { ...mixture, tokens: tokenizer.encode(mixture.text) };
}
