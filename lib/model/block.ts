/**
 * The Transformer block, the unit a GPT stacks: causal self-attention and an MLP, each with a
 * LayerNorm and a residual connection.
 *
 * `norm: "post"` is GPT-1's block, x = LN(x + f(x)); `norm: "pre"` is GPT-2's,
 * x = x + f(LN(x)). A block is a typed view over the model's parameters named `h.<i>.…` (GPT-2's
 * names and layouts), so it can be run alone, e.g. to watch the residual stream block by block.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPTConfig, NormPlacement } from "./config.ts";
import { gelu, layerNorm } from "./layers.ts";
import { linear } from "../kernels/linear.ts";
import { type AttentionParams, causalSelfAttention } from "../attention/self_attention.ts";
import type { AttentionImplementation } from "../attention/dispatch.ts";
import type { LayerCache } from "../attention/cached.ts";
import type { SparsePattern } from "../attention/patterns.ts";

/** A LayerNorm's gain and bias [C]. */
export interface LayerNormParams {
  gain: tf.Tensor1D;
  bias: tf.Tensor1D;
}

/** The MLP's two layers: C → 4C (GELU) → C, weights in GPT-2's [in, out] layout. */
export interface MlpParams {
  cFcW: tf.Tensor2D;
  cFcB: tf.Tensor1D;
  cProjW: tf.Tensor2D;
  cProjB: tf.Tensor1D;
}

/** Everything one block reads, by role. */
export interface BlockParams {
  ln1: LayerNormParams;
  attn: AttentionParams;
  ln2: LayerNormParams;
  mlp: MlpParams;
}

/**
 * The dropout seeds of one forward pass, handed out in order (the embeddings take one, each
 * block three: attention weights, attention output, MLP output), so every mask of a step is
 * different and the same seed gives the same masks.
 */
export class SeedStream {
  #next: number;
  /** A stream starting at `seed`. */
  constructor(seed: number) {
    this.#next = seed;
  }
  /** The first of the next `count` seeds (a consumer that needs two takes two). */
  take(count = 1): number {
    const first = this.#next;
    this.#next += count;
    return first;
  }
}

/** How a block runs this time (shapes and the per-call choices). */
export interface BlockRun {
  /** Sequences B in x. */
  batch: number;
  /** Positions T per sequence in x. */
  time: number;
  /** Dropout rate (0 or undefined: none, as at evaluation). */
  dropout?: number;
  /** Dropout seeds; required when dropout is on. */
  seeds?: SeedStream;
  /** When given, the block's attention weights [B, H, T, T] are pushed here (caller disposes). */
  weightsOut?: tf.Tensor4D[];
  /** "reference" forces the plain tfjs attention. Default "auto". */
  implementation?: AttentionImplementation;
  /** Incremental decoding: this layer's key/value cache (batch 1, no dropout). */
  cache?: LayerCache;
}

/** The MLP of a block: GELU(x·W_fc + b_fc)·W_proj + b_proj, for x [N, C]. */
export function mlp(x: tf.Tensor2D, p: MlpParams): tf.Tensor2D {
  return tf.tidy(() => linear(gelu(linear(x, p.cFcW, p.cFcB)) as tf.Tensor2D, p.cProjW, p.cProjB));
}

/** Block `index` of a GPT: a view over the parameters `h.<index>.…` of `params`. */
export class Block {
  /** Position in the stack (0 next to the embeddings). */
  readonly index: number;
  /** Pre- or post-norm. */
  readonly norm: NormPlacement;
  /** Attention heads. */
  readonly nHead: number;
  /** This layer's attention pattern (undefined: dense causal). */
  readonly pattern?: SparsePattern;
  readonly #params: ReadonlyMap<string, tf.Tensor>;

  /** The view of block `index` of a model with configuration `config`. */
  constructor(params: ReadonlyMap<string, tf.Tensor>, index: number, config: GPTConfig) {
    this.#params = params;
    this.index = index;
    this.norm = config.norm;
    this.nHead = config.nHead;
    this.pattern = config.attention?.[index];
  }

  /** This block's parameters by role (the model's own tensors, not copies). */
  get params(): BlockParams {
    const p = <T extends tf.Tensor>(name: string) =>
      this.#params.get(`h.${this.index}.${name}`) as T;
    return {
      ln1: { gain: p("ln_1.weight"), bias: p("ln_1.bias") },
      attn: {
        cAttnW: p("attn.c_attn.weight"),
        cAttnB: p("attn.c_attn.bias"),
        cProjW: p("attn.c_proj.weight"),
        cProjB: p("attn.c_proj.bias"),
      },
      ln2: { gain: p("ln_2.weight"), bias: p("ln_2.bias") },
      mlp: {
        cFcW: p("mlp.c_fc.weight"),
        cFcB: p("mlp.c_fc.bias"),
        cProjW: p("mlp.c_proj.weight"),
        cProjB: p("mlp.c_proj.bias"),
      },
    };
  }

  /** Runs the block on the residual stream x [B·T, C] → [B·T, C]. */
  forward(x: tf.Tensor2D, run: BlockRun): tf.Tensor2D {
    const { ln1, attn, ln2, mlp: mlpParams } = this.params;
    const drop = run.dropout ?? 0;
    if (drop && !run.seeds) throw new Error("Block.forward: dropout needs a SeedStream");
    return tf.tidy(() => {
      const attention = (z: tf.Tensor2D) =>
        causalSelfAttention(z, attn, {
          batch: run.batch,
          time: run.time,
          nHead: this.nHead,
          pattern: this.pattern,
          dropout: drop,
          seed: drop ? run.seeds!.take(2) : 0, // weights, then output
          weightsOut: run.weightsOut,
          implementation: run.implementation,
          cache: run.cache,
        });
      const feedForward = (z: tf.Tensor2D) => {
        const out = mlp(z, mlpParams);
        return drop ? tf.dropout(out, drop, undefined, run.seeds!.take()) as tf.Tensor2D : out;
      };
      const norm1 = (z: tf.Tensor2D) => layerNorm(z, ln1.gain, ln1.bias);
      const norm2 = (z: tf.Tensor2D) => layerNorm(z, ln2.gain, ln2.bias);
      if (this.norm === "pre") {
        const h = tf.add(x, attention(norm1(x))) as tf.Tensor2D; // x + Attn(LN(x))
        return tf.add(h, feedForward(norm2(h))) as tf.Tensor2D; // h + MLP(LN(h))
      }
      const h = norm1(tf.add(x, attention(x)) as tf.Tensor2D); // LN(x + Attn(x))
      return norm2(tf.add(h, feedForward(h)) as tf.Tensor2D); // LN(h + MLP(h))
    });
  }
}
