/**
 * A GPT: token + learned position embeddings, a stack of Transformer blocks with causal
 * self-attention (dense, or the sparse pattern `config.attention[i]` of layer i) and an MLP,
 * and an output projection tied to the token embedding.
 *
 * `norm: "post"` gives GPT-1's block, x = LN(x + f(x)); `norm: "pre"` gives GPT-2's,
 * x = x + f(LN(x)), plus a final LayerNorm. Parameter names and layouts follow the Hugging Face
 * GPT-2 checkpoint ("h.0.attn.c_attn.weight" is [C, 3C]), so real GPT-2 weights load directly.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { countParams, type GPTConfig, makeConfig } from "./config.ts";
import { causalSelfAttention } from "./attention.ts";
import { crossEntropy, gelu, layerNorm } from "./layers.ts";
import { linear, matmulFast } from "../kernels/linear.ts";
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

/** What {@link GPT.forward} returns. The caller disposes the tensors. */
export interface ForwardResult {
  /** Next-token logits [B, T, vocab]. */
  logits: tf.Tensor3D;
  /** The final hidden states [B, T, C] (after the final LayerNorm in pre-norm models). */
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
}

/** The shape of every parameter, by name, for a configuration. */
export function parameterShapes(c: GPTConfig): Map<string, number[]> {
  const d = c.nEmbd;
  const shapes = new Map<string, number[]>([
    ["wte.weight", [c.vocabSize, d]],
    ["wpe.weight", [c.contextLength, d]],
  ]);
  for (let i = 0; i < c.nLayer; i++) {
    const p = `h.${i}.`;
    shapes.set(p + "ln_1.weight", [d]).set(p + "ln_1.bias", [d]);
    shapes.set(p + "attn.c_attn.weight", [d, 3 * d]).set(
      p + "attn.c_attn.bias",
      [3 * d],
    );
    shapes.set(p + "attn.c_proj.weight", [d, d]).set(p + "attn.c_proj.bias", [
      d,
    ]);
    shapes.set(p + "ln_2.weight", [d]).set(p + "ln_2.bias", [d]);
    shapes.set(p + "mlp.c_fc.weight", [d, 4 * d]).set(p + "mlp.c_fc.bias", [
      4 * d,
    ]);
    shapes.set(p + "mlp.c_proj.weight", [4 * d, d]).set(p + "mlp.c_proj.bias", [
      d,
    ]);
  }
  if (c.norm === "pre") shapes.set("ln_f.weight", [d]).set("ln_f.bias", [d]);
  if (!c.tiedEmbeddings) shapes.set("lm_head.weight", [c.vocabSize, d]);
  return shapes;
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

  /** Runs the model on token ids [B, T] (T ≤ contextLength). */
  forward(idx: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
    const c = this.config;
    const [b, t] = idx.shape;
    if (t > c.contextLength) {
      throw new Error(
        `GPT.forward: sequence of ${t} tokens exceeds the context of ${c.contextLength}`,
      );
    }
    const drop = options.training ? c.dropout : 0;
    let seed = options.seed ?? 0;
    const attention: tf.Tensor4D[] | undefined = options.returnAttention ? [] : undefined;
    const result = tf.tidy(() => {
      const tok = tf.gather(
        this.#p<tf.Tensor2D>("wte.weight"),
        tf.reshape(idx, [-1]),
      ); // [B·T, C]
      const pos = tf.slice(this.#p<tf.Tensor2D>("wpe.weight"), [0, 0], [
        t,
        c.nEmbd,
      ]); // [T, C]
      let x = tf.reshape(tf.add(tf.reshape(tok, [b, t, c.nEmbd]), pos), [
        b * t,
        c.nEmbd,
      ]) as tf.Tensor2D;
      if (drop) x = tf.dropout(x, drop, undefined, seed++) as tf.Tensor2D;
      for (let i = 0; i < c.nLayer; i++) {
        x = this.#block(i, x, b, t, drop, seed += 4, attention);
      }
      if (c.norm === "pre") {
        x = layerNorm(x, this.#p("ln_f.weight"), this.#p("ln_f.bias"));
      }
      const head = c.tiedEmbeddings ? "wte.weight" : "lm_head.weight";
      const logits = matmulFast(x, tf.transpose(this.#p<tf.Tensor2D>(head)));
      return {
        logits: tf.reshape(logits, [b, t, c.vocabSize]) as tf.Tensor3D,
        hidden: tf.reshape(x, [b, t, c.nEmbd]) as tf.Tensor3D,
      };
    });
    return attention ? { ...result, attention } : result;
  }

  #block(
    i: number,
    x: tf.Tensor2D,
    b: number,
    t: number,
    drop: number,
    seed: number,
    attention?: tf.Tensor4D[],
  ): tf.Tensor2D {
    const p = `h.${i}.`;
    const ln1 = (z: tf.Tensor2D) =>
      layerNorm(z, this.#p(p + "ln_1.weight"), this.#p(p + "ln_1.bias"));
    const ln2 = (z: tf.Tensor2D) =>
      layerNorm(z, this.#p(p + "ln_2.weight"), this.#p(p + "ln_2.bias"));
    const attn = (z: tf.Tensor2D) =>
      causalSelfAttention(z, {
        cAttnW: this.#p(p + "attn.c_attn.weight"),
        cAttnB: this.#p(p + "attn.c_attn.bias"),
        cProjW: this.#p(p + "attn.c_proj.weight"),
        cProjB: this.#p(p + "attn.c_proj.bias"),
      }, {
        batch: b,
        time: t,
        nHead: this.config.nHead,
        dropout: drop,
        seed,
        weightsOut: attention,
        pattern: this.config.attention?.[i], // undefined: dense causal
      });
    const mlp = (z: tf.Tensor2D) => {
      const hidden = gelu(
        linear(z, this.#p(p + "mlp.c_fc.weight"), this.#p(p + "mlp.c_fc.bias")),
      );
      const out = linear(
        hidden as tf.Tensor2D,
        this.#p(p + "mlp.c_proj.weight"),
        this.#p(p + "mlp.c_proj.bias"),
      );
      return drop ? tf.dropout(out, drop, undefined, seed + 2) as tf.Tensor2D : out;
    };
    if (this.config.norm === "pre") {
      x = tf.add(x, attn(ln1(x)));
      return tf.add(x, mlp(ln2(x)));
    }
    x = ln1(tf.add(x, attn(x)));
    return ln2(tf.add(x, mlp(x)));
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
