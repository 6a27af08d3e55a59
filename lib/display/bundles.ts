/**
 * Jupyter MIME bundles for charts (tables and markdown are in text_bundles.ts).
 *
 * Each chart bundle carries the same figure three ways, so every front end
 * picks something it can show:
 *
 * - `application/vnd.plotly.v1+json`: an interactive plotly figure (VS Code,
 *   JupyterLab with the plotly renderer),
 * - `text/html`: the static d3 SVG as an `<img>` with a `data:` URL
 *   (classic Notebook, JupyterLab, GitHub, nbconvert HTML exports). Inline
 *   `<svg>` would not do: a freshly cloned notebook is untrusted, front ends
 *   sanitise untrusted HTML and strip inline SVG down to its text labels, and
 *   they refuse untrusted `image/svg+xml` outright; an image survives,
 * - `text/plain`: a one-line textual summary (terminals, logs, and the
 *   image's `alt` text).
 *
 * @module
 */

import {
  bandPoints,
  type BarChartOptions,
  type ChartOptions,
  type ColorScheme,
  type HeatmapOptions,
  matrixExtent,
  schemeColor,
  type Series,
  seriesColor,
  shortNumber,
} from "./svg_common.ts";
import { lineChartSVG } from "./svg_line.ts";
import { heatmapSVG } from "./svg_heatmap.ts";
import { barChartSVG } from "./svg_bar.ts";
import type { MimeBundle } from "./jupyter.ts";
import { escapeHtml } from "./text_bundles.ts";

/** MIME type of plotly figures. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** Plotly traces keep at most this many points per series (uniform stride). */
export const PLOTLY_MAX_POINTS = 2000;

/** A plotly figure as JSON. */
export interface PlotlyFigure {
  /** Traces. */
  data: Record<string, unknown>[];
  /** Layout. */
  layout: Record<string, unknown>;
}

/**
 * Wraps an SVG string for the `text/html` MIME type: an `<img>` whose source
 * is the SVG as a base64 `data:` URL, at the SVG's own size (scaled down to
 * fit narrow outputs). Untrusted notebooks keep it, unlike inline `<svg>`.
 *
 * @example
 * ```ts
 * const html = svgToHtml('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>');
 * // '<img src="data:image/svg+xml;base64,..." width="4" height="4" alt="" style="max-width:100%;height:auto">'
 * ```
 *
 * @param svg Standalone SVG markup (its root's `width`/`height` become the image's).
 * @param alt Text for the image's `alt` attribute (default empty).
 * @returns HTML that shows the SVG without any JavaScript.
 */
export function svgToHtml(svg: string, alt = ""): string {
  const root = /^\s*<svg\b[^>]*>/.exec(svg)?.[0] ?? "";
  const size = ["width", "height"].map((name) => {
    const v = new RegExp(`\\s${name}="([0-9.]+)"`).exec(root)?.[1];
    return v ? ` ${name}="${v}"` : "";
  }).join("");
  return `<img src="data:image/svg+xml;base64,${base64Utf8(svg)}"${size} alt="${
    escapeHtml(alt)
  }" style="max-width:100%;height:auto">`;
}

/** Base64 of a string's UTF-8 bytes (btoa alone only takes Latin-1). */
function base64Utf8(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  const CHUNK = 0x8000; // String.fromCharCode's argument count stays small
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/**
 * A chart's MIME bundle from its three renderings.
 *
 * @param figure The plotly figure.
 * @param svg The static SVG.
 * @param summary The one-line text summary (also the image's `alt`).
 */
function chartBundle(figure: PlotlyFigure, svg: string, summary: string): MimeBundle {
  return {
    [PLOTLY_MIME]: figure,
    "text/html": svgToHtml(svg, summary),
    "text/plain": summary,
  };
}

/** Compact number for JSON: 6 significant digits, non-finite as null. */
function num(v: number): number | null {
  if (!Number.isFinite(v)) return null;
  return Number.isInteger(v) ? v : +v.toPrecision(6);
}

function axisTitle(text: string | undefined): Record<string, unknown> {
  return text ? { title: { text } } : {};
}

function baseLayout(
  title: string | undefined,
  width: number,
  height: number,
): Record<string, unknown> {
  return {
    // Left-aligned title and a vertical toolbar at the right edge: plotly's
    // default horizontal toolbar sits over the top of the figure and hides
    // the middle of a centred title.
    ...(title ? { title: { text: title, x: 0.01, xanchor: "left" } } : {}),
    width,
    height,
    margin: { l: 60, r: 40, t: title ? 50 : 20, b: 50 },
    modebar: { orientation: "v" },
    plot_bgcolor: "#ffffff",
    paper_bgcolor: "#ffffff",
  };
}

/** Indices kept when thinning `n` points to at most `max` (keeps the last). */
function strideIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const step = Math.ceil(n / max);
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  if (out[out.length - 1] !== n - 1) out.push(n - 1);
  return out;
}

