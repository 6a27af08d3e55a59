/**
 * A thin, awaitable wrapper over Deno's Jupyter kernel API
 * (`Deno.jupyter.broadcast`).
 *
 * Facts about the Deno kernel (verified with Deno 2.9.6) that shape this API:
 *
 * - `Deno.jupyter` is a getter that **throws** outside `deno jupyter`
 *   (`"jupyter" in Deno` is still true), so it is probed inside `try`.
 * - `Deno.jupyter.broadcast(msgType, content)` queues the message and returns
 *   immediately (it returns `undefined`, not a Promise, in 2.9.6). The kernel
 *   forwards the queue to the frontend asynchronously and sends the cell's
 *   `execute_reply`/`idle` **without waiting for that queue**. Messages still
 *   queued when a cell ends are lost by `nbconvert --execute`, or show up in
 *   the *next* cell (the kernel stamps them with the current request).
 *   Hence {@linkcode show}, {@linkcode DisplayHandle.update} and
 *   {@linkcode flush} return promises that resolve once the queue has very
 *   likely drained: always `await` them as the last thing in a cell. The same
 *   applies to `console.log`: a cell that prints many lines should end with
 *   `await flush()`.
 * - `Deno.jupyter.display(obj)` defaults to `raw: false` (despite the d.ts),
 *   which would render a MIME bundle as text; this module broadcasts raw
 *   bundles itself.
 * - `update_display_data` replaces the output with the same `display_id`
 *   wherever it is in the notebook, so every {@linkcode DisplayHandle} gets a
 *   fresh random id.
 *
 * @module
 */

/** A Jupyter MIME bundle: MIME type to data (string or JSON object). */
export type MimeBundle = Record<string, unknown>;

/** Where display messages go; injectable so tests need no kernel. */
export interface JupyterBackend {
  /** True when messages reach a Jupyter frontend. */
  readonly active: boolean;
  /**
   * Sends one iopub message, e.g. `display_data` or `update_display_data`
   * with `{ data, metadata, transient: { display_id } }`.
   */
  broadcast(msgType: string, content: Record<string, unknown>): void;
  /** Resolves once previously broadcast messages have very likely arrived. */
  flush(): Promise<void>;
  /** Prints a line to stdout (used when not active). */
  print(text: string): void;
}

/** Minimum time {@linkcode flush} waits for the kernel to forward outputs. */
export const FLUSH_BASE_MS = 60;

/** Assumed kernel forwarding rate used to size {@linkcode flush} waits. */
export const FLUSH_BYTES_PER_MS = 20_000;

interface DenoJupyterNamespace {
  broadcast(
    msgType: string,
    content: Record<string, unknown>,
    extra?: { metadata?: Record<string, unknown>; buffers?: Uint8Array[] },
  ): Promise<void> | void;
}

let cachedNamespace: DenoJupyterNamespace | null | undefined;

function denoJupyter(): DenoJupyterNamespace | undefined {
  // The answer cannot change within a process; probing throws outside the
  // kernel, so cache it (LivePlot/Progress ask on every push/tick).
  if (cachedNamespace === undefined) cachedNamespace = probeJupyter() ?? null;
  return cachedNamespace ?? undefined;
}

function probeJupyter(): DenoJupyterNamespace | undefined {
  try {
    // Throws "Deno.jupyter is only available in `deno jupyter` subcommand"
    // outside the kernel; absent from the stable type declarations.
    const ns = (Deno as unknown as { jupyter?: unknown }).jupyter;
    if (
      ns !== null && typeof ns === "object" &&
      typeof (ns as DenoJupyterNamespace).broadcast === "function"
    ) {
      return ns as DenoJupyterNamespace;
    }
  } catch {
    // Not running inside `deno jupyter`.
  }
  return undefined;
}

/**
 * Whether this code runs inside Deno's Jupyter kernel.
 *
 * @returns True only when `Deno.jupyter.broadcast` is usable.
 */
