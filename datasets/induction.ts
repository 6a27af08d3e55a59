/**
 * Training data for the in-context learning mechanism chapter (notebook 06b): a stream in which
 * the only way to predict well is to look back into the context.
 *
 * Two kinds of block, joined by newlines:
 *
 * - **copy blocks**: a run of distinct random letters, then the same run again (and again). The
 *   first copy is unpredictable; every later copy is predictable only by finding the previous
 *   occurrence of the current letter and reading what came after it, which is what an induction
 *   head does. The run length varies, so no fixed offset works.
 * - **mapping blocks**: a fresh rule per block (6 lowercase letters, each sent to one of 3 digits
 *   drawn from the 10), shown as demonstrations `k7 q2 f1 k7 …`. The digit after a letter is
 *   predictable only from an earlier demonstration of the same letter.
 *
 * Rules are split by a hash into a training set and a held-out set, so the notebook can ask the
 * model rules it never saw during training (the meta-learning view's "new task").
 *
 * @module
 */
import { Rng } from "../lib/random.ts";
import type { IclExample, PromptFormat } from "../lib/eval/icl_prompts.ts";
import type { IclTask } from "../lib/eval/icl_experiments.ts";

/** Lowercase letters: the inputs of mapping rules. */
export const LOWER = "abcdefghijklmnopqrstuvwxyz";
/** Lowercase and uppercase letters: the symbols of copy blocks. */
export const LETTERS = LOWER + LOWER.toUpperCase();
/** The label set of mapping rules. */
export const DIGITS = "0123456789";
/** Every symbol the stream uses: letters, digits, space and newline. */
export const INDUCTION_ALPHABET: readonly string[] = [..."\n " + DIGITS + LETTERS];
/** The layout of mapping demonstrations: `k7 q2 …` (no arrow, a space between demonstrations). */
export const MAPPING_LAYOUT: PromptFormat = Object.freeze({
  arrow: "",
  separator: " ",
  descriptionSeparator: "\n",
});

/** Inputs per mapping rule. */
export const RULE_INPUTS = 6;
/** Digits in play per mapping rule (each gets RULE_INPUTS / RULE_LABELS inputs). */
export const RULE_LABELS = 3;

/** One mapping rule: letter → digit. */
export interface LetterRule {
  /** The rule's inputs, in the order drawn. */
  inputs: string[];
  /** The digits in play. */
  labels: string[];
  /** input → digit. */
  table: Map<string, string>;
}

/** Which rules a generator may draw. */
export type RuleSplit = "train" | "heldOut";

/** Every HELD_OUT_EVERY-th rule (by hash) is held out of training. */
export const HELD_OUT_EVERY = 8;

/**
 * A rule's canonical text (inputs sorted, each with its digit: `a3 f7 k3 …`), the key of the
 * train/held-out split.
 */
export function ruleKey(rule: LetterRule): string {
  return [...rule.table].sort(([a], [b]) => a.localeCompare(b)).map(([x, y]) => x + y).join(" ");
}

/** FNV-1a hash of a string (32 bits). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Which split a rule belongs to: held out when its key's hash is 0 modulo {@link HELD_OUT_EVERY}. */
export function ruleSplit(rule: LetterRule): RuleSplit {
  return fnv1a(ruleKey(rule)) % HELD_OUT_EVERY === 0 ? "heldOut" : "train";
}

/**
 * A fresh random rule of the given split: {@link RULE_INPUTS} distinct lowercase letters, each
 * given one of {@link RULE_LABELS} distinct digits, every digit to the same number of letters.
 * Rules of the other split are rejected and redrawn (about 1 in 8 draws for "train", 7 in 8 for
 * "heldOut", so the loop ends fast).
 */
export function sampleLetterRule(rng: Rng, split: RuleSplit): LetterRule {
  for (let tries = 0; tries < 10_000; tries++) {
    const inputs = rng.shuffle([...LOWER]).slice(0, RULE_INPUTS);
    const labels = rng.shuffle([...DIGITS]).slice(0, RULE_LABELS);
    const per = RULE_INPUTS / RULE_LABELS;
    const assigned = rng.shuffle(inputs.map((_, i) => labels[Math.floor(i / per)]));
    const rule = { inputs, labels, table: new Map(inputs.map((x, i) => [x, assigned[i]])) };
    if (ruleSplit(rule) === split) return rule;
  }
  throw new Error(`sampleLetterRule: no ${split} rule in 10,000 draws`); // unreachable in practice
}

