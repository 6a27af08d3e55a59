/**
 * What the notebooks share about the course itself: whether this run is in
 * quick mode, and where a notebook keeps the models it saves for the next one.
 *
 * Quick mode (`GPT_COURSE_QUICK=1`, set by `deno task course --quick`,
 * `deno task lab --quick` and the notebook tests) trains tiny models for a few
 * steps. Its checkpoints go to `checkpoints/quick/`, so a test run never
 * overwrites the model a learner's full-mode run saved, and a full-mode
 * notebook never fine-tunes a 60-step model by mistake.
 *
 * @example
 * ```ts
 * const path = checkpointPath("gpt1_moby_char.safetensors");
 * // "../checkpoints/gpt1_moby_char.safetensors" (full mode) or
 * // "../checkpoints/quick/gpt1_moby_char.safetensors" (quick mode)
 * ```
 *
 * @module
 */
import { CheckpointNotFoundError } from "./io/atomic.ts";
import { loadCheckpoint, type LoadedCheckpoint } from "./train/checkpoint.ts";

/** The environment variable that selects quick mode (`"1"`). */
export const QUICK_ENV = "GPT_COURSE_QUICK";

/**
 * Whether the course runs in quick mode (`GPT_COURSE_QUICK=1`).
 *
 * @returns True in quick mode.
 */
export function isQuickMode(): boolean {
  return Deno.env.get(QUICK_ENV) === "1";
}

/**
 * Where a notebook saves (or finds) a course checkpoint, relative to
 * `notebooks/`, the folder the kernel runs in.
 *
 * @param name The file name, e.g. `"gpt1_moby_char.safetensors"`.
 * @param quick Quick mode (default: {@linkcode isQuickMode}).
 * @returns `../checkpoints/<name>`, or `../checkpoints/quick/<name>` in quick mode.
 */
export function checkpointPath(name: string, quick: boolean = isQuickMode()): string {
  if (name === "" || name.includes("/") || name.includes("\\") || name.startsWith(".")) {
    throw new RangeError(`checkpointPath: "${name}" must be a plain file name`);
  }
  return `../checkpoints/${quick ? "quick/" : ""}${name}`;
}

/**
 * Loads the checkpoint an earlier notebook saved, or fails with what to run.
 * In full mode it never falls back to a quick-mode checkpoint; when only that
 * one exists, the message says so.
 *
 * @param name The checkpoint's file name (see {@linkcode checkpointPath}).
 * @param notebook The notebook that saves it, e.g. `"01_gpt1_pretraining"`.
 * @returns The loaded checkpoint.
 */
export async function loadCourseCheckpoint(
  name: string,
  notebook: string,
): Promise<LoadedCheckpoint> {
  const quick = isQuickMode();
  const path = checkpointPath(name, quick);
  try {
    return await loadCheckpoint(path);
  } catch (err) {
    if (!(err instanceof CheckpointNotFoundError)) throw err;
    const run = `deno task course${quick ? " --quick" : ""} --only ${notebook}`;
    let message = `${path} is missing: run notebook ${notebook} first (${run})`;
    if (!quick && await exists(checkpointPath(name, true))) {
      message += `; only the quick-mode model (${
        checkpointPath(name, true)
      }, a few training steps) exists, and full mode does not use it`;
    }
    throw new Error(message, { cause: err });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
