/**
 * GPT model configuration: validation, the published shapes of GPT-1/2/3, course-sized presets,
 * and an exact parameter count.
 *
 * @module
 */
import { type SparsePattern, validatePattern } from "../attention/patterns.ts";

/** Where LayerNorm sits: `post` (GPT-1, original Transformer) or `pre` (GPT-2 and later). */
export type NormPlacement = "post" | "pre";

/** Everything that defines a GPT's shape. */
export interface GPTConfig {
  /** Number of distinct tokens. */
  vocabSize: number;
  /** Longest sequence the model sees (learned position embeddings exist for each position). */
  contextLength: number;
  /** Number of Transformer blocks. */
  nLayer: number;
  /** Attention heads per block; must divide `nEmbd`. */
  nHead: number;
  /** Width of the residual stream. */
  nEmbd: number;
  /** Dropout on embeddings, attention weights and residual branches (0 disables). */
  dropout: number;
  /** LayerNorm placement. `pre` also adds a final LayerNorm after the last block, as GPT-2 does. */
  norm: NormPlacement;
  /** Share the token embedding with the output projection (GPT-1/2/3 all do). */
  tiedEmbeddings: boolean;
  /**
   * Optional attention pattern of each layer (lib/attention/patterns.ts), one per layer; absent
   * means dense causal attention everywhere. `layerPatterns("alternating", nLayer, band)` gives
   * GPT-3's alternation of dense and locally banded layers. Patterns have no parameters, so
   * they change neither the parameter count nor the checkpoint's tensors.
   */
  attention?: SparsePattern[];
}

/** Defaults for the optional fields of {@link makeConfig}. */
const DEFAULTS = {
  dropout: 0,
  norm: "pre" as NormPlacement,
  tiedEmbeddings: true,
};

/** A configuration error that names the offending field. */
export class ConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(`bad GPT config: ${message}`);
    this.name = "ConfigError";
  }
}

/** Fills defaults and validates; throws {@link ConfigError} naming the problem. */
export function makeConfig(
  config: Omit<GPTConfig, keyof typeof DEFAULTS> & Partial<GPTConfig>,
): GPTConfig {
  const c = { ...DEFAULTS, ...config } as GPTConfig;
  for (
    const key of [
      "vocabSize",
      "contextLength",
      "nLayer",
      "nHead",
      "nEmbd",
    ] as const
  ) {
    const v = c[key];
    if (!Number.isInteger(v) || v < 1) {
      throw new ConfigError(`${key} must be a positive integer, got ${v}`);
    }
  }
  if (c.nEmbd % c.nHead !== 0) {
    throw new ConfigError(
      `nEmbd (${c.nEmbd}) must be divisible by nHead (${c.nHead}) so every head gets an equal slice`,
    );
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) {
    throw new ConfigError(`dropout must be in [0, 1), got ${c.dropout}`);
  }
  if (c.norm !== "pre" && c.norm !== "post") {
    throw new ConfigError(
      `norm must be "pre" or "post", got ${JSON.stringify(c.norm)}`,
    );
  }
  if (typeof c.tiedEmbeddings !== "boolean") {
    throw new ConfigError(
      `tiedEmbeddings must be a boolean, got ${c.tiedEmbeddings}`,
    );
  }
  if (c.attention !== undefined) c.attention = checkAttention(c);
  const known = new Set([
    ...Object.keys(DEFAULTS),
    "attention",
    "vocabSize",
    "contextLength",
    "nLayer",
    "nHead",
    "nEmbd",
  ]);
  for (const key of Object.keys(config)) {
    if (!known.has(key)) throw new ConfigError(`unknown field "${key}"`);
  }
  return c;
}

/** Validates `attention` (one valid pattern per layer) and returns a copy of the list. */
function checkAttention(c: GPTConfig): SparsePattern[] {
  const list = c.attention;
  if (!Array.isArray(list) || list.length !== c.nLayer) {
    throw new ConfigError(
      `attention must list one pattern per layer (nLayer = ${c.nLayer}), got ${
        Array.isArray(list) ? `${list.length} patterns` : JSON.stringify(list)
      }; layerPatterns() in lib/attention builds such a list`,
    );
  }
  return list.map((p, i) => {
    try {
      validatePattern(p, c.contextLength);
    } catch (err) {
      throw new ConfigError(`attention[${i}]: ${(err as Error).message}`);
    }
    return { ...p }; // a copy: the caller's objects may change later
  });
}

/** Parameter count by part of the model. */
export interface ParamCount {
  /** Token + position embeddings. */
  embedding: number;
  /** All attention projections (with biases). */
  attention: number;
  /** All MLP weights (with biases). */
  mlp: number;
  /** All LayerNorm gains and biases, including the final one. */
  layerNorm: number;
  /** Output projection when it is not tied to the token embedding. */
  head: number;
  /** The sum. */
  total: number;
}

/** The shapes of one block's parameters, by name within the block (`ln_1.weight`, …). */
export function blockParameterShapes(nEmbd: number): Map<string, number[]> {
  const d = nEmbd;
  return new Map<string, number[]>([
    ["ln_1.weight", [d]],
    ["ln_1.bias", [d]],
    ["attn.c_attn.weight", [d, 3 * d]],
    ["attn.c_attn.bias", [3 * d]],
    ["attn.c_proj.weight", [d, d]],
    ["attn.c_proj.bias", [d]],
    ["ln_2.weight", [d]],
    ["ln_2.bias", [d]],
    ["mlp.c_fc.weight", [d, 4 * d]],
    ["mlp.c_fc.bias", [4 * d]],
    ["mlp.c_proj.weight", [4 * d, d]],
    ["mlp.c_proj.bias", [d]],
  ]);
}

