/**
 * A GPT: token + learned position embeddings, a stack of Transformer blocks (block.ts: causal
 * self-attention, dense or the sparse pattern `config.attention[i]` of layer i, and an MLP), a
 * final LayerNorm in pre-norm models, and an output projection tied to the token embedding.
 *
 * The forward pass reads top to bottom: embed → blocks → final LayerNorm → head. Parameter
 * names and layouts follow the Hugging Face GPT-2 checkpoint ("h.0.attn.c_attn.weight" is
 * [C, 3C]), so real GPT-2 weights load directly.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { countParams, type GPTConfig, makeConfig, parameterShapes } from "./config.ts";
import { Block, SeedStream } from "./block.ts";
import { crossEntropy, layerNorm } from "./layers.ts";
import { matmulFast } from "../kernels/linear.ts";
import type { AttentionImplementation } from "../attention/dispatch.ts";
import type { LayerCache } from "../attention/cached.ts";
import { Rng } from "../random.ts";

/**
 * A trainable variable holding `values` (unnamed: tfjs variable names are global, and several
 * models may coexist). The temporary tensor it is copied from is freed, so building a model
 * leaves exactly one tensor per parameter.
 */
export function paramVariable(values: Float32Array, shape: readonly number[]): tf.Variable {
  const t = tf.tensor(values, [...shape]);
  const v = tf.variable(t);
  t.dispose();
  return v;
}

/**
 * What an incremental decoding pass needs (lib/model/kv_cache.ts's `KVCache` is one): a key/value
 * cache per layer, all at the same length, and optionally the output head transposed once
 * ([C, vocab]: a plain matmul is several times faster than a transposed one on wasm).
 */
export interface DecodingCache {
  /** One cache per block. */
  readonly layers: readonly LayerCache[];
  /** The head as [C, vocab], if the cache keeps a copy. */
  readonly headT?: tf.Tensor2D;
}

/** What {@link GPT.forward} returns. The caller disposes the tensors. */
export interface ForwardResult {
  /** Next-token logits [B, T, vocab] (T = 1 with `logits: "last"`). */
  logits: tf.Tensor3D;
  /** The final hidden states [B, T, C] of the same positions (after ln_f in pre-norm models). */
  hidden: tf.Tensor3D;
  /** Attention weights per layer [B, H, T, T], when requested. */
  attention?: tf.Tensor4D[];
}

/** Options for {@link GPT.forward}. */
export interface ForwardOptions {
  /** Apply dropout (training). Default false. */
  training?: boolean;
  /** Seed for this call's dropout masks (vary it per step for fresh masks). */
  seed?: number;
  /** Also return every layer's attention weights. */
  returnAttention?: boolean;
  /** "reference" runs the plain tfjs attention instead of the fast kernels. Default "auto". */
  attention?: AttentionImplementation;
  /**
   * Incremental decoding of one sequence: idx [1, n] holds the next n tokens, at positions
   * cache length … cache length + n − 1; their keys and values are added to the cache.
   */
  cache?: DecodingCache;
  /** "last": only the last position's logits (what sampling needs). Default "all". */
  logits?: "all" | "last";
}

/**
 * Initial values as in GPT-2: weights ~ N(0, 0.02), the two residual projections of each block
 * scaled by 1/√(2·nLayer) so the residual stream's variance does not grow with depth, biases 0,
 * LayerNorm gains 1.
 */
function initialValue(
  name: string,
  shape: number[],
  c: GPTConfig,
  rng: Rng,
): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (name.endsWith(".bias")) return new Float32Array(size);
  if (/ln_\w+\.weight$/.test(name)) return new Float32Array(size).fill(1);
  const residual = name.endsWith("c_proj.weight");
  return rng.normalArray(
    size,
    residual ? 0.02 / Math.sqrt(2 * c.nLayer) : 0.02,
  );
}

/** A GPT whose parameters are tfjs variables, keyed by GPT-2 names. */
export class GPT {
  /** The validated configuration. */
  readonly config: GPTConfig;
  /** Trainable parameters by name. */
  readonly params: Map<string, tf.Variable>;
  readonly #blocks: Block[];

