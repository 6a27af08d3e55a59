/**
 * Static, server-side SVG charts drawn with d3 on a linkedom XML document.
 *
 * Every function returns a standalone SVG string (with `xmlns` set, a white
 * background and explicit `width`/`height`/`viewBox`) that renders the same in
 * JupyterLab, VS Code, nbconvert HTML exports and GitHub's notebook viewer.
 * Coordinates are rounded to one decimal so committed notebooks stay small.
 *
 * @module
 */

import * as d3 from "d3";
import { DOMParser } from "linkedom";

/** The SVG namespace URI. */
export const SVG_NS = "http://www.w3.org/2000/svg";

/** One line of a line chart. Non-finite points are skipped. */
export interface Series {
  /** Legend label. */
  name: string;
  /** X coordinates (same length as `y`). */
  x: number[];
  /** Y coordinates (same length as `x`). */
  y: number[];
  /** Draw the line dashed (e.g. for validation curves). */
  dash?: boolean;
  /**
   * A shaded band around the line, one `lo`/`hi` pair per point (e.g. the spread over seeds
   * around their mean), drawn in the line's colour.
   */
  band?: { lo: number[]; hi: number[] };
}

/** Options for {@linkcode lineChartSVG}. */
export interface ChartOptions {
  /** Title drawn above the plot. */
  title?: string;
  /** X axis label. */
  xLabel?: string;
  /** Y axis label. */
  yLabel?: string;
  /** Logarithmic x axis (non-positive x values are skipped). */
  logX?: boolean;
  /** Logarithmic y axis (non-positive y values are skipped). */
  logY?: boolean;
  /** SVG width in pixels (default 640). */
  width?: number;
  /** SVG height in pixels (default 360). */
  height?: number;
  /** Fixed y range; lines outside it are clipped. */
  yDomain?: [number, number];
}

/** Colour schemes supported by {@linkcode heatmapSVG}. */
export type ColorScheme = "viridis" | "blues";

/** Options for {@linkcode heatmapSVG}. */
export interface HeatmapOptions {
  /** Title drawn above the plot. */
  title?: string;
  /** X axis (column) label. */
  xLabel?: string;
  /** Y axis (row) label. */
  yLabel?: string;
  /** Colour scheme (default `"viridis"`). */
  colorScheme?: ColorScheme;
  /** Value range mapped onto the colour scheme (default: finite min/max). */
  domain?: [number, number];
  /** SVG width in pixels (default 480). */
  width?: number;
  /** SVG height in pixels (default 420). */
  height?: number;
  /** Tick labels for the rows (e.g. tokens). */
  rowLabels?: string[];
  /** Tick labels for the columns (e.g. tokens). */
  colLabels?: string[];
}

/** Options for {@linkcode barChartSVG}. */
export interface BarChartOptions {
  /** Title drawn above the plot. */
  title?: string;
  /** X axis label. */
  xLabel?: string;
  /** Y axis label. */
  yLabel?: string;
  /** SVG width in pixels (default 640). */
  width?: number;
  /** SVG height in pixels (default 360). */
  height?: number;
  /** Fixed y range (default: includes 0 and all values). */
  yDomain?: [number, number];
  /** Bar colours, cycled (default: the first Tableau10 colour). */
  colors?: string[];
  /** Print the value above each bar when there is room (default true). */
  showValues?: boolean;
}

/** Fill used for NaN/±Infinity heatmap cells. */
export const MISSING_COLOR = "#e0e0e0";

/** Matrices with more cells than this are drawn as colour-quantised runs. */
export const HEATMAP_RECT_LIMIT = 32 * 32;

/** Number of colour levels used for large (run-length encoded) heatmaps. */
export const HEATMAP_LEVELS = 64;

const FONT = "sans-serif";
const GEOMETRY_ATTRS = [
  "x",
  "y",
  "x1",
  "x2",
  "y1",
  "y2",
  "cx",
  "cy",
  "r",
  "width",
  "height",
  "d",
  "transform",
];
const DECIMAL_RE = /-?\d*\.\d+(?:e-?\d+)?/g;
const LONG_DECIMAL_RE = /\.\d{2}/;

/**
 * Rounds a number to one decimal and formats it without a trailing `.0`.
 *
 * @param v The number.
 * @returns A compact string, e.g. `12.3`, `4`, `-0.5`.
 */
export function fmt1(v: number): string {
  const r = Math.round(v * 10) / 10;
  return Object.is(r, -0) ? "0" : String(r);
}

