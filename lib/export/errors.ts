/**
 * The one error type of the Hugging Face export: every refusal says what could not be exported
 * and why, and `reason` tells the kinds apart for code (and tests).
 *
 * @module
 */

/**
 * Why an export or an import was refused:
 * - `unsupported-model`: the layout cannot express the model exactly (a sparse pattern it has no
 *   mask for; for GPT-Neo, a query bias that cannot be folded into ln_1.bias because the layer's
 *   query block is singular, or whose float32 fold misses the logit check, ...);
 * - `bad-input`: the input is not what it claims (not a course checkpoint, a config.json that
 *   does not match its tensors, an unknown tokenizer description);
 * - `tokenizer`: the tokenizer cannot be written in Hugging Face's files, or does not fit the
 *   model;
 * - `exists`: the output directory exists and `overwrite` was not given;
 * - `io`: writing the files failed (nothing was left behind).
 */
export type ExportErrorReason = "unsupported-model" | "bad-input" | "tokenizer" | "exists" | "io";

/** A refused or failed export (or import of an exported model), with the reason. */
export class ExportError extends Error {
  /** The kind of refusal, see {@link ExportErrorReason}. */
  readonly reason: ExportErrorReason;

  /**
   * Creates the error.
   * @param reason The kind of refusal.
   * @param message What was refused and why (shown to the learner as is).
   * @param cause The underlying error, when there is one.
   */
  constructor(reason: ExportErrorReason, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ExportError";
    this.reason = reason;
  }
}
