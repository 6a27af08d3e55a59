/**
 * Readers for exported directories: a course {@link GPT} from `model.safetensors` +
 * `config.json` in the `gpt2`, `openai-gpt` or `gpt_neo` layout. `gpt2` goes through
 * lib/model/hf_gpt2.ts (with the head count and tying taken from config.json); the other two are
 * here. config.json must describe what the course computes (LayerNorm ε 1e-5, GELU in the tanh
 * approximation, a 4× MLP); anything else is refused rather than loaded approximately.
 *
 * Validation is bounded by the file, as in hf_gpt2.ts: the layer count config.json claims is
 * checked against the number of tensors before any list of names is built, every expected tensor
 * must be present with its exact shape, unexpected tensors are refused (the constant mask
 * buffers `attn.bias`/`attn.masked_bias` that older transformers saved are skipped), and no
 * tensor is created until everything has been checked.
 *
 * A gpt_neo import is the same function as the exported model but not the same parameters: the
 * query weights come back multiplied by √d (rounding once), the query, key and value biases as
 * zero, with the query bias's effect in a shifted ln_1.bias and the value bias's in out_proj's
 * bias (lib/export/tensors.ts explains why these folds are exact).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { GPT, paramVariable } from "../model/gpt.ts";
import { type GPTConfig, makeConfig, parameterShapes } from "../model/config.ts";
import { gpt2FromSafetensors } from "../model/hf_gpt2.ts";
import { decodeSafetensors, type TensorEntry, toFloat32 } from "../io/mod.ts";
import type { SparsePattern } from "../attention/patterns.ts";
import { ExportError } from "./errors.ts";
import { COURSE_LAYER_NORM_EPS, type HfConfigJson } from "./hf_config.ts";
import { expandAttentionTypes } from "./layout.ts";
import { transpose } from "./tensors.ts";

/** The two files a model is read from. */
export interface HfModelFiles {
  /** config.json, as text or parsed. */
  config: string | HfConfigJson;
  /** model.safetensors. */
  safetensors: Uint8Array;
  /** Names the source in error messages (default "<files>"). */
  source?: string;
}

const bad = (source: string, why: string, cause?: unknown) =>
  new ExportError("bad-input", `cannot read the Hugging Face model ${source}: ${why}`, cause);

/**
 * Builds a course GPT from an exported model (see the module docs).
 * @throws {ExportError} `bad-input`, naming the field or tensor, when config.json is not a
 * supported layout, describes a computation the course does not have, or does not match the
 * tensors.
 */
export function gptFromHuggingFace(files: HfModelFiles): GPT {
  const source = files.source ?? "<files>";
  let cfg: HfConfigJson;
  try {
    cfg = typeof files.config === "string" ? JSON.parse(files.config) : files.config;
  } catch (err) {
    throw bad(source, `config.json is not valid JSON (${(err as Error).message})`, err);
  }
  if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg)) {
    throw bad(source, "config.json must be a JSON object");
  }
  const field = new ConfigFields(cfg, source);
  switch (cfg.model_type) {
    case "gpt2":
      return readGpt2(files.safetensors, field, source);
    case "openai-gpt":
      return readOpenAiGpt(files.safetensors, field, source);
    case "gpt_neo":
      return readGptNeo(files.safetensors, field, source);
    default:
      throw bad(
        source,
        `config.json model_type is ${JSON.stringify(cfg.model_type)}; ` +
          'the course reads "gpt2", "openai-gpt" and "gpt_neo"',
      );
  }
}

/**
 * Reads `config.json` and `model.safetensors` from a directory and builds the model.
 * @throws {ExportError} `bad-input` when a file is missing or see {@link gptFromHuggingFace}.
 */
export async function loadHuggingFace(dir: string): Promise<GPT> {
  const read = async (name: string) => {
    try {
      return await Deno.readFile(join(dir, name));
    } catch (err) {
      throw bad(dir, `cannot read ${name}: ${(err as Error).message}`, err);
    }
  };
  const config = new TextDecoder().decode(await read("config.json"));
  return gptFromHuggingFace({ config, safetensors: await read("model.safetensors"), source: dir });
}

