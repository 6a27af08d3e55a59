/**
 * Internal drawing helpers of the SVG charts (not re-exported by mod.ts): the linkedom canvas,
 * serialization with rounded coordinates, titles, axis labels, scales, decimation and axis style.
 *
 * @module
 */

import * as d3 from "d3";
import { DOMParser } from "linkedom";
import { fmt1, SVG_NS } from "./svg_common.ts";

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

/** A d3 selection of the SVG root or one of its children. */
export type Sel = d3.Selection<d3.BaseType, unknown, null, undefined>;
/** A d3 selection of any element (axes, groups). */
export type AnySel = d3.Selection<d3.BaseType, unknown, d3.BaseType, unknown>;

/** The parts of a linkedom element the serializer uses. */
export interface LinkedomElement {
  attributes: Iterable<{ name: string; value: string }>;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  querySelectorAll(sel: string): Iterable<LinkedomElement>;
  outerHTML: string;
}

/** An SVG document being drawn: its root element and the d3 selection of it. */
export interface Canvas {
  root: LinkedomElement;
  svg: Sel;
}

/** A new SVG of the given size with a white background and the charts' font. */
export function createCanvas(width: number, height: number): Canvas {
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

/**
 * The SVG markup of a canvas, coordinates rounded to one decimal; each `<!--marker-->` comment
 * is replaced by its markup from `replacements` (markup too large to build through the DOM).
 */
export function serialize(canvas: Canvas, replacements: Record<string, string> = {}) {
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

/** Adds a `<title>` and a bold centred title line, when there is a title. */
export function addTitle(svg: Sel, title: string | undefined, width: number): void {
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

/** Adds the x axis label (centred at `xCenter`, baseline `xBaseline`) and the rotated y label. */
export function addAxisLabels(
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

/** [min, max] of the values, widened when they are all equal (or a default range when empty). */
export function paddedExtent(values: number[], log: boolean): [number, number] {
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

/** A continuous d3 scale (linear or log). */
export type Scale = d3.ScaleContinuousNumeric<number, number>;

/** A linear or log scale from `domain` to `range`, optionally extended to nice round values. */
export function makeScale(
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
export function decimate(
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
export function tickFormatter(
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

/** Sets the font and the colours of an axis drawn by d3. */
export function styleAxis(g: AnySel): void {
  g.attr("font-size", 10).attr("font-family", FONT);
  g.selectAll(".domain").attr("stroke", "#444444");
  g.selectAll(".tick line").attr("stroke", "#444444");
  g.selectAll(".tick text").attr("fill", "#333333");
}