/**
 * The colour of the `i`-th series (d3.schemeTableau10, cycled).
 *
 * @param i Series index.
 * @returns A hex colour.
 */
export function seriesColor(i: number): string {
  const scheme = d3.schemeTableau10;
  return scheme[((i % scheme.length) + scheme.length) % scheme.length];
}

/**
 * Maps `t` in [0, 1] to a hex colour of the given scheme.
 *
 * @param scheme The colour scheme.
 * @param t Position in the scheme, clamped to [0, 1].
 * @returns A hex colour such as `#440154`.
 */
export function schemeColor(scheme: ColorScheme, t: number): string {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const c = scheme === "blues" ? d3.interpolateBlues(u) : d3.interpolateViridis(u);
  return d3.color(c)?.formatHex() ?? "#000000";
}

/**
 * Returns the finite `[x, y]` points of a series (also dropping non-positive
 * coordinates on logarithmic axes).
 *
 * @param s The series.
 * @param logX Whether the x axis is logarithmic.
 * @param logY Whether the y axis is logarithmic.
 * @returns The drawable points, in input order.
 */
export function finitePoints(
  s: Series,
  logX = false,
  logY = false,
): [number, number][] {
  const out: [number, number][] = [];
  const n = Math.min(s.x.length, s.y.length);
  for (let i = 0; i < n; i++) {
    const x = s.x[i];
    const y = s.y[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if ((logX && x <= 0) || (logY && y <= 0)) continue;
    out.push([x, y]);
  }
  return out;
}

/**
 * The finite `[x, lo, hi]` triples of a series' band (empty without one).
 *
 * @param s The series.
 * @param logX Skip non-positive x.
 * @param logY Skip non-positive bounds.
 * @returns The band's points in order.
 */
export function bandPoints(
  s: Series,
  logX = false,
  logY = false,
): [number, number, number][] {
  if (!s.band) return [];
  const out: [number, number, number][] = [];
  const n = Math.min(s.x.length, s.band.lo.length, s.band.hi.length);
  for (let i = 0; i < n; i++) {
    const [x, lo, hi] = [s.x[i], s.band.lo[i], s.band.hi[i]];
    if (![x, lo, hi].every(Number.isFinite)) continue;
    if ((logX && x <= 0) || (logY && Math.min(lo, hi) <= 0)) continue;
    out.push([x, lo, hi]);
  }
  return out;
}

/**
 * Finite [min, max] of a matrix (or `[0, 1]` when it has no finite value).
 *
 * @param matrix Rows of numbers.
 * @returns The value range.
 */
export function matrixExtent(matrix: number[][]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of matrix) {
    for (const v of row) {
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

/**
 * A colour domain that keeps a few large values from washing out the rest:
 * the finite minimum up to the `q`-quantile of the finite values (cells above
 * it get the scheme's last colour). Attention maps need it: a few positions
 * with weight 1 would otherwise leave every weight below 0.1 almost white.
 *
 * @param matrix Rows of numbers.
 * @param q Upper quantile in (0, 1] (default 0.99).
 * @returns `[min, quantile]`, or the full extent when that would be empty.
 */
export function quantileDomain(matrix: number[][], q = 0.99): [number, number] {
  if (!(q > 0 && q <= 1)) throw new RangeError(`quantileDomain: q must be in (0, 1], got ${q}`);
  const values = matrix.flat().filter(Number.isFinite).sort((a, b) => a - b);
  if (values.length === 0) return [0, 1];
  const hi = values[Math.min(values.length - 1, Math.floor(q * (values.length - 1)))];
  return hi > values[0] ? [values[0], hi] : matrixExtent(matrix);
}

/**
 * Tick values for a colour bar: d3's nice ticks inside `[lo, hi]`, at least
 * three of them (a bar with one label says nothing about its scale), else the
 * two ends and the middle.
 */
function colorBarTicks(lo: number, hi: number, barH: number): number[] {
  if (!(hi > lo)) return [lo];
  const ticks = d3.ticks(lo, hi, Math.max(3, Math.round(barH / 50)));
  return ticks.length >= 3 ? ticks : [lo, (lo + hi) / 2, hi];
}

// ---------------------------------------------------------------------------
// Internal helpers
// ---------------------------------------------------------------------------

type Sel = d3.Selection<d3.BaseType, unknown, null, undefined>;
type AnySel = d3.Selection<d3.BaseType, unknown, d3.BaseType, unknown>;

interface LinkedomElement {
  attributes: Iterable<{ name: string; value: string }>;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  querySelectorAll(sel: string): Iterable<LinkedomElement>;
  outerHTML: string;
}

interface Canvas {
  root: LinkedomElement;
  svg: Sel;
}

function createCanvas(width: number, height: number): Canvas {
  const doc = new DOMParser().parseFromString(
    `<svg xmlns="${SVG_NS}"></svg>`,
    "image/svg+xml",
  );
  const root = doc.documentElement as unknown as LinkedomElement;
  const svg = d3.select(root as unknown as d3.BaseType) as Sel;
  svg
    .attr("width", width)
    .attr("height", height)
    .attr("viewBox", `0 0 ${width} ${height}`)
    .attr("font-family", FONT)
    .attr("font-size", 11);
  svg.append("rect")
    .attr("width", width)
    .attr("height", height)
    .attr("fill", "#ffffff");
  return { root, svg };
}

function serialize(canvas: Canvas, replacements: Record<string, string> = {}) {
  for (const el of canvas.root.querySelectorAll("*")) roundAttrs(el);
  roundAttrs(canvas.root);
  let out = canvas.root.outerHTML;
  for (const [marker, markup] of Object.entries(replacements)) {
    out = out.replace(`<!--${marker}-->`, () => markup);
  }
  return out;
}

function roundAttrs(el: LinkedomElement): void {
  const updates: [string, string][] = [];
  for (const a of el.attributes) {
    if (a.name === "opacity" && a.value === "1") {
      updates.push([a.name, ""]);
    } else if (
      GEOMETRY_ATTRS.includes(a.name) && LONG_DECIMAL_RE.test(a.value)
    ) {
      updates.push([a.name, a.value.replace(DECIMAL_RE, (m) => fmt1(+m))]);
    }
  }
  for (const [name, value] of updates) {
    if (value === "") el.removeAttribute(name);
    else el.setAttribute(name, value);
  }
}

function addTitle(svg: Sel, title: string | undefined, width: number): void {
  if (!title) return;
  svg.append("title").text(title);
  svg.append("text")
    .attr("class", "title")
    .attr("x", width / 2)
    .attr("y", 20)
    .attr("text-anchor", "middle")
    .attr("font-size", 14)
    .attr("font-weight", "bold")
    .attr("fill", "#222222")
    .text(title);
}

function addAxisLabels(
  svg: Sel,
  xLabel: string | undefined,
  yLabel: string | undefined,
  xCenter: number,
  xBaseline: number,
  yCenter: number,
): void {
  if (xLabel) {
    svg.append("text")
      .attr("class", "x-label")
      .attr("x", xCenter)
      .attr("y", xBaseline)
      .attr("text-anchor", "middle")
      .attr("font-size", 12)
      .attr("fill", "#222222")
      .text(xLabel);
  }
  if (yLabel) {
    svg.append("text")
      .attr("class", "y-label")
      .attr("transform", `translate(14,${fmt1(yCenter)}) rotate(-90)`)
      .attr("text-anchor", "middle")
      .attr("dy", "0.32em")
      .attr("font-size", 12)
      .attr("fill", "#222222")
      .text(yLabel);
  }
}

function paddedExtent(values: number[], log: boolean): [number, number] {
  if (values.length === 0) return log ? [1, 10] : [0, 1];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) {
    if (log) return [lo / 2, hi * 2];
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }
  return [lo, hi];
}

type Scale = d3.ScaleContinuousNumeric<number, number>;

function makeScale(
  log: boolean,
  domain: [number, number],
  range: [number, number],
  nice: boolean,
): Scale {
  const s: Scale = log ? d3.scaleLog() : d3.scaleLinear();
  s.domain(domain).range(range);
  if (nice) s.nice();
  return s;
}

/** Min/max decimation per pixel column for long, x-sorted series. */
function decimate(
  pts: [number, number][],
  xs: Scale,
  limit: number,
): [number, number][] {
  if (pts.length <= limit) return pts;
  for (let i = 1; i < pts.length; i++) {
    if (pts[i][0] < pts[i - 1][0]) return pts; // not sorted: keep everything
  }
  const out: [number, number][] = [];
  let bucket = NaN;
  let first = pts[0];
  let min = pts[0];
  let max = pts[0];
  let last = pts[0];
  const flush = () => {
    const keep = [first, min, max, last].sort((a, b) => a[0] - b[0]);
    for (const p of keep) if (out[out.length - 1] !== p) out.push(p);
  };
  for (const p of pts) {
    const b = Math.floor(xs(p[0]));
    if (b !== bucket) {
      if (!Number.isNaN(bucket)) flush();
      bucket = b;
      first =
        min =
        max =
        last =
          p;
    } else {
      if (p[1] < min[1]) min = p;
      if (p[1] > max[1]) max = p;
      last = p;
    }
  }
  flush();
  return out;
}

/**
 * Tick labels: d3's default for linear axes; for log axes d3's label thinning
 * with plain numbers (`0.001`, `200`, `1e-5`) instead of SI prefixes.
 */
function tickFormatter(
  scale: Scale,
  count: number,
  log: boolean,
): (d: d3.NumberValue) => string {
  const base = scale.tickFormat(count);
  if (!log) return base;
  const plain = d3.format("~g");
  const sci = d3.format(".0e");
  return (d) => {
    if (base(d) === "") return "";
    const v = +d;
    return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? plain(v) : sci(v);
  };
}

function styleAxis(g: AnySel): void {
  g.attr("font-size", 10).attr("font-family", FONT);
  g.selectAll(".domain").attr("stroke", "#444444");
  g.selectAll(".tick line").attr("stroke", "#444444");
  g.selectAll(".tick text").attr("fill", "#333333");
}

// ---------------------------------------------------------------------------
// Line chart
// ---------------------------------------------------------------------------

/**
 * Renders line series as a standalone SVG with axes, ticks, axis labels and a
 * legend (one entry per series, Tableau10 colours). NaN/±Infinity points are
 * skipped; series longer than ~4 points per pixel are min/max decimated.
 *
 * @example
 * ```ts
 * const svg = lineChartSVG([{ name: "loss", x: [0, 1, 2], y: [3, 2, 1.5] }], {
 *   title: "Training loss",
 *   xLabel: "step",
 * });
 * ```
 *
 * @param series The series to draw.
 * @param opts Chart options.
 * @returns The SVG markup.
 */
export function lineChartSVG(
  series: Series[],
  opts: ChartOptions = {},
): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const logX = opts.logX ?? false;
  const logY = opts.logY ?? false;
  const canvas = createCanvas(width, height);
  const { svg } = canvas;

  const maxName = Math.max(0, ...series.map((s) => s.name.length));
  const legendW = series.length > 0
    ? Math.min(180, width * 0.3, Math.max(70, maxName * 6.5 + 36))
    : 0;
  const margin = {
    top: opts.title ? 34 : 14,
    right: legendW + 14,
    bottom: opts.xLabel ? 46 : 30,
    left: opts.yLabel ? 62 : 48,
  };
  const plotW = Math.max(10, width - margin.left - margin.right);
  const plotH = Math.max(10, height - margin.top - margin.bottom);

  const pts = series.map((s) => finitePoints(s, logX, logY));
  const bands = series.map((s) => bandPoints(s, logX, logY));
  const allX = pts.flatMap((p) => p.map((q) => q[0]));
  const allY = [
    ...pts.flatMap((p) => p.map((q) => q[1])),
    ...bands.flatMap((b) => b.flatMap((q) => [q[1], q[2]])),
  ];
  const xs = makeScale(logX, paddedExtent(allX, logX), [0, plotW], !logX);
  const yDomain = opts.yDomain ?? paddedExtent(allY, logY);
  const ys = makeScale(logY, yDomain, [plotH, 0], !opts.yDomain);

  addTitle(svg, opts.title, width);
  const plot = svg.append("g")
    .attr("transform", `translate(${margin.left},${margin.top})`);

  // Horizontal grid lines.
  const yTickCount = Math.max(2, Math.round(plotH / 50));
  const xTickCount = Math.max(2, Math.round(plotW / 90));
  const yFormat = tickFormatter(ys, yTickCount, logY);
  const gridTicks = ys.ticks(yTickCount).filter((v: number) => yFormat(v) !== "");
  plot.append("g")
    .attr("class", "grid")
    .attr("stroke", "#e8e8e8")
    .selectAll("line")
    .data(gridTicks)
    .join("line")
    .attr("x1", 0)
    .attr("x2", plotW)
    .attr("y1", (d: number) => ys(d))
    .attr("y2", (d: number) => ys(d));

  const xAxis = plot.append("g")
    .attr("class", "x-axis")
    .attr("transform", `translate(0,${plotH})`) as unknown as AnySel;
  const xAxisGen = d3.axisBottom(xs).ticks(xTickCount).tickFormat(
    tickFormatter(xs, xTickCount, logX),
  );
  if (!logX && allX.length > 0 && allX.every(Number.isInteger)) {
    // Integer data (steps, epochs): no fractional ticks such as 0.5.
    xAxisGen.tickValues(
      xs.ticks(xTickCount).filter((v: number) => Number.isInteger(v)),
    );
  }
  xAxis.call(xAxisGen as unknown as (s: AnySel) => void);
  styleAxis(xAxis);
  const yAxis = plot.append("g").attr("class", "y-axis") as unknown as AnySel;
  yAxis.call(
    d3.axisLeft(ys).ticks(yTickCount).tickFormat(yFormat) as unknown as (
      s: AnySel,
    ) => void,
  );
  styleAxis(yAxis);

  let lines = plot.append("g").attr("class", "lines");
  if (opts.yDomain) {
    const clipId = `clip-${Math.round(margin.left)}-${Math.round(margin.top)}-${
      Math.round(plotW)
    }-${Math.round(plotH)}`;
    plot.append("clipPath")
      .attr("id", clipId)
      .append("rect")
      .attr("width", plotW)
      .attr("height", plotH);
    lines = lines.attr("clip-path", `url(#${clipId})`);
  }
  const line = d3.line().digits(1);
  // Bands first, so every line is drawn over every band.
  bands.forEach((b, i) => {
    if (b.length < 2) return;
    const outline: [number, number][] = [
      ...b.map(([x, lo]): [number, number] => [xs(x), ys(lo)]),
      ...b.map(([x, , hi]): [number, number] => [xs(x), ys(hi)]).reverse(),
    ];
    lines.append("path")
      .attr("class", "band")
      .attr("data-name", series[i].name)
      .attr("fill", seriesColor(i))
      .attr("fill-opacity", 0.18)
      .attr("stroke", "none")
      .attr("d", line(outline) + "Z");
  });
  series.forEach((s, i) => {
    const color = seriesColor(i);
    const scaled = decimate(pts[i], xs, plotW * 4).map((
      [x, y],
    ): [number, number] => [xs(x), ys(y)]);
    const path = lines.append("path")
      .attr("class", "series")
      .attr("data-name", s.name)
      .attr("fill", "none")
      .attr("stroke", color)
      .attr("stroke-width", 1.8)
      .attr("stroke-linejoin", "round")
      .attr("stroke-linecap", "round")
      .attr("d", scaled.length > 0 ? line(scaled) ?? "" : "");
    if (s.dash) path.attr("stroke-dasharray", "6,4");
    if (scaled.length > 0 && scaled.length <= 25) {
      for (const [x, y] of scaled) {
        lines.append("circle")
          .attr("class", "marker")
          .attr("cx", x)
          .attr("cy", y)
          .attr("r", 2.5)
          .attr("fill", color);
      }
    }
  });

  // Legend, to the right of the plot area.
  const legend = svg.append("g")
    .attr("class", "legend")
    .attr("transform", `translate(${margin.left + plotW + 14},${margin.top})`);
  series.forEach((s, i) => {
    const item = legend.append("g")
      .attr("class", "legend-item")
      .attr("transform", `translate(0,${i * 18 + 6})`);
    const sample = item.append("line")
      .attr("x1", 0)
      .attr("x2", 22)
      .attr("stroke", seriesColor(i))
      .attr("stroke-width", 2.5);
    if (s.dash) sample.attr("stroke-dasharray", "6,4");
    const maxChars = Math.max(4, Math.floor((legendW - 30) / 6.5));
    const label = s.name.length > maxChars ? s.name.slice(0, maxChars - 1) + "…" : s.name;
    item.append("text")
      .attr("x", 28)
      .attr("dy", "0.32em")
      .attr("fill", "#222222")
      .text(label);
  });

  addAxisLabels(
    svg,
    opts.xLabel,
    opts.yLabel,
    margin.left + plotW / 2,
    height - 8,
    margin.top + plotH / 2,
  );
  return serialize(canvas);
}

// ---------------------------------------------------------------------------
// Heatmap
// ---------------------------------------------------------------------------

function indexTicks(n: number, labels: string[] | undefined, cell: number) {
  if (labels && labels.length >= n) {
    const step = Math.max(1, Math.ceil(11 / Math.max(cell, 0.01)));
    const values: number[] = [];
    for (let i = 0; i < n; i += step) values.push(i);
    return { values, format: (i: number) => labels[i] ?? String(i) };
  }
  const values = d3.ticks(0, Math.max(0, n - 1), Math.min(n, 8))
    .filter((v: number) => Number.isInteger(v));
  return { values, format: (i: number) => String(i) };
}

/**
 * Renders a matrix as a heatmap with a colour bar. Row 0 is at the top.
 * NaN/±Infinity cells (e.g. `-Infinity` in a causal mask) are drawn in
 * {@linkcode MISSING_COLOR}. Up to {@linkcode HEATMAP_RECT_LIMIT} cells one
 * `<rect class="cell">` is drawn per cell; larger matrices are quantised to
 * {@linkcode HEATMAP_LEVELS} colours and drawn as horizontal runs (one `<path>`
 * per colour), which keeps a smooth 256x256 map to about 300 kB.
 *
 * @example
 * ```ts
 * const mask = [[1, 0], [1, 1]];
 * const svg = heatmapSVG(mask, { title: "causal mask", colorScheme: "blues" });
 * ```
 *
 * @param matrix Rows of values (ragged rows are padded as missing).
 * @param opts Heatmap options.
 * @returns The SVG markup.
 */
export function heatmapSVG(
  matrix: number[][],
  opts: HeatmapOptions = {},
): string {
  const width = opts.width ?? 480;
  const height = opts.height ?? 420;
  const scheme = opts.colorScheme ?? "viridis";
  const rows = matrix.length;
  const cols = Math.max(0, ...matrix.map((r) => r.length));
  const [lo, hi] = opts.domain ?? matrixExtent(matrix);
  const canvas = createCanvas(width, height);
  const { svg } = canvas;

  const labelW = (labels: string[] | undefined) =>
    labels ? Math.min(110, Math.max(0, ...labels.map((l) => l.length)) * 6.5) : 0;
  const colLabelH = opts.colLabels ? labelW(opts.colLabels) * 0.8 : 0;
  const margin = {
    top: opts.title ? 34 : 12,
    right: 78,
    bottom: 30 + colLabelH + (opts.xLabel ? 18 : 0),
    left: Math.max(36, labelW(opts.rowLabels) + 14) + (opts.yLabel ? 20 : 0),
  };
  const availW = Math.max(10, width - margin.left - margin.right);
  const availH = Math.max(10, height - margin.top - margin.bottom);
  const cell = rows > 0 && cols > 0
    ? Math.min(availW / cols, availH / rows)
    : Math.min(availW, availH);
  const gridW = cell * Math.max(cols, 1);
  const gridH = cell * Math.max(rows, 1);

  addTitle(svg, opts.title, width);
  const plot = svg.append("g")
    .attr("transform", `translate(${margin.left},${margin.top})`);

  const t = (v: number) => hi === lo ? 0.5 : (v - lo) / (hi - lo);
  const cellsG = plot.append("g")
    .attr("class", "cells")
    .attr("shape-rendering", "crispEdges");
  const cellsNode = cellsG.node() as unknown as {
    ownerDocument: { createComment(text: string): unknown };
    appendChild(node: unknown): void;
  };
  cellsNode.appendChild(cellsNode.ownerDocument.createComment("cells"));
  const markup: string[] = [];
  if (rows * cols <= HEATMAP_RECT_LIMIT) {
    for (let i = 0; i < rows; i++) {
      const y0 = fmt1(i * cell);
      const h = fmt1(+fmt1((i + 1) * cell) - +y0);
      for (let j = 0; j < cols; j++) {
        const v = matrix[i][j];
        const fill = Number.isFinite(v) ? schemeColor(scheme, t(v)) : MISSING_COLOR;
        const x0 = fmt1(j * cell);
        const w = fmt1(+fmt1((j + 1) * cell) - +x0);
        markup.push(
          `<rect class="cell" x="${x0}" y="${y0}" width="${w}" height="${h}" fill="${fill}"/>`,
        );
      }
    }
  } else {
    // Quantise, then emit one stroked path per colour: each horizontal run
    // of equal colour is a 1-unit-wide line in grid units under a uniform
    // scale (about 8 bytes per run instead of ~70 per rect).
    const levels = HEATMAP_LEVELS;
    const runs = new Map<number, { d: string[]; row: number; end: number }>();
    const level = (v: number) =>
      Number.isFinite(v) ? Math.min(levels - 1, Math.max(0, Math.round(t(v) * (levels - 1)))) : -1;
    for (let i = 0; i < rows; i++) {
      const row = matrix[i];
      let j = 0;
      while (j < cols) {
        const l = level(row[j]);
        let k = j + 1;
        while (k < cols && level(row[k]) === l) k++;
        let run = runs.get(l);
        if (!run) runs.set(l, run = { d: [], row: -1, end: 0 });
        run.d.push(
          run.row === i ? `m${j - run.end} 0h${k - j}` : `M${j} ${i}h${k - j}`,
        );
        run.row = i;
        run.end = k;
        j = k;
      }
    }
    markup.push(
      `<g class="runs" fill="none" stroke-width="1" transform="scale(${+cell
        .toFixed(4)}) translate(0,0.5)">`,
    );
    for (const [l, run] of [...runs].sort((a, b) => a[0] - b[0])) {
      const color = l < 0 ? MISSING_COLOR : schemeColor(scheme, l / (levels - 1));
      markup.push(`<path stroke="${color}" d="${run.d.join("")}"/>`);
    }
    markup.push(`</g>`);
  }

  // Axes: index scales mapping i to the centre of cell i.
  const xs = d3.scaleLinear().domain([-0.5, Math.max(cols, 1) - 0.5]).range([
    0,
    gridW,
  ]);
  const ys = d3.scaleLinear().domain([-0.5, Math.max(rows, 1) - 0.5]).range([
    0,
    gridH,
  ]);
  const xt = indexTicks(cols, opts.colLabels, cell);
  const yt = indexTicks(rows, opts.rowLabels, cell);
  const xAxis = plot.append("g")
    .attr("class", "x-axis")
    .attr("transform", `translate(0,${gridH})`) as unknown as AnySel;
  xAxis.call(
    d3.axisBottom(xs).tickValues(xt.values).tickFormat((d: d3.NumberValue) =>
      xt.format(+d)
    ) as unknown as (s: AnySel) => void,
  );
  styleAxis(xAxis);
  if (opts.colLabels) {
    xAxis.selectAll(".tick text")
      .attr("text-anchor", "end")
      .attr("dx", "-0.5em")
      .attr("dy", "0.15em")
      .attr("transform", "rotate(-60)");
  }
  const yAxis = plot.append("g").attr("class", "y-axis") as unknown as AnySel;
  yAxis.call(
    d3.axisLeft(ys).tickValues(yt.values).tickFormat((d: d3.NumberValue) =>
      yt.format(+d)
    ) as unknown as (s: AnySel) => void,
  );
  styleAxis(yAxis);

  // Colour bar: stacked rects (no gradient ids, so several inline SVGs on one
  // HTML page can never clash).
  const barX = gridW + 16;
  const barH = Math.max(gridH, 40);
  const steps = 48;
  const bar = plot.append("g")
    .attr("class", "colorbar")
    .attr("transform", `translate(${barX},0)`);
  const stepsG = bar.append("g").attr("shape-rendering", "crispEdges");
  for (let s = 0; s < steps; s++) {
    const y0 = (s * barH) / steps;
    const y1 = ((s + 1) * barH) / steps;
    stepsG.append("rect")
      .attr("class", "colorbar-step")
      .attr("y", y0)
      .attr("width", 12)
      .attr("height", +fmt1(y1) - +fmt1(y0))
      .attr("fill", schemeColor(scheme, 1 - (s + 0.5) / steps));
  }
  const cs = d3.scaleLinear().domain([lo, hi]).range([barH, 0]);
  const cAxis = bar.append("g")
    .attr("transform", "translate(12,0)") as unknown as AnySel;
  cAxis.call(
    d3.axisRight(cs).tickValues(colorBarTicks(lo, hi, barH)).tickFormat(
      (d: d3.NumberValue) => shortNumber(+d),
    ) as unknown as (s: AnySel) => void,
  );
  styleAxis(cAxis);

  addAxisLabels(
    svg,
    opts.xLabel,
    opts.yLabel,
    margin.left + gridW / 2,
    Math.min(height - 6, margin.top + gridH + 30 + colLabelH + 14),
    margin.top + gridH / 2,
  );
  return serialize(canvas, { cells: markup.join("") });
}

// ---------------------------------------------------------------------------
// Bar chart
// ---------------------------------------------------------------------------

/**
 * Formats a number with up to 3 significant digits for labels.
 *
 * @param v The value.
 * @returns A short label such as `0.931`, `12.5`, `1,234`.
 */
export function shortNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return d3.format(",.0f")(v);
  if (Number.isInteger(v)) return String(v);
  return String(+v.toPrecision(3));
}