/** Typed access to config.json fields, with errors naming the field. */
class ConfigFields {
  constructor(readonly cfg: HfConfigJson, readonly source: string) {}

  int(name: string): number {
    const v = this.cfg[name];
    if (!Number.isSafeInteger(v) || (v as number) < 1) {
      throw bad(this.source, `config.json ${name} must be a positive integer, got ${v}`);
    }
    return v as number;
  }

  /** The value, which must be one of `allowed` (absent counts as `absent`). */
  oneOf(name: string, allowed: unknown[], absent: unknown, why: string): unknown {
    const v = name in this.cfg ? this.cfg[name] : absent;
    if (!allowed.includes(v)) {
      throw bad(this.source, `config.json ${name} is ${JSON.stringify(v)}; ${why}`);
    }
    return v;
  }

  dropout(name: string): number {
    const v = this.cfg[name] ?? 0;
    return typeof v === "number" && v >= 0 && v < 1 ? v : 0;
  }

  tied(): boolean {
    return this.oneOf(
      "tie_word_embeddings",
      [true, false],
      true,
      "expected true or false",
    ) as boolean;
  }

  /** The activation must be GELU's tanh form, which gpt2 and gpt_neo call "gelu_new". */
  tanhGelu(key: string): void {
    this.oneOf(key, ["gelu_new"], "gelu_new", 'the course uses GELU\'s tanh form, "gelu_new"');
  }

  layerNormEps(): void {
    this.oneOf(
      "layer_norm_epsilon",
      [COURSE_LAYER_NORM_EPS],
      1e-5,
      "the course's LayerNorm uses 1e-5",
    );
  }

  makeConfig(c: GPTConfig): GPTConfig {
    try {
      return makeConfig(c);
    } catch (err) {
      throw bad(this.source, (err as Error).message, err);
    }
  }
}

function readGpt2(bytes: Uint8Array, f: ConfigFields, source: string): GPT {
  f.tanhGelu("activation_function");
  f.layerNormEps();
  f.oneOf("scale_attn_weights", [true], true, "the course scales scores by 1/sqrt(head_dim)");
  f.oneOf("scale_attn_by_inverse_layer_idx", [false], false, "the course has no per-layer scaling");
  const width = f.int("n_embd");
  f.oneOf("n_inner", [null, 4 * width], null, `the course's MLP is 4 × ${width} wide`);
  const tied = f.tied();
  let model: GPT;
  try {
    model = gpt2FromSafetensors(bytes, {
      nHead: f.int("n_head"),
      dropout: f.dropout("resid_pdrop"),
      source,
    });
  } catch (err) {
    throw bad(source, (err as Error).message, err);
  }
  const c = model.config;
  const claims: [string, number, number][] = [
    ["vocab_size", f.int("vocab_size"), c.vocabSize],
    ["n_positions", f.int("n_positions"), c.contextLength],
    ["n_embd", width, c.nEmbd],
    ["n_layer", f.int("n_layer"), c.nLayer],
  ];
  let problem = claims.filter(([, want, got]) => want !== got)
    .map(([name, want, got]) => `config.json ${name} is ${want} but the tensors give ${got}`)[0];
  if (!problem && tied && !c.tiedEmbeddings) {
    problem = "config.json ties the head to wte but lm_head.weight differs from wte.weight";
  }
  if (!problem && !tied && c.tiedEmbeddings && !bytesHaveHead(bytes)) {
    problem = "config.json unties the head but there is no lm_head.weight";
  }
  if (problem) {
    model.dispose();
    throw bad(source, problem);
  }
  return model;
}

function bytesHaveHead(bytes: Uint8Array): boolean {
  return "lm_head.weight" in decodeSafetensors(bytes).tensors;
}