/** `#rrggbb` as a CSS `rgba(…)` with the given opacity. */
function hexToRgba(hex: string, alpha: number): string {
  const v = parseInt(hex.slice(1), 16);
  return `rgba(${(v >> 16) & 255},${(v >> 8) & 255},${v & 255},${alpha})`;
}

/**
 * Builds the plotly figure equivalent to {@linkcode lineChartSVG}: one
 * `scatter` trace (`mode: "lines"`) per series, NaN/±Infinity as `null`.
 *
 * @param series The series.
 * @param opts Chart options.
 * @returns The plotly figure JSON.
 */
export function linePlotly(
  series: Series[],
  opts: ChartOptions = {},
): PlotlyFigure {
  const data = series.map((s, i) => {
    const n = Math.min(s.x.length, s.y.length);
    const idx = strideIndices(n, PLOTLY_MAX_POINTS);
    return {
      type: "scatter",
      mode: n <= 25 ? "lines+markers" : "lines",
      name: s.name,
      x: idx.map((k) => num(s.x[k])),
      y: idx.map((k) => num(s.y[k])),
      line: {
        color: seriesColor(i),
        width: 2,
        dash: s.dash ? "dash" : "solid",
      },
    };
  });
  const yaxis: Record<string, unknown> = {
    ...axisTitle(opts.yLabel),
    type: opts.logY ? "log" : "linear",
  };
  if (opts.yDomain) {
    yaxis.range = opts.logY ? opts.yDomain.map((v) => Math.log10(v)) : [...opts.yDomain];
  }
  // A band is one closed shape (x forth along `hi`, back along `lo`), drawn before the lines.
  const bands = series.flatMap((s, i) => {
    const b = bandPoints(s, opts.logX, opts.logY);
    if (b.length < 2) return [];
    return [{
      type: "scatter",
      mode: "lines",
      name: `${s.name} (band)`,
      x: [...b.map((p) => p[0]), ...b.map((p) => p[0]).reverse()],
      y: [...b.map((p) => p[2]), ...b.map((p) => p[1]).reverse()],
      fill: "toself",
      fillcolor: hexToRgba(seriesColor(i), 0.18),
      line: { width: 0, color: seriesColor(i) },
      hoverinfo: "skip",
      showlegend: false,
    }];
  });
  return {
    data: [...bands, ...data],
    layout: {
      ...baseLayout(opts.title, opts.width ?? 640, opts.height ?? 360),
      xaxis: { ...axisTitle(opts.xLabel), type: opts.logX ? "log" : "linear" },
      yaxis,
      showlegend: true,
    },
  };
}

/**
 * A short textual summary of line series: points and last value per series.
 *
 * @param series The series.
 * @param title Optional chart title.
 * @returns One line, e.g. `Training loss: loss 120 pts, last 2.31 @ 119`.
 */
export function lineSummary(series: Series[], title?: string): string {
  const parts = series.map((s) => {
    const n = Math.min(s.x.length, s.y.length);
    let k = n - 1;
    while (k >= 0 && !Number.isFinite(s.y[k])) k--;
    if (k < 0) return `${s.name} (${n} pts)`;
    const b = s.band && Number.isFinite(s.band.lo[k]) && Number.isFinite(s.band.hi[k])
      ? ` (${shortNumber(s.band.lo[k])}–${shortNumber(s.band.hi[k])})`
      : "";
    return `${s.name} ${n} pts, last ${shortNumber(s.y[k])}${b} @ ${shortNumber(s.x[k])}`;
  });
  return `${title ?? "Line plot"}: ${parts.join("; ") || "no data"}`;
}

/**
 * Builds a line-plot MIME bundle (plotly JSON, the SVG as an HTML image, plain text).
 *
 * @example
 * ```ts
 * import { show } from "./jupyter.ts";
 * await show(linePlotBundle([{ name: "loss", x: [0, 1], y: [3, 2] }]));
 * ```
 *
 * @param series The series.
 * @param opts Chart options.
 * @returns The MIME bundle.
 */
