/**
 * Static, server-side SVG charts drawn with d3 on a linkedom XML document: the chart options,
 * the constants, colours and data helpers shared by svg_line.ts ({@linkcode lineChartSVG}),
 * svg_heatmap.ts ({@linkcode heatmapSVG}) and svg_bar.ts ({@linkcode barChartSVG}).
 *
 * Every chart function returns a standalone SVG string (with `xmlns` set, a white
 * background and explicit `width`/`height`/`viewBox`) that renders the same in
 * JupyterLab, VS Code, nbconvert HTML exports and GitHub's notebook viewer.
 * Coordinates are rounded to one decimal so committed notebooks stay small.
 *
 * @module
 */

import * as d3 from "d3";

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
