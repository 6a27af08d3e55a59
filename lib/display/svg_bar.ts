/**
 * Bar charts as static SVG ({@linkcode barChartSVG}).
 *
 * @module
 */

import * as d3 from "d3";
import { type BarChartOptions, seriesColor, shortNumber } from "./svg_common.ts";
import {
  addAxisLabels,
  addTitle,
  type AnySel,
  createCanvas,
  serialize,
  styleAxis,
} from "./svg_canvas.ts";

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
