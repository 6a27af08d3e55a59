/**
 * A course {@link GPT} as the files of a Hugging Face model directory, in memory:
 * `model.safetensors` (float32, `{"format": "pt"}` metadata, Hugging Face tensor names),
 * `config.json`, `README.txt`, and the tokenizer's files when one is given. Writing them to
 * disk is lib/export/save.ts's job; this part is pure, so tests can check the bytes.
 *
 * @module
 */
import type { GPT } from "../model/gpt.ts";
import type { GPTConfig } from "../model/config.ts";
import { encodeSafetensors, type TensorInput } from "../io/mod.ts";
import { type HfLayout, type LayoutPlan, planLayout } from "./layout.ts";
import { hfConfigJson } from "./hf_config.ts";
import { hfTensors } from "./tensors.ts";
import { courseTokenizer, tokenizerFiles } from "./tokenizer_files.ts";
import { checkQueryBiasFold, FOLD_TOLERANCE } from "./verify.ts";

/** Options for {@link exportHuggingFace}. */
export interface ExportOptions {
  /**
   * The model's tokenizer: a BpeTokenizer or CharTokenizer, or its `toJSON()` form (as
   * checkpoints store it in `extra.tokenizer`). Without one only the model files are written.
   */
  tokenizer?: unknown;
}

/** The Hugging Face class each layout loads as. */
export const HF_CLASS: Readonly<Record<HfLayout, string>> = Object.freeze({
  "gpt2": "GPT2LMHeadModel",
  "openai-gpt": "OpenAIGPTLMHeadModel",
  "gpt_neo": "GPTNeoForCausalLM",
});

/** The layout a model exports to, or the reason it cannot (see lib/export/layout.ts). */
export function exportLayout(model: GPT): LayoutPlan {
  return planLayout(model.config);
}

/**
 * The files of a Hugging Face model directory for `model`, by file name. Nothing is written
 * anywhere. For `gpt_neo`, whose query biases are folded into ln_1.bias (lib/export/tensors.ts),
 * the built files are read back with the course's importer and run next to `model` on two fixed
 * sequences of the full context (lib/export/verify.ts); the export is refused if the logits
 * differ by more than 1e-4 · max(1, max |logit|).
 *
 * @param model The course model; its parameters are read, not changed. The gpt_neo check
 * creates tensors and frees them all again, whether it passes or not.
 * @param options The tokenizer, optionally.
 * @returns File name → contents: `config.json`, `model.safetensors`, `README.txt`, and for a
 * BPE tokenizer `vocab.json`, `merges.txt`, `tokenizer_config.json`, for a character tokenizer
 * `vocab.json`.
 * @throws {ExportError} `unsupported-model` when the layout cannot express the model exactly
 * (for gpt_neo also: a layer's query block is singular, or the float32 fold misses the
 * tolerance), `tokenizer` when the tokenizer cannot be written or does not fit the model.
 */
export function exportHuggingFace(
  model: GPT,
  options: ExportOptions = {},
): Map<string, Uint8Array> {
  const c = model.config;
  const plan = planLayout(c);
  const tokenizer = options.tokenizer === undefined
    ? undefined
    : tokenizerFiles(courseTokenizer(options.tokenizer), c.vocabSize, c.contextLength);
  const weights = new Map<string, Float32Array>();
  for (const [name, p] of model.params) weights.set(name, p.dataSync() as Float32Array);
  const hf = hfTensors(c, plan, weights);
  const tensors: Record<string, TensorInput> = {};
  for (const [name, t] of hf) tensors[name] = { dtype: "F32", shape: t.shape, data: t.data };
  const utf8 = new TextEncoder();
  const config = JSON.stringify(hfConfigJson(c, plan), null, 2) + "\n";
  const safetensors = encodeSafetensors(tensors, { format: "pt" });
  if (plan.layout === "gpt_neo") {
    const shifts = Array.from({ length: c.nLayer }, (_, i) => {
      const before = weights.get(`h.${i}.ln_1.bias`)!;
      const after = hf.get(`transformer.h.${i}.ln_1.bias`)!.data;
      return before.reduce((m, v, j) => Math.max(m, Math.abs(after[j] - v)), 0);
    });
    checkQueryBiasFold(model, config, safetensors, shifts);
  }
  const files = new Map<string, Uint8Array>([
    ["config.json", utf8.encode(config)],
    ["model.safetensors", safetensors],
    ["README.txt", utf8.encode(readme(c, plan, tokenizer?.readme))],
  ]);
  for (const [name, bytes] of tokenizer?.files ?? []) files.set(name, bytes);
  return files;
}

/** What the directory is and how to load it. */
function readme(c: GPTConfig, plan: LayoutPlan, tokenizer?: string): string {
  const lines = [
    `A GPT trained in the course, exported to Hugging Face's "${plan.layout}" layout`,
    `(${HF_CLASS[plan.layout]}), float32:`,
    "",
    "  from transformers import AutoModelForCausalLM",
    '  model = AutoModelForCausalLM.from_pretrained("path/to/this/directory")',
    "",
    `Shape: ${c.nLayer} layers, ${c.nHead} heads, width ${c.nEmbd}, vocabulary ${c.vocabSize}, ` +
    `context ${c.contextLength};`,
    `${c.norm}-norm blocks, LayerNorm eps 1e-5, GELU (tanh approximation), dropout ${c.dropout}, ` +
    `${c.tiedEmbeddings ? "tied" : "untied"} output head.`,
  ];
  if (plan.layout === "gpt_neo") {
    const local = plan.attentionLayers!.flatMap((t, i) => t === "local" ? [i] : []);
    lines.push(
      `Attention: ${local.length > 1 ? "layers" : "layer"} ${local.join(", ")} ${
        local.length > 1 ? "are" : "is"
      } local with window_size ${plan.windowSize}`,
      `(query i sees keys i-${plan.windowSize! - 1}..i, the course's band of ${plan.windowSize}),`,
      "the others dense. GPT-Neo does not scale scores by 1/sqrt(head_dim) and has no q/k/v",
      "biases, so the export folds them: the scale into q_proj (W_q / sqrt(head_dim)); the",
      "query bias b_q into ln_1.bias, shifted by the d that solves d @ W_q = b_q (ln_1 feeds",
      "only the attention, so the queries come out as before); the key bias, and the shift's",
      "effect on the keys, dropped (they add one constant to all scores of a query, which",
      "softmax ignores); the value bias, less the shift's effect on the values, into",
      "out_proj.bias (attention weights sum to 1). All three are exact in exact arithmetic;",
      "ln_1.bias is stored in float32, so the exporter read these files back and compared",
      "the logits with the course model's on two fixed full-context sequences (max |diff| <=",
      `${FOLD_TOLERANCE} * max(1, max |logit|), or the export is refused). So ln_1.bias and`,
      "out_proj.bias are not the course model's numbers, but the model computes the same",
      "function. Use the default eager attention: transformers' flash_attention_2 path for",
      "GPT-Neo ignores the local window.",
    );
  }
  lines.push("", tokenizer ?? "No tokenizer was exported.");
  return lines.join("\n") + "\n";
}
