/**
 * Downloads OpenAI's GPT-2 (124M) weights from Hugging Face, once: `deno task fetch:gpt2`.
 *
 * Writes https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors (548 MB,
 * F32) to `checkpoints/gpt2/model.safetensors`, which lib/model/hf_gpt2.ts's `loadHfGpt2`
 * reads. This is the only part of the course that needs the internet, and only this once.
 *
 * - Skips the download when the file is already there (`--force` downloads again).
 * - Atomic: the bytes go to a temporary file next to the target, which is checked and then
 *   renamed into place, so an interrupted run (Ctrl-C, lost connection) never leaves a partial
 *   `model.safetensors` behind; the temporary file is removed.
 * - Checked: the byte count against Content-Length and Hugging Face's `X-Linked-Size`, the
 *   SHA-256 against its `X-Linked-ETag` (the hash of the stored file) when the server sends one,
 *   and the result must parse as safetensors with GPT-2's tensors.
 * - Shows progress: MB done, percent, speed.
 *
 * Options: `--url URL` (another file, e.g. `.../openai-community/gpt2-medium/resolve/main/
 * model.safetensors`), `--out PATH`, `--force`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { decodeSafetensors } from "../lib/io/mod.ts";
import { inferGpt2Config } from "../lib/model/hf_gpt2.ts";

/** Where GPT-2 small's weights come from. */
export const GPT2_URL =
  "https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors";

/** Where they go (relative to the repository root, where `deno task` runs). */
export const GPT2_PATH = "checkpoints/gpt2/model.safetensors";

/** Progress of a download, reported a few times per second. */
export interface DownloadProgress {
  /** Bytes written so far. */
  bytes: number;
  /** Expected total, when the server said. */
  total?: number;
  /** Seconds since the transfer began. */
  seconds: number;
}

/** Options for {@link downloadOnce}. */
export interface DownloadOptions {
  /** Download even if `dest` exists (it is replaced atomically at the end). */
  force?: boolean;
  /** Called with progress (default: a progress line on stderr). */
  onProgress?: (p: DownloadProgress) => void;
  /** Check the finished file before it is moved into place (throw to reject it). */
  verify?: (path: string) => Promise<void>;
}

/** What {@link downloadOnce} did. */
export interface DownloadResult {
  /** False when the file was already present. */
  downloaded: boolean;
  /** Size of the file at `dest`. */
  bytes: number;
  /** SHA-256 of the download (hex); absent when skipped. */
  sha256?: string;
}

/**
 * Follows redirects by hand (up to 10) so that Hugging Face's `X-Linked-Size` and
 * `X-Linked-ETag` headers, which only the first response carries, are seen.
 */
async function openFollowing(
  url: string,
): Promise<{ response: Response; linkedSize?: number; linkedSha256?: string }> {
  let linkedSize: number | undefined, linkedSha256: string | undefined;
  let current = url;
  for (let hop = 0; hop <= 10; hop++) {
    const response = await fetch(current, { redirect: "manual" });
    const size = response.headers.get("x-linked-size");
    if (size && /^\d+$/.test(size)) linkedSize ??= Number(size);
    // An ETag of an LFS/Xet file is the SHA-256 of its content, quoted (sometimes W/-prefixed).
    const etag = response.headers.get("x-linked-etag")?.replace(/^W\//, "").replaceAll('"', "");
    if (etag && /^[0-9a-f]{64}$/.test(etag)) linkedSha256 ??= etag;
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      await response.body?.cancel();
      if (!location) throw new Error(`${current}: redirect ${response.status} without Location`);
      current = new URL(location, current).href;
      continue;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new Error(`${current}: HTTP ${response.status} ${response.statusText}`);
    }
    return { response, linkedSize, linkedSha256 };
  }
  throw new Error(`${url}: more than 10 redirects`);
}

/** A progress line, rewritten in place on a terminal. */
function printProgress(p: DownloadProgress): void {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const rate = p.seconds > 0 ? `${mb(p.bytes / p.seconds)} MB/s` : "";
  const of = p.total ? ` / ${mb(p.total)} MB (${((100 * p.bytes) / p.total).toFixed(1)}%)` : " MB";
  const line = `  ${mb(p.bytes)}${of}  ${rate}`;
  Deno.stderr.writeSync(
    new TextEncoder().encode(Deno.stderr.isTerminal() ? `\r${line}` : `${line}\n`),
  );
}

