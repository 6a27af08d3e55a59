/**
 * Crash-safe file writes and friendly checkpoint reads.
 *
 * {@linkcode writeFileAtomic} never leaves a half-written target behind: a
 * reader sees either the old file or the complete new one, even if the
 * process or the machine dies mid-write.
 *
 * Requires `--allow-read` and `--allow-write` for the paths involved.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Thrown when {@linkcode writeFileAtomic} fails; `cause` has the OS error. */
export class AtomicWriteError extends Error {
  /** The target path that was not written. */
  readonly path: string;

  /**
   * @param path The target path.
   * @param cause The underlying error.
   */
  constructor(path: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`cannot write "${path}": ${detail}`, { cause });
    this.name = "AtomicWriteError";
    this.path = path;
  }
}

/** Thrown by {@linkcode readFileChecked} when the file does not exist. */
export class CheckpointNotFoundError extends Error {
  /** The path that was looked up. */
  readonly path: string;

  /**
   * @param path The missing path.
   * @param cause The underlying `Deno.errors.NotFound`.
   */
  constructor(path: string, cause?: unknown) {
    super(`checkpoint not found: ${path}`, { cause });
    this.name = "CheckpointNotFoundError";
    this.path = path;
  }
}

/** Returns a fresh temporary path next to `path`, in the same directory. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
}

/**
 * A temporary file of an earlier write to `path` older than this is an orphan (its writer was
 * killed between creating and renaming it) and is removed by the next write to `path`. Younger
 * ones may belong to a write still in progress in another process, and are left alone.
 */
export const STALE_TEMP_MS = 10 * 60 * 1000;

const TEMP_NAME = /^\.(.+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/**
 * Removes the orphaned temporary files of earlier writes to `path` (see
 * {@linkcode STALE_TEMP_MS}); best effort, and it never touches `path` itself or the temporary
 * files of other targets.
 *
 * @param path The target file whose orphans to remove.
 * @param now The current time in ms (injectable for tests).
 * @returns The paths removed.
 */
export async function removeStaleTemps(path: string, now = Date.now()): Promise<string[]> {
  const dir = dirname(path), name = basename(path);
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || TEMP_NAME.exec(entry.name)?.[1] !== name) continue;
      const temp = join(dir, entry.name);
      try {
        const { mtime } = await Deno.stat(temp);
        if (mtime && now - mtime.getTime() > STALE_TEMP_MS) {
          await Deno.remove(temp);
          removed.push(temp);
        }
      } catch {
        // Gone already, or not ours to remove: leave it.
      }
    }
  } catch {
    // An unreadable directory: the write below reports the real problem.
  }
  return removed;
}

/** Flushes a directory entry (or a directory's contents) to disk; ignored where unsupported. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Directory fsync is unsupported on some platforms (e.g. Windows) and
    // file systems. The rename has already happened, so this is best effort.
  } finally {
    try {
      handle?.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Writes `data` to `path` atomically.
 *
 * The bytes go to a uniquely named temporary file in the same directory
 * (`.<name>.<uuid>.tmp`), which is fsynced and then renamed over `path`;
 * finally the directory is fsynced where the platform allows it. On any
 * failure the temporary file is removed and an existing `path` is left
 * untouched. A process killed mid-write leaves its temporary file behind;
 * the next write to the same `path` removes such orphans once they are older
 * than {@linkcode STALE_TEMP_MS}.
 *
 * @param path The target file. Its directory must exist.
 * @param data The complete new contents.
 * @returns A promise that resolves once the new contents are in place.
 * @throws {AtomicWriteError} If any step fails; `cause` holds the OS error.
 *
 * @example
 * ```ts ignore
 * import { writeFileAtomic } from "./atomic.ts";
 *
 * await writeFileAtomic("checkpoints/step-100.safetensors", new Uint8Array(8));
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
): Promise<void> {
  await removeStaleTemps(path);
  const temp = tempPathFor(path);
  let file: Deno.FsFile | undefined;
  let created = false;
  try {
    file = await Deno.open(temp, { write: true, createNew: true });
    created = true;
    let written = 0;
    while (written < data.length) {
      written += await file.write(data.subarray(written));
    }
    await file.sync();
    file.close();
    file = undefined;
    await Deno.rename(temp, path);
  } catch (error) {
    try {
      file?.close();
    } catch {
      // Ignore: we are already failing.
    }
    if (created) {
      try {
        await Deno.remove(temp);
      } catch {
        // Ignore: nothing more can be done.
      }
    }
    throw new AtomicWriteError(path, error);
  }
  await syncDirectory(dirname(path));
}

/**
 * Reads a checkpoint (or any file), turning a missing file into a clear
 * {@linkcode CheckpointNotFoundError} with the message
 * `checkpoint not found: <path>`. Other errors propagate unchanged.
 *
 * @param path The file to read.
 * @returns The file's bytes.
 * @throws {CheckpointNotFoundError} If `path` does not exist.
 *
 * @example
 * ```ts ignore
 * import { readFileChecked } from "./atomic.ts";
 *
 * const bytes = await readFileChecked("checkpoints/step-100.safetensors");
 * ```
 */
export async function readFileChecked(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CheckpointNotFoundError(path, error);
    }
    throw error;
  }
}
