/**
 * GPT-2's zero-shot claim (Radford et al. 2019, §2: "the supervised objective is the same as the
 * unsupervised objective but only evaluated on a subset of the sequence") at course size: a
 * pre-training corpus of real text, *Moby-Dick*, in which a few task patterns occur naturally, as
 * plain English sentences, at a low rate; and the same tasks asked on held-out items, in the
 * natural wording or in a layout the model never saw.
 *
 * Two tasks, each a list of items `{ subject, label }` split into training items (the only ones
 * written into the corpus) and held-out test items (asked zero-shot):
 *
 * - **name gender** ({@link nameGenderTask}) on real first names (datasets/names.ts): the corpus
 *   says `Mary is a woman's name.` or `John is a man's name.`; chance 1/2. Spelling carries most
 *   of the signal (names ending in "a" are mostly women's), so a model can generalise to names it
 *   never saw labelled.
 * - **first letter** ({@link firstLetterTask}) on words of *Moby-Dick* ({@link mobyDickWords}):
 *   the corpus says `The word whale begins with w.`; chance 1/26. The rule is a copy, the same for
 *   every word, so it transfers to held-out words if it is learned at all.
 *
 * Every item has two renderings as an {@link IclExample}: **natural** (the corpus sentence, cut
 * as input + arrow + target: `"Mary" + " is a " + "woman's name."`) and **unnatural** (a layout
 * that never occurs in the corpus: `"Mary" + " ;; " + "w"`); {@link iclTask} turns a task into
 * the pool / queries / candidates that lib/eval/icl_experiments.ts's `evaluateIcl` expects, with the format to
 * use. {@link zeroShotCorpus} mixes the training sentences into the book with
 * datasets/icl_tasks.ts's `buildMixture`, in blocks of a few sentences, one per line.
 *
 * Every character of both renderings is in *Moby-Dick*'s alphabet (checked by the tests), so the
 * course's character tokenizer can encode them; ";;" itself never occurs in the book.
 *
 * @module
 */
import { namesDataset } from "./names.ts";
import { buildMixture, mobyDickText, mobyDickWords, type TaskSource } from "./icl_tasks.ts";
import {
  buildPrompt,
  type IclExample,
  type PromptFormat,
  type Tokenizer,
} from "../lib/eval/icl_prompts.ts";
import type { LogitsModel } from "../lib/eval/icl_scoring.ts";
import {
  type IclTask,
  sampleDemonstrations,
  type ShotSummary,
  summarize,
} from "../lib/eval/icl_experiments.ts";
import { rankFirstDifference } from "../lib/eval/choice.ts";
import { Rng } from "../lib/random.ts";

/** One item of a task: what is asked about, and the answer as one word or letter. */
export interface ZeroShotItem {
  /** The name or word, e.g. "Mary" or "whale". */
  subject: string;
  /** The label, e.g. "woman" or "w". */
  label: string;
}

/** The two layouts a task can be asked in. */
export type Rendering = "natural" | "unnatural";

/** A task whose natural sentences appear in the corpus for the training items only. */
export interface ZeroShotTask {
  /** Short name, e.g. "name gender". */
  name: string;
  /** Items whose natural sentence may appear in the pre-training corpus. */
  train: ZeroShotItem[];
  /** Held-out items: never written into the corpus, asked at evaluation. */
  test: ZeroShotItem[];
  /** The label set, in a fixed order. */
  labels: string[];
  /** An item as a demonstration / query in a rendering. */
  example(item: ZeroShotItem, rendering: Rendering): IclExample;
  /** The layout of each rendering: input + arrow + target, one item per line. */
  formats: Readonly<Record<Rendering, PromptFormat>>;
}

const LINE = { separator: "\n", descriptionSeparator: "\n" } as const;

/** The unnatural layout shared by both tasks: `Mary ;; w`, never seen in training. */
export const UNNATURAL_FORMAT: PromptFormat = Object.freeze({ arrow: " ;; ", ...LINE });

/** Options of the task builders. */
export interface ZeroShotTaskOptions {
  /** Seed of the item split (default 0). */
  seed?: number;
}

/**
 * Name gender on datasets/names.ts's balanced split: its train names are the training items, its
 * test names (696, balanced) the held-out items. Natural: `Mary is a woman's name.` (input
 * "Mary", arrow " is a ", target "woman's name."); unnatural: `Mary ;; w`.
 */
export function nameGenderTask(options: ZeroShotTaskOptions = {}): ZeroShotTask {
  const data = namesDataset({ seed: options.seed ?? 0 });
  const item = (e: { text: string; label: number }): ZeroShotItem => ({
    subject: e.text,
    label: e.label === 0 ? "man" : "woman",
  });
  return {
    name: "name gender",
    train: data.train.map(item),
    test: data.test.map(item),
    labels: ["man", "woman"],
    example: (it, rendering) =>
      rendering === "natural"
        ? { input: it.subject, target: `${it.label}'s name.` }
        : { input: it.subject, target: it.label[0] },
    formats: Object.freeze({
      natural: Object.freeze({ arrow: " is a ", ...LINE }),
      unnatural: UNNATURAL_FORMAT,
    }),
  };
}

