/**
 * Heatmaps as static SVG ({@linkcode heatmapSVG}): one rect per cell for small matrices,
 * colour-quantised runs for large ones, with a colour bar.
 *
 * @module
 */

import * as d3 from "d3";
import {
  fmt1,
  HEATMAP_LEVELS,
  HEATMAP_RECT_LIMIT,
  type HeatmapOptions,
  matrixExtent,
  MISSING_COLOR,
  schemeColor,
  shortNumber,
} from "./svg_common.ts";
import {
  addAxisLabels,
  addTitle,
  type AnySel,
  createCanvas,
  serialize,
  styleAxis,
} from "./svg_canvas.ts";

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
 * Tick values for a colour bar: d3's nice ticks inside `[lo, hi]`, at least
 * three of them (a bar with one label says nothing about its scale), else the
 * two ends and the middle.
 */
function colorBarTicks(lo: number, hi: number, barH: number): number[] {
  if (!(hi > lo)) return [lo];
  const ticks = d3.ticks(lo, hi, Math.max(3, Math.round(barH / 50)));
  return ticks.length >= 3 ? ticks : [lo, (lo + hi) / 2, hi];
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
