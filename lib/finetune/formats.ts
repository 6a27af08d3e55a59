/**
 * GPT-1's input transformations: every task becomes one or more token sequences that a
 * left-to-right language model can read, with the task head reading the final hidden state at
 * the last token, `[Extract]` (Radford et al. 2018, Figure 1).
 *
 * | task             | sequences per example                                             |
 * | ---------------- | ----------------------------------------------------------------- |
 * | classification   | `[Start] text [Extract]`                                          |
 * | entailment       | `[Start] premise [Delim] hypothesis [Extract]`                    |
 * | similarity       | `[Start] a [Delim] b [Extract]` and `[Start] b [Delim] a [Extract]` |
 * | multiple choice  | `[Start] context [Delim] answer_k [Extract]` for each option k    |
 *
 * **Truncation.** When a sequence would exceed the model's context, only the first segment
 * (text, premise, context) is cut; the second segment (hypothesis, answer) is always kept whole,
 * because it is the thing being judged and `[Extract]` must stay last. By default a premise or
 * context keeps its END (the part next to `[Delim]`, e.g. the sentences just before a story's
 * ending) and a classification text keeps its START (an e-mail's subject and opening); pass
 * `keep` to choose. For multiple choice the context is cut to the same length for every option
 * (the budget left by the longest answer), so the options differ only in their answers. For
 * similarity neither sentence is privileged: if both do not fit, the shorter keeps as much as it
 * can up to half the budget and the longer gets the rest; both orderings use the same truncated
 * sentences, keeping the start of each by default. The first segment must keep at least one
 * token (when it had any), so a {@link FormatError} is thrown when even
 * `[Start] x [Delim] hypothesis [Extract]` cannot fit.
 *
 * **Batching.** {@link padBatch} right-pads sequences to a common length. Because attention is
 * causal, padding after `[Extract]` cannot change the hidden state at `[Extract]` (or anywhere
 * before it); the mask and the `-1` language-model targets keep it out of every loss.
 *
 * @module
 */
import type { TaskTokenizer } from "./tokens.ts";

/** The four task types of GPT-1's fine-tuning experiments. */
export type TaskKind = "classification" | "entailment" | "similarity" | "multipleChoice";

/** A text and its class (e.g. ham = 0, spam = 1). */
export interface ClassificationExample {
  /** The text to classify. */
  text: string;
  /** Class id in [0, numClasses). */
  label: number;
}

/** Label ids of the three-way entailment task, as in SNLI / MultiNLI. */
export const ENTAILMENT_LABELS = ["entailment", "neutral", "contradiction"] as const;

/** A premise, a hypothesis and their relation (an index into {@link ENTAILMENT_LABELS}). */
export interface EntailmentExample {
  /** The sentence that is given. */
  premise: string;
  /** The sentence to judge against the premise. */
  hypothesis: string;
  /** 0 entailment, 1 neutral, 2 contradiction. */
  label: number;
}

/** Two sentences and whether they mean the same (1) or not (0). Symmetric in `a` and `b`. */
export interface SimilarityExample {
  /** One sentence. */
  a: string;
  /** The other sentence. */
  b: string;
  /** 1 = same meaning, 0 = different. */
  label: number;
}

/** A context, candidate answers, and the index of the correct one. */
export interface MultipleChoiceExample {
  /** The text the options continue or answer. */
  context: string;
  /** Candidate answers. */
  options: string[];
  /** Index of the correct option. */
  label: number;
}

/** Maps each task kind to its example type. */
export interface ExampleOf {
  /** `[Start] text [Extract]`. */
  classification: ClassificationExample;
  /** `[Start] premise [Delim] hypothesis [Extract]`. */
  entailment: EntailmentExample;
  /** Both orderings of the two sentences. */
  similarity: SimilarityExample;
  /** One sequence per option. */
  multipleChoice: MultipleChoiceExample;
}

/** Any task's example. */
export type TaskExample = ExampleOf[TaskKind];

/**
 * A labelled task with its splits. For multiple choice, `numClasses` is the number of options
 * per example and `labelNames` names the option positions.
 */