/** The file's tensors by name without the `transformer.` prefix, mask buffers skipped. */
function tensorsOf(bytes: Uint8Array, source: string): Map<string, TensorEntry> {
  let tensors: Record<string, TensorEntry>;
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (err) {
    throw bad(source, (err as Error).message, err);
  }
  const out = new Map<string, TensorEntry>();
  for (const [key, entry] of Object.entries(tensors)) {
    const name = key.startsWith("transformer.") ? key.slice("transformer.".length) : key;
    // Constants, not parameters: causal-mask buffers and position ids (older saves had them).
    if (/^h\.\d+\.attn\.(attention\.)?(masked_)?bias$|^position_ids$/.test(name)) continue;
    if (out.has(name)) {
      throw bad(source, `tensors "${name}" and "transformer.${name}" are the same`);
    }
    out.set(name, entry);
  }
  return out;
}

/**
 * Checks that `tensors` holds exactly `expected` (name → shape), of a float dtype, and returns
 * their values as float32.
 */
function checkedValues(
  tensors: Map<string, TensorEntry>,
  expected: Map<string, number[]>,
  source: string,
): Map<string, Float32Array> {
  const missing = [...expected.keys()].filter((n) => !tensors.has(n));
  if (missing.length > 0) {
    const more = missing.length > 8 ? ` and ${missing.length - 8} more` : "";
    throw bad(
      source,
      `missing tensor(s) ${missing.slice(0, 8).map((n) => `"${n}"`).join(", ")}${more}`,
    );
  }
  const unexpected = [...tensors.keys()].filter((n) => !expected.has(n));
  if (unexpected.length > 0) {
    throw bad(
      source,
      `unexpected tensor(s) ${unexpected.slice(0, 8).map((n) => `"${n}"`).join(", ")}`,
    );
  }
  const values = new Map<string, Float32Array>();
  for (const [name, shape] of expected) {
    const t = tensors.get(name)!;
    if (t.shape.join() !== shape.join()) {
      throw bad(source, `tensor "${name}" has shape [${t.shape}], expected [${shape}]`);
    }
    if (t.dtype !== "F32" && t.dtype !== "F16" && t.dtype !== "BF16") {
      throw bad(source, `tensor "${name}" is ${t.dtype}; expected F32, F16 or BF16`);
    }
    values.set(name, toFloat32(t));
  }
  return values;
}

/** The layer count, bounded by the file: each layer needs at least 12 tensors. */
function layerCount(f: ConfigFields, name: string, tensors: Map<string, TensorEntry>): number {
  const n = f.int(name);
  if (n * 12 > tensors.size) {
    throw bad(
      f.source,
      `config.json ${name} is ${n} but the file holds only ${tensors.size} tensors`,
    );
  }
  return n;
}

/** A GPT from course-named values; every tensor is created only after all checks passed. */
function buildGpt(config: GPTConfig, values: Map<string, Float32Array>): GPT {
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    params.set(name, paramVariable(values.get(name)!, shape));
  }
  return new GPT(config, params);
}

function readOpenAiGpt(bytes: Uint8Array, f: ConfigFields, source: string): GPT {
  f.oneOf(
    "afn",
    ["gelu"],
    "gelu",
    'the course uses GELU\'s tanh form, which openai-gpt calls "gelu"',
  );
  f.layerNormEps();
  const tensors = tensorsOf(bytes, source);
  const config = f.makeConfig({
    vocabSize: f.int("vocab_size"),
    contextLength: f.int("n_positions"),
    nLayer: layerCount(f, "n_layer", tensors),
    nHead: f.int("n_head"),
    nEmbd: f.int("n_embd"),
    dropout: f.dropout("resid_pdrop"),
    norm: "post",
    tiedEmbeddings: f.tied(),
  });
  const rename = (course: string) =>
    course === "wte.weight"
      ? "tokens_embed.weight"
      : course === "wpe.weight"
      ? "positions_embed.weight"
      : course;
  const expected = new Map([...parameterShapes(config)].map(([n, s]) => [rename(n), s]));
  const values = checkedValues(tensors, expected, source);
  return buildGpt(
    config,
    new Map([...parameterShapes(config).keys()].map((n) => [n, values.get(rename(n))!])),
  );
}

