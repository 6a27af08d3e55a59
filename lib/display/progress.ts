/**
 * One-line progress reporting for long loops, e.g.
 * `step  120/2000 | loss 2.314 | val 2.401 | 1,834 tok/s | ETA 3m12s`.
 *
 * @module
 */

import { DisplayHandle, type JupyterBackend, kernelBackend } from "./jupyter.ts";

/**
 * Formats a duration compactly: `4.2s`, `45s`, `3m12s`, `1h05m`.
 *
 * @param seconds Duration in seconds.
 * @returns The formatted duration (`?` when not finite).
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const neg = seconds < 0 ? "-" : "";
  const s = Math.abs(seconds);
  if (s < 9.95) return `${neg}${s.toFixed(1)}s`;
  const total = Math.round(s);
  if (total < 60) return `${neg}${total}s`;
  if (total < 3600) {
    return `${neg}${Math.floor(total / 60)}m${String(total % 60).padStart(2, "0")}s`;
  }
  const mins = Math.round(s / 60);
  return `${neg}${Math.floor(mins / 60)}h${String(mins % 60).padStart(2, "0")}m`;
}

/**
 * Formats a count as a rounded integer with thousands separators: `1,834`.
 *
 * @param n The number.
 * @returns The formatted count (`?` when not finite).
 */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return "?";
  const r = Math.round(n);
  const digits = String(Math.abs(r)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return r < 0 ? `-${digits}` : digits;
}

/**
 * Formats a metric value: 4 significant digits (`2.314`, `0.5000`),
 * scientific below 1e-3 (`1.2e-5`), integers as counts (`1,834`).
 *
 * @param v The value.
 * @returns The formatted value.
 */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) || Math.abs(v) >= 1000) return formatCount(v);
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(1);
  return v.toPrecision(4);
}

/**
 * Formats one progress field. Keys ending in `/s` are rates shown as
 * `1,834 tok/s`; others as `loss 2.314`.
 *
 * @param key Field name.
 * @param value Field value.
 * @returns The formatted field.
 */
export function formatField(key: string, value: number): string {
  return key.endsWith("/s") ? `${formatCount(value)} ${key}` : `${key} ${formatValue(value)}`;
}

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** Total number of steps. */
  total: number;
  /** Prefix of the line (default `"step"`). */
  label?: string;
  /**
   * Outside Jupyter: print a line each time the step crosses a multiple of
   * `every` (default `ceil(total / 20)`, i.e. about 20 lines per run).
   */
  every?: number;
  /** In Jupyter: minimum ms between display updates (default 250). */
  intervalMs?: number;
  /** Clock in ms (default `performance.now`); inject a fake one in tests. */
  now?: () => number;
  /** Output backend (default: the Deno kernel). */
  backend?: JupyterBackend;
  /** Line writer used outside Jupyter (default `console.error`, stderr). */
  write?: (line: string) => void;
}

/**
 * Progress reporter for long loops. In Jupyter it keeps ONE text output up to
 * date in place; elsewhere it prints about 20 lines to stderr plus the final
 * line. The ETA uses the rate measured since the first tick.
 *
 * @example
 * ```ts
 * const progress = new Progress({ total: 2000 });
 * for (let step = 1; step <= 2000; step++) {
 *   progress.tick(step, { loss: 2.3, "tok/s": 1834 });
 * }
 * await progress.finish();
 * ```
 */
export class Progress {
  /** Total number of steps. */
  readonly total: number;
  /** Line prefix. */
  readonly label: string;
  /** Print period in steps (outside Jupyter). */
  readonly every: number;
  #intervalMs: number;
  #now: () => number;
  #backend: JupyterBackend;
  #write: (line: string) => void;
  #handle: DisplayHandle;
  #start: number;
  #first?: { step: number; time: number };
  #step = 0;
  #fields: Record<string, number> = {};
  #lastPrintedBucket = -1;
  #lastRender = -Infinity;
  #dirty = false;
  #finalShown = false;

