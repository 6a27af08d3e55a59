/**
 * Export of course models to Hugging Face model directories that
 * `transformers.AutoModelForCausalLM.from_pretrained(dir)` loads without conversion code, and
 * readers that bring such directories back as course models.
 *
 * - {@link planLayout}: which layout reproduces a model exactly (`gpt2` for pre-norm dense,
 *   `openai-gpt` for post-norm, `gpt_neo` for dense + local-band layers), or why none does.
 * - {@link exportHuggingFace}: the directory's files in memory (pure; for gpt_neo it folds the
 *   query biases into ln_1.bias, using {@link solveLinear}, and checks the folded files'
 *   logits against the model's with {@link checkQueryBiasFold}).
 * - {@link saveHuggingFace}: writes them from a checkpoint or a model, atomically.
 * - {@link gptFromHuggingFace} / {@link loadHuggingFace}: the way back.
 * - {@link Gpt2FilesTokenizer}: reads GPT-2-format vocab.json + merges.txt as transformers does.
 *
 * @example
 * ```ts ignore
 * import { saveHuggingFace } from "./mod.ts";
 *
 * await saveHuggingFace("checkpoints/gpt1_moby_char.safetensors", "out/hf/gpt1_moby_char");
 * ```
 *
 * @module
 */
export { ExportError, type ExportErrorReason } from "./errors.ts";
export {
  compressAttentionTypes,
  expandAttentionTypes,
  type HfLayout,
  type LayoutPlan,
  type NeoAttentionType,
  planLayout,
} from "./layout.ts";
export { COURSE_LAYER_NORM_EPS, type HfConfigJson, hfConfigJson } from "./hf_config.ts";
export { type HfTensor, hfTensors, transpose } from "./tensors.ts";
export { SingularMatrixError, solveLinear } from "./solve.ts";
export {
  checkQueryBiasFold,
  FOLD_CHECK_SEQUENCES,
  FOLD_TOLERANCE,
  foldCheckIds,
  type FoldGap,
  measureFoldGap,
} from "./verify.ts";
export {
  bytesToUnicode,
  type CourseTokenizer,
  courseTokenizer,
  type TokenizerFiles,
  tokenizerFiles,
} from "./tokenizer_files.ts";
export { Gpt2FilesTokenizer } from "./gpt2_files.ts";
export { exportHuggingFace, exportLayout, type ExportOptions, HF_CLASS } from "./export.ts";
export { saveHuggingFace, type SaveOptions, type SaveResult } from "./save.ts";
export { gptFromHuggingFace, type HfModelFiles, loadHuggingFace } from "./import.ts";
