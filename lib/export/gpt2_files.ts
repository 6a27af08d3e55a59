/**
 * A reader of GPT-2-format tokenizer files (`vocab.json` + `merges.txt`), written after
 * transformers' GPT2Tokenizer (tokenization_gpt2.py, itself openai/gpt-2's encoder.py): split
 * the text with GPT-2's regex, write each piece's UTF-8 bytes through bytes-to-unicode, then
 * repeatedly merge the adjacent pair of *strings* with the lowest rank in merges.txt (every
 * occurrence of it, left to right) until no pair has a rank, and look the pieces up in
 * vocab.json. merges.txt is parsed as transformers does: `split("\n")[1:-1]` (a header line,
 * and a final newline), each line split on whitespace.
 *
 * The course's own GPT-2 tokenizer (lib/tokenizers/gpt2.ts) runs GPT-2's published rank table
 * through the `gpt-tokenizer` package and reads no files; this reader exists to check exported
 * files the way Hugging Face will read them, independently of the course's BPE encoder (which
 * works on ids with a heap, not on strings).
 *
 * @module
 */
import { GPT2_PATTERN } from "../tokenizers/bpe.ts";
import { bytesToUnicode } from "./tokenizer_files.ts";

const utf8 = new TextEncoder();

/** GPT-2's tokenizer built from the text of its two files. */
export class Gpt2FilesTokenizer {
  /** vocab.json: token string → id. */
  readonly vocab: ReadonlyMap<string, number>;
  /** merges.txt: "left right" → rank. */
  readonly ranks: ReadonlyMap<string, number>;
  readonly #byteChar = bytesToUnicode();
  readonly #charByte = new Map(this.#byteChar.map((ch, b) => [ch, b]));
  readonly #decoder: Map<number, string>;

  /**
   * Parses the files.
   * @param vocabJson The text of vocab.json (an object of string → integer id).
   * @param mergesTxt The text of merges.txt.
   * @throws {Error} When vocab.json is not such an object or a merge line is not two tokens.
   */
  constructor(vocabJson: string, mergesTxt: string) {
    const parsed = JSON.parse(vocabJson) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error("vocab.json must be an object mapping token strings to ids");
    }
    const vocab = new Map<string, number>();
    for (const [token, id] of Object.entries(parsed)) {
      if (!Number.isInteger(id)) throw new Error(`vocab.json: id of ${token} is ${id}`);
      vocab.set(token, id as number);
    }
    const ranks = new Map<string, number>();
    mergesTxt.split("\n").slice(1, -1).forEach((line, rank) => {
      const parts = line.trim().split(/\s+/);
      if (parts.length !== 2) throw new Error(`merges.txt line ${rank + 2}: ${line}`);
      ranks.set(parts.join(" "), rank);
    });
    this.vocab = vocab;
    this.ranks = ranks;
    this.#decoder = new Map([...vocab].map(([token, id]) => [id, token]));
  }

  /** encoder.py's `bpe(token)`: the piece's symbols after all merges. */
  #bpe(word: string[]): string[] {
    while (word.length > 1) {
      let best = "", bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = `${word[i]} ${word[i + 1]}`;
        }
      }
      if (bestRank === Infinity) break;
      const [first, second] = best.split(" ");
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]);
        }
      }
      word = merged;
    }
    return word;
  }

  /**
   * Text to ids, as GPT2Tokenizer (no special tokens, no prefix space).
   * @throws {Error} When a merged piece is not in vocab.json (GPT2Tokenizer would give unk).
   */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const [piece] of text.matchAll(GPT2_PATTERN)) {
      const chars = Array.from(utf8.encode(piece), (b) => this.#byteChar[b]);
      for (const token of this.#bpe(chars)) {
        const id = this.vocab.get(token);
        if (id === undefined) throw new Error(`token ${JSON.stringify(token)} not in vocab.json`);
        ids.push(id);
      }
    }
    return ids;
  }

  /** Ids to text (invalid UTF-8 becomes U+FFFD, as `errors="replace"`). */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const token = this.#decoder.get(id);
      if (token === undefined) throw new Error(`id ${id} not in vocab.json`);
      for (const ch of token) bytes.push(this.#charByte.get(ch)!);
    }
    return new TextDecoder().decode(Uint8Array.from(bytes));
  }
}