/**
 * Downloads `url` to `dest` unless `dest` exists, atomically (temporary file in the same
 * directory, fsync, rename), checking the size and, when the server publishes it, the SHA-256.
 * The directory is created if needed. Needs network, read and write permissions.
 *
 * @throws {Error} On an HTTP error, a short or corrupt download, or a failed `verify`; the
 * temporary file is removed and an existing `dest` is left untouched.
 */
export async function downloadOnce(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  if (!options.force) {
    try {
      const info = await Deno.stat(dest);
      if (info.isFile && info.size > 0) return { downloaded: false, bytes: info.size };
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  await Deno.mkdir(dirname(dest), { recursive: true });
  const temp = join(dirname(dest), `.${basename(dest)}.${crypto.randomUUID()}.tmp`);
  const removeTemp = () => {
    try {
      Deno.removeSync(temp);
    } catch {
      // Already gone (or never created).
    }
  };
  // Ctrl-C mid-download: remove the partial file before exiting.
  const onSignal = () => {
    removeTemp();
    Deno.exit(130);
  };
  let listening = false;
  try {
    Deno.addSignalListener("SIGINT", onSignal);
    listening = true;
  } catch {
    // Signals are unsupported here (e.g. Windows without a console); the finally still cleans up.
  }
  const report = options.onProgress ?? printProgress;
  let file: Deno.FsFile | undefined;
  try {
    const { response, linkedSize, linkedSha256 } = await openFollowing(url);
    const length = response.headers.get("content-length");
    const total = linkedSize ?? (length && /^\d+$/.test(length) ? Number(length) : undefined);
    file = await Deno.open(temp, { write: true, createNew: true });
    const hash = createHash("sha256");
    const start = performance.now();
    let bytes = 0, lastReport = 0;
    for await (const chunk of response.body!) {
      for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
      hash.update(chunk);
      bytes += chunk.length;
      const now = performance.now();
      // A live line on a terminal; in a log or a notebook, a line every 5 s is plenty.
      if (now - lastReport > (Deno.stderr.isTerminal() ? 250 : 5000)) {
        report({ bytes, total, seconds: (now - start) / 1000 });
        lastReport = now;
      }
    }
    report({ bytes, total, seconds: (performance.now() - start) / 1000 });
    if (options.onProgress === undefined && Deno.stderr.isTerminal()) console.error();
    await file.sync();
    file.close();
    file = undefined;
    if (total !== undefined && bytes !== total) {
      throw new Error(`download ended after ${bytes} of ${total} bytes`);
    }
    const sha256 = hash.digest("hex");
    if (linkedSha256 && sha256 !== linkedSha256) {
      throw new Error(`SHA-256 mismatch: got ${sha256}, the server lists ${linkedSha256}`);
    }
    await options.verify?.(temp);
    await Deno.rename(temp, dest);
    return { downloaded: true, bytes, sha256 };
  } finally {
    try {
      file?.close();
    } catch {
      // Already closed.
    }
    removeTemp(); // a no-op after the rename
    if (listening) Deno.removeSignalListener("SIGINT", onSignal);
  }
}

/** Rejects a file that is not safetensors holding a GPT-2 (whose shape can be read off it). */
export async function verifyGpt2File(path: string): Promise<void> {
  const { tensors } = decodeSafetensors(await Deno.readFile(path));
  const c = inferGpt2Config(tensors, { nHead: 1, source: path }); // heads are irrelevant here
  console.error(
    `  checked: ${Object.keys(tensors).length} tensors, ${c.nLayer} blocks of width ${c.nEmbd}, ` +
      `vocabulary ${c.vocabSize}, context ${c.contextLength}`,
  );
}

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

if (import.meta.main) {
  const url = arg("url") ?? GPT2_URL;
  const out = arg("out") ?? GPT2_PATH;
  console.error(`GPT-2 weights: ${url}\n           → ${out}`);
  try {
    const r = await downloadOnce(url, out, {
      force: Deno.args.includes("--force"),
      verify: verifyGpt2File,
    });
    console.error(
      r.downloaded
        ? `done: ${(r.bytes / 1e6).toFixed(1)} MB, sha256 ${r.sha256}`
        : `already present (${(r.bytes / 1e6).toFixed(1)} MB); --force downloads it again`,
    );
  } catch (err) {
    console.error(`fetch:gpt2 failed: ${(err as Error).message}`);
    console.error("Nothing was written in place of the target; run it again to retry.");
    Deno.exit(1);
  }
}
