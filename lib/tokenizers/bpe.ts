/**
 * A byte-level byte-pair-encoding (BPE) tokenizer, built the way GPT-2's was (Radford et al.,
 * 2019, §2.2): text becomes UTF-8 bytes, the 256 byte values are the base vocabulary (so any
 * text can be encoded, with no unknown symbol), a regular expression first splits the text into
 * words, numbers, punctuation runs and whitespace, and merges of adjacent symbols are learned
 * inside those pieces, most frequent pair first.
 *
 * Ids 0–255 are the bytes; merge i (0-based) creates id 256 + i from a pair of earlier ids.
 *
 * Unicode: encoding goes through UTF-8, which represents every Unicode scalar value, so
 * `decode(encode(s)) === s` for every well-formed string (any script, emoji, combining marks).
 * A lone surrogate (a UTF-16 code unit U+D800–U+DFFF without its partner) is not a scalar value
 * and has no UTF-8 form: it is encoded as U+FFFD (the bytes EF BF BD), exactly as
 * `TextEncoder` does, so in general `decode(encode(s)) === s.toWellFormed()`. Decoding never
 * throws for valid ids: a token sequence that cuts a multi-byte character decodes the incomplete
 * bytes to U+FFFD (use {@link BpeTokenizer.decodeBytes} for the exact bytes).
 *
 * @module
 */
import { MinHeap, PairHeap } from "./heaps.ts";

/**
 * GPT-2's pre-tokenisation pattern (from openai/gpt-2, encoder.py): a few English contractions,
 * then runs of letters, of digits, or of other symbols, each with at most one leading space, then
 * whitespace. `\s+(?!\S)` leaves the last space of a run to start the next word, so " world"
 * stays one piece. Every code point matches some branch, so the pieces cover the text exactly.
 */
export const GPT2_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** What {@link BpeTokenizer.train} reports after learning each merge. */
export interface MergeEvent {
  /** 0-based index of the merge (its rank: lower merges apply first). */
  index: number;
  /** The id the merge creates (256 + index). */
  id: number;
  /** The left and right ids that were merged. */
  pair: [number, number];
  /** How often the pair occurred in the pre-tokenised training text when it was chosen. */
  count: number;
  /** The new token's bytes. */
  bytes: Uint8Array;
  /** A readable form of the new token ({@link BpeTokenizer.tokenLabel}). */
  label: string;
}

/** Options for {@link BpeTokenizer.train}. */
export interface TrainOptions {
  /** Called after each merge is learned, in order (e.g. to print or plot them). */
  onMerge?: (event: MergeEvent) => void;
}

/** The JSON form of a {@link BpeTokenizer}: its merges, in order. */
export interface BpeJSON {
  /** Always "bpe" (tells it apart from the character tokenizer's JSON). */
  type: "bpe";
  /** The pre-tokenisation pattern; only "gpt2" ({@link GPT2_PATTERN}) exists. */
  pattern: "gpt2";
  /** Merge i joins `merges[i][0]` and `merges[i][1]` into id 256 + i. */
  merges: [number, number][];
}

/** Pair ids (each < 2^21) packed into one number, usable as a Map key. */
const SHIFT = 2 ** 21;
const pairKey = (a: number, b: number) => a * SHIFT + b;
const MAX_VOCAB = SHIFT;

const utf8Encoder = new TextEncoder();
// Not fatal: invalid or incomplete UTF-8 becomes U+FFFD instead of an exception. Used without
// {stream: true}, so no state carries over between calls.
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

/** A byte-level BPE tokenizer: 256 byte tokens plus an ordered list of merges. */
export class BpeTokenizer {
  /** The merges, in the order they were learned; merge i creates id 256 + i. */
  readonly merges: readonly (readonly [number, number])[];
  /** The bytes of every token, by id. */
  readonly #bytes: Uint8Array[];
  /** Rank (merge index) of each mergeable pair, by {@link pairKey}. */
  readonly #ranks: Map<number, number>;
  /** Encodings of pieces already seen (text repeats words a lot). */
  readonly #cache = new Map<string, number[]>();