/** `demos` demonstrations of `rule`, inputs drawn uniformly: `k7 q2 f1 …`. */
export function mappingBlock(rule: LetterRule, demos: number, rng: Rng): string {
  return Array.from({ length: demos }, () => {
    const x = rule.inputs[rng.int(rule.inputs.length)];
    return x + rule.table.get(x)!;
  }).join(MAPPING_LAYOUT.separator);
}

/**
 * A copy block: `period` distinct letters drawn from `symbols` (default {@link LETTERS}), written
 * `repeats` times in a row with nothing between the copies.
 */
export function copyBlock(period: number, repeats: number, rng: Rng, symbols = LETTERS): string {
  if (!Number.isInteger(period) || period < 1 || period > symbols.length) {
    throw new RangeError(
      `copyBlock: period must be an integer in [1, ${symbols.length}] (distinct letters), got ${period}`,
    );
  }
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new RangeError(`copyBlock: repeats must be a positive integer, got ${repeats}`);
  }
  const run = rng.shuffle([...symbols]).slice(0, period).join("");
  return run.repeat(repeats);
}

/**
 * A pair block: `pairs` distinct lowercase keys, each given a random value from {@link LETTERS}
 * and {@link DIGITS} (values may repeat), then `length` pairs drawn uniformly, written like
 * mapping demonstrations (`kQ m7 kQ …`). With many possible values, knowing which values are in
 * play helps little: the value after a key is predictable only from that key's earlier pair.
 */
export function pairBlock(pairs: number, length: number, rng: Rng): string {
  if (!Number.isInteger(pairs) || pairs < 1 || pairs > LOWER.length) {
    throw new RangeError(`pairBlock: pairs must be an integer in [1, 26], got ${pairs}`);
  }
  const values = LETTERS + DIGITS;
  const keys = rng.shuffle([...LOWER]).slice(0, pairs);
  const table = new Map(keys.map((k) => [k, values[rng.int(values.length)]]));
  return Array.from({ length }, () => {
    const k = keys[rng.int(keys.length)];
    return k + table.get(k)!;
  }).join(MAPPING_LAYOUT.separator);
}

/** Options of {@link inductionStream}. */
export interface InductionStreamOptions {
  /** Characters to generate at least. */
  chars: number;
  /** Share of blocks that are mapping blocks; default 0.5. */
  mappingShare?: number;
  /** Share of blocks that are pair blocks ({@link pairBlock}); default 0. The rest are copy blocks. */
  pairShare?: number;
  /** Shortest and longest copy period, inclusive (default [4, 24]). */
  period?: [number, number];
  /** Copies of each copy block's run, inclusive range (default [2, 3]). */
  repeats?: [number, number];
  /** Demonstrations per mapping block, inclusive range (default [8, 32]). */
  demos?: [number, number];
  /** Seed (default 0). */
  seed?: number;
}

/** What {@link inductionStream} made. */
export interface InductionStream {
  /** The text: blocks joined by newlines. */
  text: string;
  /** Number of copy, mapping and pair blocks. */
  blocks: { copy: number; mapping: number; pairs: number };
  /** The distinct mapping rules used (their {@link ruleKey}s). */
  ruleKeys: Set<string>;
}

/**
 * The training stream: copy and mapping blocks (mapping rules from the "train" split only), each
 * followed by a newline, until `chars` characters. Copy blocks repeat their run until they are at
 * least twice its length plus up to one more copy, so the second copy is always present.
 */
