/**
 * `config.json` for each layout: every field transformers' config class reads that changes the
 * forward pass, set to what the course model computes, so nothing is left to a default that
 * might differ (GPT2Config's default `bos_token_id` 50256, for instance, is meaningless for a
 * 37-token vocabulary and is written as null).
 *
 * Fixed facts of the course model that the fields encode:
 * - LayerNorm ε = 1e-5 (lib/model/layers.ts) → `layer_norm_epsilon: 1e-5`;
 * - GELU in the tanh approximation (lib/model/layers.ts) → `activation_function: "gelu_new"`
 *   for gpt2 and gpt_neo ("gelu" there is the exact erf form), and `afn: "gelu"` for
 *   openai-gpt, whose own table maps "gelu" to gelu_new (and has no "gelu_new" key);
 * - the MLP is 4 × wide → `n_inner: null` / `intermediate_size: 4·C`;
 * - scores are scaled by 1/√d → `scale_attn_weights: true` (gpt2; openai-gpt always scales;
 *   gpt_neo never does, so the export folds the scale into q_proj);
 * - one dropout rate → every dropout field (inference never applies them);
 * - no special tokens in the course tokenizers → `bos_token_id`/`eos_token_id` null.
 *
 * @module
 */
import type { GPTConfig } from "../model/config.ts";
import { compressAttentionTypes, type LayoutPlan } from "./layout.ts";

/** The LayerNorm ε of every course model (lib/model/layers.ts). */
export const COURSE_LAYER_NORM_EPS = 1e-5;

/** A config.json object (JSON values only). */
export type HfConfigJson = Record<string, unknown>;

/** The `config.json` contents for a model and its layout plan. */
export function hfConfigJson(c: GPTConfig, plan: LayoutPlan): HfConfigJson {
  const tied = c.tiedEmbeddings;
  switch (plan.layout) {
    case "gpt2":
      return {
        model_type: "gpt2",
        architectures: ["GPT2LMHeadModel"],
        vocab_size: c.vocabSize,
        n_positions: c.contextLength,
        n_embd: c.nEmbd,
        n_layer: c.nLayer,
        n_head: c.nHead,
        n_inner: null,
        activation_function: "gelu_new",
        layer_norm_epsilon: COURSE_LAYER_NORM_EPS,
        resid_pdrop: c.dropout,
        embd_pdrop: c.dropout,
        attn_pdrop: c.dropout,
        scale_attn_weights: true,
        scale_attn_by_inverse_layer_idx: false,
        reorder_and_upcast_attn: false,
        add_cross_attention: false,
        initializer_range: 0.02,
        tie_word_embeddings: tied,
        bos_token_id: null,
        eos_token_id: null,
        use_cache: true,
        torch_dtype: "float32",
      };
    case "openai-gpt":
      return {
        model_type: "openai-gpt",
        architectures: ["OpenAIGPTLMHeadModel"],
        vocab_size: c.vocabSize,
        n_positions: c.contextLength,
        n_embd: c.nEmbd,
        n_layer: c.nLayer,
        n_head: c.nHead,
        afn: "gelu", // ACT_FNS["gelu"] is gelu_new, the tanh approximation the course uses
        layer_norm_epsilon: COURSE_LAYER_NORM_EPS,
        resid_pdrop: c.dropout,
        embd_pdrop: c.dropout,
        attn_pdrop: c.dropout,
        initializer_range: 0.02,
        tie_word_embeddings: tied,
        torch_dtype: "float32",
      };
    case "gpt_neo":
      return {
        model_type: "gpt_neo",
        architectures: ["GPTNeoForCausalLM"],
        vocab_size: c.vocabSize,
        max_position_embeddings: c.contextLength,
        hidden_size: c.nEmbd,
        num_layers: c.nLayer,
        num_heads: c.nHead,
        intermediate_size: 4 * c.nEmbd,
        attention_types: compressAttentionTypes(plan.attentionLayers!),
        window_size: plan.windowSize,
        activation_function: "gelu_new",
        layer_norm_epsilon: COURSE_LAYER_NORM_EPS,
        resid_dropout: c.dropout,
        embed_dropout: c.dropout,
        attention_dropout: c.dropout,
        initializer_range: 0.02,
        tie_word_embeddings: tied,
        bos_token_id: null,
        eos_token_id: null,
        use_cache: true,
        torch_dtype: "float32",
      };
  }
}
