/**
 * In-context learning prompts (GPT-3, Brown et al. 2020, §2): the layout of a task description,
 * K solved demonstrations and a query ({@link buildPrompt}), their tokenization with room for the
 * answers ({@link encodePrompt}), and the largest K that fits a context ({@link maxShots}).
 *
 * With the default format a 2-shot prompt reads
 *
 * ```text
 * Please unscramble the letters into a word, and write that word:   ← description (optional)
 * lyinevitab ⇒ inevitably                                           ← demonstration 1
 * psperha ⇒ perhaps                                                 ← demonstration 2
 * aleswh ⇒                                                          ← the query
 * ```
 *
 * Demonstrations are `input + arrow + target`, joined by the separator; the query is
 * `input + arrow` with the arrow's trailing whitespace moved to the answer, so a candidate is
 * scored (or generated) as `" inevitably"`. That is how byte-level BPE vocabularies tokenize
 * words (with their leading space), and for a character-level model it changes nothing. The
 * arrow, the separator and the line after the description are configurable
 * ({@link PromptFormat}); "⇒" is not a character of *Moby-Dick*, so a character-level model
 * trained on the book needs an ASCII arrow such as {@link CHAR_FORMAT}'s `" -- "`.
 *
 * @module
 */

/** One solved instance of a task: the model should continue `input ⇒` with `target`. */
export interface IclExample {
  /** What the model is shown. */
  input: string;
  /** The expected answer. */
  target: string;
}

/** How demonstrations and the query are laid out. */
export interface PromptFormat {
  /** Between an input and its output, e.g. `" ⇒ "`; may be empty (`"48+76="` then `"124"`). */
  arrow: string;
  /** Between demonstrations, e.g. `"\n"`; generation stops at it, so it may not be empty. */
  separator: string;
  /** After the task description, e.g. `"\n"`. */
  descriptionSeparator: string;
}

/** GPT-3's figures: `x ⇒ y`, one demonstration per line. */
export const DEFAULT_FORMAT: PromptFormat = Object.freeze({
  arrow: " ⇒ ",
  separator: "\n",
  descriptionSeparator: "\n",
});

/**
 * A format whose every character occurs in *Moby-Dick* (so a character-level model trained on
 * the book can read it): neither "⇒" nor ">" nor "=" does, hence `" -- "`.
 */
export const CHAR_FORMAT: PromptFormat = Object.freeze({
  arrow: " -- ",
  separator: "\n",
  descriptionSeparator: "\n",
});

/** Fills a partial format from {@link DEFAULT_FORMAT} and checks it. */
export function resolveFormat(format: Partial<PromptFormat> = {}): PromptFormat {
  const f = { ...DEFAULT_FORMAT, ...format };
  for (const key of ["arrow", "separator", "descriptionSeparator"] as const) {
    if (typeof f[key] !== "string") {
      throw new Error(`PromptFormat: ${key} must be a string, got ${JSON.stringify(f[key])}`);
    }
  }
  if (f.separator === "") {
    throw new Error(
      "PromptFormat: separator may not be empty: generation stops at it and demonstrations " +
        "would run together",
    );
  }
  return f;
}

/** `input + arrow + target`: one demonstration as it appears in a prompt. */
export function formatDemonstration(
  example: IclExample,
  format: Partial<PromptFormat> = {},
): string {
  const f = resolveFormat(format);
  return example.input + f.arrow + example.target;
}

/** A prompt, before tokenization. */
export interface IclPrompt {
  /** Description, demonstrations, query and the arrow without its trailing whitespace. */
  text: string;
  /** The arrow's trailing whitespace: every answer is scored or generated as `answerPrefix + target`. */
  answerPrefix: string;
  /** Number of demonstrations. */
  k: number;
}

/** Options of {@link buildPrompt}. */
export interface PromptOptions {
  /** Layout (default {@link DEFAULT_FORMAT}). */
  format?: Partial<PromptFormat>;
  /** A task description put first (GPT-3's "zero-shot" prompts have only this); none if empty. */
  description?: string;
}

/**
 * The prompt for `query` after the demonstrations `demos` (K = demos.length, in order):
 * `description + descriptionSeparator + demo_1 + separator + … + demo_K + separator + query +
 * arrow` (the arrow's trailing whitespace goes to {@link IclPrompt.answerPrefix}).
 */
export function buildPrompt(
  query: IclExample | string,
  demos: readonly IclExample[],
  options: PromptOptions = {},
): IclPrompt {
  const f = resolveFormat(options.format);
  const input = typeof query === "string" ? query : query.input;
  const head = f.arrow.trimEnd();
  const answerPrefix = f.arrow.slice(head.length);
  const parts = demos.map((d) => d.input + f.arrow + d.target);
  parts.push(input + head);
  const body = parts.join(f.separator);
  const text = options.description ? options.description + f.descriptionSeparator + body : body;
  return { text, answerPrefix, k: demos.length };
}