  /** Wraps existing parameters; they must match {@link parameterShapes} exactly. */
  constructor(config: GPTConfig, params: Map<string, tf.Variable>) {
    this.config = makeConfig(config);
    const want = parameterShapes(this.config);
    for (const [name, shape] of want) {
      const p = params.get(name);
      if (!p) throw new Error(`GPT: missing parameter "${name}"`);
      if (p.shape.join() !== shape.join()) {
        throw new Error(
          `GPT: parameter "${name}" has shape [${p.shape}], expected [${shape}]`,
        );
      }
    }
    for (const name of params.keys()) {
      if (!want.has(name)) {
        throw new Error(`GPT: unexpected parameter "${name}"`);
      }
    }
    this.params = params;
    this.#blocks = Array.from(
      { length: this.config.nLayer },
      (_, i) => new Block(params, i, this.config),
    );
  }

  /** A freshly initialised model; the same seed gives the same weights on any backend. */
  static create(config: GPTConfig, seed = 0): GPT {
    const c = makeConfig(config);
    const rng = new Rng(seed);
    const params = new Map<string, tf.Variable>();
    for (const [name, shape] of parameterShapes(c)) {
      params.set(name, paramVariable(initialValue(name, shape, c, rng), shape));
    }
    return new GPT(c, params);
  }

  /** Number of parameters (tied embeddings counted once). */
  numParams(): number {
    return countParams(this.config).total;
  }

  #p<T extends tf.Tensor>(name: string): T {
    return this.params.get(name) as unknown as T;
  }

  /** The blocks, in order from the embeddings up: views over this model's parameters. */
  get blocks(): readonly Block[] {
    return this.#blocks;
  }

  /**
   * Token + position embeddings of ids [B, T] at positions start … start + T − 1, as the
   * residual stream [B·T, C].
   */
  embed(idx: tf.Tensor2D, start = 0): tf.Tensor2D {
    const c = this.config;
    const [b, t] = idx.shape;
    return tf.tidy(() => {
      const tok = tf.gather(this.#p<tf.Tensor2D>("wte.weight"), tf.reshape(idx, [-1])); // [B·T, C]
      const pos = tf.slice(this.#p<tf.Tensor2D>("wpe.weight"), [start, 0], [t, c.nEmbd]); // [T, C]
      return tf.reshape(tf.add(tf.reshape(tok, [b, t, c.nEmbd]), pos), [b * t, c.nEmbd]);
    });
  }

  /** The final LayerNorm of pre-norm models (GPT-2's ln_f); post-norm models have none. */
  finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    if (this.config.norm !== "pre") return x;
    return layerNorm(x, this.#p("ln_f.weight"), this.#p("ln_f.bias"));
  }

  /** Next-token logits [N, vocab] of hidden states [N, C] (the head, tied or not). */
  head(x: tf.Tensor2D, headT?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const w = this.#p<tf.Tensor2D>(this.config.tiedEmbeddings ? "wte.weight" : "lm_head.weight");
      return matmulFast(x, headT ?? tf.transpose(w));
    });
  }

  /** Runs the model on token ids [B, T] (T ≤ contextLength): embed → blocks → ln_f → head. */
  forward(idx: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
    const c = this.config;
    const [b, t] = idx.shape;
    const { cache } = options;
    const start = cache?.layers[0]?.length ?? 0;
    if (start + t > c.contextLength) {
      throw new Error(
        `GPT.forward: sequence of ${start + t} tokens exceeds the context of ${c.contextLength}`,
      );
    }
    if (cache && (b !== 1 || cache.layers.length !== c.nLayer || options.training)) {
      throw new Error(
        `GPT.forward: a decoding cache needs batch 1 (got ${b}), one layer cache per block ` +
          `(${cache.layers.length} for ${c.nLayer}) and no training`,
      );
    }
    const dropout = options.training ? c.dropout : 0;
    const seeds = new SeedStream(options.seed ?? 0);
    const attention: tf.Tensor4D[] | undefined = options.returnAttention ? [] : undefined;
    const rows = options.logits === "last" ? 1 : t;
    const result = tf.tidy(() => {
      let x = this.embed(idx, start);
      if (dropout) x = tf.dropout(x, dropout, undefined, seeds.take()) as tf.Tensor2D;
      for (const block of this.#blocks) {
        x = block.forward(x, {
          batch: b,
          time: t,
          dropout,
          seeds,
          weightsOut: attention,
          implementation: options.attention,
          cache: cache?.layers[block.index],
        });
      }
      if (rows < t) { // only the rows whose logits are wanted go through ln_f and the head
        x = tf.reshape(tf.slice(tf.reshape(x, [b, t, c.nEmbd]), [0, t - 1, 0], [b, 1, c.nEmbd]), [
          b,
          c.nEmbd,
        ]);
      }
      x = this.finalNorm(x);
      return {
        logits: tf.reshape(this.head(x, cache?.headT), [b, rows, c.vocabSize]) as tf.Tensor3D,
        hidden: tf.reshape(x, [b, rows, c.nEmbd]) as tf.Tensor3D,
      };
    });
    return attention ? { ...result, attention } : result;
  }

  /** Mean next-token cross-entropy (nats/token) of ids [B, T] against targets [B, T] (-1 = ignore). */
  loss(
    idx: tf.Tensor2D,
    targets: tf.Tensor2D,
    options: ForwardOptions = {},
  ): tf.Scalar {
    return tf.tidy(() => {
      const { logits, hidden } = this.forward(idx, options);
      hidden.dispose();
      const [b, t, v] = logits.shape;
      return crossEntropy(
        tf.reshape(logits, [b * t, v]),
        tf.reshape(targets, [b * t]),
      );
    });
  }

  /**
   * Evaluates `f` (a scalar loss built from this model) and its gradient with respect to every
   * parameter, keyed by parameter name. The caller disposes `value` and the gradients.
   */
  valueAndGrads(
    f: () => tf.Scalar,
  ): { value: tf.Scalar; grads: Map<string, tf.Tensor> } {
    const names = [...this.params.keys()];
    const vars = names.map((n) => this.params.get(n)!);
    const { value, grads } = tf.variableGrads(f, vars);
    return {
      value,
      grads: new Map(names.map((n, i) => [n, grads[vars[i].name]])),
    };
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const p of this.params.values()) p.dispose();
  }
}
