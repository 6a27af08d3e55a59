/**
 * Line charts as static SVG ({@linkcode lineChartSVG}): axes, grid, legend, optional bands and
 * dashed series.
 *
 * @module
 */

import * as d3 from "d3";
import {
  bandPoints,
  type ChartOptions,
  finitePoints,
  type Series,
  seriesColor,
} from "./svg_common.ts";
import {
  addAxisLabels,
  addTitle,
  type AnySel,
  createCanvas,
  decimate,
  makeScale,
  paddedExtent,
  serialize,
  styleAxis,
  tickFormatter,
} from "./svg_canvas.ts";

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