export interface TaskDataset<K extends TaskKind = TaskKind> {
  /** The task type. */
  kind: K;
  /** Number of classes (multiple choice: options per example). */
  numClasses: number;
  /** A name per class (or option position). */
  labelNames: string[];
  /** Training examples. */
  train: ExampleOf[K][];
  /** Validation examples. */
  val: ExampleOf[K][];
  /** Test examples. */
  test: ExampleOf[K][];
}

/** One formatted token sequence. */
export interface Sequence {
  /** Token ids, `[Start] … [Extract]`. */
  ids: Int32Array;
  /** Index of `[Extract]` (always `ids.length - 1`). */
  extract: number;
  /** How many tokens truncation removed from this sequence's input segments. */
  truncated: number;
}

/** An example as token sequences: 1 (classification, entailment), 2 (similarity) or k (choice). */
export interface FormattedExample {
  /** The task type. */
  kind: TaskKind;
  /** The example's sequences, in order (similarity: a–b then b–a). */
  sequences: Sequence[];
  /** The task label. */
  label: number;
}

/** Options of the format functions. */
export interface FormatOptions {
  /** The model's context length: no sequence may be longer. */
  contextLength: number;
  /**
   * Which end of the truncated segment to keep. Defaults: "start" for a classification text and
   * for similarity sentences, "end" for a premise or a multiple-choice context.
   */
  keep?: "start" | "end";
}

/** An input that cannot be formatted within the context, or a malformed example. */
export class FormatError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "FormatError";
  }
}

/** What the format functions need from a tokenizer (a {@link TaskTokenizer} has it). */
export type FormatTokenizer = Pick<TaskTokenizer, "encode" | "start" | "delim" | "extract">;

function cut(ids: Int32Array, n: number, keep: "start" | "end"): Int32Array {
  if (n >= ids.length) return ids;
  return keep === "start" ? ids.subarray(0, n) : ids.subarray(ids.length - n);
}

function checkContext(contextLength: number): void {
  if (!Number.isInteger(contextLength) || contextLength < 1) {
    throw new FormatError(`contextLength must be a positive integer, got ${contextLength}`);
  }
}

function assemble(
  tok: FormatTokenizer,
  first: Int32Array,
  second: Int32Array | null,
  truncated: number,
) {
  const n = 2 + first.length + (second ? 1 + second.length : 0);
  const ids = new Int32Array(n);
  let i = 0;
  ids[i++] = tok.start;
  ids.set(first, i);
  i += first.length;
  if (second) {
    ids[i++] = tok.delim;
    ids.set(second, i);
    i += second.length;
  }
  ids[i] = tok.extract;
  return { ids, extract: i, truncated };
}

/** `[Start] text [Extract]`; a too-long text keeps its start (or end, with `keep: "end"`). */
export function formatClassification(
  tok: FormatTokenizer,
  text: string,
  options: FormatOptions,
): Sequence {
  checkContext(options.contextLength);
  const ids = tok.encode(text);
  const budget = options.contextLength - 2;
  const minimal = Math.min(1, ids.length);
  if (budget < minimal) {
    throw new FormatError(
      `classification: [Start] + ${minimal} text token + [Extract] = ${2 + minimal} tokens ` +
        `exceed the context length of ${options.contextLength}`,
    );
  }
  const kept = cut(ids, budget, options.keep ?? "start");
  return assemble(tok, kept, null, ids.length - kept.length);
}

/** Builds `[Start] first [Delim] second [Extract]`, cutting only `first`. */
function formatPair(
  tok: FormatTokenizer,
  what: string,
  first: Int32Array,
  second: Int32Array,
  options: FormatOptions,
  firstBudget = options.contextLength - 3 - second.length,
): Sequence {
  const minimal = Math.min(1, first.length);
  if (firstBudget < minimal) {
    throw new FormatError(
      `${what} of ${second.length} tokens + ${minimal} ${
        what === "hypothesis" ? "premise" : "context"
      } token + 3 special tokens = ${second.length + minimal + 3} tokens exceed the ` +
        `context length of ${options.contextLength} (the ${what} is never truncated)`,
    );
  }
  const kept = cut(first, firstBudget, options.keep ?? "end");
  return assemble(tok, kept, second, first.length - kept.length);
}