function readGptNeo(bytes: Uint8Array, f: ConfigFields, source: string): GPT {
  f.tanhGelu("activation_function");
  f.layerNormEps();
  const tensors = tensorsOf(bytes, source);
  const d = f.int("hidden_size"),
    nHead = f.int("num_heads"),
    nLayer = layerCount(f, "num_layers", tensors);
  f.oneOf("intermediate_size", [null, 4 * d], null, `the course's MLP is 4 × ${d} wide`);
  const types = expandAttentionTypes(f.cfg.attention_types, nLayer);
  const window = types.includes("local") ? f.int("window_size") : 0;
  const attention = types.map((t): SparsePattern =>
    t === "global" ? { kind: "dense" } : { kind: "band", window }
  );
  const config = f.makeConfig({
    vocabSize: f.int("vocab_size"),
    contextLength: f.int("max_position_embeddings"),
    nLayer,
    nHead,
    nEmbd: d,
    dropout: f.dropout("resid_dropout"),
    norm: "pre",
    tiedEmbeddings: f.tied(),
    attention,
  });
  const expected = new Map<string, number[]>([
    ["wte.weight", [config.vocabSize, d]],
    ["wpe.weight", [config.contextLength, d]],
    ["ln_f.weight", [d]],
    ["ln_f.bias", [d]],
  ]);
  if (!config.tiedEmbeddings) expected.set("lm_head.weight", [config.vocabSize, d]);
  for (let i = 0; i < nLayer; i++) {
    const p = `h.${i}.`;
    for (const ln of ["ln_1", "ln_2"]) {
      expected.set(`${p}${ln}.weight`, [d]).set(`${p}${ln}.bias`, [d]);
    }
    for (const proj of ["q_proj", "k_proj", "v_proj", "out_proj"]) {
      expected.set(`${p}attn.attention.${proj}.weight`, [d, d]);
    }
    expected.set(`${p}attn.attention.out_proj.bias`, [d]);
    expected.set(`${p}mlp.c_fc.weight`, [4 * d, d]).set(`${p}mlp.c_fc.bias`, [4 * d]);
    expected.set(`${p}mlp.c_proj.weight`, [d, 4 * d]).set(`${p}mlp.c_proj.bias`, [d]);
  }
  const hf = checkedValues(tensors, expected, source);
  const values = new Map<string, Float32Array>();
  for (const name of ["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias", "lm_head.weight"]) {
    if (hf.has(name)) values.set(name, hf.get(name)!);
  }
  const scale = Math.sqrt(d / nHead); // GPT-Neo's q_proj carries the 1/√d the course applies
  for (let i = 0; i < nLayer; i++) {
    const p = `h.${i}.`, a = `${p}attn.attention.`;
    const q = hf.get(a + "q_proj.weight")!, k = hf.get(a + "k_proj.weight")!;
    const v = hf.get(a + "v_proj.weight")!;
    const qkv = new Float32Array(d * 3 * d); // [in, 3·out]
    for (let inp = 0; inp < d; inp++) {
      for (let o = 0; o < d; o++) {
        qkv[inp * 3 * d + o] = q[o * d + inp] * scale;
        qkv[inp * 3 * d + d + o] = k[o * d + inp];
        qkv[inp * 3 * d + 2 * d + o] = v[o * d + inp];
      }
    }
    for (const ln of ["ln_1", "ln_2"]) {
      values.set(`${p}${ln}.weight`, hf.get(`${p}${ln}.weight`)!);
      values.set(`${p}${ln}.bias`, hf.get(`${p}${ln}.bias`)!);
    }
    values.set(p + "attn.c_attn.weight", qkv);
    values.set(p + "attn.c_attn.bias", new Float32Array(3 * d));
    values.set(p + "attn.c_proj.weight", transpose(hf.get(a + "out_proj.weight")!, d, d));
    values.set(p + "attn.c_proj.bias", hf.get(a + "out_proj.bias")!);
    values.set(p + "mlp.c_fc.weight", transpose(hf.get(p + "mlp.c_fc.weight")!, 4 * d, d));
    values.set(p + "mlp.c_fc.bias", hf.get(p + "mlp.c_fc.bias")!);
    values.set(p + "mlp.c_proj.weight", transpose(hf.get(p + "mlp.c_proj.weight")!, d, 4 * d));
    values.set(p + "mlp.c_proj.bias", hf.get(p + "mlp.c_proj.bias")!);
  }
  return buildGpt(config, values);
}