  /**
   * Creates a progress reporter; the clock starts now.
   *
   * @param opts Progress options.
   */
  constructor(opts: ProgressOptions) {
    this.total = Math.max(0, opts.total);
    this.label = opts.label ?? "step";
    this.every = Math.max(
      1,
      Math.round(opts.every ?? Math.ceil(this.total / 20)),
    );
    this.#intervalMs = opts.intervalMs ?? 250;
    this.#now = opts.now ?? (() => performance.now());
    this.#backend = opts.backend ?? kernelBackend();
    this.#write = opts.write ?? ((line) => console.error(line));
    this.#handle = new DisplayHandle({ backend: this.#backend });
    this.#start = this.#now();
  }

  /** The last step passed to {@linkcode Progress.tick}. */
  get step(): number {
    return this.#step;
  }

  /**
   * Seconds elapsed since construction.
   *
   * @returns Elapsed seconds.
   */
  elapsed(): number {
    return (this.#now() - this.#start) / 1000;
  }

  /**
   * Estimated seconds left at `step`, from the rate since the first tick.
   *
   * @param step The current step (default: the last ticked step).
   * @returns Seconds left, or undefined before a rate can be measured.
   */
  eta(step: number = this.#step): number | undefined {
    if (!this.#first) return undefined;
    const steps = step - this.#first.step;
    const secs = (this.#now() - this.#first.time) / 1000;
    if (steps <= 0 || secs <= 0) return undefined;
    return Math.max(0, this.total - step) * (secs / steps);
  }

  /**
   * Formats the progress line.
   *
   * @param step The step (default: the last ticked step).
   * @param fields Metrics (default: the last ticked fields).
   * @param final Show the total time instead of the ETA.
   * @returns e.g. `step  120/2000 | loss 2.314 | 1,834 tok/s | ETA 3m12s`.
   */
  line(
    step: number = this.#step,
    fields: Record<string, number> = this.#fields,
    final = false,
  ): string {
    const width = String(this.total).length;
    const parts = [
      `${this.label} ${String(step).padStart(width)}/${this.total}`,
    ];
    for (const [k, v] of Object.entries(fields)) parts.push(formatField(k, v));
    if (final) {
      parts.push(`done in ${formatDuration(this.elapsed())}`);
    } else {
      const eta = this.eta(step);
      if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
    }
    return parts.join(" | ");
  }

  /**
   * Records progress. Cheap: output is throttled (Jupyter) or sampled every
   * `every` steps (terminal). Reaching `total` emits the final line.
   *
   * @param step The step just completed (1-based, up to `total`).
   * @param fields Metrics such as `{ loss: 2.31, "tok/s": 1834 }`.
   */
  tick(step: number, fields: Record<string, number> = {}): void {
    const now = this.#now();
    if (!this.#first) this.#first = { step, time: now };
    this.#step = step;
    this.#fields = { ...fields };
    const final = step >= this.total;
    if (this.#backend.active) {
      this.#dirty = true;
      if (final || now - this.#lastRender >= this.#intervalMs) {
        this.#render(final);
      }
      return;
    }
    const bucket = Math.floor(step / this.every);
    if (final || bucket > this.#lastPrintedBucket) {
      this.#lastPrintedBucket = bucket;
      this.#write(this.line(step, this.#fields, final));
      this.#finalShown = final;
    }
  }

  #render(final: boolean): void {
    this.#lastRender = this.#now();
    this.#dirty = false;
    this.#finalShown = final;
    this.#handle.send({
      "text/plain": this.line(this.#step, this.#fields, final),
    });
  }

  /**
   * Emits the final line (with the total time) unless `tick(total)` already
   * did, and waits for Jupyter to show it. `await` it at the end of the cell.
   * Resolves to nothing so that a trailing `await progress.finish()` adds no
   * result output; use {@linkcode Progress.line} for the text.
   *
   * @param fields Optional final metrics (default: the last ticked ones).
   */
  async finish(fields?: Record<string, number>): Promise<void> {
    if (fields) this.#fields = { ...fields };
    if (this.#backend.active) {
      if (!this.#finalShown || this.#dirty || fields) this.#render(true);
      await this.#backend.flush();
    } else if (!this.#finalShown || fields) {
      this.#write(this.line(this.#step, this.#fields, true));
      this.#finalShown = true;
    }
  }
}
