/**
 * The course tokenizers as Hugging Face tokenizer files.
 *
 * Byte-level BPE (lib/tokenizers/bpe.ts) → GPT-2's `vocab.json` + `merges.txt`. The semantics
 * match GPT-2's tokenizer (openai/gpt-2 encoder.py, transformers' GPT2Tokenizer): the same
 * pre-tokenisation regex (GPT2_PATTERN is GPT-2's), bytes written through GPT-2's
 * bytes-to-unicode table, and merges applied lowest rank first, each rank left to right and
 * non-overlapping, which is what the course's encoder does. The course's ids are kept (vocab.json
 * maps each token's string to the course id; ids 0–255 are the bytes in byte order, not in
 * GPT-2's order). Refused when two ids have the same bytes (possible in principle with
 * hand-made merges): vocab.json maps a string to one id. Caveats: (1) the course tokenizers have
 * no special tokens, so `tokenizer_config.json` sets every special token to null (GPT2Tokenizer's
 * default `<|endoftext|>` would otherwise be added as id vocab_size, past the embedding, and
 * would capture that literal text); (2) `\s` in the regex is JavaScript's in the course and
 * Python's / Rust's in transformers: they differ on U+FEFF and U+0085 (and Python's `regex` may
 * differ on U+001C–U+001F), so text with those characters can split differently.
 *
 * Character-level (lib/tokenizers/char.ts) → `vocab.json` mapping each symbol to its id, and a
 * README.txt saying so: no Hugging Face tokenizer class reads it (GPT2Tokenizer does not apply),
 * so no tokenizer_config.json is written.
 *
 * @module
 */
import { BpeTokenizer } from "../tokenizers/bpe.ts";
import { CharTokenizer } from "../tokenizers/char.ts";
import { ExportError } from "./errors.ts";

/** A course tokenizer, as an object or as its `toJSON()` form (what checkpoints store). */
export type CourseTokenizer = BpeTokenizer | CharTokenizer;

/**
 * GPT-2's bytes-to-unicode table: entry b is the character byte b is written as in vocab.json
 * and merges.txt. Printable Latin-1 bytes (`!`–`~`, `¡`–`¬`, `®`–`ÿ`) stand for themselves; the
 * other 68 bytes, in byte order, become U+0100, U+0101, … (so the space, byte 32, is "Ġ").
 */
export function bytesToUnicode(): string[] {
  const table = new Array<string>(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable(b) ? b : next++);
  return table;
}

/**
 * A course tokenizer from an instance or its JSON form (`{type: "bpe", ...}` or
 * `{type: "char", ...}`, parsed or as a string).
 * @throws {ExportError} `tokenizer` when it is neither.
 */
export function courseTokenizer(value: unknown): CourseTokenizer {
  if (value instanceof BpeTokenizer || value instanceof CharTokenizer) return value;
  let json = value;
  try {
    if (typeof json === "string") json = JSON.parse(json);
    const type = (json as { type?: unknown } | null)?.type;
    if (type === "bpe") return BpeTokenizer.fromJSON(json);
    if (type === "char") return CharTokenizer.fromJSON(json);
  } catch (err) {
    throw new ExportError("tokenizer", `not a course tokenizer: ${(err as Error).message}`, err);
  }
  throw new ExportError(
    "tokenizer",
    "not a course tokenizer: expected a BpeTokenizer or CharTokenizer, or their JSON " +
      '({type: "bpe", ...} or {type: "char", ...})',
  );
}

const utf8 = new TextEncoder();
const json = (value: unknown) => utf8.encode(JSON.stringify(value, null, 2) + "\n");
/**
 * A token → id map as JSON, in id order (a JS object would put integer-like keys such as "7"
 * first; JSON does not care, but a reader of the file does).
 */
const vocabJson = (tokens: readonly string[]) =>
  utf8.encode(`{\n${tokens.map((t, id) => `  ${JSON.stringify(t)}: ${id}`).join(",\n")}\n}\n`);

/** What {@link tokenizerFiles} returns. */
export interface TokenizerFiles {
  /** File name → bytes. */
  files: Map<string, Uint8Array>;
  /** A paragraph for the export's README.txt. */
  readme: string;
}

