/**
 * Which Hugging Face architecture reproduces a course model exactly, decided from its
 * configuration alone:
 *
 * | course model                                   | layout       | HF class              |
 * | ---------------------------------------------- | ------------ | --------------------- |
 * | `norm: "pre"`, dense causal attention          | `gpt2`       | GPT2LMHeadModel       |
 * | `norm: "post"` (GPT-1), dense causal attention | `openai-gpt` | OpenAIGPTLMHeadModel  |
 * | `norm: "pre"`, dense and local-band layers     | `gpt_neo`    | GPTNeoForCausalLM     |
 *
 * Band width → `window_size`: the course's band of `window` w lets query i see keys
 * j ∈ (i − w, i] (w keys, the query itself included, lib/attention/patterns.ts). GPT-Neo's local
 * layers mask with `bias ^ tril(bias, -window_size)`, which removes the keys j ≤ i − window_size,
 * so query i sees j ∈ (i − window_size, i]: the same set when `window_size = w`. There is no
 * off-by-one: both count the query itself. A band at least as wide as the context is the
 * dense mask for every sequence the model accepts, so it exports as a global layer.
 *
 * GPT-Neo takes any per-layer sequence of global and local layers (`attention_types`), but one
 * `window_size` for all local layers, so bands of different widths are refused. Strided, fixed
 * and LogSparse patterns have no mask in any of the three architectures and are refused; so is
 * a local band in a post-norm model (OpenAIGPTModel has dense attention only, and GPT-Neo's
 * blocks are pre-norm).
 *
 * @module
 */
import type { GPTConfig } from "../model/config.ts";
import { patternName } from "../attention/patterns.ts";
import { ExportError } from "./errors.ts";

/** The Hugging Face `model_type`s the course exports to. */
export type HfLayout = "gpt2" | "openai-gpt" | "gpt_neo";

/** GPT-Neo's names for a layer's attention: dense causal, or a local band. */
export type NeoAttentionType = "global" | "local";

/** What {@link planLayout} decided. */
export interface LayoutPlan {
  /** The architecture that reproduces the model. */
  layout: HfLayout;
  /** For `gpt_neo`: the attention type of every layer, in order. */
  attentionLayers?: NeoAttentionType[];
  /** For `gpt_neo`: the band width of the local layers (= the course's `window`). */
  windowSize?: number;
}

/**
 * Picks the layout for a configuration (see the module docs), or refuses.
 * @throws {ExportError} `unsupported-model`, naming the layer and pattern and saying why.
 */
export function planLayout(config: GPTConfig): LayoutPlan {
  const types: NeoAttentionType[] = [];
  const windows = new Map<number, number>(); // window → first layer using it
  (config.attention ?? []).forEach((p, i) => {
    if (p.kind === "dense" || (p.kind === "band" && p.window >= config.contextLength)) {
      types.push("global");
    } else if (p.kind === "band") {
      types.push("local");
      if (!windows.has(p.window)) windows.set(p.window, i);
    } else {
      throw new ExportError(
        "unsupported-model",
        `layer ${i} uses ${patternName(p)} attention, which no Hugging Face layout can express ` +
          "(gpt2 and openai-gpt have dense causal attention only, gpt_neo dense and one local " +
          "band); the model cannot be exported exactly",
      );
    }
  });
  if (windows.size > 1) {
    const list = [...windows].map(([w, i]) => `band(w=${w}) from layer ${i}`).join(", ");
    throw new ExportError(
      "unsupported-model",
      `the local layers use different band widths (${list}); GPT-Neo has a single ` +
        "window_size for all its local layers, so the model cannot be exported exactly",
    );
  }
  const local = types.includes("local");
  if (config.norm === "post") {
    if (local) {
      throw new ExportError(
        "unsupported-model",
        `a post-norm (GPT-1) model with local-band layers (layer ${windows.values().next().value}) ` +
          "has no Hugging Face layout: openai-gpt has dense attention only and gpt_neo's blocks " +
          "are pre-norm",
      );
    }
    return { layout: "openai-gpt" };
  }
  if (!local) return { layout: "gpt2" };
  return { layout: "gpt_neo", attentionLayers: types, windowSize: windows.keys().next().value };
}

/**
 * GPT-Neo's run-length form of the per-layer types: `[[["global", "local"], 2], [["global"], 1]]`
 * for global, local, global, local, global. Greedy: at each layer the unit of one or two layers
 * that repeats over the most layers from there. {@link expandAttentionTypes} undoes it.
 */
export function compressAttentionTypes(
  layers: readonly NeoAttentionType[],
): [NeoAttentionType[], number][] {
  const out: [NeoAttentionType[], number][] = [];
  let i = 0;
  while (i < layers.length) {
    let best: [NeoAttentionType[], number] = [[layers[i]], 1];
    for (const size of [1, 2]) {
      if (i + size > layers.length) continue;
      const unit = layers.slice(i, i + size);
      let repeats = 1;
      while (
        i + (repeats + 1) * size <= layers.length &&
        unit.every((t, k) => layers[i + repeats * size + k] === t)
      ) repeats++;
      if (size * repeats > best[0].length * best[1]) best = [unit, repeats];
    }
    out.push(best);
    i += best[0].length * best[1];
  }
  return out;
}

/**
 * Expands `attention_types` as transformers' GPTNeoConfig does (each unit repeated its count of
 * times, in order), after checking the total against `numLayers` without expanding, so a count
 * such as 1e12 costs nothing.
 * @throws {ExportError} `bad-input` when the value is malformed, names an unknown type or does
 * not give exactly `numLayers` layers.
 */
export function expandAttentionTypes(value: unknown, numLayers: number): NeoAttentionType[] {
  const bad = (why: string) => new ExportError("bad-input", `config.json: attention_types ${why}`);
  if (!Array.isArray(value)) throw bad("must be a list of [[types...], count] pairs");
  let total = 0;
  for (const item of value) {
    if (
      !Array.isArray(item) || item.length !== 2 || !Array.isArray(item[0]) ||
      !Number.isSafeInteger(item[1]) || item[1] < 0
    ) {
      throw bad(`has the entry ${JSON.stringify(item)}; expected [[types...], count]`);
    }
    for (const t of item[0]) {
      if (t !== "global" && t !== "local") {
        throw bad(`names ${JSON.stringify(t)}; only "global" and "local" exist`);
      }
    }
    total += item[0].length * item[1];
  }
  if (total !== numLayers) throw bad(`gives ${total} layers but num_layers is ${numLayers}`);
  const layers: NeoAttentionType[] = [];
  for (const [unit, count] of value as [NeoAttentionType[], number][]) {
    for (let k = 0; k < count; k++) layers.push(...unit);
  }
  return layers;
}
