/**
 * A line plot that updates in place while a training loop runs.
 *
 * @module
 */

import { linePlotBundle } from "./bundles.ts";
import { DisplayHandle, type JupyterBackend, kernelBackend, type MimeBundle } from "./jupyter.ts";
import type { ChartOptions, Series } from "./svg_common.ts";

/**
 * Marks a returned bundle so that, when it is the value of a cell's last
 * expression (`await plot.finish()`), the Deno kernel shows nothing instead of
 * dumping the whole bundle as text. The hook is a non-enumerable
 * `Symbol.for("Jupyter.display")` method, invisible to `Object.entries`,
 * `JSON.stringify` and {@linkcode show}.
 */
function quiet(bundle: MimeBundle): MimeBundle {
  Object.defineProperty(bundle, Symbol.for("Jupyter.display"), {
    value: () => ({}),
    enumerable: false,
  });
  return bundle;
}

/** Options for {@linkcode LivePlot}. */
export interface LivePlotOptions extends ChartOptions {
  /** Minimum time between re-renders in ms (default 1000). */
  intervalMs?: number;
  /** Names of series drawn dashed (e.g. `["val"]`). */
  dashed?: string[];
  /** Clock in ms (default `performance.now`); inject a fake one in tests. */
  now?: () => number;
  /** Output backend (default: the Deno kernel). */
  backend?: JupyterBackend;
}

/**
 * A live line plot for training curves. The first {@linkcode LivePlot.push}
 * creates a single display output; later pushes re-render it in place at most
 * once per `intervalMs` (rendering is skipped in between, so pushing every
 * step is cheap). {@linkcode LivePlot.finish} always renders the final data
 * and must be awaited at the end of the cell.
 *
 * Outside Jupyter pushes only record data; `finish()` prints a one-line
 * summary.
 *
 * @example
 * ```ts
 * const plot = new LivePlot({ title: "loss", xLabel: "step", dashed: ["val"] });
 * for (let step = 0; step < 100; step++) {
 *   plot.push("train", step, 3 / (step + 1));
 *   if (step % 10 === 0) plot.push("val", step, 3.2 / (step + 1));
 * }
 * await plot.finish();
 * ```
 */
export class LivePlot {
  #opts: ChartOptions;
  #interval: number;
  #dashed: Set<string>;
  #now: () => number;
  #backend: JupyterBackend;
  #handle: DisplayHandle;
  #series = new Map<string, Series>();
  #lastRender = -Infinity;
  #dirty = false;
  #renders = 0;

  /**
   * Creates a live plot; nothing is displayed before the first push.
   *
   * @param opts Chart options plus update interval, clock and backend.
   */
  constructor(opts: LivePlotOptions = {}) {
    const { intervalMs, dashed, now, backend, ...chart } = opts;
    this.#opts = chart;
    this.#interval = intervalMs ?? 1000;
    this.#dashed = new Set(dashed ?? []);
    this.#now = now ?? (() => performance.now());
    this.#backend = backend ?? kernelBackend();
    this.#handle = new DisplayHandle({ backend: this.#backend });
  }

  /** Number of renders sent to the frontend so far. */
  get renders(): number {
    return this.#renders;
  }

  /**
   * A copy of the recorded series, in order of first push.
   *
   * @returns The series.
   */
  series(): Series[] {
    return [...this.#series.values()].map((s) => ({
      ...s,
      x: [...s.x],
      y: [...s.y],
    }));
  }

  /**
   * Appends a point and re-renders if the interval has elapsed (or if this is
   * the first point).
   *
   * @param seriesName The series to append to (created on first use).
   * @param x The x value (e.g. step).
   * @param y The y value (e.g. loss); NaN/Infinity are kept but not drawn.
   */
  push(seriesName: string, x: number, y: number): void {
    let s = this.#series.get(seriesName);
    if (!s) {
      s = { name: seriesName, x: [], y: [] };
      if (this.#dashed.has(seriesName)) s.dash = true;
      this.#series.set(seriesName, s);
    }
    s.x.push(x);
    s.y.push(y);
    this.#dirty = true;
    if (!this.#backend.active) return;
    const now = this.#now();
    if (!this.#handle.shown || now - this.#lastRender >= this.#interval) {
      this.#lastRender = now;
      this.#dirty = false;
      this.#renders++;
      this.#handle.send(this.bundle());
    }
  }

  /**
   * Appends one point to several series at the same x.
   *
   * @param x The shared x value.
   * @param values Series name to y value.
   */
  pushAll(x: number, values: Record<string, number>): void {
    for (const [name, y] of Object.entries(values)) this.push(name, x, y);
  }

  /**
   * Renders the current data as a MIME bundle (no display).
   *
   * @returns The line-plot bundle.
   */
  bundle(): MimeBundle {
    return linePlotBundle([...this.#series.values()], this.#opts);
  }

  /**
   * Renders the final data into the display (creating it if nothing was
   * pushed yet) and waits until it has reached the frontend. Outside Jupyter
   * prints a one-line summary. `await` it as the last statement of the cell.
   * When that statement is the cell's value, the kernel shows no text dump of
   * the bundle (at most an empty result).
   *
   * @returns The final bundle.
   */
  async finish(): Promise<MimeBundle> {
    const bundle = this.bundle();
    if (!this.#backend.active) {
      this.#backend.print(String(bundle["text/plain"]));
      return quiet(bundle);
    }
    if (this.#dirty || !this.#handle.shown) {
      this.#dirty = false;
      this.#lastRender = this.#now();
      this.#renders++;
      this.#handle.send(bundle);
    }
    await this.#backend.flush();
    return quiet(bundle);
  }
}