  /**
   * Creates a tokenizer from its merges (as {@link BpeTokenizer.train} learns them). Each merge
   * may only use byte ids and ids of earlier merges, and no pair may appear twice.
   */
  constructor(merges: readonly (readonly [number, number])[]) {
    if (!Array.isArray(merges)) {
      throw new Error("BpeTokenizer: merges must be an array of [left, right] id pairs");
    }
    if (256 + merges.length > MAX_VOCAB) {
      throw new Error(`BpeTokenizer: at most ${MAX_VOCAB - 256} merges are supported`);
    }
    const bytes: Uint8Array[] = [];
    for (let b = 0; b < 256; b++) bytes.push(Uint8Array.of(b));
    const ranks = new Map<number, number>();
    merges.forEach((m, i) => {
      const id = 256 + i;
      const ok = Array.isArray(m) && m.length === 2 &&
        m.every((x) => Number.isInteger(x) && x >= 0 && x < id);
      if (!ok) {
        throw new Error(
          `BpeTokenizer: merge ${i} is ${JSON.stringify(m)}; expected [left, right] with ` +
            `integer ids in [0, ${id}) (bytes or earlier merges)`,
        );
      }
      const key = pairKey(m[0], m[1]);
      if (ranks.has(key)) {
        throw new Error(
          `BpeTokenizer: merge ${i} repeats the pair [${m}] of merge ${ranks.get(key)}`,
        );
      }
      ranks.set(key, i);
      const left = bytes[m[0]], right = bytes[m[1]];
      const joined = new Uint8Array(left.length + right.length);
      joined.set(left);
      joined.set(right, left.length);
      bytes.push(joined);
    });
    this.merges = merges.map(([a, b]) => [a, b] as const);
    this.#bytes = bytes;
    this.#ranks = ranks;
  }

  /** Number of tokens: 256 bytes plus one per merge. */
  get vocabSize(): number {
    return this.#bytes.length;
  }

