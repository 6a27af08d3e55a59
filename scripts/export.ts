/**
 * Exports a course checkpoint to a Hugging Face model directory:
 *
 *     deno task export <checkpoint.safetensors> <out-dir> [--overwrite] [--tokenizer <file>]
 *
 * The layout follows the model (lib/export/layout.ts): GPT-2-style pre-norm → `gpt2`, GPT-1's
 * post-norm → `openai-gpt`, GPT-3's alternating dense / local-band layers → `gpt_neo`; a model
 * none of them expresses exactly is refused with the reason. The tokenizer is the checkpoint's
 * `extra.tokenizer` (notebooks 01 and 02b store it; notebook 03 saves no checkpoint) unless
 * `--tokenizer` names a JSON file holding a tokenizer's `toJSON()` (`{"type": "bpe", ...}` or
 * `{"type": "char", ...}`). An existing `<out-dir>` is refused unless `--overwrite`; the
 * directory is written atomically (lib/export/save.ts), so a refused or failed export leaves
 * nothing behind.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { initBackend } from "../lib/backend.ts";
import { ExportError, HF_CLASS, saveHuggingFace } from "../lib/export/mod.ts";

const USAGE =
  "usage: deno task export <checkpoint.safetensors> <out-dir> [--overwrite] [--tokenizer <file>]";

/** Where {@link runExport} prints. */
export interface ExportLog {
  /** Progress and the summary. */
  out: (line: string) => void;
  /** Errors and warnings. */
  err: (line: string) => void;
}

/**
 * Runs the command with `args` (without the program name); returns the exit status: 0 written,
 * 1 refused or failed (the reason on `log.err`), 2 bad usage.
 */
export async function runExport(args: string[], log: ExportLog = defaultLog): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        overwrite: { type: "boolean", default: false },
        tokenizer: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    log.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    log.out(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 2) {
    log.err(USAGE);
    return 2;
  }
  const [checkpoint, outDir] = parsed.positionals;
  try {
    let tokenizer: unknown;
    if (parsed.values.tokenizer !== undefined) {
      const path = parsed.values.tokenizer;
      try {
        tokenizer = JSON.parse(await Deno.readTextFile(path));
      } catch (err) {
        throw new ExportError(
          "tokenizer",
          `cannot read the tokenizer file "${path}": ${(err as Error).message}`,
          err,
        );
      }
    }
    await initBackend();
    const result = await saveHuggingFace(checkpoint, outDir, {
      overwrite: parsed.values.overwrite,
      tokenizer,
    });
    log.out(`wrote ${outDir} (${result.layout}, ${HF_CLASS[result.layout]}):`);
    for (const f of result.files) {
      log.out(`  ${f.name.padEnd(22)} ${f.bytes.toLocaleString("en-US")} bytes`);
    }
    if (result.tokenizer) {
      log.out(
        `tokenizer: ${result.tokenizer.kind}, from the ${
          result.tokenizer.from === "option" ? "--tokenizer file" : "checkpoint"
        }`,
      );
    } else {
      log.err(
        "warning: the checkpoint stores no tokenizer and --tokenizer was not given; " +
          "only the model files were written",
      );
    }
    return 0;
  } catch (err) {
    if (err instanceof ExportError) {
      log.err(`${err.reason === "io" ? "export failed" : "export refused"}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

const defaultLog: ExportLog = { out: console.log, err: console.error };

if (import.meta.main) Deno.exit(await runExport(Deno.args));
