/**
 * The GPT itself: configuration and parameter shapes (config.ts), the building blocks
 * (layers.ts), the Transformer block (block.ts), the model and its forward pass (gpt.ts),
 * incremental decoding (kv_cache.ts), sampling (sample.ts, generate.ts), positions
 * (positions.ts) and loading OpenAI's GPT-2 weights (hf_gpt2.ts). Attention lives in
 * lib/attention/.
 *
 * @module
 */
export {
  Block,
  type BlockParams,
  type BlockRun,
  type LayerNormParams,
  mlp,
  type MlpParams,
  SeedStream,
} from "./block.ts";
export {
  blockParameterShapes,
  ConfigError,
  countParams,
  COURSE,
  coursePreset,
  type GPTConfig,
  makeConfig,
  type NormPlacement,
  type ParamCount,
  parameterShapes,
  PUBLISHED,
} from "./config.ts";
export { generate, type GenerateOptions } from "./generate.ts";
export {
  type DecodingCache,
  type ForwardOptions,
  type ForwardResult,
  GPT,
  paramVariable,
} from "./gpt.ts";
export {
  GPT2_HEADS_BY_WIDTH,
  gpt2FromSafetensors,
  HfGpt2Error,
  type HfGpt2Options,
  inferGpt2Config,
  loadHfGpt2,
} from "./hf_gpt2.ts";
export { type AppendOptions, KVCache } from "./kv_cache.ts";
export { crossEntropy, gelu, geluReference, layerNorm, layerNormReference } from "./layers.ts";
export { initSinusoidalPositions, sinusoidalTable } from "./positions.ts";
export {
  checkSamplingOptions,
  firstNonFinite,
  NonFiniteError,
  sampleToken,
  type SamplingOptions,
  topPIndices,
} from "./sample.ts";