/**
 * First letter of a word, on datasets/icl_tasks.ts's {@link mobyDickWords} (its training and
 * held-out words, each list shuffled). Natural: `The word whale begins with w.` (input "The word whale", arrow
 * " begins with ", target "w."); unnatural: `whale ;; w`.
 */
export function firstLetterTask(options: ZeroShotTaskOptions = {}): ZeroShotTask {
  const seed = options.seed ?? 0;
  const words = mobyDickWords({ seed });
  const item = (w: string): ZeroShotItem => ({ subject: w, label: w[0] });
  // The lists are alphabetical; shuffled, any prefix of the held-out words is a fair sample.
  const rng = new Rng(seed + 1);
  return {
    name: "first letter",
    train: rng.shuffle(words.train.map(item)),
    test: rng.shuffle(words.eval.map(item)),
    labels: [..."abcdefghijklmnopqrstuvwxyz"],
    example: (it, rendering) =>
      rendering === "natural"
        ? { input: `The word ${it.subject}`, target: `${it.label}.` }
        : { input: it.subject, target: it.label },
    formats: Object.freeze({
      natural: Object.freeze({ arrow: " begins with ", ...LINE }),
      unnatural: UNNATURAL_FORMAT,
    }),
  };
}

/** A natural sentence of the task, as it appears in the corpus: `Mary is a woman's name.` */
export function naturalLine(task: ZeroShotTask, item: ZeroShotItem): string {
  const e = task.example(item, "natural");
  return e.input + task.formats.natural.arrow + e.target;
}

/** Options of {@link iclTask}. */
export interface IclTaskOptions {
  /** How the items are written (default "natural"). */
  rendering?: Rendering;
  /** Held-out queries: the first this many test items (default all). */
  queries?: number;
  /** Demonstrations to draw from: the first this many training items (default 64). */
  poolSize?: number;
}

/**
 * The task for lib/eval/icl_experiments.ts's `evaluateIcl` in one rendering: demonstrations come from the
 * training items, queries are held-out items, the candidates are every label written as that
 * rendering writes it (so a model that ignores the question is at 1 / labels). Use it with
 * `format: task.formats[rendering]` and `rankBy: "sum"` (the candidates of the natural rendering
 * differ in length, and only their first characters carry the decision).
 */
export function iclTask(
  task: ZeroShotTask,
  options: IclTaskOptions = {},
): IclTask & { format: PromptFormat } {
  const rendering = options.rendering ?? "natural";
  const render = (it: ZeroShotItem) => task.example(it, rendering);
  const probe = task.train[0] ?? task.test[0];
  const candidates = task.labels.map((label) => render({ subject: probe.subject, label }).target);
  return {
    pool: task.train.slice(0, options.poolSize ?? 64).map(render),
    queries: task.test.slice(0, options.queries ?? task.test.length).map(render),
    candidates,
    format: task.formats[rendering],
  };
}

/**
 * A mixture source that writes `demos` natural sentences of random training items, one per line
 * (a short list, as such facts appear in books and web pages).
 */
export function zeroShotSource(task: ZeroShotTask): TaskSource {
  if (task.train.length === 0) throw new Error(`zeroShotSource: task "${task.name}" has no items`);
  return {
    name: task.name,
    block: (rng: Rng, demos: number) =>
      Array.from({ length: demos }, () => naturalLine(task, task.train[rng.int(task.train.length)]))
        .join("\n"),
  };
}

/** Options of {@link zeroShotCorpus}. */
export interface ZeroShotCorpusOptions {
  /** The tasks whose sentences are mixed in (a task is picked uniformly per block). */
  tasks: readonly ZeroShotTask[];
  /** Share of characters in task sentences, e.g. 0.03 (default 0.03). */
  rate?: number;
  /** Length of the corpus in characters (default: the training chapters once, about 965,000). */
  totalChars?: number;
  /** Sentences per block, [min, max] (default [1, 4]). */
  linesPerBlock?: [number, number];
  /** Seed (default 0). */
  seed?: number;
  /** When given, every character is checked against it (a CharTokenizer or its symbols). */
  alphabet?: { readonly symbols: readonly string[] } | Iterable<string>;
}

/** What {@link zeroShotCorpus} made. */
export interface ZeroShotCorpus {
  /** The text. */
  text: string;
  /** Characters in task blocks (with their separators). */
  taskChars: number;
  /** Task sentences per task name. */
  sentences: Record<string, number>;
}

/**
 * The training chapters of *Moby-Dick* (datasets/icl_tasks.ts's `mobyDickText("train")`) with
 * blocks of natural task sentences of the training items mixed in at `rate` of the characters
 * (datasets/icl_tasks.ts's `buildMixture`). No held-out item is ever written into it.
 */
