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
import { GPT, paramVariable } from "../model/gpt.ts";
import { type GPTConfig, makeConfig, parameterShapes } from "../model/config.ts";
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
    return this.segments(ids).map((s) => s.special ? `[${s.text}]` : s.text).join("");
  }

  /**
   * Ids as runs of decoded text and single special tokens (named without brackets), in order:
   * what a drawing of a formatted sequence needs.
   */
  segments(ids: ArrayLike<number>): { text: string; special: boolean }[] {
    const out: { text: string; special: boolean }[] = [];
    let run: number[] = [];
    const flush = () => {
      if (run.length) out.push({ text: this.base.decode(run), special: false });
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (this.isSpecial(id)) {
        flush();
        out.push({ text: SPECIAL_TOKENS[id - this.base.vocabSize], special: true });
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
  const grown = new Set(["wte.weight", "lm_head.weight"]);
  return withMoreRows(model, { vocabSize: model.config.vocabSize + n }, grown, seed);
}

/**
 * A new model with a longer window: `contextLength` learned position embeddings, of which the
 * first `model.config.contextLength` are copied exactly and the new ones are drawn from
 * N(0, 0.02). Learned positions cannot extrapolate, so the new positions mean nothing until the
 * model trains on windows that long (continued pre-training); inputs no longer than the old
 * window give exactly the old outputs. The input model is left untouched.
 */
export function extendContext(model: GPT, contextLength: number, seed = 0): GPT {
  const old = model.config.contextLength;
  if (!Number.isInteger(contextLength) || contextLength < old) {
    throw new Error(
      `extendContext: contextLength must be an integer >= the current ${old}, got ${contextLength}`,
    );
  }
  return withMoreRows(model, { contextLength }, new Set(["wpe.weight"]), seed);
}

/** A copy of `model` under a changed config; the parameters in `grown` get new N(0, 0.02) rows. */
function withMoreRows(
  model: GPT,
  change: Partial<GPTConfig>,
  grown: Set<string>,
  seed: number,
): GPT {
  const config = makeConfig({ ...model.config, ...change });
  const rng = new Rng(seed);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    const values = model.params.get(name)!.dataSync() as Float32Array;
    let data: Float32Array;
    if (grown.has(name)) {
      data = new Float32Array(shape[0] * shape[1]);
      data.set(values);
      data.set(rng.normalArray(data.length - values.length, 0.02), values.length);
    } else {
      data = Float32Array.from(values);
    }
    params.set(name, paramVariable(data, shape));
  }
  return new GPT(config, params);
}
