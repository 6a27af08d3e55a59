/**
 * A character-level tokenizer: one token per Unicode code point of the training text.
 *
 * @module
 */

/** Thrown when text contains a symbol outside the vocabulary. */
export class UnknownSymbolError extends Error {
  /** Creates the error. */
  constructor(
    readonly symbol: string,
    readonly position: number,
    vocabSize: number,
  ) {
    const code = symbol.codePointAt(0)!.toString(16).toUpperCase().padStart(
      4,
      "0",
    );
    super(
      `unknown symbol ${JSON.stringify(symbol)} (U+${code}) at position ${position}; ` +
        `the vocabulary has ${vocabSize} symbols built from the training text`,
    );
    this.name = "UnknownSymbolError";
  }
}

/** Maps each distinct character of a corpus to an id (sorted by code point). */
export class CharTokenizer {
  /** The symbols, in id order. */
  readonly symbols: readonly string[];
  readonly #ids: Map<string, number>;

  /** Creates a tokenizer from its symbol list (ids are positions in the list). */
  constructor(symbols: readonly string[]) {
    const ids = new Map<string, number>();
    symbols.forEach((s, i) => {
      if ([...s].length !== 1) {
        throw new Error(
          `CharTokenizer: symbol ${JSON.stringify(s)} is not one character`,
        );
      }
      if (ids.has(s)) {
        throw new Error(`CharTokenizer: duplicate symbol ${JSON.stringify(s)}`);
      }
      ids.set(s, i);
    });
    this.symbols = [...symbols];
    this.#ids = ids;
  }

  /** Builds the vocabulary from every distinct character of `text`. */
  static fromText(text: string): CharTokenizer {
    return new CharTokenizer(
      [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!),
    );
  }

  /** Number of symbols. */
  get vocabSize(): number {
    return this.symbols.length;
  }

  /** Text to ids; throws {@link UnknownSymbolError} for a symbol not in the vocabulary. */
  encode(text: string): Int32Array {
    const chars = [...text];
    const out = new Int32Array(chars.length);
    for (let i = 0; i < chars.length; i++) {
      const id = this.#ids.get(chars[i]);
      if (id === undefined) {
        throw new UnknownSymbolError(chars[i], i, this.vocabSize);
      }
      out[i] = id;
    }
    return out;
  }

  /** Ids to text; throws on an id outside [0, vocabSize). */
  decode(ids: ArrayLike<number>): string {
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const sym = this.symbols[ids[i]];
      if (sym === undefined) {
        throw new Error(
          `CharTokenizer.decode: id ${ids[i]} is outside [0, ${this.vocabSize})`,
        );
      }
      s += sym;
    }
    return s;
  }

  /** A JSON-safe description, for checkpoints. */
  toJSON(): { type: "char"; symbols: string[] } {
    return { type: "char", symbols: [...this.symbols] };
  }

  /** Rebuilds a tokenizer from {@link CharTokenizer.toJSON}'s output. */
  static fromJSON(json: unknown): CharTokenizer {
    const j = json as { type?: string; symbols?: unknown };
    if (j?.type !== "char" || !Array.isArray(j.symbols)) {
      throw new Error(
        "CharTokenizer.fromJSON: expected {type: 'char', symbols: [...]}",
      );
    }
    return new CharTokenizer(j.symbols as string[]);
  }
}