export function inductionStream(options: InductionStreamOptions): InductionStream {
  const share = options.mappingShare ?? 0.5;
  const pairShare = options.pairShare ?? 0;
  const [pMin, pMax] = options.period ?? [4, 24];
  const [dMin, dMax] = options.demos ?? [8, 32];
  const [rMin, rMax] = options.repeats ?? [2, 3];
  if (!(Number.isFinite(options.chars) && options.chars >= 1)) {
    throw new RangeError(`inductionStream: chars must be ≥ 1, got ${options.chars}`);
  }
  if (!(share >= 0 && share <= 1)) {
    throw new RangeError(`inductionStream: mappingShare must be in [0, 1], got ${share}`);
  }
  if (!(pairShare >= 0 && share + pairShare <= 1)) {
    throw new RangeError(
      `inductionStream: pairShare must be ≥ 0 with mappingShare + pairShare ≤ 1, got ${pairShare}`,
    );
  }
  for (
    const [name, lo, hi, max] of [["period", pMin, pMax, LETTERS.length], [
      "demos",
      dMin,
      dMax,
      Infinity,
    ]] as const
  ) {
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && 1 <= lo && lo <= hi && hi <= max)) {
      throw new RangeError(
        `inductionStream: ${name} must be integers 1 ≤ min ≤ max ≤ ${max}, got [${lo}, ${hi}]`,
      );
    }
  }
  const rng = new Rng(options.seed ?? 0);
  const parts: string[] = [];
  const blocks = { copy: 0, mapping: 0, pairs: 0 };
  const ruleKeys = new Set<string>();
  let length = 0;
  while (length < options.chars) {
    let block: string;
    const u = rng.next();
    if (u >= share && u < share + pairShare) {
      block = pairBlock(4 + rng.int(5), dMin + rng.int(dMax - dMin + 1), rng);
      blocks.pairs++;
    } else if (u < share) {
      const rule = sampleLetterRule(rng, "train");
      ruleKeys.add(ruleKey(rule));
      block = mappingBlock(rule, dMin + rng.int(dMax - dMin + 1), rng);
      blocks.mapping++;
    } else {
      const period = pMin + rng.int(pMax - pMin + 1);
      block = copyBlock(period, rMin + rng.int(rMax - rMin + 1), rng);
      blocks.copy++;
    }
    parts.push(block + "\n");
    length += block.length + 1;
  }
  return { text: parts.join(""), blocks, ruleKeys };
}

/** Options of {@link mappingEpisode}. */
export interface MappingEpisodeOptions {
  /** Seed of the rule and the items. */
  seed: number;
  /** Which rules to draw from (default "heldOut": rules training never showed). */
  split?: RuleSplit;
  /** Demonstrations in the pool (default 64). */
  poolSize?: number;
  /** Queries: every input of the rule, in shuffled rounds (default 24, four rounds). */
  queries?: number;
}

/**
 * One evaluation episode for lib/eval/icl_experiments.ts' `evaluateIcl`: a rule, a pool of its
 * demonstrations, queries cycling over its inputs, and all ten digits as candidates (so a model
 * that does not even know which three digits are in play scores 1/10).
 */
export function mappingEpisode(
  options: MappingEpisodeOptions,
): IclTask & { rule: LetterRule } {
  const rng = new Rng(options.seed);
  const rule = sampleLetterRule(rng, options.split ?? "heldOut");
  const item = (input: string): IclExample => ({ input, target: rule.table.get(input)! });
  const pool = Array.from(
    { length: options.poolSize ?? 64 },
    () => item(rule.inputs[rng.int(rule.inputs.length)]),
  );
  const count = options.queries ?? 24;
  const queries: IclExample[] = [];
  while (queries.length < count) {
    for (const x of rng.shuffle([...rule.inputs])) {
      if (queries.length < count) queries.push(item(x));
    }
  }
  return { pool, queries, candidates: [...DIGITS], sharedInputs: true, rule };
}

/**
 * Accuracy of two reference learners on a mapping query after K demonstrations drawn uniformly
 * from the rule's inputs: "label space" knows which digits are in play but not which letter goes
 * where (1 / RULE_LABELS once any demonstration is seen, 1/10 before); "ideal" answers right when
 * the query's letter was demonstrated and guesses among the digits seen otherwise.
 */
export function mappingReference(k: number): { labelSpace: number; ideal: number } {
  if (k === 0) return { labelSpace: 0.1, ideal: 0.1 };
  const unseen = (1 - 1 / RULE_INPUTS) ** k;
  const labelSpace = 1 / RULE_LABELS;
  return { labelSpace, ideal: 1 - unseen + unseen * labelSpace };
}
