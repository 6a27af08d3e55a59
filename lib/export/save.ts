/**
 * Writes a Hugging Face model directory from a course checkpoint or model, never half-written:
 * every check (the checkpoint, the layout, the tokenizer, the output directory) runs before
 * anything touches the disk; the files then go into a temporary sibling directory
 * (`.<name>.<uuid>.tmp`, the naming of lib/io/atomic.ts), each fsynced, and the directory is
 * renamed into place. With `overwrite`, the old directory is first renamed aside
 * (`.<name>.<uuid>.old`), the new one renamed in, and the old one removed; if the second rename
 * fails the old one is put back. (POSIX cannot swap two directories in one step, so between the
 * two renames the path is briefly absent, but it never holds a partial export.) On any failure
 * the temporary directory is removed. Temporaries of killed runs older than
 * {@link STALE_TEMP_MS} are removed by the next export to the same path.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import type { GPT } from "../model/gpt.ts";
import { decodeCheckpoint } from "../train/checkpoint.ts";
import { STALE_TEMP_MS, syncDirectory } from "../io/atomic.ts";
import { ExportError } from "./errors.ts";
import { exportHuggingFace, exportLayout } from "./export.ts";
import type { HfLayout } from "./layout.ts";
import { courseTokenizer } from "./tokenizer_files.ts";
import { BpeTokenizer } from "../tokenizers/bpe.ts";

/** Options for {@link saveHuggingFace}. */
export interface SaveOptions {
  /** Replace an existing output directory (default false: refuse). */
  overwrite?: boolean;
  /**
   * The tokenizer (instance or `toJSON()` form); default: the checkpoint's `extra.tokenizer`
   * when it has one (notebooks 01 and 02b store it), else none.
   */
  tokenizer?: unknown;
  /**
   * Called with the temporary directory once every file is in it, before it is renamed into
   * place. For tests: throwing here simulates a crash at the last moment.
   */
  beforeCommit?: (tempDir: string) => void | Promise<void>;
}

/** What {@link saveHuggingFace} wrote. */
export interface SaveResult {
  /** The output directory. */
  outDir: string;
  /** The layout written. */
  layout: HfLayout;
  /** The files, with their sizes in bytes. */
  files: { name: string; bytes: number }[];
  /** Which tokenizer was written, and where it came from. */
  tokenizer: { kind: "bpe" | "char"; from: "option" | "checkpoint" } | null;
}

/**
 * Exports a course model to a Hugging Face directory (see the module docs).
 *
 * @param source A checkpoint path (lib/train/checkpoint.ts format; its model is loaded and
 * freed again) or a model (read, not freed).
 * @param outDir The directory to create.
 * @param options `overwrite`, `tokenizer`.
 * @returns What was written.
 * @throws {ExportError} `bad-input` (missing file, not a course checkpoint), `unsupported-model`,
 * `tokenizer`, `exists` (the directory exists, or the path is not a directory), `io`.
 */
export async function saveHuggingFace(
  source: string | GPT,
  outDir: string,
  options: SaveOptions = {},
): Promise<SaveResult> {
  let tokenizerJson = options.tokenizer;
  let from: "option" | "checkpoint" = "option";
  let files: Map<string, Uint8Array>;
  let layout: HfLayout;
  if (typeof source === "string") {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(source);
    } catch (err) {
      throw new ExportError(
        "bad-input",
        `cannot read checkpoint "${source}": ${errText(err)}`,
        err,
      );
    }
    let loaded;
    try {
      loaded = decodeCheckpoint(bytes, source);
    } catch (err) {
      throw new ExportError(
        "bad-input",
        `"${source}" is not a course checkpoint (saveCheckpoint's format): ${errText(err)}`,
        err,
      );
    }
    if (tokenizerJson === undefined && loaded.extra?.tokenizer !== undefined) {
      tokenizerJson = loaded.extra.tokenizer;
      from = "checkpoint";
    }
    try {
      layout = exportLayout(loaded.model).layout;
      files = exportHuggingFace(loaded.model, { tokenizer: tokenizerJson });
    } finally {
      loaded.model.dispose();
    }
  } else {
    layout = exportLayout(source).layout;
    files = exportHuggingFace(source, { tokenizer: tokenizerJson });
  }
  await checkTarget(outDir, options.overwrite ?? false);
  await writeDirectory(outDir, files, options);
  const tokenizer = tokenizerJson === undefined ? null : {
    kind: courseTokenizer(tokenizerJson) instanceof BpeTokenizer ? "bpe" as const : "char" as const,
    from,
  };
  return {
    outDir,
    layout,
    files: [...files].map(([name, b]) => ({ name, bytes: b.length })),
    tokenizer,
  };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Refuses an existing target unless `overwrite`, and anything that is not a directory. */