export function inJupyter(): boolean {
  return denoJupyter() !== undefined;
}

function estimateBytes(content: Record<string, unknown>): number {
  const data = content.data;
  if (data === null || typeof data !== "object") return 256;
  let n = 256;
  for (const v of Object.values(data as Record<string, unknown>)) {
    n += typeof v === "string" ? v.length : JSON.stringify(v)?.length ?? 0;
  }
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class DenoKernelBackend implements JupyterBackend {
  #pendingBytes = 0;
  #lastSend = 0;
  #inFlight: Promise<unknown>[] = [];

  get active(): boolean {
    return inJupyter();
  }

  broadcast(msgType: string, content: Record<string, unknown>): void {
    const ns = denoJupyter();
    if (!ns) throw new Error("Not running inside the Deno Jupyter kernel");
    const now = performance.now();
    const drained = (now - this.#lastSend) * FLUSH_BYTES_PER_MS;
    this.#pendingBytes = Math.max(0, this.#pendingBytes - drained) +
      estimateBytes(content);
    this.#lastSend = now;
    const result = ns.broadcast(msgType, content);
    // Older Deno versions returned the op's promise; keep it for flush().
    if (result instanceof Promise) {
      this.#inFlight.push(result.catch((e) => console.error(e)));
    }
  }

  async flush(): Promise<void> {
    if (!this.active) return;
    const inFlight = this.#inFlight;
    this.#inFlight = [];
    await Promise.all(inFlight);
    const drained = (performance.now() - this.#lastSend) * FLUSH_BYTES_PER_MS;
    const pending = Math.max(0, this.#pendingBytes - drained);
    this.#pendingBytes = 0;
    await sleep(FLUSH_BASE_MS + Math.ceil(pending / FLUSH_BYTES_PER_MS));
  }

  print(text: string): void {
    console.log(text);
  }
}

const kernel = new DenoKernelBackend();

/**
 * The default backend: Deno's Jupyter kernel when available, otherwise
 * inactive (bundles fall back to printing their `text/plain`).
 *
 * @returns The shared kernel backend.
 */
export function kernelBackend(): JupyterBackend {
  return kernel;
}

/** One message captured by a {@linkcode RecordingBackend}. */
export interface RecordedMessage {
  /** `display_data` or `update_display_data`. */
  msgType: string;
  /** The message content (`data`, `metadata`, `transient`). */
  content: Record<string, unknown>;
}

/**
 * A fake backend that records messages instead of sending them, for tests.
 * With `active: false` it records printed lines instead.
 */
export class RecordingBackend implements JupyterBackend {
  /** Whether to behave like a live kernel. */
  readonly active: boolean;
  /** Broadcast messages, in order. */
  readonly messages: RecordedMessage[] = [];
  /** Lines passed to {@linkcode RecordingBackend.print}. */
  readonly printed: string[] = [];
  /** Number of {@linkcode RecordingBackend.flush} calls. */
  flushes = 0;

  /**
   * Creates a recording backend.
   *
   * @param active Whether to act as if inside Jupyter (default true).
   */
  constructor(active = true) {
    this.active = active;
  }

  /** Records a message. */
  broadcast(msgType: string, content: Record<string, unknown>): void {
    this.messages.push({ msgType, content: structuredClone(content) });
  }

  /** Counts the call and resolves immediately. */
  flush(): Promise<void> {
    this.flushes++;
    return Promise.resolve();
  }

  /** Records a printed line. */
  print(text: string): void {
    this.printed.push(text);
  }
}

/**
 * The plain-text form of a bundle (its `text/plain`, or a list of its MIME
 * types when it has none).
 *
 * @param bundle The MIME bundle.
 * @returns Text suitable for a terminal.
 */
export function plainText(bundle: MimeBundle): string {
  const text = bundle["text/plain"];
  if (typeof text === "string") return text;
  return `<display: ${Object.keys(bundle).join(", ")}>`;
}

function cleanBundle(bundle: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [k, v] of Object.entries(bundle)) if (v !== undefined) out[k] = v;
  return out;
}

/** Options shared by {@linkcode show}, {@linkcode flush} and handles. */
export interface DisplayOptions {
  /** Where to send output (default: {@linkcode kernelBackend}). */
  backend?: JupyterBackend;
}

/**
 * Displays a MIME bundle as a new cell output. Outside Jupyter it prints the
 * bundle's `text/plain` to stdout instead.
 *
 * Always `await` it: the promise resolves once the kernel has (very likely)
 * forwarded the output; a cell that ends earlier can lose it.
 *
 * @example
 * ```ts
 * await show({ "text/plain": "hello", "text/html": "<b>hello</b>" });
 * ```
 *
 * @param bundle The MIME bundle.
 * @param opts Display options.
 */
export async function show(
  bundle: MimeBundle,
  opts: DisplayOptions = {},
): Promise<void> {
  const backend = opts.backend ?? kernel;
  if (!backend.active) {
    backend.print(plainText(bundle));
    return;
  }
  backend.broadcast("display_data", {
    data: cleanBundle(bundle),
    metadata: {},
    transient: {},
  });
  await backend.flush();
}

/**
 * Waits until outputs sent so far (displays and `console.log` lines) have very
 * likely reached the frontend. End cells that print or display a lot with
 * `await flush()`. Resolves immediately outside Jupyter.
 *
 * @param opts Display options.
 */
export async function flush(opts: DisplayOptions = {}): Promise<void> {
  await (opts.backend ?? kernel).flush();
}

/** Options for {@linkcode DisplayHandle}. */
export interface DisplayHandleOptions extends DisplayOptions {
  /** Display id (default: a random UUID-based id). */
  id?: string;
}

/**
 * One cell output that can be replaced in place: the first send is a
 * `display_data` with `transient.display_id`, later ones are
 * `update_display_data` with the same id. Saved notebooks keep a single
 * output holding the last data. Outside Jupyter every send prints the
 * bundle's `text/plain`.
 *
 * @example
 * ```ts
 * const h = new DisplayHandle();
 * for (let i = 1; i <= 3; i++) h.send({ "text/plain": `step ${i}` });
 * await h.update({ "text/plain": "done" }); // last line of the cell
 * ```
 */
export class DisplayHandle {
  /** The Jupyter display id. */
  readonly id: string;
  #backend: JupyterBackend;
  #shown = false;

  /**
   * Creates a handle; nothing is displayed until the first send/update.
   *
   * @param opts Handle options.
   */
  constructor(opts: DisplayHandleOptions = {}) {
    this.id = opts.id ?? `display-${crypto.randomUUID()}`;
    this.#backend = opts.backend ?? kernel;
  }

  /** Whether the output has been created. */
  get shown(): boolean {
    return this.#shown;
  }

  /** Whether sends reach a Jupyter frontend. */
  get active(): boolean {
    return this.#backend.active;
  }

  /**
   * Shows or replaces the output without waiting (for hot loops). The final
   * send of a cell should be an awaited {@linkcode DisplayHandle.update}.
   *
   * @param bundle The MIME bundle.
   */
  send(bundle: MimeBundle): void {
    if (!this.#backend.active) {
      this.#backend.print(plainText(bundle));
      return;
    }
    this.#backend.broadcast(
      this.#shown ? "update_display_data" : "display_data",
      {
        data: cleanBundle(bundle),
        metadata: {},
        transient: { display_id: this.id },
      },
    );
    this.#shown = true;
  }

  /**
   * Shows or replaces the output, then waits until it has very likely
   * reached the frontend. `await` it.
   *
   * @param bundle The MIME bundle.
   */
  async update(bundle: MimeBundle): Promise<void> {
    this.send(bundle);
    await this.#backend.flush();
  }
}