  /**
   * Learns merges from `text` until the vocabulary has `vocabSize` tokens (or no pair occurs
   * any more, in which case it is smaller). Each step merges the most frequent adjacent pair
   * within the pre-tokenised pieces; ties go to the pair with the smaller left id, then the
   * smaller right id, so training is deterministic.
   *
   * Fast because nothing is rescanned: the text is reduced to its distinct pieces with counts,
   * pair counts are kept up to date incrementally, each pair knows which pieces contain it (so a
   * merge only rewrites those), and a max-heap with lazy deletion finds the next pair.
   *
   * @throws {Error} If `vocabSize` is not an integer ≥ 256 (the byte tokens alone need 256).
   */
  static train(text: string, vocabSize: number, options: TrainOptions = {}): BpeTokenizer {
    if (typeof text !== "string") throw new Error("BpeTokenizer.train: text must be a string");
    if (!Number.isInteger(vocabSize) || vocabSize < 256 || vocabSize > MAX_VOCAB) {
      throw new Error(
        `BpeTokenizer.train: vocabSize must be an integer in [256, ${MAX_VOCAB}] ` +
          `(256 byte tokens plus the merges), got ${vocabSize}`,
      );
    }
    // 1. Distinct pieces and how often each occurs.
    const pieceCounts = new Map<string, number>();
    for (const [piece] of text.matchAll(GPT2_PATTERN)) {
      pieceCounts.set(piece, (pieceCounts.get(piece) ?? 0) + 1);
    }
    const words: number[][] = [];
    const freq: number[] = [];
    for (const [piece, count] of pieceCounts) {
      const symbols = Array.from(utf8Encoder.encode(piece));
      if (symbols.length < 2) continue; // a single byte holds no pair
      words.push(symbols);
      freq.push(count);
    }
    // 2. Pair counts over all pieces, and which pieces contain each pair.
    const counts = new Map<number, number>();
    const where = new Map<number, number[]>();
    const addPairs = (w: number, sign: 1 | -1, changed?: Set<number>) => {
      const s = words[w];
      for (let i = 0; i + 1 < s.length; i++) {
        const key = pairKey(s[i], s[i + 1]);
        const c = (counts.get(key) ?? 0) + sign * freq[w];
        if (c > 0) counts.set(key, c);
        else counts.delete(key);
        if (sign > 0) {
          let list = where.get(key);
          if (!list) where.set(key, list = []);
          // A piece may be listed twice; stamps below skip the repeat.
          if (list[list.length - 1] !== w) list.push(w);
          changed?.add(key);
        }
      }
    };
    for (let w = 0; w < words.length; w++) addPairs(w, 1);
    const heap = new PairHeap();
    for (const [key, c] of counts) heap.push(c, key);

    // 3. Merge the most frequent pair, update only the pieces that contain it, repeat.
    const merges: [number, number][] = [];
    const bytes: Uint8Array[] = [];
    for (let b = 0; b < 256; b++) bytes.push(Uint8Array.of(b));
    const stamp = new Int32Array(words.length).fill(-1);
    while (256 + merges.length < vocabSize) {
      let best = -1, bestCount = 0;
      while (heap.size > 0) {
        const [c, key] = heap.pop();
        const now = counts.get(key) ?? 0;
        if (now === c) {
          best = key;
          bestCount = c;
          break;
        }
        if (now > 0) heap.push(now, key); // the count fell since this entry was queued
      }
      if (best < 0) break; // every piece is a single token: nothing left to merge
      const a = Math.floor(best / SHIFT), b = best % SHIFT;
      const id = 256 + merges.length;
      const changed = new Set<number>();
      for (const w of where.get(best) ?? []) {
        if (stamp[w] === id) continue;
        stamp[w] = id;
        const s = words[w];
        let found = false;
        for (let i = 0; i + 1 < s.length && !found; i++) found = s[i] === a && s[i + 1] === b;
        if (!found) continue; // stale entry: an earlier merge already consumed the pair here
        addPairs(w, -1);
        const out: number[] = [];
        for (let i = 0; i < s.length; i++) {
          if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
            out.push(id);
            i++; // left to right, non-overlapping: "aaa" with (a, a) gives (aa) a
          } else {
            out.push(s[i]);
          }
        }
        words[w] = out;
        addPairs(w, 1, changed);
      }
      where.delete(best);
      // Only pairs containing the new id can have gained counts; queue their final counts.
      for (const key of changed) {
        const c = counts.get(key);
        if (c !== undefined && (Math.floor(key / SHIFT) === id || key % SHIFT === id)) {
          heap.push(c, key);
        }
      }
      merges.push([a, b]);
      const joined = new Uint8Array(bytes[a].length + bytes[b].length);
      joined.set(bytes[a]);
      joined.set(bytes[b], bytes[a].length);
      bytes.push(joined);
      options.onMerge?.({
        index: merges.length - 1,
        id,
        pair: [a, b],
        count: bestCount,
        bytes: joined,
        label: labelOf(joined),
      });
    }
    return new BpeTokenizer(merges);
  }

  /** Text to token ids. Never throws; lone surrogates become U+FFFD (see the module docs). */
  encode(text: string): Int32Array {
    const out: number[] = [];
    for (const [piece] of text.matchAll(GPT2_PATTERN)) {
      let ids = this.#cache.get(piece);
      if (!ids) {
        ids = this.#encodePiece(utf8Encoder.encode(piece));
        // Bounded, so encoding an endless stream of distinct pieces cannot exhaust memory.
        if (this.#cache.size >= 100_000) this.#cache.clear();
        this.#cache.set(piece, ids);
      }
      for (const id of ids) out.push(id);
    }
    return Int32Array.from(out);
  }

  /**
   * Applies the merges to one piece's bytes in rank order, each rank left to right, which
   * reproduces the segmentation training produced. A linked list of symbols and a min-heap of
   * (rank, position) candidates make it O(n log n), so a long piece (a page of Chinese without
   * spaces is one piece) stays fast.
   */
  #encodePiece(bytes: Uint8Array): number[] {
    const n = bytes.length;
    if (n < 2) return Array.from(bytes);
    const id = Int32Array.from(bytes);
    const next = new Int32Array(n), prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    // Candidates: key rank * n + position, so the smallest rank pops first, leftmost among equals.
    const heap = new MinHeap();
    const consider = (i: number) => {
      const j = next[i];
      if (j < 0) return;
      const rank = this.#ranks.get(pairKey(id[i], id[j]));
      if (rank !== undefined) heap.push(rank * n + i);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.size > 0) {
      const top = heap.pop();
      const rank = Math.floor(top / n), i = top % n;
      const j = next[i];
      // Stale if either symbol has changed since the candidate was queued.
      if (!alive[i] || j < 0) continue;
      const [a, b] = this.merges[rank];
      if (id[i] !== a || id[j] !== b) continue;
      id[i] = 256 + rank;
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(id[i]);
    return out;
  }

  /** The bytes of a token sequence, concatenated; throws on an id outside [0, vocabSize). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    return concatBytes(Array.from(ids, (id) => this.#token(id)));
  }

  /**
   * Token ids to text. Any sequence of valid ids decodes, even one that splits a multi-byte
   * character: incomplete or invalid UTF-8 becomes U+FFFD. Throws only on an id outside
   * [0, vocabSize).
   */
  decode(ids: ArrayLike<number>): string {
    return utf8Decoder.decode(this.decodeBytes(ids));
  }

  /** The bytes of one token (a copy); throws on an id outside [0, vocabSize). */
  tokenBytes(id: number): Uint8Array {
    return this.#token(id).slice();
  }

  /** The stored bytes of a token (not a copy), validating the id. */
  #token(id: number): Uint8Array {
    const b = Number.isInteger(id) ? this.#bytes[id] : undefined;
    if (!b) {
      throw new Error(`BpeTokenizer: id ${id} is outside [0, ${this.vocabSize})`);
    }
    return b;
  }

  /**
   * A readable form of one token for display: its UTF-8 text when the bytes are complete UTF-8,
   * with bytes that are not (part of a split character) written as `\xNN`, and a leading
   * space shown as "␣".
   */
  tokenLabel(id: number): string {
    return labelOf(this.tokenBytes(id));
  }

  /** A JSON-safe description, for checkpoints: `{type: "bpe", pattern: "gpt2", merges}`. */
  toJSON(): BpeJSON {
    return { type: "bpe", pattern: "gpt2", merges: this.merges.map(([a, b]) => [a, b]) };
  }

  /**
   * Rebuilds a tokenizer from {@link BpeTokenizer.toJSON}'s output (parsed JSON or a string).
   * @throws {Error} Naming the problem when the JSON is not a valid BPE description.
   */
  static fromJSON(json: unknown): BpeTokenizer {
    let j = json;
    if (typeof j === "string") {
      try {
        j = JSON.parse(j);
      } catch (err) {
        throw new Error(`BpeTokenizer.fromJSON: not valid JSON (${(err as Error).message})`);
      }
    }
    const o = j as Partial<BpeJSON> | null;
    if (typeof o !== "object" || o === null || o.type !== "bpe") {
      throw new Error(
        'BpeTokenizer.fromJSON: expected {type: "bpe", pattern: "gpt2", merges: [[a, b], ...]}',
      );
    }
    if (o.pattern !== "gpt2") {
      throw new Error(
        `BpeTokenizer.fromJSON: unknown pattern ${JSON.stringify(o.pattern)}; only "gpt2" exists`,
      );
    }
    if (!Array.isArray(o.merges)) {
      throw new Error("BpeTokenizer.fromJSON: merges must be an array of [left, right] id pairs");
    }
    return new BpeTokenizer(o.merges);
  }
}