/** Anything that turns text into token ids (a CharTokenizer, the BPE, GPT-2's tokenizer). */
export interface Tokenizer {
  /** Text to token ids. */
  encode(text: string): ArrayLike<number>;
}

/** A tokenizer that can also turn ids back into text (needed to read generated answers). */
export interface DecodingTokenizer extends Tokenizer {
  /** Token ids to text. */
  decode(ids: ArrayLike<number>): string;
}

/** Thrown when a prompt (plus the answer it must leave room for) does not fit the context. */
export class ContextOverflowError extends Error {
  /** Creates the error. */
  constructor(
    readonly k: number,
    readonly promptTokens: number,
    readonly answerTokens: number,
    readonly contextLength: number,
  ) {
    const makes = k === 1 ? "demonstration makes" : "demonstrations make";
    super(
      `K = ${k} ${makes} a prompt of ${promptTokens} tokens; ` +
        `with ${answerTokens} token${answerTokens === 1 ? "" : "s"} for the longest answer that ` +
        `is ${promptTokens + answerTokens}, past the context of ${contextLength} tokens. ` +
        `Use fewer demonstrations (maxShots() reports the largest K that fits) or shorter ones.`,
    );
    this.name = "ContextOverflowError";
  }
}

/** A prompt's token ids and those of each answer (`answerPrefix + answer`). */
export interface EncodedPrompt {
  /** Token ids of {@link IclPrompt.text}. */
  prompt: number[];
  /** Token ids of each answer, with the prompt's answer prefix, in the order given. */
  answers: number[][];
}

/**
 * Tokenizes a prompt and its candidate answers. Prompt and answer are encoded separately (as
 * GPT-3's evaluation does), so the answer's tokens are the same whatever precedes them.
 *
 * @throws {ContextOverflowError} With `contextLength`, when the prompt plus the longest answer
 * (or plus `reserve` tokens, whichever is more) is longer than the context.
 */
export function encodePrompt(
  prompt: IclPrompt,
  tokenizer: Tokenizer,
  answers: readonly string[] = [],
  contextLength?: number,
  reserve = 0,
): EncodedPrompt {
  const ids = Array.from(tokenizer.encode(prompt.text));
  const answerIds = answers.map((a) => Array.from(tokenizer.encode(prompt.answerPrefix + a)));
  if (contextLength !== undefined) {
    const longest = Math.max(reserve, ...answerIds.map((a) => a.length));
    if (ids.length + longest > contextLength) {
      throw new ContextOverflowError(prompt.k, ids.length, longest, contextLength);
    }
  }
  return { prompt: ids, answers: answerIds };
}

/** Options of {@link maxShots}. */
export interface MaxShotsOptions extends PromptOptions {
  /** Demonstrations the K are drawn from. */
  pool: readonly IclExample[];
  /** The queries (their inputs and targets count). */
  queries: readonly IclExample[];
  /** Extra answers that will be scored (candidates); the longest of these and the targets counts. */
  candidates?: readonly string[];
  /** Tokens to reserve after the prompt instead, when more than the longest answer (generation). */
  reserve?: number;
  /** The model's context length. */
  contextLength: number;
  /** The tokenizer. */
  tokenizer: Tokenizer;
}

/**
 * The largest K such that every prompt fits: K demonstrations from `pool` (worst case: the K
 * longest), the longest query, and room for the longest answer. At most `pool.length`. Exact for
 * a character-level tokenizer; for BPE, token counts of concatenated text are close to, not
 * exactly, the sum of the parts, so keep a few tokens of margin.
 *
 * @throws {ContextOverflowError} When not even K = 0 fits.
 */
export function maxShots(options: MaxShotsOptions): number {
  const { pool, queries, tokenizer, contextLength } = options;
  if (queries.length === 0) throw new Error("maxShots: no queries");
  const f = resolveFormat(options.format);
  const len = (s: string) => tokenizer.encode(s).length;
  const answerPrefix = f.arrow.slice(f.arrow.trimEnd().length);
  const answers = [...queries.map((q) => q.target), ...(options.candidates ?? [])];
  const longestAnswer = Math.max(
    options.reserve ?? 0,
    ...answers.map((a) => len(answerPrefix + a)),
  );
  const longestQuery = queries.reduce((a, b) => len(b.input) > len(a.input) ? b : a);
  const sizes = new Map(pool.map((d) => [d, len(formatDemonstration(d, f))]));
  const byLength = [...pool].sort((a, b) => sizes.get(b)! - sizes.get(a)!);
  let best = -1;
  for (let k = 0; k <= byLength.length; k++) {
    const p = buildPrompt(longestQuery, byLength.slice(0, k), { ...options, format: f });
    const n = len(p.text);
    if (n + longestAnswer > contextLength) {
      if (k === 0) throw new ContextOverflowError(0, n, longestAnswer, contextLength);
      break;
    }
    best = k;
  }
  return best;
}
