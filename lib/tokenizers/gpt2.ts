/**
 * GPT-2's own tokenizer (the "r50k_base" byte-level BPE: 50,000 merges on top of the 256 bytes,
 * plus `<|endoftext|>` as id 50256), through the npm package `gpt-tokenizer` (pinned in
 * deno.json; Deno caches it, so nothing downloads once the cache is warm). Same shape as the
 * course's other tokenizers: `encode`, `decode`, `vocabSize`.
 *
 * Encoding uses the package. Decoding is done here from the package's rank table: the package's
 * own `decode` keeps an incomplete multi-byte character in a shared streaming `TextDecoder`
 * (gpt-tokenizer 4.0.0), so `decode([19526])` returns "" and the stray bytes leak into the next
 * call's output. Here every call is independent, and incomplete or invalid UTF-8 decodes to
 * U+FFFD, as in lib/tokenizers/bpe.ts. Lone surrogates in the input are encoded as U+FFFD.
 *
 * Cost on untrusted text: the package's merge loop is quadratic in the length of one pre-token
 * piece (a run of letters, digits or spaces): 200,000 letters took 21 s, and 200,000 spaces
 * overflowed the stack. Pieces longer than {@link GPT2_MAX_PIECE} are therefore encoded in
 * chunks of that length, which keeps encoding linear in the input; GPT-2's own tokens for such a
 * piece can differ only where a chunk ends. Natural text has no pieces that long, and text
 * without them is encoded exactly as GPT-2 does.
 *
 * @module
 */
import { encode as r50kEncode } from "gpt-tokenizer/encoding/r50k_base";
import r50kRanks from "gpt-tokenizer/bpeRanks/r50k_base";
import { concatBytes, GPT2_PATTERN } from "./bpe.ts";

/** GPT-2's vocabulary size: 50,257 (256 bytes + 50,000 merges + `<|endoftext|>`). */
export const GPT2_VOCAB_SIZE = 50257;

/** The id of `<|endoftext|>`, which GPT-2 puts between documents. */
export const GPT2_EOT_ID = 50256;

/** The text of the end-of-text token. */
export const GPT2_EOT = "<|endoftext|>";

/** Longest pre-token piece (UTF-16 code units) encoded in one call; longer ones are chunked. */
export const GPT2_MAX_PIECE = 400;

/**
 * `encode` of the package, linear in the input: the text is cut at the boundaries of its
 * over-long pieces (at a piece boundary the package's own split is unchanged), and those pieces
 * are encoded in chunks of {@link GPT2_MAX_PIECE}.
 */
function encodeBounded(text: string, encode: (s: string) => number[]): number[] {
  const out: number[] = [];
  const append = (s: string) => {
    for (const id of encode(s)) out.push(id); // no spread: a long result would overflow it
  };
  let start = 0;
  for (const m of text.matchAll(GPT2_PATTERN)) {
    const piece = m[0];
    if (piece.length <= GPT2_MAX_PIECE) continue;
    if (m.index! > start) append(text.slice(start, m.index!));
    for (let k = 0; k < piece.length;) {
      let end = Math.min(piece.length, k + GPT2_MAX_PIECE);
      // Never split a surrogate pair.
      const c = piece.charCodeAt(end - 1);
      if (end < piece.length && c >= 0xd800 && c <= 0xdbff) end--;
      append(piece.slice(k, end));
      k = end;
    }
    start = m.index! + piece.length;
  }
  if (start === 0) return encode(text); // no long piece: one call, exactly GPT-2's tokens
  if (start < text.length) append(text.slice(start));
  return out;
}

/** Options for {@link Gpt2Tokenizer.encode}. */
export interface Gpt2EncodeOptions {
  /**
   * Encode the literal text `<|endoftext|>` as the single id 50256. Default false: it is then
   * ordinary text (7 tokens), so text from the wild can never inject a document boundary.
   */
  allowSpecial?: boolean;
}

const SPECIAL_NONE = new Set<string>();
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

/** The bytes of every id, built on first use from the package's rank table. */
let tokenBytesTable: Uint8Array[] | undefined;

function table(): Uint8Array[] {
  if (tokenBytesTable) return tokenBytesTable;
  const ranks = r50kRanks as (string | number[])[];
  if (ranks.length !== GPT2_EOT_ID) {
    throw new Error(
      `gpt-tokenizer's r50k_base table has ${ranks.length} entries, expected ${GPT2_EOT_ID}`,
    );
  }
  // Entries are strings when their bytes are valid UTF-8, byte arrays otherwise.
  tokenBytesTable = ranks.map((r) =>
    typeof r === "string" ? utf8Encoder.encode(r) : Uint8Array.from(r)
  );
  tokenBytesTable.push(utf8Encoder.encode(GPT2_EOT));
  return tokenBytesTable;
}

/** GPT-2's tokenizer with the course's tokenizer interface. */
export class Gpt2Tokenizer {
  /** 50,257. */
  readonly vocabSize: number = GPT2_VOCAB_SIZE;
  /** 50,256, the id of `<|endoftext|>`. */
  readonly eotId: number = GPT2_EOT_ID;

  /** Text to ids, exactly as GPT-2 tokenises it ("Hello world" → [15496, 995]). */
  encode(text: string, options: Gpt2EncodeOptions = {}): Int32Array {
    // The package is only ever asked for plain text: its own special-token search (a sticky
    // regex) finds `<|endoftext|>` only at the very start of the input (4.0.0), so the split
    // happens here.
    const plain = (s: string) =>
      encodeBounded(s, (t) => r50kEncode(t, { disallowedSpecial: SPECIAL_NONE }));
    if (!options.allowSpecial) return Int32Array.from(plain(text));
    const out: number[] = [];
    text.split(GPT2_EOT).forEach((part, i) => {
      if (i > 0) out.push(GPT2_EOT_ID);
      if (part) { for (const id of plain(part)) out.push(id); }
    });
    return Int32Array.from(out);
  }

  /** The bytes of a token sequence; throws on an id outside [0, 50257). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const t = table();
    const parts: Uint8Array[] = [];
    for (let i = 0; i < ids.length; i++) {
      const b = Number.isInteger(ids[i]) ? t[ids[i]] : undefined;
      if (!b) {
        throw new Error(
          `Gpt2Tokenizer.decode: id ${ids[i]} at position ${i} is outside [0, ${this.vocabSize})`,
        );
      }
      parts.push(b);
    }
    return concatBytes(parts);
  }

  /**
   * Ids to text. Any sequence of valid ids decodes; bytes of a split character become U+FFFD.
   * Id 50256 decodes to the text `<|endoftext|>`.
   */
  decode(ids: ArrayLike<number>): string {
    return utf8Decoder.decode(this.decodeBytes(ids));
  }
}