/**
 * Renders a simple vertical bar chart (one `<rect class="bar">` per finite
 * value) with the value printed above each bar.
 *
 * @example
 * ```ts
 * const svg = barChartSVG(["bigram", "MLP", "GPT"], [0.31, 0.42, 0.57], {
 *   title: "accuracy",
 * });
 * ```
 *
 * @param labels Category labels.
 * @param values One value per label; non-finite values draw no bar.
 * @param opts Chart options.
 * @returns The SVG markup.
 */
export function barChartSVG(
  labels: string[],
  values: number[],
  opts: BarChartOptions = {},
): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const canvas = createCanvas(width, height);
  const { svg } = canvas;
  const n = Math.min(labels.length, values.length);
  const maxLabel = Math.max(0, ...labels.slice(0, n).map((l) => l.length));
  const margin0 = { left: opts.yLabel ? 62 : 48, right: 16 };
  const band = (width - margin0.left - margin0.right) / Math.max(n, 1);
  const rotate = maxLabel * 6.5 > band * 0.95;
  const margin = {
    ...margin0,
    top: opts.title ? 34 : 14,
    bottom: (rotate ? Math.min(100, maxLabel * 5 + 20) : 30) +
      (opts.xLabel ? 16 : 0),
  };
  const plotW = Math.max(10, width - margin.left - margin.right);
  const plotH = Math.max(10, height - margin.top - margin.bottom);

  const finite = values.slice(0, n).filter((v) => Number.isFinite(v));
  const domain: [number, number] = opts.yDomain ??
    [Math.min(0, ...finite), Math.max(0, ...finite)];
  if (domain[0] === domain[1]) domain[1] = domain[0] + 1;
  const xs = d3.scaleBand<number>()
    .domain(d3.range(n))
    .range([0, plotW])
    .padding(0.2);
  const ys = d3.scaleLinear().domain(domain).range([plotH, 0]);
  if (!opts.yDomain) ys.nice();

  addTitle(svg, opts.title, width);
  const plot = svg.append("g")
    .attr("transform", `translate(${margin.left},${margin.top})`);
  const yTickCount = Math.max(2, Math.round(plotH / 50));
  plot.append("g")
    .attr("class", "grid")
    .attr("stroke", "#e8e8e8")
    .selectAll("line")
    .data(ys.ticks(yTickCount))
    .join("line")
    .attr("x1", 0)
    .attr("x2", plotW)
    .attr("y1", (d: number) => ys(d))
    .attr("y2", (d: number) => ys(d));

  const colors = opts.colors && opts.colors.length > 0 ? opts.colors : [seriesColor(0)];
  const zero = ys(Math.min(Math.max(0, ys.domain()[0]), ys.domain()[1]));
  const showValues = (opts.showValues ?? true) && xs.bandwidth() >= 18;
  const bars = plot.append("g").attr("class", "bars");
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const y = ys(v);
    bars.append("rect")
      .attr("class", "bar")
      .attr("x", xs(i) ?? 0)
      .attr("y", Math.min(y, zero))
      .attr("width", xs.bandwidth())
      .attr("height", Math.abs(zero - y))
      .attr("fill", colors[i % colors.length]);
    if (showValues) {
      bars.append("text")
        .attr("class", "bar-value")
        .attr("x", (xs(i) ?? 0) + xs.bandwidth() / 2)
        .attr("y", v >= 0 ? y - 4 : y + 12)
        .attr("text-anchor", "middle")
        .attr("font-size", 10)
        .attr("fill", "#222222")
        .text(shortNumber(v));
    }
  }

  const xAxis = plot.append("g")
    .attr("class", "x-axis")
    .attr("transform", `translate(0,${plotH})`) as unknown as AnySel;
  xAxis.call(
    d3.axisBottom(xs).tickFormat((i: number) => labels[i] ?? "") as unknown as (
      s: AnySel,
    ) => void,
  );
  styleAxis(xAxis);
  if (rotate) {
    xAxis.selectAll(".tick text")
      .attr("text-anchor", "end")
      .attr("dx", "-0.5em")
      .attr("dy", "0.15em")
      .attr("transform", "rotate(-40)");
  }
  const yAxis = plot.append("g").attr("class", "y-axis") as unknown as AnySel;
  yAxis.call(
    d3.axisLeft(ys).ticks(yTickCount) as unknown as (s: AnySel) => void,
  );
  styleAxis(yAxis);

  addAxisLabels(
    svg,
    opts.xLabel,
    opts.yLabel,
    margin.left + plotW / 2,
    height - 8,
    margin.top + plotH / 2,
  );
  return serialize(canvas);
}