/**
 * The Hugging Face files of a tokenizer for a model with `vocabSize` ids and `contextLength`
 * positions (see the module docs).
 * @throws {ExportError} `tokenizer` when the tokenizer has more ids than the model, or (BPE) two
 * ids share the same bytes.
 */
export function tokenizerFiles(
  tokenizer: CourseTokenizer,
  vocabSize: number,
  contextLength: number,
): TokenizerFiles {
  if (tokenizer.vocabSize > vocabSize) {
    throw new ExportError(
      "tokenizer",
      `the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${vocabSize}: ` +
        "it is not this model's tokenizer",
    );
  }
  const unused = tokenizer.vocabSize < vocabSize
    ? ` Model ids ${tokenizer.vocabSize}–${vocabSize - 1} have no entry (no text encodes to them).`
    : "";
  return tokenizer instanceof BpeTokenizer
    ? bpeFiles(tokenizer, contextLength, unused)
    : charFiles(tokenizer, unused);
}

function bpeFiles(bpe: BpeTokenizer, contextLength: number, unused: string): TokenizerFiles {
  const table = bytesToUnicode();
  const strings: string[] = [];
  const vocab: Record<string, number> = {};
  for (let id = 0; id < bpe.vocabSize; id++) {
    const s = Array.from(bpe.tokenBytes(id), (b) => table[b]).join("");
    if (Object.hasOwn(vocab, s)) {
      throw new ExportError(
        "tokenizer",
        `BPE ids ${vocab[s]} and ${id} are the same bytes (${JSON.stringify(s)} in GPT-2's ` +
          "byte alphabet); GPT-2's vocab.json maps a token's text to one id, so this " +
          "tokenizer cannot be written in GPT-2's format",
      );
    }
    vocab[s] = id;
    strings.push(s);
  }
  // transformers reads merges.txt as read().split("\n")[1:-1]: a header line first, and a final
  // newline, or the last merge would be dropped.
  const merges = ["#version: 0.2", ...bpe.merges.map(([a, b]) => `${strings[a]} ${strings[b]}`)];
  const files = new Map<string, Uint8Array>([
    ["vocab.json", vocabJson(strings)],
    ["merges.txt", utf8.encode(merges.join("\n") + "\n")],
    [
      "tokenizer_config.json",
      json({
        tokenizer_class: "GPT2Tokenizer",
        model_max_length: contextLength,
        add_prefix_space: false,
        add_bos_token: false,
        bos_token: null,
        eos_token: null,
        unk_token: null,
        pad_token: null,
        clean_up_tokenization_spaces: false,
        errors: "replace",
      }),
    ],
  ]);
  const readme = [
    `Tokenizer: the course's byte-level BPE (${bpe.merges.length} merges, ${bpe.vocabSize} ids)`,
    "as GPT-2's vocab.json + merges.txt; AutoTokenizer.from_pretrained(dir) loads it as",
    "GPT2Tokenizer(Fast). It has no special tokens (no <|endoftext|>, no padding token), so",
    "tokenizer_config.json sets them to null. The course's ids are kept: ids 0-255 are the",
    "raw bytes in byte order. Text containing U+FEFF or U+0085 may be split differently, since",
    "\\s in the pre-tokenisation regex differs between JavaScript and Python/Rust there." + unused,
  ].join("\n");
  return { files, readme };
}

function charFiles(char: CharTokenizer, unused: string): TokenizerFiles {
  const readme = [
    `Tokenizer: character-level, ${char.vocabSize} symbols. vocab.json maps each symbol (one`,
    "Unicode code point) to its id; a text's ids are its code points looked up one by one, and",
    "a symbol not in vocab.json cannot be encoded. This is not GPT-2's format: there is no",
    "merges.txt, and GPT2Tokenizer / AutoTokenizer do not apply. In Python:",
    '  vocab = json.load(open("vocab.json")); ids = [vocab[ch] for ch in text]' + unused,
  ].join("\n");
  return { files: new Map([["vocab.json", vocabJson(char.symbols)]]), readme };
}