/** Display form of token bytes (see {@link BpeTokenizer.tokenLabel}). */
function labelOf(bytes: Uint8Array): string {
  let s = "";
  let i = 0;
  while (i < bytes.length) {
    const n = utf8Length(bytes, i);
    if (n > 0) {
      s += utf8Decoder.decode(bytes.subarray(i, i + n));
      i += n;
    } else {
      s += `\\x${bytes[i].toString(16).padStart(2, "0")}`;
      i++;
    }
  }
  return s.startsWith(" ") ? "␣" + s.slice(1) : s;
}

/** Length of the well-formed UTF-8 character starting at `i`, or 0 if there is none. */
function utf8Length(b: Uint8Array, i: number): number {
  const lead = b[i];
  let n: number;
  if (lead < 0x80) return 1;
  else if (lead >= 0xc2 && lead < 0xe0) n = 2;
  else if (lead >= 0xe0 && lead < 0xf0) n = 3;
  else if (lead >= 0xf0 && lead < 0xf5) n = 4;
  else return 0; // a continuation byte, or a lead byte UTF-8 never uses
  if (i + n > b.length) return 0;
  let cp = lead & (0x7f >> n);
  for (let k = 1; k < n; k++) {
    if ((b[i + k] & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (b[i + k] & 0x3f);
  }
  // Reject overlong forms, UTF-16 surrogates and values past U+10FFFF.
  if ((n === 3 && cp < 0x800) || (n === 4 && cp < 0x10000) || cp > 0x10ffff) return 0;
  if (cp >= 0xd800 && cp <= 0xdfff) return 0;
  return n;
}

/** The byte arrays one after another, in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