/** `[Start] premise [Delim] hypothesis [Extract]`; a too-long premise keeps its end. */
export function formatEntailment(
  tok: FormatTokenizer,
  premise: string,
  hypothesis: string,
  options: FormatOptions,
): Sequence {
  checkContext(options.contextLength);
  return formatPair(tok, "hypothesis", tok.encode(premise), tok.encode(hypothesis), options);
}

/**
 * Both orderings, `[Start] a [Delim] b [Extract]` and `[Start] b [Delim] a [Extract]`, built
 * from the same (symmetrically truncated) sentences.
 */
export function formatSimilarity(
  tok: FormatTokenizer,
  a: string,
  b: string,
  options: FormatOptions,
): [Sequence, Sequence] {
  checkContext(options.contextLength);
  let ia = tok.encode(a), ib = tok.encode(b);
  const budget = options.contextLength - 3;
  const la = ia.length, lb = ib.length;
  if (la + lb > budget) {
    const minimal = Math.min(1, la) + Math.min(1, lb);
    if (budget < minimal) {
      throw new FormatError(
        `similarity: ${minimal} sentence tokens + 3 special tokens exceed the context length ` +
          `of ${options.contextLength}`,
      );
    }
    const half = Math.floor(budget / 2);
    let na: number, nb: number;
    if (la <= half) (na = la), (nb = budget - la);
    else if (lb <= half) (nb = lb), (na = budget - lb);
    else (na = budget - half), (nb = half);
    const keep = options.keep ?? "start";
    ia = cut(ia, na, keep);
    ib = cut(ib, nb, keep);
  }
  const truncated = la + lb - ia.length - ib.length;
  return [assemble(tok, ia, ib, truncated), assemble(tok, ib, ia, truncated)];
}

/**
 * One sequence per option, `[Start] context [Delim] answer_k [Extract]`. The context is cut to
 * the same length for every option (the room the longest answer leaves), keeping its end.
 */
export function formatMultipleChoice(
  tok: FormatTokenizer,
  context: string,
  answers: readonly string[],
  options: FormatOptions,
): Sequence[] {
  checkContext(options.contextLength);
  if (answers.length < 1) throw new FormatError("multiple choice: no options");
  const ctx = tok.encode(context);
  const encoded = answers.map((a) => tok.encode(a));
  const longest = encoded.reduce((a, e) => (e.length > a.length ? e : a));
  const budget = options.contextLength - 3 - longest.length;
  formatPair(tok, "answer", ctx, longest, options, budget); // throws if the longest cannot fit
  return encoded.map((ans) => formatPair(tok, "answer", ctx, ans, options, budget));
}

function checkLabel(kind: TaskKind, label: number, numClasses: number): void {
  if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
    throw new FormatError(
      `${kind}: label ${label} is not an integer in [0, ${numClasses})`,
    );
  }
}

/**
 * Formats any task's example. `numClasses` (for multiple choice: the number of options) is used
 * to validate the label and, for multiple choice, the option count.
 */
export function formatExample<K extends TaskKind>(
  tok: FormatTokenizer,
  kind: K,
  example: ExampleOf[K],
  numClasses: number,
  options: FormatOptions,
): FormattedExample {
  const label = example.label;
  checkLabel(kind, label, numClasses);
  let sequences: Sequence[];
  switch (kind) {
    case "classification": {
      const e = example as ClassificationExample;
      sequences = [formatClassification(tok, e.text, options)];
      break;
    }
    case "entailment": {
      const e = example as EntailmentExample;
      sequences = [formatEntailment(tok, e.premise, e.hypothesis, options)];
      break;
    }
    case "similarity": {
      const e = example as SimilarityExample;
      sequences = formatSimilarity(tok, e.a, e.b, options);
      break;
    }
    case "multipleChoice": {
      const e = example as MultipleChoiceExample;
      if (e.options.length !== numClasses) {
        throw new FormatError(
          `multipleChoice: example has ${e.options.length} options, the task has ${numClasses}`,
        );
      }
      sequences = formatMultipleChoice(tok, e.context, e.options, options);
      break;
    }
    default:
      throw new FormatError(`unknown task kind ${JSON.stringify(kind)}`);
  }
  return { kind, sequences, label };
}

