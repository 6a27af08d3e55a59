/**
 * Jupyter MIME bundles for charts and tables.
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
  barChartSVG,
  type ChartOptions,
  type ColorScheme,
  type HeatmapOptions,
  heatmapSVG,
  lineChartSVG,
  matrixExtent,
  schemeColor,
  type Series,
  seriesColor,
  shortNumber,
} from "./svg.ts";
import type { MimeBundle } from "./jupyter.ts";

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

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/** A table cell value. */
export type Cell = string | number;

/** Options for {@linkcode tableBundle}. */
export interface TableOptions {
  /** Column order (default: keys in order of first appearance). */
  columns?: string[];
  /** Caption shown above the table. */
  title?: string;
  /** Significant digits for non-integer numbers (default 4). */
  digits?: number;
}

/**
 * Formats a table cell: integers with thousands separators, other numbers
 * with `digits` significant digits (scientific below 1e-3).
 *
 * @param v The value.
 * @param digits Significant digits for non-integers (default 4).
 * @returns The cell text.
 */
export function formatCell(v: Cell | undefined, digits = 4): string {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) {
    return Math.abs(v) >= 10000 ? v.toLocaleString("en-US") : String(v);
  }
  if (Math.abs(v) >= 10000) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) < 1e-3) return v.toExponential(Math.max(0, digits - 2));
  return v.toPrecision(digits);
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function escapeMarkdown(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/**
 * Builds a table MIME bundle (`text/html`, `text/markdown`, `text/plain`).
 * Numeric columns are right-aligned.
 *
 * @example
 * ```ts
 * tableBundle([{ model: "bigram", loss: 2.45 }, { model: "GPT", loss: 1.71 }]);
 * ```
 *
 * @param rows One object per row.
 * @param opts Table options.
 * @returns The MIME bundle.
 */
export function tableBundle(
  rows: Record<string, Cell>[],
  opts: TableOptions = {},
): MimeBundle {
  const columns = opts.columns ?? [...new Set(rows.flatMap(Object.keys))];
  if (columns.length === 0) {
    const title = opts.title ? `${opts.title}: ` : "";
    return {
      "text/html": `<p>${escapeHtml(title)}(empty table)</p>`,
      "text/markdown": `${escapeMarkdown(title)}_(empty table)_`,
      "text/plain": `${title}(empty table)`,
    };
  }
  const digits = opts.digits ?? 4;
  const text = rows.map((r) => columns.map((c) => formatCell(r[c], digits)));
  const numeric = columns.map((c) =>
    rows.length > 0 &&
    rows.every((r) => r[c] === undefined || typeof r[c] === "number")
  );

  const th = columns.map((c, j) =>
    `<th style="text-align:${numeric[j] ? "right" : "left"}">${escapeHtml(c)}</th>`
  ).join("");
  const trs = text.map((cells) =>
    `<tr>${
      cells.map((t, j) =>
        `<td style="text-align:${numeric[j] ? "right" : "left"}">${escapeHtml(t)}</td>`
      ).join("")
    }</tr>`
  ).join("");
  const caption = opts.title ? `<caption>${escapeHtml(opts.title)}</caption>` : "";
  const html = `<table>${caption}<thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table>`;

  const mdHead = `| ${columns.map(escapeMarkdown).join(" | ")} |`;
  const mdRule = `|${numeric.map((n) => n ? " ---: " : " --- ").join("|")}|`;
  const mdRows = text.map((cells) => `| ${cells.map(escapeMarkdown).join(" | ")} |`);
  const markdown = [
    ...(opts.title ? [`**${escapeMarkdown(opts.title)}**`, ""] : []),
    mdHead,
    mdRule,
    ...mdRows,
  ].join("\n");

  const widths = columns.map((c, j) => Math.max(c.length, ...text.map((cells) => cells[j].length)));
  const pad = (t: string, j: number) => numeric[j] ? t.padStart(widths[j]) : t.padEnd(widths[j]);
  const plain = [
    ...(opts.title ? [opts.title] : []),
    columns.map((c, j) => pad(c, j)).join("  ").trimEnd(),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...text.map((cells) => cells.map((t, j) => pad(t, j)).join("  ").trimEnd()),
  ].join("\n");

  return { "text/html": html, "text/markdown": markdown, "text/plain": plain };
}

// ---------------------------------------------------------------------------
// Markdown (the summaries at the end of each notebook)
// ---------------------------------------------------------------------------

/** Inline markdown the summaries use: each pattern, its HTML and its plain-text replacement. */
const INLINE_MARKDOWN: [RegExp, string, string][] = [
  [/`([^`]+)`/g, "<code>$1</code>", "$1"],
  [/\*\*([^*]+)\*\*/g, "<strong>$1</strong>", "$1"],
  [/(^|[^*\w])\*([^*\s][^*]*)\*(?!\w)/g, "$1<em>$2</em>", "$1$2"],
  [/(^|[^\w])_([^_\s][^_]*)_(?!\w)/g, "$1<em>$2</em>", "$1$2"],
];

/** Inline markdown to HTML (`escaped` is already HTML-escaped) or to plain text without markers. */
function inline(text: string, to: "html" | "plain"): string {
  return INLINE_MARKDOWN.reduce(
    (t, [pattern, html, plain]) => t.replace(pattern, to === "html" ? html : plain),
    text,
  );
}

/**
 * Builds a MIME bundle from a short markdown text: paragraphs and `- ` bullet
 * lists with bold, italic and code spans (what the notebooks' summaries use).
 * It carries `text/markdown`, the same text as HTML (kept by untrusted front
 * ends, which drop untrusted markdown outputs) and a `text/plain` without
 * markup, with `•` bullets.
 *
 * @example
 * ```ts
 * markdownBundle("- loss **1.68** nats/char\n- 12.8 *min*");
 * ```
 *
 * @param markdown The markdown text.
 * @returns The MIME bundle.
 */
export function markdownBundle(markdown: string): MimeBundle {
  const html: string[] = [];
  const plain: string[] = [];
  let inList = false;
  for (const line of markdown.split("\n")) {
    const item = /^\s*[-*]\s+(.*)$/.exec(line);
    if (item) {
      if (!inList) html.push("<ul>");
      inList = true;
      html.push(`<li>${inline(escapeHtml(item[1]), "html")}</li>`);
      plain.push(`• ${inline(item[1], "plain")}`);
      continue;
    }
    if (inList) html.push("</ul>");
    inList = false;
    if (line.trim() === "") {
      plain.push("");
      continue;
    }
    html.push(`<p>${inline(escapeHtml(line), "html")}</p>`);
    plain.push(inline(line, "plain"));
  }
  if (inList) html.push("</ul>");
  return {
    "text/html": html.join("\n"),
    "text/markdown": markdown,
    "text/plain": plain.join("\n"),
  };
}
