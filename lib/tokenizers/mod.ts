/**
 * Tokenizers: characters (char.ts), a byte-level BPE trained the way GPT-2's was (bpe.ts, with
 * the heaps its merge loops use in heaps.ts), and GPT-2's own 50,257-token vocabulary (gpt2.ts).
 *
 * @module
 */

export { CharTokenizer, UnknownSymbolError } from "./char.ts";
export {
  type BpeJSON,
  BpeTokenizer,
  concatBytes,
  GPT2_PATTERN,
  type MergeEvent,
  type TrainOptions,
} from "./bpe.ts";
export { MinHeap, PairHeap } from "./heaps.ts";
export {
  GPT2_EOT,
  GPT2_EOT_ID,
  GPT2_MAX_PIECE,
  GPT2_VOCAB_SIZE,
  type Gpt2EncodeOptions,
  Gpt2Tokenizer,
} from "./gpt2.ts";
