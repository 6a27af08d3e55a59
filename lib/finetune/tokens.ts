/**
 * GPT-1's special tokens for fine-tuning: Start, Delim and Extract.
 *
 * Radford et al. (2018) turn every task into token sequences by wrapping the text in three new
 * tokens: `[Start]` opens a sequence, `[Delim]` separates two segments (premise / hypothesis,
 * context / answer), and `[Extract]` closes it; the final hidden state at `[Extract]` feeds the
 * task head. The tokens are new vocabulary entries whose embeddings are learned during
 * fine-tuning. {@link TaskTokenizer} appends them to a base tokenizer's vocabulary (every base id
 * keeps its meaning) and {@link extendEmbeddings} grows a pre-trained model's token embedding by
 * the same number of rows.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { GPT, parameterShapes } from "../model/gpt.ts";
import { makeConfig } from "../model/config.ts";
import { Rng } from "../random.ts";

/** What {@link TaskTokenizer} needs from the tokenizer it wraps (e.g. a `CharTokenizer`). */
export interface BaseTokenizer {
  /** Number of ids; valid ids are [0, vocabSize). */
  readonly vocabSize: number;
  /** Text to ids. */
  encode(text: string): ArrayLike<number>;
  /** Ids to text. */
  decode(ids: ArrayLike<number>): string;
}

/** The names of the special tokens, in the order their ids are assigned. */
export const SPECIAL_TOKENS = ["Start", "Delim", "Extract"] as const;

/** A special token's name. */
export type SpecialToken = typeof SPECIAL_TOKENS[number];

/**
 * A base tokenizer plus the three special tokens, which get the ids `base.vocabSize`,
 * `base.vocabSize + 1` and `base.vocabSize + 2`. Text never encodes to a special id (they are
 * inserted by the formats in `formats.ts`); `decode` renders them as `[Start]`, `[Delim]` and
 * `[Extract]`.
 */
export class TaskTokenizer {
  /** The wrapped tokenizer. */
  readonly base: BaseTokenizer;
  /** Id of `[Start]`. */
  readonly start: number;
  /** Id of `[Delim]`. */
  readonly delim: number;
  /** Id of `[Extract]`. */
  readonly extract: number;

  /** Wraps `base`; its ids are unchanged. */
  constructor(base: BaseTokenizer) {
    if (!Number.isInteger(base.vocabSize) || base.vocabSize < 1) {
      throw new Error(`TaskTokenizer: base vocabSize must be a positive integer`);
    }
    this.base = base;
    this.start = base.vocabSize;
    this.delim = base.vocabSize + 1;
    this.extract = base.vocabSize + 2;
  }

  /** Vocabulary size of the base tokenizer (ids below it are ordinary tokens). */
  get baseVocabSize(): number {
    return this.base.vocabSize;
  }

  /** Total vocabulary size: the base plus the three special tokens. */
  get vocabSize(): number {
    return this.base.vocabSize + SPECIAL_TOKENS.length;
  }

  /** Whether `id` is one of the special tokens. */
  isSpecial(id: number): boolean {
    return id >= this.base.vocabSize && id < this.vocabSize;
  }

  /** The id of a special token by name. */
  special(name: SpecialToken): number {
    return this.base.vocabSize + SPECIAL_TOKENS.indexOf(name);
  }

  /** Text to ids with the base tokenizer (never produces a special id). */
  encode(text: string): Int32Array {
    return Int32Array.from(this.base.encode(text));
  }

  /** Ids to text; special ids render as `[Start]`, `[Delim]`, `[Extract]`. */
  decode(ids: ArrayLike<number>): string {
    let out = "";
    let run: number[] = [];
    const flush = () => {
      if (run.length) out += this.base.decode(run);
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (this.isSpecial(id)) {
        flush();
        out += `[${SPECIAL_TOKENS[id - this.base.vocabSize]}]`;
      } else run.push(id);
    }
    flush();
    return out;
  }
}

/**
 * A new model with `n` extra token-embedding rows, for new vocabulary entries such as the
 * special tokens. The new rows are drawn from N(0, 0.02) (GPT-2's embedding initialisation)
 * with a generator seeded by `seed`; every other value is copied exactly, so the new model
 * computes the same hidden states for inputs made of old tokens, and the same logits over the
 * old vocabulary. With tied embeddings the output projection grows too (the new tokens get
 * logits); an untied `lm_head` gets `n` new rows from the same distribution. The input model is
 * left untouched (dispose it separately if it is no longer needed).
 */
export function extendEmbeddings(model: GPT, n: number, seed = 0): GPT {
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`extendEmbeddings: n must be a non-negative integer, got ${n}`);
  }
  const old = model.config;
  const config = makeConfig({ ...old, vocabSize: old.vocabSize + n });
  const rng = new Rng(seed);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    const values = model.params.get(name)!.dataSync() as Float32Array;
    let data: Float32Array;
    if (name === "wte.weight" || name === "lm_head.weight") {
      data = new Float32Array(shape[0] * shape[1]);
      data.set(values);
      data.set(rng.normalArray(n * shape[1], 0.02), values.length);
    } else {
      data = Float32Array.from(values);
    }
    const t = tf.tensor(data, shape);
    params.set(name, tf.variable(t));
    t.dispose();
  }
  return new GPT(config, params);
}
