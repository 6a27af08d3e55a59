/**
 * The check behind the gpt_neo export's query-bias fold (lib/export/tensors.ts): the fold is
 * exact in exact arithmetic, but ln_1.bias is stored in float32, and when a layer's query block
 * W_q is ill-conditioned the shift Δβ is large and its rounding error, multiplied through W_q,
 * is not small. So the exported files are read back with the course's own gpt_neo importer
 * (lib/export/import.ts) and run on fixed token sequences next to the original model; the
 * export is refused when the logits differ by more than {@link FOLD_TOLERANCE} ·
 * max(1, max |logit|).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt.ts";
import { Rng } from "../random.ts";
import { ExportError } from "./errors.ts";
import { gptFromHuggingFace } from "./import.ts";

/** Relative tolerance of the check: max |Δlogit| ≤ 1e-4 · max(1, max |logit|). */
export const FOLD_TOLERANCE = 1e-4;

/** How many sequences the check runs (each of the full context length). */
export const FOLD_CHECK_SEQUENCES = 2;

/** The check's token sequences: {@link FOLD_CHECK_SEQUENCES} of `contextLength` fixed ids. */
export function foldCheckIds(vocabSize: number, contextLength: number): number[][] {
  return Array.from({ length: FOLD_CHECK_SEQUENCES }, (_, s) => {
    const rng = new Rng(0x5eed + s);
    return Array.from({ length: contextLength }, () => rng.int(vocabSize));
  });
}

/** What {@link measureFoldGap} found. */
export interface FoldGap {
  /** Max |exported logit − course logit| over the check's sequences. */
  gap: number;
  /** Max |course logit|. */
  maxLogit: number;
  /** The tolerance these logits allow: FOLD_TOLERANCE · max(1, maxLogit). */
  tolerance: number;
}

/**
 * Reads the exported files back with the course's importer and measures the logit gap to
 * `model` on {@link foldCheckIds}. Every tensor it creates is freed, whatever happens.
 */
export function measureFoldGap(model: GPT, config: string, safetensors: Uint8Array): FoldGap {
  const c = model.config;
  const exported = gptFromHuggingFace({ config, safetensors, source: "<the gpt_neo export>" });
  let gap = 0, maxLogit = 0;
  try {
    for (const ids of foldCheckIds(c.vocabSize, c.contextLength)) {
      const [g, m] = tf.tidy(() => {
        const idx = tf.tensor2d(ids, [1, ids.length], "int32");
        const want = model.forward(idx).logits, got = exported.forward(idx).logits;
        return [
          tf.max(tf.abs(tf.sub(got, want))).dataSync()[0],
          tf.max(tf.abs(want)).dataSync()[0],
        ];
      });
      gap = Number.isNaN(g) || Number.isNaN(gap) ? NaN : Math.max(gap, g);
      maxLogit = Math.max(maxLogit, m);
    }
  } finally {
    exported.dispose();
  }
  return { gap, maxLogit, tolerance: FOLD_TOLERANCE * Math.max(1, maxLogit) };
}

/**
 * Refuses a gpt_neo export whose folded query biases do not reproduce the model.
 * @param model The course model.
 * @param config The exported config.json text.
 * @param safetensors The exported model.safetensors.
 * @param shifts Per layer, max |Δβ| actually added to ln_1.bias (0 where the query bias was 0).
 * @throws {ExportError} `unsupported-model`, naming the layer with the largest shift and the
 * measured gap, when the gap exceeds the tolerance.
 */
export function checkQueryBiasFold(
  model: GPT,
  config: string,
  safetensors: Uint8Array,
  shifts: readonly number[],
): void {
  const { gap, maxLogit, tolerance } = measureFoldGap(model, config, safetensors);
  if (gap <= tolerance) return;
  const worst = shifts.reduce((best, s, i) => s > shifts[best] ? i : best, 0);
  const measured = `the exported model's logits differ from the course model's by max |Δ| ` +
    `${gap.toExponential(3)} on ${FOLD_CHECK_SEQUENCES} fixed sequences of ` +
    `${model.config.contextLength} tokens, above the tolerance ${tolerance.toExponential(3)} ` +
    `(${FOLD_TOLERANCE} · max(1, max |logit| ${maxLogit.toPrecision(4)}))`;
  const blame = shifts[worst] > 0
    ? `layer ${worst} needs the largest shift (max |Δβ| ${shifts[worst].toExponential(3)}): ` +
      `the query block of "h.${worst}.attn.c_attn.weight" is so ill-conditioned that ` +
      "rounding ln_1.bias + Δβ to float32 breaks the fold of its query bias into ln_1.bias " +
      "(GPT-Neo's q_proj has no bias)"
    : "no layer has a query bias to fold, so this is a bug in the export";
  throw new ExportError(
    "unsupported-model",
    `gpt_neo export not exact: ${measured}; ${blame}. The export refuses this model rather ` +
      "than export it approximately",
  );
}