/** Sequences of several examples, right-padded into row-major [numSeqs, seqLen] arrays. */
export interface TaskBatch {
  /** The task type of every example in the batch. */
  kind: TaskKind;
  /** Number of examples (the head's batch dimension). */
  numExamples: number;
  /** Sequences per example: 1, 2 (similarity) or the number of options. */
  seqsPerExample: number;
  /** `numExamples · seqsPerExample`; example i owns rows [i·S, (i+1)·S). */
  numSeqs: number;
  /** Padded length (the longest sequence, or `length` when given). */
  seqLen: number;
  /** Token ids [numSeqs, seqLen]. */
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding [numSeqs, seqLen]. */
  mask: Uint8Array;
  /** Position of `[Extract]` in each sequence [numSeqs]. */
  extract: Int32Array;
  /**
   * Next-token targets for the auxiliary language-model loss [numSeqs, seqLen], -1 = ignored.
   * See {@link padBatch} for which predictions count.
   */
  lmTargets: Int32Array;
  /** Task labels [numExamples]. */
  labels: Int32Array;
}

/** Options of {@link padBatch}. */
export interface PadOptions {
  /** Id written into padding (never read: masked and causally invisible). Default 0. */
  padId?: number;
  /** Pad to this length instead of the longest sequence (e.g. the context length). */
  length?: number;
  /**
   * Which sequences the language-model loss covers: "all", or "label" (only the correct
   * option's sequence). Default "label" for multiple choice (a wrong answer is not real text
   * to model) and "all" otherwise.
   */
  lmSequences?: "all" | "label";
}

/**
 * Right-pads formatted examples into a {@link TaskBatch}.
 *
 * Language-model targets: position t predicts token t + 1 of the same sequence, and counts only
 * when that token is an ordinary (base-vocabulary) token. So the predictions of `[Delim]` and
 * `[Extract]` (format artefacts, not language) are ignored, as are predictions from `[Extract]`
 * (nothing follows it) and from padding; the prediction of the first text token from `[Start]`
 * counts.
 */
export function padBatch(
  examples: readonly FormattedExample[],
  tok: Pick<TaskTokenizer, "isSpecial">,
  options: PadOptions = {},
): TaskBatch {
  if (examples.length === 0) throw new FormatError("padBatch: no examples");
  const kind = examples[0].kind;
  const s = examples[0].sequences.length;
  for (const e of examples) {
    if (e.kind !== kind || e.sequences.length !== s) {
      throw new FormatError(
        `padBatch: mixed examples (${kind} with ${s} sequences vs ${e.kind} with ` +
          `${e.sequences.length})`,
      );
    }
  }
  const longest = Math.max(...examples.flatMap((e) => e.sequences.map((q) => q.ids.length)));
  const seqLen = options.length ?? longest;
  if (seqLen < longest) {
    throw new FormatError(`padBatch: length ${seqLen} is shorter than a sequence of ${longest}`);
  }
  const padId = options.padId ?? 0;
  const lmMode = options.lmSequences ?? (kind === "multipleChoice" ? "label" : "all");
  const numSeqs = examples.length * s;
  const ids = new Int32Array(numSeqs * seqLen).fill(padId);
  const mask = new Uint8Array(numSeqs * seqLen);
  const lmTargets = new Int32Array(numSeqs * seqLen).fill(-1);
  const extract = new Int32Array(numSeqs);
  const labels = new Int32Array(examples.length);
  examples.forEach((e, i) => {
    labels[i] = e.label;
    e.sequences.forEach((q, k) => {
      const row = i * s + k, off = row * seqLen;
      ids.set(q.ids, off);
      mask.fill(1, off, off + q.ids.length);
      extract[row] = q.extract;
      if (lmMode === "label" && k !== e.label) return;
      for (let t = 0; t + 1 < q.ids.length; t++) {
        const next = q.ids[t + 1];
        if (!tok.isSpecial(next)) lmTargets[off + t] = next;
      }
    });
  });
  return {
    kind,
    numExamples: examples.length,
    seqsPerExample: s,
    numSeqs,
    seqLen,
    ids,
    mask,
    extract,
    lmTargets,
    labels,
  };
}
