/**
 * Notebook display helpers: static d3 SVG charts, Jupyter MIME bundles,
 * awaitable display/update in Deno's Jupyter kernel, live plots and progress
 * lines.
 *
 * ```ts
 * import { LivePlot, linePlotBundle, show } from "../lib/display/mod.ts";
 *
 * await show(linePlotBundle([{ name: "loss", x: [0, 1, 2], y: [3, 2, 1.5] }]));
 * ```
 *
 * In notebooks always `await` {@linkcode show}, {@linkcode DisplayHandle.update},
 * {@linkcode LivePlot.finish}, {@linkcode Progress.finish} and
 * {@linkcode flush} as the last statement of a cell: the Deno kernel drops
 * outputs still queued when a cell finishes.
 *
 * @module
 */

export {
  type BarChartOptions,
  type ChartOptions,
  type ColorScheme,
  finitePoints,
  fmt1,
  HEATMAP_LEVELS,
  HEATMAP_RECT_LIMIT,
  type HeatmapOptions,
  matrixExtent,
  MISSING_COLOR,
  quantileDomain,
  schemeColor,
  type Series,
  seriesColor,
  shortNumber,
  SVG_NS,
} from "./svg_common.ts";
export { lineChartSVG } from "./svg_line.ts";
export { heatmapSVG } from "./svg_heatmap.ts";
export { barChartSVG } from "./svg_bar.ts";
export {
  barBundle,
  heatmapBundle,
  heatmapPlotly,
  linePlotBundle,
  linePlotly,
  lineSummary,
  PLOTLY_MAX_POINTS,
  PLOTLY_MIME,
  plotlyColorscale,
  type PlotlyFigure,
  svgToHtml,
} from "./bundles.ts";
export {
  type Cell,
  formatCell,
  markdownBundle,
  tableBundle,
  type TableOptions,
} from "./text_bundles.ts";
export {
  DisplayHandle,
  type DisplayHandleOptions,
  type DisplayOptions,
  flush,
  FLUSH_BASE_MS,
  FLUSH_BYTES_PER_MS,
  inJupyter,
  type JupyterBackend,
  kernelBackend,
  type MimeBundle,
  plainText,
  type RecordedMessage,
  RecordingBackend,
  show,
} from "./jupyter.ts";
export { LivePlot, type LivePlotOptions } from "./live.ts";
export {
  formatCount,
  formatDuration,
  formatField,
  formatValue,
  Progress,
  type ProgressOptions,
} from "./progress.ts";
export { sequenceBundle, type SequenceRow, type SequenceSegment } from "./sequences.ts";