async function checkTarget(outDir: string, overwrite: boolean): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(outDir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw new ExportError("io", `cannot check "${outDir}": ${errText(err)}`, err);
  }
  if (!info.isDirectory) {
    throw new ExportError(
      "exists",
      `"${outDir}" exists and is not a directory; the export will not replace it`,
    );
  }
  if (!overwrite) {
    throw new ExportError(
      "exists",
      `output directory "${outDir}" already exists; pass overwrite (--overwrite) to replace it`,
    );
  }
}

const TEMP_DIR =
  /^\.(.+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(tmp|old)$/;

/** Removes temporary directories of earlier exports to `outDir` older than STALE_TEMP_MS. */
async function removeStaleDirs(parent: string, name: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(parent)) {
      if (!entry.isDirectory || TEMP_DIR.exec(entry.name)?.[1] !== name) continue;
      const path = join(parent, entry.name);
      const { mtime } = await Deno.stat(path);
      if (mtime && Date.now() - mtime.getTime() > STALE_TEMP_MS) {
        await Deno.remove(path, { recursive: true });
      }
    }
  } catch {
    // Best effort: a problem with the parent shows up, with its message, in the write below.
  }
}

async function writeDirectory(
  outDir: string,
  files: Map<string, Uint8Array>,
  options: SaveOptions,
): Promise<void> {
  const target = resolve(outDir);
  const parent = dirname(target), name = basename(target);
  await removeStaleDirs(parent, name);
  const temp = join(parent, `.${name}.${crypto.randomUUID()}.tmp`);
  let created = false;
  try {
    await Deno.mkdir(temp);
    created = true;
    for (const [file, bytes] of files) {
      const handle = await Deno.open(join(temp, file), { write: true, createNew: true });
      try {
        let written = 0;
        while (written < bytes.length) written += await handle.write(bytes.subarray(written));
        await handle.sync();
      } finally {
        handle.close();
      }
    }
    await syncDirectory(temp);
    await options.beforeCommit?.(temp);
    if (options.overwrite && await isDirectory(target)) {
      const old = join(parent, `.${name}.${crypto.randomUUID()}.old`);
      await Deno.rename(target, old);
      try {
        await Deno.rename(temp, target);
      } catch (err) {
        await Deno.rename(old, target);
        throw err;
      }
      created = false;
      try {
        await Deno.remove(old, { recursive: true });
      } catch {
        // The new export is in place; a leftover .old directory is removed by a later export.
      }
    } else {
      await Deno.rename(temp, target);
      created = false;
    }
  } catch (err) {
    if (created) {
      try {
        await Deno.remove(temp, { recursive: true });
      } catch {
        // Nothing more can be done; STALE_TEMP_MS cleanup will retry.
      }
    }
    if (err instanceof ExportError) throw err;
    throw new ExportError("io", `cannot write "${outDir}": ${errText(err)}`, err);
  }
  await syncDirectory(parent);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isDirectory;
  } catch {
    return false;
  }
}