/** The shapes of the parameters outside the blocks (embeddings, final LayerNorm, untied head). */
function outerParameterShapes(c: GPTConfig): Map<string, number[]> {
  const d = c.nEmbd;
  const shapes = new Map<string, number[]>([
    ["wte.weight", [c.vocabSize, d]],
    ["wpe.weight", [c.contextLength, d]],
  ]);
  if (c.norm === "pre") shapes.set("ln_f.weight", [d]).set("ln_f.bias", [d]);
  if (!c.tiedEmbeddings) shapes.set("lm_head.weight", [c.vocabSize, d]);
  return shapes;
}

/**
 * The shape of every parameter, by its GPT-2 name (`h.<i>.attn.c_attn.weight` is [C, 3C]), in
 * the order embeddings, blocks, final LayerNorm, head.
 */
export function parameterShapes(c: GPTConfig): Map<string, number[]> {
  const outer = outerParameterShapes(c);
  const shapes = new Map<string, number[]>();
  for (const name of ["wte.weight", "wpe.weight"]) shapes.set(name, outer.get(name)!);
  const block = blockParameterShapes(c.nEmbd);
  for (let i = 0; i < c.nLayer; i++) {
    for (const [name, shape] of block) shapes.set(`h.${i}.${name}`, shape);
  }
  for (const [name, shape] of outer) shapes.set(name, shape);
  return shapes;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Exact number of parameters of a model with this configuration, summed from the parameter
 * shapes (one block's shapes times the depth, so the cost does not grow with the model).
 */
export function countParams(c: GPTConfig): ParamCount {
  const count = { embedding: 0, attention: 0, mlp: 0, layerNorm: 0, head: 0 };
  for (const [name, shape] of blockParameterShapes(c.nEmbd)) {
    const part = name.startsWith("attn.")
      ? "attention"
      : name.startsWith("mlp.")
      ? "mlp"
      : "layerNorm";
    count[part] += c.nLayer * size(shape);
  }
  for (const [name, shape] of outerParameterShapes(c)) {
    const part = name.startsWith("ln_f")
      ? "layerNorm"
      : name === "lm_head.weight"
      ? "head"
      : "embedding";
    count[part] += size(shape);
  }
  const total = count.embedding + count.attention + count.mlp + count.layerNorm + count.head;
  return { ...count, total };
}

const gpt2 = (nLayer: number, nHead: number, nEmbd: number): GPTConfig =>
  makeConfig({
    vocabSize: 50257,
    contextLength: 1024,
    nLayer,
    nHead,
    nEmbd,
    dropout: 0.1,
  });
const gpt3 = (nLayer: number, nHead: number, nEmbd: number): GPTConfig =>
  makeConfig({ vocabSize: 50257, contextLength: 2048, nLayer, nHead, nEmbd });

/**
 * Published shapes. GPT-3 rows follow Table 2.1 of Brown et al. (2020), which is inconsistent in
 * two rows: XL lists 24 heads of 128 on a 2048-wide model (16 heads of 128 fit, used here), and
 * 13B lists d_model = 5140 with 40 heads of 128 (that is 5120, used here). The parameter totals
 * depend only on width and depth, so they agree with the paper's. GPT-3 also alternates dense
 * and banded sparse attention, which these shapes do not encode (add
 * `attention: layerPatterns("alternating", nLayer, band)` for that; the band is not published).
 */
export const PUBLISHED = {
  "gpt1": makeConfig({
    vocabSize: 40478,
    contextLength: 512,
    nLayer: 12,
    nHead: 12,
    nEmbd: 768,
    dropout: 0.1,
    norm: "post",
  }),
  "gpt2-small": gpt2(12, 12, 768),
  "gpt2-medium": gpt2(24, 16, 1024),
  "gpt2-large": gpt2(36, 20, 1280),
  "gpt2-xl": gpt2(48, 25, 1600),
  "gpt3-small": gpt3(12, 12, 768),
  "gpt3-medium": gpt3(24, 16, 1024),
  "gpt3-large": gpt3(24, 16, 1536),
  "gpt3-xl": gpt3(24, 16, 2048),
  "gpt3-2.7b": gpt3(32, 32, 2560),
  "gpt3-6.7b": gpt3(32, 32, 4096),
  "gpt3-13b": gpt3(40, 40, 5120),
  "gpt3-175b": gpt3(96, 96, 12288),
} as const satisfies Record<string, GPTConfig>;

/**
 * Course-sized shapes that train on a laptop CPU. `vocabSize` and `contextLength` are set by
 * the caller (they depend on the tokenizer and the experiment).
 */
export const COURSE = {
  /** nanoGPT's CPU reference: 4 layers, 4 heads, 128 wide (~0.8M parameters). */
  "tiny": { nLayer: 4, nHead: 4, nEmbd: 128 },
  /** A little deeper and wider (~2.7M parameters). */
  "small": { nLayer: 6, nHead: 6, nEmbd: 192 },
  /** Minimal, for tests. */
  "micro": { nLayer: 2, nHead: 2, nEmbd: 16 },
} as const;

/** Builds a course-sized config: `coursePreset("tiny", { vocabSize: 83, contextLength: 64 })`. */
export function coursePreset(
  name: keyof typeof COURSE,
  rest: { vocabSize: number; contextLength: number } & Partial<GPTConfig>,
): GPTConfig {
  const shape = COURSE[name];
  if (!shape) {
    throw new ConfigError(
      `unknown preset "${name}"; known: ${Object.keys(COURSE).join(", ")}`,
    );
  }
  return makeConfig({ ...shape, ...rest });
}
