/**
 * Loads OpenAI's GPT-2 weights as Hugging Face publishes them (`model.safetensors` of
 * openai-community/gpt2, gpt2-medium, gpt2-large, gpt2-xl) into the course's {@link GPT}.
 *
 * The course's GPT already uses GPT-2's parameter names and layouts (Conv1D weights are
 * [in, out]), so loading is renaming at most: names may carry a `transformer.` prefix (files
 * saved from `GPT2LMHeadModel`), the attention mask buffers `h.N.attn.bias` and
 * `h.N.attn.masked_bias` are constants, not parameters, and are skipped, and F16 / BF16 tensors
 * are widened to F32. The shape of the model is read off the tensors: `nLayer` from the `h.N`
 * blocks, `nEmbd` and `vocabSize` from `wte`, `contextLength` from `wpe`. The number of heads is
 * not visible in any shape, so it is given, or taken from GPT-2's published sizes by width.
 *
 * `scripts/fetch_gpt2.ts` (`deno task fetch:gpt2`) downloads the 124M model to
 * `checkpoints/gpt2/model.safetensors`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { GPT, paramVariable } from "./gpt.ts";
import { type GPTConfig, makeConfig, parameterShapes } from "./config.ts";
import { decodeSafetensors, type TensorEntry, toFloat32 } from "../io/mod.ts";
import { readFileChecked } from "../io/atomic.ts";

/** Heads of GPT-2's four published sizes, by width (small, medium, large, XL). */
export const GPT2_HEADS_BY_WIDTH: Readonly<Record<number, number>> = Object.freeze({
  768: 12,
  1024: 16,
  1280: 20,
  1600: 25,
});

/** A file that is not a usable GPT-2 checkpoint, with the reason (naming the tensor). */
export class HfGpt2Error extends Error {
  /** Creates the error; `source` is the path or a description of the bytes. */
  constructor(source: string, reason: string) {
    super(`cannot load GPT-2 weights from ${source}: ${reason}`);
    this.name = "HfGpt2Error";
  }
}

/** Options for {@link gpt2FromSafetensors} and {@link loadHfGpt2}. */
export interface HfGpt2Options {
  /** Attention heads; required unless the width is one of {@link GPT2_HEADS_BY_WIDTH}. */
  nHead?: number;
  /** Dropout for further training (GPT-2's 0.1 by default; inference never applies it). */
  dropout?: number;
  /** Names the source in error messages (default "<bytes>"; {@link loadHfGpt2} passes the path). */
  source?: string;
}

/** The part of a tensor name after the optional `transformer.` prefix; null for buffers. */
function parameterName(name: string): string | null {
  const bare = name.startsWith("transformer.") ? name.slice("transformer.".length) : name;
  return /^h\.\d+\.attn\.(masked_)?bias$/.test(bare) ? null : bare;
}

/**
 * Reads the model's shape off the tensors (see the module docs).
 * @throws {HfGpt2Error} When `wte`/`wpe` are missing or inconsistent, there are no blocks, or
 * the number of heads is neither given nor known for the width.
 */
export function inferGpt2Config(
  tensors: Record<string, Pick<TensorEntry, "shape">>,
  options: HfGpt2Options = {},
): GPTConfig {
  const source = options.source ?? "<bytes>";
  const byName = new Map<string, { key: string; shape: number[] }>();
  for (const [key, t] of Object.entries(tensors)) {
    const name = parameterName(key);
    if (name !== null) byName.set(name, { key, shape: t.shape });
  }
  const matrix = (name: string) => {
    const t = byName.get(name);
    if (!t) {
      throw new HfGpt2Error(
        source,
        `tensor "${name}" (or "transformer.${name}") is missing; is this a GPT-2 checkpoint?`,
      );
    }
    if (t.shape.length !== 2) {
      throw new HfGpt2Error(source, `tensor "${t.key}" has shape [${t.shape}], expected 2-D`);
    }
    return t.shape;
  };
  const [vocabSize, nEmbd] = matrix("wte.weight");
  const [contextLength, wpeWidth] = matrix("wpe.weight");
  if (wpeWidth !== nEmbd) {
    throw new HfGpt2Error(
      source,
      `wpe.weight is [${contextLength}, ${wpeWidth}] but wte.weight is [${vocabSize}, ${nEmbd}]: ` +
        "the widths differ",
    );
  }
  const blocks = new Set<number>();
  for (const name of byName.keys()) {
    const m = /^h\.(\d+)\./.exec(name);
    if (m) blocks.add(Number(m[1]));
  }
  if (blocks.size === 0) throw new HfGpt2Error(source, 'no Transformer blocks ("h.0.…") found');
  const nLayer = [...blocks].reduce((a, b) => Math.max(a, b), 0) + 1;
  if (blocks.size < nLayer) {
    // Found from the blocks present (not by counting up to what the names claim): a name such
    // as "h.999999999.ln_1.weight" costs no more than any other.
    const present = [...blocks].sort((a, b) => a - b);
    const gaps: string[] = [];
    let next = 0;
    for (const b of present) {
      if (b > next) gaps.push(b - 1 > next ? `h.${next}–h.${b - 1}` : `h.${next}`);
      next = b + 1;
      if (gaps.length >= 4) break;
    }
    throw new HfGpt2Error(
      source,
      `block h.${nLayer - 1} is present but ${nLayer - blocks.size} of the ${nLayer} blocks ` +
        `before it are missing (${gaps.join(", ")}${gaps.length >= 4 ? ", …" : ""})`,
    );
  }
  const nHead = options.nHead ?? GPT2_HEADS_BY_WIDTH[nEmbd];
  if (nHead === undefined) {
    throw new HfGpt2Error(
      source,
      `the number of heads cannot be read from the tensors and width ${nEmbd} is not a ` +
        `published GPT-2 size (${Object.keys(GPT2_HEADS_BY_WIDTH).join(", ")}); pass nHead`,
    );
  }
  // An lm_head that is not a copy of wte would need an untied head: checked by the loader.
  const tiedEmbeddings = !byName.has("lm_head.weight");
  try {
    return makeConfig({
      vocabSize,
      contextLength,
      nLayer,
      nHead,
      nEmbd,
      dropout: options.dropout ?? 0.1,
      norm: "pre",
      tiedEmbeddings,
    });
  } catch (err) {
    throw new HfGpt2Error(source, (err as Error).message);
  }
}