export function linePlotBundle(
  series: Series[],
  opts: ChartOptions = {},
): MimeBundle {
  return chartBundle(
    linePlotly(series, opts),
    lineChartSVG(series, opts),
    lineSummary(series, opts.title),
  );
}

/**
 * A plotly colorscale sampled from the d3 scheme, so plotly and SVG match.
 *
 * @param scheme The colour scheme.
 * @param stops Number of stops (default 11).
 * @returns `[[t, "#rrggbb"], ...]` from t = 0 to 1.
 */
export function plotlyColorscale(
  scheme: ColorScheme,
  stops = 11,
): [number, string][] {
  const out: [number, string][] = [];
  for (let k = 0; k < stops; k++) {
    const t = k / (stops - 1);
    out.push([+t.toFixed(3), schemeColor(scheme, t)]);
  }
  return out;
}

/**
 * Builds the plotly figure equivalent to {@linkcode heatmapSVG}: one `heatmap`
 * trace with row 0 at the top; NaN/±Infinity cells as `null` (blank).
 *
 * @param matrix Rows of values.
 * @param opts Heatmap options.
 * @returns The plotly figure JSON.
 */
export function heatmapPlotly(
  matrix: number[][],
  opts: HeatmapOptions = {},
): PlotlyFigure {
  const [zmin, zmax] = opts.domain ?? matrixExtent(matrix);
  const trace: Record<string, unknown> = {
    type: "heatmap",
    z: matrix.map((row) => row.map((v) => num(+v.toPrecision(4)))),
    zmin,
    zmax,
    colorscale: plotlyColorscale(opts.colorScheme ?? "viridis"),
  };
  if (opts.colLabels) trace.x = [...opts.colLabels];
  if (opts.rowLabels) trace.y = [...opts.rowLabels];
  return {
    data: [trace],
    layout: {
      ...baseLayout(opts.title, opts.width ?? 480, opts.height ?? 420),
      xaxis: {
        ...axisTitle(opts.xLabel),
        type: opts.colLabels ? "category" : "linear",
      },
      yaxis: {
        ...axisTitle(opts.yLabel),
        type: opts.rowLabels ? "category" : "linear",
        autorange: "reversed",
      },
    },
  };
}

/**
 * Builds a heatmap MIME bundle (plotly JSON, the SVG as an HTML image, plain text).
 *
 * @param matrix Rows of values.
 * @param opts Heatmap options.
 * @returns The MIME bundle.
 */
export function heatmapBundle(
  matrix: number[][],
  opts: HeatmapOptions = {},
): MimeBundle {
  const rows = matrix.length;
  const cols = Math.max(0, ...matrix.map((r) => r.length));
  const [lo, hi] = matrixExtent(matrix);
  const summary = `${opts.title ?? "Heatmap"}: ${rows}x${cols}, values ${shortNumber(lo)} .. ${
    shortNumber(hi)
  }`;
  return chartBundle(heatmapPlotly(matrix, opts), heatmapSVG(matrix, opts), summary);
}

/**
 * Builds a bar-chart MIME bundle (plotly JSON, the SVG as an HTML image, plain text).
 *
 * @param labels Category labels.
 * @param values One value per label.
 * @param opts Chart options.
 * @returns The MIME bundle.
 */
export function barBundle(
  labels: string[],
  values: number[],
  opts: BarChartOptions = {},
): MimeBundle {
  const n = Math.min(labels.length, values.length);
  const colors = opts.colors && opts.colors.length > 0 ? opts.colors : [seriesColor(0)];
  const yaxis: Record<string, unknown> = axisTitle(opts.yLabel);
  if (opts.yDomain) yaxis.range = [...opts.yDomain];
  const figure: PlotlyFigure = {
    data: [{
      type: "bar",
      x: labels.slice(0, n),
      y: values.slice(0, n).map(num),
      marker: {
        color: labels.slice(0, n).map((_, i) => colors[i % colors.length]),
      },
      text: values.slice(0, n).map((v) => shortNumber(v)),
      textposition: "outside",
    }],
    layout: {
      ...baseLayout(opts.title, opts.width ?? 640, opts.height ?? 360),
      xaxis: { ...axisTitle(opts.xLabel), type: "category" },
      yaxis,
    },
  };
  const summary = labels.slice(0, n).map((l, i) => `${l}=${shortNumber(values[i])}`).join(", ");
  return chartBundle(
    figure,
    barChartSVG(labels, values, opts),
    `${opts.title ?? "Bar chart"}: ${summary || "no data"}`,
  );
}