export function zeroShotCorpus(options: ZeroShotCorpusOptions): ZeroShotCorpus {
  const natural = mobyDickText("train");
  const sources = options.tasks.map(zeroShotSource);
  const mixture = buildMixture({
    natural,
    sources,
    rate: options.rate ?? 0.03,
    totalChars: options.totalChars ?? natural.length,
    seed: options.seed ?? 0,
    demos: options.linesPerBlock ?? [1, 4],
    alphabet: options.alphabet,
  });
  const sentences: Record<string, number> = {};
  for (const s of mixture.segments) {
    if (s.kind !== "task") continue;
    const lines = mixture.text.slice(s.start, s.end).trim().split("\n").length;
    sentences[s.source!] = (sentences[s.source!] ?? 0) + lines;
  }
  return { text: mixture.text, taskChars: mixture.taskChars, sentences };
}

/** Options of {@link evaluateZeroShot}. */
export interface ZeroShotEvalOptions {
  /** The model (a GPT, or anything with a causal forward pass). */
  model: LogitsModel;
  /** Its tokenizer. */
  tokenizer: Tokenizer;
  /** The task. */
  task: ZeroShotTask;
  /** How the demonstrations and the question are written. */
  rendering: Rendering;
  /** Numbers of demonstrations K, e.g. [0, 1, 3]. */
  shots: readonly number[];
  /** One draw of demonstrations per seed (K = 0 has no demonstrations and is run once). */
  seeds: readonly number[];
  /** Held-out questions: the first this many test items (default all). */
  queries?: number;
  /** Demonstrations are drawn from the first this many training items (default 64). */
  poolSize?: number;
  /** Questions per forward pass (default 32). */
  batchSize?: number;
}

/** Accuracy of one task and rendering at each K. */
export interface ZeroShotEvaluation {
  /** The task's name. */
  task: string;
  /** The rendering. */
  rendering: Rendering;
  /** 1 / number of labels. */
  chance: number;
  /** One summary per K (over the seeds; K = 0 has a single run). */
  shots: ShotSummary[];
  /** How often each label was chosen at K = 0 (when 0 is among the shots). */
  zeroShotAnswers?: Record<string, number>;
  /**
   * At K = 0, the probability the model puts on the deciding tokens of all labels together,
   * averaged over the questions: near 1 when it knows that a label comes next, whichever.
   */
  zeroShotLabelMass?: number;
}

/**
 * Accuracy on held-out items against the number of demonstrations K: every question gets its own
 * demonstrations drawn from the training items (nested over K, lib/eval/icl_experiments.ts's
 * `sampleDemonstrations`), laid out by lib/eval/icl_prompts.ts's `buildPrompt` in the task's format for
 * the rendering, and is answered by {@link rankFirstDifference} over all labels.
 */
export function evaluateZeroShot(options: ZeroShotEvalOptions): ZeroShotEvaluation {
  const { model, tokenizer, task, rendering, shots, seeds } = options;
  if (seeds.length === 0) throw new Error("evaluateZeroShot: give at least one seed");
  const ict = iclTask(task, { rendering, queries: options.queries, poolSize: options.poolSize });
  const maxK = Math.max(0, ...shots);
  if (maxK > ict.pool.length) {
    throw new Error(`evaluateZeroShot: K = ${maxK} but the pool holds ${ict.pool.length}`);
  }
  const targets = ict.queries.map((q) => ict.candidates!.indexOf(q.target));
  const out: ZeroShotEvaluation = {
    task: task.name,
    rendering,
    chance: 1 / task.labels.length,
    shots: [],
  };
  for (const k of shots) {
    const accuracies: number[] = [];
    for (const seed of k === 0 ? seeds.slice(0, 1) : seeds) {
      const orders = sampleDemonstrations(ict.pool.length, ict.queries.length, maxK, new Rng(seed));
      const items = ict.queries.map((q, i) => {
        const p = buildPrompt(q, orders[i].slice(0, k).map((j) => ict.pool[j]), {
          format: ict.format,
        });
        return {
          text: p.text,
          answerPrefix: p.answerPrefix,
          candidates: ict.candidates!,
          target: targets[i],
        };
      });
      const r = rankFirstDifference(model, tokenizer, items, { batchSize: options.batchSize });
      accuracies.push(r.accuracy);
      if (k === 0) {
        const counts: Record<string, number> = {};
        for (const c of r.choices) counts[task.labels[c]] = (counts[task.labels[c]] ?? 0) + 1;
        out.zeroShotAnswers = counts;
        const mass = r.logProbs.map((lp) => lp.reduce((a, v) => a + Math.exp(v), 0));
        out.zeroShotLabelMass = mass.reduce((a, b) => a + b, 0) / Math.max(1, mass.length);
      }
    }
    out.shots.push({ k, accuracies, ...summarize(accuracies) });
  }
  return out;
}