/**
 * Builds a {@link GPT} from the bytes of a Hugging Face GPT-2 `model.safetensors`.
 *
 * An `lm_head.weight` equal to `wte.weight` (a tied head saved twice) is dropped; a different
 * one gives a model with an untied head.
 *
 * @throws {HfGpt2Error} Naming the tensor when one is missing, unexpected, mis-shaped or of an
 * unsupported dtype, or when the file is not valid safetensors.
 */
export function gpt2FromSafetensors(bytes: Uint8Array, options: HfGpt2Options = {}): GPT {
  const source = options.source ?? "<bytes>";
  let tensors: Record<string, TensorEntry>;
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (err) {
    throw new HfGpt2Error(source, (err as Error).message);
  }
  let config = inferGpt2Config(tensors, options);
  const keyOf = new Map<string, string>(); // parameter name → tensor name in the file
  for (const key of Object.keys(tensors)) {
    const name = parameterName(key);
    if (name === null) continue;
    if (keyOf.has(name)) {
      throw new HfGpt2Error(source, `tensors "${keyOf.get(name)}" and "${key}" are the same`);
    }
    keyOf.set(name, key);
  }
  const read = (name: string): Float32Array => {
    const entry = tensors[keyOf.get(name)!];
    if (entry.dtype !== "F32" && entry.dtype !== "F16" && entry.dtype !== "BF16") {
      throw new HfGpt2Error(
        source,
        `tensor "${keyOf.get(name)}" is ${entry.dtype}; expected F32, F16 or BF16`,
      );
    }
    return toFloat32(entry); // F16/BF16 widen exactly
  };
  let lmHead: Float32Array | undefined;
  if (!config.tiedEmbeddings) {
    lmHead = read("lm_head.weight");
    const wte = read("wte.weight");
    if (lmHead.length === wte.length && lmHead.every((v, i) => v === wte[i])) {
      keyOf.delete("lm_head.weight");
      lmHead = undefined;
      config = makeConfig({ ...config, tiedEmbeddings: true });
    }
  }
  const shapes = parameterShapes(config);
  const missing = [...shapes.keys()].filter((name) => !keyOf.has(name));
  if (missing.length > 0) {
    const list = missing.slice(0, 8).map((n) => `"${n}"`).join(", ");
    const more = missing.length > 8 ? ` and ${missing.length - 8} more` : "";
    throw new HfGpt2Error(
      source,
      `missing tensor${missing.length > 1 ? "s" : ""} ${list}${more} ` +
        `(expected for ${config.nLayer} blocks of width ${config.nEmbd})`,
    );
  }
  const unexpected = [...keyOf].filter(([name]) => !shapes.has(name)).map(([, key]) => key);
  if (unexpected.length > 0) {
    throw new HfGpt2Error(
      source,
      `unexpected tensor${unexpected.length > 1 ? "s" : ""} ` +
        `${unexpected.slice(0, 8).map((k) => `"${k}"`).join(", ")}; not a GPT-2 parameter`,
    );
  }
  for (const [name, shape] of shapes) {
    const key = keyOf.get(name)!;
    const got = tensors[key].shape;
    if (got.join() !== shape.join()) {
      throw new HfGpt2Error(
        source,
        `tensor "${key}" has shape [${got}], expected [${shape}] ` +
          `(width ${config.nEmbd}, vocabulary ${config.vocabSize}, context ${config.contextLength})`,
      );
    }
  }
  const params = new Map<string, tf.Variable>();
  try {
    for (const [name, shape] of shapes) {
      const values = name === "lm_head.weight" && lmHead ? lmHead : read(name);
      params.set(name, paramVariable(values, shape));
    }
  } catch (err) {
    for (const p of params.values()) p.dispose(); // no leak when a late tensor is bad
    throw err;
  }
  return new GPT(config, params);
}

/**
 * Reads a Hugging Face GPT-2 `model.safetensors` file into a {@link GPT}, e.g.
 * `await loadHfGpt2("checkpoints/gpt2/model.safetensors")` after `deno task fetch:gpt2`.
 *
 * @throws {CheckpointNotFoundError} When the file does not exist (the message says so).
 * @throws {HfGpt2Error} See {@link gpt2FromSafetensors}.
 */
export async function loadHfGpt2(path: string, options: HfGpt2Options = {}): Promise<GPT> {
  return gpt2FromSafetensors(await readFileChecked(path), { source: path, ...options });
}
